"""Moment tensor potentials: basis generation against MLIP's level templates, agreement with motep,
derivatives against finite differences, invariances, the training gradient, MLIP files, training."""

import warnings

import numpy as np
import pytest

import ldrx
from ldrx import _core
from ldrx.errors import DataError, ModelFileError
from ldrx.io.mlip import read_cfg, read_mtp, write_cfg
from ldrx.models import mtp_basis
from ldrx.models.mtp import MTP

from conftest import random_frames

# counts in MLIP-2's untrained level templates (motep's tests/data_path/fitting/crystals/cubic/LL/pot.mtp):
# level: (alpha_scalar_moments, radial_funcs_count, alpha_index_basic_count)
MLIP_TEMPLATES = {2: (1, 1, 1), 4: (2, 1, 1), 6: (5, 2, 5), 8: (9, 2, 11), 10: (16, 3, 25), 12: (29, 3, 46),
                  14: (52, 4, 81), 16: (92, 4, 130), 18: (163, 5, 201), 20: (288, 5, 295), 22: (500, 6, 421),
                  24: (864, 6, 581), 26: (1464, 6, 706)}

SPECIES = ("Li", "O", "Mn")


def frames(n=4, seed=0, species=(3, 8, 25)):
    return ldrx.Dataset.from_atoms(random_frames(n, n_atoms=(6, 14), species=species, seed=seed, density=0.06,
                                                 min_dist=1.6))


def random_model(level, seed=0, species=SPECIES, r_min=1.2, r_cut=4.5):
    """Random but sensible coefficients: radial functions of order one, moment coefficients that keep every
    basis function's contribution a fraction of an eV."""
    m = MTP(level=level, species=species, r_min=r_min, r_cut=r_cut, seed=seed)
    rng = np.random.default_rng(seed + 100)
    rad, sp, xi = m._split()
    rad += 0.3 * rng.standard_normal(rad.shape)
    sp[...] = rng.uniform(-5, -1, sp.shape)
    # scale xi by the typical size of each basis function on a few frames
    B = m._make_basis(np.ascontiguousarray(rad.ravel())).forward(frames(2, seed=7).batch())
    size = np.sqrt((B ** 2).mean(axis=0)) + 1e-12
    xi[...] = rng.uniform(-1, 1, xi.shape) * 0.2 / size
    return m


# ------------------------------------------------------------------------------------------- basis


@pytest.mark.parametrize("level", sorted(MLIP_TEMPLATES))
def test_level_counts_match_mlip_templates(level):
    assert mtp_basis.counts(level) == MLIP_TEMPLATES[level]


@pytest.mark.parametrize("level", [8, 10, 16])
def test_generated_basis_is_consistent(level):
    g = mtp_basis.generate(level)
    n_basis, n_mu, n_basic = MLIP_TEMPLATES[level]
    assert len(g["alpha_moment_mapping"]) == n_basis and g["radial_funcs_count"] == n_mu
    assert len(g["alpha_index_basic"]) == n_basic
    # level 8 by hand: M00, M00^2, M10, M01.M01, M00^3, M02:M02, M00 M10, M00 (M01.M01), M00^4 (in some order)
    labels = [f[0] for f in mtp_basis.basis_functions(level)]
    if level == 8:
        assert sorted(labels) == sorted([((0, 0),), ((0, 0), (0, 0)), ((1, 0),), ((0, 1), (0, 1)),
                                         ((0, 0),) * 3, ((0, 2), (0, 2)), ((0, 0), (1, 0)),
                                         ((0, 0), (0, 1), (0, 1)), ((0, 0),) * 4])


@pytest.mark.parametrize("level", [6, 10, 16])
def test_contraction_dag_gives_the_same_basis_functions(level):
    """generate() contracts through shared intermediate tensors; its basis functions equal the monomial
    expansion's (generate_monomials) to rounding, with fewer product entries (level 16: 889 against 1865)."""
    g, ref = mtp_basis.generate(level), mtp_basis.generate_monomials(level)
    assert g["alpha_index_basic"] == ref["alpha_index_basic"]
    assert len(g["alpha_index_times"]) < len(ref["alpha_index_times"]) or level < 8
    m = random_model(level, seed=3)
    rad = np.ascontiguousarray(m._split()[0].ravel())
    data = frames(2, seed=5)
    out = []
    for d in (g, ref):
        args = list(m._basis_args())
        args[-4] = d["alpha_moments_count"]
        args[-2] = np.asarray(d["alpha_index_times"], np.int32).reshape(-1, 4)
        args[-1] = np.asarray(d["alpha_moment_mapping"], np.int32)
        out.append(_core.MomentTensorBasis(*args, rad).forward(data.batch()))
    np.testing.assert_allclose(out[0], out[1], rtol=1e-11, atol=1e-13 * np.abs(out[1]).max())


def test_unsupported_level():
    with pytest.raises(ValueError, match="unsupported MTP level 15"):
        MTP(level=15, species=SPECIES)
    with pytest.raises(ValueError, match="unsupported MTP level 30"):
        MTP(level=30, species=SPECIES)


# ------------------------------------------------------------------------------------------- motep


@pytest.mark.parametrize("level", [10, 16])
def test_energies_and_forces_equal_motep(level, tmp_path, ldr_sample):
    pytest.importorskip("motep")
    from motep.calculator import MTP as MotepMTP
    from motep.io.mlip.mtp import read_mtp as motep_read_mtp
    from ase.data import atomic_numbers
    # LDR frames (periodic, several species) and random triclinic cells
    sample = ldr_sample[[0, 5, 17]]
    species = sorted(set(int(z) for z in sample.numbers) | {3, 8, 25})
    model = random_model(level, seed=level, species=species, r_min=1.0, r_cut=5.0)
    path = model.to_mlip(tmp_path / f"pot{level}.mtp")
    loaded = MTP.from_mlip(path, species=species)
    np.testing.assert_array_equal(loaded.theta, model.theta)
    data = ldrx.Dataset.concatenate([sample, frames(3, seed=level)])
    pred = loaded.predict(data)
    mdata = motep_read_mtp(path)
    mdata.species = species
    for f, atoms in enumerate(data.to_atoms()):
        atoms.calc = MotepMTP(mdata, engine="cext")
        e = atoms.get_potential_energy()
        F = atoms.get_forces()
        n = len(atoms)
        assert abs(pred.energy[f] - e) / n < 1e-8, (f, pred.energy[f], e)
        np.testing.assert_allclose(pred.forces[data.offsets[f]:data.offsets[f + 1]], F, rtol=0, atol=1e-8)
        np.testing.assert_allclose(pred.stress[f], atoms.get_stress(), rtol=0, atol=1e-8)
    assert np.ptp(pred.energy / data.natoms) > 1e-3  # the comparison is not between constants


# ------------------------------------------------------------------------------------------- derivatives


@pytest.fixture(scope="module")
def model10():
    return random_model(10, seed=1)


def test_forces_and_stress_are_derivatives(model10):
    data = frames(2, seed=3)
    pred = model10.predict(data)
    h = 1e-5
    for f, atoms in enumerate(data.to_atoms()):
        a0 = data.offsets[f]
        for i in (0, len(atoms) - 1):
            for x in range(3):
                ep = []
                for s in (1, -1):
                    b = atoms.copy()
                    b.positions[i, x] += s * h
                    ep.append(model10.predict(b, forces=False, stress=False).energy[0])
                assert abs(-(ep[0] - ep[1]) / (2 * h) - pred.forces[a0 + i, x]) < 1e-6
        # stress = dE/d(strain) / V
        V = atoms.get_volume()
        for v, (p, q) in enumerate([(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]):
            ep = []
            for s in (1, -1):
                eps = np.zeros((3, 3))
                eps[p, q] += s * h / (2 if p != q else 1)
                eps[q, p] += s * h / 2 if p != q else 0
                b = atoms.copy()
                b.set_cell(atoms.cell @ (np.eye(3) + eps), scale_atoms=True)
                ep.append(model10.predict(b, forces=False, stress=False).energy[0])
            assert abs((ep[0] - ep[1]) / (2 * h) / V - pred.stress[f, v]) < 1e-7


def test_invariances(model10):
    atoms = random_frames(1, n_atoms=(12, 13), species=(3, 8, 25), seed=5, density=0.06, min_dist=1.6)[0]
    ref = model10.predict(atoms)
    from scipy.spatial.transform import Rotation
    R = Rotation.from_euler("xyz", [0.3, -1.1, 2.0]).as_matrix()
    rot = atoms.copy()
    rot.set_cell(atoms.cell @ R.T, scale_atoms=True)
    p = model10.predict(rot)
    assert abs(p.energy[0] - ref.energy[0]) < 1e-10
    np.testing.assert_allclose(p.forces, ref.forces @ R.T, atol=1e-10)
    tr = atoms.copy()
    tr.positions += [0.37, -1.3, 2.2]
    assert abs(model10.predict(tr).energy[0] - ref.energy[0]) < 1e-10
    perm = np.random.default_rng(0).permutation(len(atoms))
    pa = atoms[perm]
    pp = model10.predict(pa)
    assert abs(pp.energy[0] - ref.energy[0]) < 1e-10
    np.testing.assert_allclose(pp.forces, ref.forces[perm], atol=1e-10)


def labelled(model, data, seed=0):
    """data with energies, forces and stress from `model`, perturbed."""
    rng = np.random.default_rng(seed)
    p = model.predict(data)
    out = ldrx.Dataset(data.numbers, data.positions, data.cells, data.pbc, data.offsets,
                       p.energy + rng.normal(0, 0.3, len(data)), p.forces + rng.normal(0, 0.2, p.forces.shape),
                       p.stress + rng.normal(0, 1e-3, p.stress.shape))
    return out


def test_loss_gradient_is_the_derivative(model10):
    data = labelled(model10, frames(3, seed=4), seed=1)
    m = random_model(10, seed=2)
    m.hyper.stress_weight = 0.1
    theta = m.theta.copy()
    loss, grad, info = m.loss(data, theta)
    assert info["virial_count"] > 0 and info["force_count"] > 0
    rng = np.random.default_rng(0)
    S, nmu, nq, A = m._sizes
    nr = S * S * nmu * nq
    picks = list(rng.choice(nr, 12, replace=False)) + list(range(nr, nr + S)) + list(nr + S + rng.choice(A, 6, replace=False))
    for k in picks:
        h = 1e-6 * max(1.0, abs(theta[k]))
        tp, tm = theta.copy(), theta.copy()
        tp[k] += h
        tm[k] -= h
        fd = (m.loss(data, tp, False)[0] - m.loss(data, tm, False)[0]) / (2 * h)
        assert abs(fd - grad[k]) <= 1e-6 * max(1.0, abs(grad[k])), (k, fd, grad[k])


def test_loss_gradient_does_not_depend_on_threads(model10):
    data = labelled(model10, ldrx.Dataset.concatenate([frames(8, seed=s) for s in range(3)]))
    n0 = _core.get_num_threads()
    try:
        _core.set_num_threads(1)
        l1, g1, _ = model10.loss(data)
        _core.set_num_threads(2)
        l2, g2, _ = model10.loss(data)
    finally:
        _core.set_num_threads(n0)
    assert l1 == l2
    np.testing.assert_array_equal(g1, g2)


def test_neighbour_list_cache_gives_the_same_loss(model10):
    """Cached neighbour lists (kept across evaluations, filled on the first) give bit-identical loss and
    gradient on 1 and 2 threads; a cache used with another batch rebinds to it."""
    data = labelled(model10, ldrx.Dataset.concatenate([frames(6, seed=s) for s in range(3)]), seed=2)
    other = labelled(model10, frames(5, seed=9), seed=3)

    def loss(d, cache=None):
        t = model10._targets(d)
        return _core.mtp_loss_grad(model10.basis, model10.theta, d.batch(), t["energy"], t["forces"], t["virial"],
                                   t["w_energy"], t["w_force"], t["w_virial"], True, cache)

    l0, g0, _ = loss(data)
    cache = _core.NeighbourListCache()
    n0 = _core.get_num_threads()
    try:
        for nt in (1, 2, 1):
            _core.set_num_threads(nt)
            b = data.batch()
            t = model10._targets(data)
            for _ in range(2):  # first call fills the cache, the second reads it
                l, g, _ = _core.mtp_loss_grad(model10.basis, model10.theta, b, t["energy"], t["forces"], t["virial"],
                                              t["w_energy"], t["w_force"], t["w_virial"], True, cache)
                assert l == l0
                np.testing.assert_array_equal(g, g0)
                assert cache.n_ready == len(data) and cache.nbytes > 0
    finally:
        _core.set_num_threads(n0)
    l1, g1, _ = loss(other)
    l2, g2, _ = loss(other, cache)
    assert l1 == l2 and cache.n_ready == len(other)
    np.testing.assert_array_equal(g1, g2)


def test_bindings_take_any_layout_and_name_a_wrong_shape(model10):
    """The MTP bindings read arrays through the hardened input_array: float32 or Fortran-ordered inputs give
    the float64 C-ordered result; a wrongly shaped one (same size, transposed) is refused by name."""
    data = labelled(model10, frames(3, seed=8), seed=4)
    t = model10._targets(data)
    b = data.batch()

    def call(**over):
        a = {**t, **over}
        return _core.mtp_loss_grad(model10.basis, over.get("theta", model10.theta), b, a["energy"], a["forces"],
                                   a["virial"], a["w_energy"], a["w_force"], a["w_virial"], True)

    l0, g0, _ = call()
    f32 = call(forces=t["forces"].astype(np.float32))  # rounded targets: close, not equal
    assert f32[0] == pytest.approx(l0, rel=1e-5)
    lf, gf, _ = call(forces=np.asfortranarray(t["forces"]), virial=np.asfortranarray(t["virial"]))
    assert lf == l0
    np.testing.assert_array_equal(gf, g0)
    lt, gt, _ = call(theta=np.asfortranarray(model10.theta.astype(np.float32).astype(np.float64))[::-1][::-1])
    assert np.isfinite(lt)
    with pytest.raises(ValueError, match=r"forces must have shape \(%d, 3\)" % data.n_atoms):
        call(forces=np.ascontiguousarray(t["forces"].T))
    with pytest.raises(ValueError, match=r"virial must have shape"):
        call(virial=t["virial"].ravel())
    with pytest.raises(ValueError, match=r"theta must have shape"):
        call(theta=model10.theta[:-1])
    with pytest.raises(ValueError, match=r"alpha_index_times must have shape"):
        args = list(model10._basis_args())
        args[-2] = args[-2].ravel()
        _core.MomentTensorBasis(*args)


def test_jacobian_rows_give_the_normal_equations(model10):
    """linear_normal_equations (per-centre Jacobian hook) against rows built from forward and backward."""
    data = labelled(model10, frames(2, seed=6))
    rad, sp, xi = model10._split()
    basis = model10._make_basis(np.ascontiguousarray(rad.ravel()))
    t = model10._targets(data)
    S, _, _, A = model10._sizes
    ata, atb = np.zeros((S + A, S + A)), np.zeros(S + A)
    _core.linear_normal_equations(basis, [int(z) for z in model10.species], data.batch(), True, t["energy"],
                                  t["forces"], t["virial"], t["w_energy"], t["w_force"], t["w_virial"], ata, atb)
    # explicit rows: energy = counts, sum B; forces / virial of column k from backward with dE/dG = e_k
    G = basis.forward(data.batch())
    spi = np.searchsorted(model10.species, data.numbers)
    rows, y, w = [], [], []
    cols_F, cols_W = [], []
    for k in range(S + A):
        dEdG = np.zeros_like(G)
        if k >= S:
            dEdG[:, k - S] = 1.0
        F, W = basis.backward(data.batch(), dEdG)
        cols_F.append(F)
        cols_W.append(W)
    for f in range(len(data)):
        a0, a1 = data.offsets[f], data.offsets[f + 1]
        er = np.concatenate([np.bincount(spi[a0:a1], minlength=S), G[a0:a1].sum(axis=0)])
        rows.append(er), y.append(data.energy[f]), w.append(t["w_energy"][f])
        for a in range(a0, a1):
            for x in range(3):
                rows.append([c[a, x] for c in cols_F]), y.append(data.forces[a, x]), w.append(t["w_force"][f])
        vir = -data.stress[f] * abs(np.linalg.det(data.cells[f]))
        for v in range(6):
            rows.append([c[f, v] for c in cols_W]), y.append(vir[v]), w.append(t["w_virial"][f])
    R, y, w = np.array(rows), np.array(y), np.array(w)
    np.testing.assert_allclose(ata, (R * w[:, None]).T @ R, rtol=1e-9, atol=1e-9 * np.abs(ata).max())
    np.testing.assert_allclose(atb, (R * w[:, None]).T @ y, rtol=1e-9, atol=1e-9 * np.abs(atb).max())


# ------------------------------------------------------------------------------------------- files


def test_mtp_file_round_trip_and_bad_files(model10, tmp_path):
    p = model10.to_mlip(tmp_path / "a.mtp")
    d = read_mtp(p)
    assert d["alpha_scalar_moments"] == 16 and d["radial_funcs_count"] == 3
    m = MTP.from_mlip(p, species=SPECIES)
    data = frames(1)
    np.testing.assert_array_equal(m.predict(data).energy, model10.predict(data).energy)
    text = open(p).read()
    with pytest.raises(ModelFileError, match="species_count is 3, but 2 species"):
        MTP.from_mlip(p, species=["Li", "O"])
    bad = tmp_path / "bad.mtp"
    bad.write_text(text.replace("alpha_scalar_moments = 16", "alpha_scalar_moments = 17"))
    with pytest.raises(ModelFileError, match=r"bad.mtp, line \d+: alpha_moment_mapping has 16 entries"):
        read_mtp(bad)
    bad.write_text(text.replace("radial_basis_size = 8", "radial_basis_size = 7"))
    with pytest.raises(ModelFileError, match=r"bad.mtp, line \d+: radial_coeffs block 0-0 has 8 numbers"):
        read_mtp(bad)
    bad.write_text(text.replace("radial_funcs_count = 3", "radial_funcs_count = 2"))
    with pytest.raises(ModelFileError, match=r"bad.mtp, line \d+: expected radial_coeffs block"):
        read_mtp(bad)
    # an untrained template (no coefficients) gets parameters from the seed
    tpl = tmp_path / "tpl.mtp"
    from ldrx.io.mlip import write_mtp
    write_mtp(tpl, {**model10.mtp, "radial_coeffs": None})
    t = MTP.from_mlip(tpl, species=SPECIES, seed=3)
    assert np.all(t._split()[2] == 0) and np.all(np.isfinite(t.predict(data).energy))


def test_species_missing_from_the_potential(model10):
    data = frames(1, species=(3, 8, 26))
    with pytest.raises(DataError, match="element Fe is not one of the model's species"):
        model10.predict(data)


def test_cfg_round_trip_and_bad_cfg(model10, tmp_path):
    data = labelled(model10, frames(3, seed=9))
    p = tmp_path / "a.cfg"
    write_cfg(p, data, SPECIES)
    back = read_cfg(p, SPECIES)
    np.testing.assert_array_equal(back.numbers, data.numbers)
    np.testing.assert_allclose(back.positions, data.positions, atol=1e-9)
    np.testing.assert_allclose(back.energy, data.energy, atol=1e-9)
    np.testing.assert_allclose(back.forces, data.forces, atol=1e-7)
    np.testing.assert_allclose(back.stress, data.stress, rtol=1e-6, atol=1e-9)
    lines = open(p).read().splitlines()
    cut = [l for i, l in enumerate(lines) if i != 8]  # drop one AtomData row of the first block
    bad = tmp_path / "bad.cfg"
    bad.write_text("\n".join(cut))
    with pytest.raises(DataError, match=r"bad.cfg, line \d+"):
        read_cfg(bad, SPECIES)
    with pytest.raises(DataError, match=r"a.cfg, line \d+: atom type 2 but only 2 species"):
        read_cfg(p, ["Li", "O"])


# ------------------------------------------------------------------------------------------- training


def test_fit_save_load_calculator_cli(model10, tmp_path):
    train = labelled(model10, ldrx.Dataset.concatenate([frames(6, seed=s) for s in (11, 12)]), seed=3)
    m = ldrx.fit(train, model="mtp", level=8, r_min=1.2, r_cut=4.5, max_iter=30, progress=False, seed=0)
    first, last = m.history[0]["loss"], min(r["loss"] for r in m.history)
    assert last < first
    p = m.save(tmp_path / "m.ldrx") or tmp_path / "m.ldrx"
    back = ldrx.load(p)
    np.testing.assert_array_equal(back.predict(train).energy, m.predict(train).energy)
    atoms = train.to_atoms()[0]
    atoms.calc = back.calculator()
    assert abs(atoms.get_potential_energy() - m.predict(train).energy[0]) < 1e-10
    # same seed, same model
    m2 = ldrx.fit(train, model="mtp", level=8, r_min=1.2, r_cut=4.5, max_iter=30, progress=False, seed=0)
    np.testing.assert_array_equal(m2.theta, m.theta)


def test_checkpoint_resume(model10, tmp_path):
    train = labelled(model10, frames(6, seed=13), seed=4)
    kw = dict(level=6, species=SPECIES, r_min=1.2, r_cut=4.5, progress=False, checkpoint=str(tmp_path / "c.npz"),
              checkpoint_every=5)
    a = MTP(max_iter=10, **kw).fit(train)
    b = MTP(max_iter=20, **kw).fit(train)  # resumes at 10
    assert b.history[0]["iter"] == 1 and len(b.history) == 20
    assert b.history[-1]["loss"] <= a.history[-1]["loss"] + 1e-12


def test_linear_start_fits_a_linear_target(model10):
    """With the radial coefficients of the generating model, the linear start recovers its linear
    coefficients from noise-free labels."""
    data = ldrx.Dataset.concatenate([frames(8, seed=s) for s in (20, 21, 22)])
    p = model10.predict(data)
    data = ldrx.Dataset(data.numbers, data.positions, data.cells, data.pbc, data.offsets, p.energy, p.forces)
    m = MTP.from_mlip.__func__  # noqa: F841  (keep the API referenced)
    m = random_model(10, seed=1)
    rad, sp, xi = m._split()
    sp[...] = 0
    xi[...] = 0
    m.hyper.ridge = 0.0
    m.linear_fit(data)
    np.testing.assert_allclose(m.predict(data).forces, p.forces, atol=1e-6)


def test_fit_rebuilds_a_built_model_and_continues_a_read_one(model10, tmp_path):
    train = labelled(model10, frames(4, seed=14), seed=5)
    m = MTP(level=6, species=SPECIES, max_iter=3, progress=False).fit(train)
    shortest = np.nanmin(_core.pair_min_distances(train.batch(), 4.5, [3, 8, 25]))
    assert abs(m.mtp["min_dist"] - 0.99 * shortest) < 1e-12          # r_min from the data
    p = model10.to_mlip(tmp_path / "start.mtp")
    # 6 evaluations: the first L-BFGS step overshoots on this stiff loss, and 3 evaluations only backtrack
    # (the loss then changes by rounding only)
    f = MTP.from_mlip(p, species=SPECIES, max_iter=6, progress=False, linear_start=False)
    loss0 = f.loss(train)[0]
    f.fit(train)
    assert f.mtp["min_dist"] == model10.mtp["min_dist"] and f.loss(train)[0] < loss0
