"""Model selection: grouped folds, search, the SNAP re-use path against naive refitting, ``ldrx cv``."""

import warnings

import numpy as np
import pytest

import ldrx
import ldrx.evaluate
import ldrx.select as sel
from ldrx.cli import main
from ldrx.models.snap import SNAP, element_weights, n_columns

from conftest import random_frames

WJ = {"Li": 0.5, "O": 1.0, "Mn": 0.8}


@pytest.fixture(scope="module")
def frames():
    return ldrx.Dataset.from_atoms(random_frames(24, (6, 12), species=(3, 8, 25), seed=7, density=0.07))


@pytest.fixture(scope="module")
def labelled_frames(frames):
    """Energies and forces of a SNAP with random coefficients plus noise: a model the grid can find."""
    m = SNAP(twojmax=2, rcutfac=4.0, wj=WJ)
    m.species = frames.species
    m.radelem, m.wj = m._resolve_elements(m.species)
    m._make_descriptor()
    rng = np.random.default_rng(1)
    m.coefficients = rng.normal(0, 0.2, (len(m.species), n_columns(m.ncoeff, False)))
    m.reference_energies = {z: 0.0 for z in m.species}
    m._fitted = True
    p = m.predict(frames, stress=False)
    e = p.energy + rng.normal(0, 0.002, len(frames)) * frames.natoms
    f = p.forces + rng.normal(0, 0.01, p.forces.shape)
    return ldrx.Dataset(frames.numbers, frames.positions, frames.cells, frames.pbc, frames.offsets, e, f)


def test_grouped_folds_never_split_a_group_and_are_seeded():
    labels = np.repeat(np.arange(13), np.arange(1, 14))    # 13 groups of 1..13 frames
    n = len(labels)
    folds = sel.kfold(n, 5, groups=labels, seed=3)
    assert len(folds) == 5
    assert np.array_equal(np.sort(np.concatenate(folds)), np.arange(n))      # every frame once
    owner = {}
    for k, idx in enumerate(folds):
        for g in np.unique(labels[idx]):
            assert owner.setdefault(g, k) == k                               # a group in one fold only
    sizes = [len(f) for f in folds]
    assert max(sizes) - min(sizes) <= 13                                     # balanced up to one group
    again = sel.kfold(n, 5, groups=labels, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(folds, again))
    other = sel.kfold(n, 5, groups=labels, seed=4)
    assert not all(np.array_equal(a, b) for a, b in zip(folds, other))
    plain = sel.kfold(23, 5, seed=0)
    assert sorted(len(f) for f in plain) == [4, 4, 5, 5, 5]
    with pytest.raises(ValueError, match="cannot fill 5 folds"):
        sel.kfold(6, 5, groups=[0, 0, 1, 1, 2, 2])


def test_group_labels(frames, ldr_sample):
    comp = sel.group_labels(frames, "composition")
    assert len(comp) == len(frames) and all(isinstance(c, str) for c in comp)
    data = ldr_sample[:40]
    comp, tm = sel.group_labels(data, "composition"), sel.group_labels(data, "tm")
    for f in range(len(data)):
        assert "Li" not in tm[f] and "O" not in tm[f].split("-")
        syms = set(data[f].symbols) - {"Li", "O"}
        assert set(tm[f].split("-")) == syms
    # a composition label is the same for a cell and its supercell
    from ase.build import make_supercell
    a = data[0].to_atoms()[0]
    big = ldrx.Dataset.from_atoms([a, make_supercell(a, 2 * np.eye(3))])
    c = sel.group_labels(big, "composition")
    assert c[0] == c[1] and c[0] == comp[0]
    with pytest.raises(ValueError, match="unknown grouping"):
        sel.group_labels(frames, "nope")


def test_element_weights_rule():
    w = element_weights([3, 8, 21, 29], "rank:0.4")
    assert list(w) == ["Li", "O", "Sc", "Cu"]
    assert w["Li"] == 1.0 and np.isclose(w["Cu"], 0.4) and np.isclose(w["O"], 0.8)
    w = element_weights([29, 3, 8, 21, 22, 23, 24, 25, 26, 27, 28], "rank")     # the LDR elements, default W 0.2
    assert np.isclose(w["Cu"], 0.2) and np.isclose(w["O"], 0.92) and np.all(np.diff(list(w.values())) < 0)
    assert element_weights([8, 3], "uniform") == {"Li": 1.0, "O": 1.0}
    z = element_weights([3, 29], "z:0.3")
    assert np.isclose(z["Cu"], 1 - 0.7 * 28 / 29) and z["Li"] > z["Cu"]
    assert element_weights([8], "rank") == {"O": 1.0}
    for bad in ("nope", "rank:x", "rank:0", "uniform:2"):
        with pytest.raises(ValueError):
            element_weights([3], bad)


@pytest.mark.parametrize("quadratic", [False, True], ids=["snap", "qsnap"])
def test_snap_reuse_equals_naive_refitting(labelled_frames, quadratic):
    grid = {"force_weight": [0.0, 1e-2], "ridge": [1e-6, 1e-2], "scaling": ["standardise", "none"]}
    fixed = dict(twojmax=2, rcutfac=4.0, wj="rank:0.5", quadratic=quadratic)
    if quadratic:
        grid = {"force_weight": [1e-2], "ridge": [1e-4], "scaling": ["standardise", "none"],
                "quadratic_penalty": [1.0, 100.0]}
    groups = [i % 7 for i in range(len(labelled_frames))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = sel.search(labelled_frames, "snap", grid=grid, folds=3, groups=groups, seed=2, refit=False, **fixed)
        slow = sel.search(labelled_frames, "snap", grid=grid, folds=3, groups=groups, seed=2, refit=False,
                          reuse=False, **fixed)
    for a, b in zip(fast.per_fold, slow.per_fold):
        for fa, fb in zip(a, b):
            for key in sel.METRICS:
                assert np.isclose(fa[key], fb[key], rtol=1e-6, atol=1e-9), (key, fa[key], fb[key])
            assert fa["n_frames"] == fb["n_frames"] and fa["n_force_components"] == fb["n_force_components"]
    assert [r["rank"] for r in fast.results] == [r["rank"] for r in slow.results]


def test_search_picks_the_better_setting_and_refits(labelled_frames):
    grid = {"ridge": [1e-8, 1e3], "rcutfac": [4.0, 3.0]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sel.search(labelled_frames, "snap", grid=grid, folds=4, score="energy", seed=0, twojmax=2, wj=WJ)
    assert res.best_params == {"ridge": 1e-8, "rcutfac": 4.0}
    best = res.results[res.best_index]
    assert best["rank"] == 1 and best["energy_rmse_meV_per_atom"] < 10.0
    assert all(r["energy_rmse_meV_per_atom"] > 2 * best["energy_rmse_meV_per_atom"]
               for r in res.results if r is not best)
    assert res.best_model.hyper.ridge == 1e-8 and res.best_model.hyper.rcutfac == 4.0
    assert ldrx.evaluate.metrics(res.best_model, labelled_frames)["energy_rmse_meV_per_atom"] < 10.0
    md = res.markdown()
    assert md.count("\n") == 1 + len(res.results) and "±" in md
    # random search draws from the lists, seeded
    r1 = sel.search(labelled_frames, "snap", grid=grid, n_iter=3, folds=3, seed=5, refit=False, twojmax=2, wj=WJ)
    r2 = sel.search(labelled_frames, "snap", grid=grid, n_iter=3, folds=3, seed=5, refit=False, twojmax=2, wj=WJ)
    assert r1.params == r2.params and len(r1.params) == 3
    cv = sel.cross_validate(labelled_frames, "snap", folds=3, twojmax=2, wj=WJ, ridge=1e-8)
    assert len(cv["folds"]) == 3 and cv["std"]["energy_rmse_meV_per_atom"] >= 0


def test_search_any_family_and_bad_names(labelled_frames):
    with pytest.raises(TypeError, match="unknown ANN hyper-parameter"):
        sel.search(labelled_frames, "ann", grid={"nodes": [1, 2]})
    with pytest.raises(ValueError, match="score"):
        sel.search(labelled_frames, "snap", grid={"ridge": [1.0]}, score="speed")
    res = sel.search(labelled_frames[:12], "ann", grid={"hidden": [(2,)]}, folds=2, refit=False, epochs=2,
                     score="force")
    assert len(res.per_fold[0]) == 2 and np.isfinite(res.results[0]["score"])


def test_cli_cv(tmp_path, labelled_frames, capsys):
    path = tmp_path / "d.npz"
    bad = dict(labelled_frames.check_overlaps(0.5, covalent_fraction=0.5))   # ldrx.read would skip them, and say so
    labelled_frames.subset([f for f in range(len(labelled_frames)) if f not in bad]).save(path)
    out, table = tmp_path / "best.ldrx", tmp_path / "t.csv"
    rc = main(["cv", str(path), "--model", "snap", "--grid", "ridge=1e-8,1e3", "--set", "twojmax=2",
               "--set", "wj={'Li':0.5,'O':1.0,'Mn':0.8}", "--folds", "3", "--score", "energy",
               "--out", str(out), "--csv", str(table)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "best: {'ridge': 1e-08}" in text
    assert ldrx.load(out).hyper.ridge == 1e-8
    assert table.read_text().splitlines()[0].startswith("ridge,score")
    for args, msg in ((["--grid", "ridge"], "expected KEY=V1,V2"), (["--grid", "ridge="], "expected KEY=V1,V2"),
                      (["--grid", "nodes=1,2"], "unknown SNAP hyper-parameter"),
                      (["--score", "speed"], "--score"), (["--group", "nope"], "unknown grouping")):
        rc = main(["cv", str(path), "--model", "snap"] + args)
        err = capsys.readouterr().err
        assert rc == 2 and msg in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("quadratic", [False, True], ids=["snap", "qsnap"])
def test_scaling_none_is_fitsnaps_plain_ridge(labelled_frames, quadratic):
    """scaling="none": (A^T W A + ridge I) x = A^T W b on the raw columns, as FitSNAP's RIDGE solver."""
    from ldrx import _core
    data = labelled_frames
    zero = {"Li": 0.0, "O": 0.0, "Mn": 0.0}
    kw = dict(twojmax=2, rcutfac=4.0, wj=WJ, quadratic=quadratic, energy_weight=1e2, force_weight=1.0, ridge=1e-3,
              scaling="none", reference_energies=zero)
    m = SNAP(**kw).fit(data)
    svd = SNAP(**kw, solver="svd").fit(data)
    nc, ns = m.ncoeff, len(m.species)
    shape = (ns, nc)
    nf = len(data)
    A, b = _core.snap_design_matrix(m.descriptor._impl, data.batch(), np.zeros(shape), np.ones(shape), quadratic,
                                    data.energy / data.natoms, data.forces, np.full(nf, 1e2), np.ones(nf), None, None)
    x = np.linalg.solve(A.T @ A + 1e-3 * np.eye(A.shape[1]), A.T @ b)
    for model in (m, svd):
        np.testing.assert_allclose(model.coefficients.ravel(), x, rtol=1e-6, atol=1e-9 * np.abs(x).max())
    # the same with standardised columns is another model (the penalty acts on other coefficients)
    std = SNAP(**{**kw, "scaling": "standardise"}).fit(data)
    assert not np.allclose(std.coefficients.ravel(), x, rtol=1e-3)
