"""SNAP / qSNAP fits: streaming normal equations, recovery of a known model, LAMMPS files, model files."""

import gzip
import json
import warnings

import numpy as np
import pytest
from ase.data import atomic_numbers, chemical_symbols

import ldrx
import ldrx.evaluate
from ldrx import _core
from ldrx.descriptors import Bispectrum
from ldrx.models.snap import SNAP, n_columns
from ldrx.train.linear import IllConditionedWarning, lstsq, solve_normal_equations

from conftest import DATA, random_frames

WJ = {"Li": 0.5, "O": 1.0, "Mn": 0.8}


@pytest.fixture(scope="module")
def frames():
    return ldrx.Dataset.from_atoms(random_frames(30, (6, 14), species=(3, 8, 25), seed=5, density=0.07))


def known_model(data, quadratic, twojmax=4, seed=0):
    """A SNAP with random coefficients, set by hand (no fit)."""
    m = SNAP(twojmax=twojmax, rcutfac=4.0, quadratic=quadratic, wj=WJ)
    m.species = data.species
    m.radelem, m.wj = m._resolve_elements(m.species)
    m._make_descriptor()
    rng = np.random.default_rng(seed)
    m.coefficients = rng.normal(0, 0.1, (len(m.species), n_columns(m.ncoeff, quadratic)))
    m.coefficients[:, 0] = -2.0 - np.arange(len(m.species))
    if quadratic:
        m.coefficients[:, 1 + m.ncoeff:] *= 0.05
    m.reference_energies = {z: 0.0 for z in m.species}
    m._fitted = True
    return m


def labelled(data, model):
    p = model.predict(data, stress=True)
    return ldrx.Dataset(data.numbers, data.positions, data.cells, data.pbc, data.offsets, p.energy, p.forces,
                        p.stress)


@pytest.mark.parametrize("quadratic", [False, True], ids=["snap", "qsnap"])
@pytest.mark.parametrize("solver", ["ridge", "svd"])
def test_fit_recovers_a_known_model(frames, quadratic, solver):
    true = known_model(frames, quadratic)
    data = labelled(frames, true)
    m = SNAP(twojmax=4, rcutfac=4.0, quadratic=quadratic, wj=WJ, ridge=0.0, solver=solver, force_weight=1e-2,
             stress_weight=1.0)
    m.fit(data)
    scale = np.abs(true.coefficients[:, 1:]).max()
    np.testing.assert_allclose(m.coefficients[:, 1:], true.coefficients[:, 1:], rtol=0, atol=1e-8 * scale)
    p, q = true.predict(frames, stress=True), m.predict(frames, stress=True)
    np.testing.assert_allclose(q.energy, p.energy, rtol=0, atol=1e-8 * np.abs(p.energy).max())
    np.testing.assert_allclose(q.forces, p.forces, rtol=0, atol=1e-8 * np.abs(p.forces).max())
    np.testing.assert_allclose(q.stress, p.stress, rtol=0, atol=1e-8 * np.abs(p.stress).max())


def _fit_arrays(data, desc, quadratic, seed=0):
    rng = np.random.default_rng(seed)
    ns, nc = len(desc.species), desc.size
    shift, scale = rng.normal(size=(ns, nc)), rng.uniform(0.5, 2.0, (ns, nc))
    energy = rng.normal(size=len(data))
    forces = rng.normal(size=(data.n_atoms, 3))
    forces[2, 1] = np.nan            # a missing force component
    energy[1] = np.nan               # a frame without energy
    virial = rng.normal(size=(len(data), 6))
    we, wf, wv = (rng.uniform(0.5, 2.0, len(data)) for _ in range(3))
    wf[3] = 0.0                      # a frame whose forces do not count
    return dict(shift=shift, scale=scale, quadratic=quadratic, energy=energy, forces=forces, w_energy=we,
                w_force=wf, virial=virial, w_virial=wv)


@pytest.mark.parametrize("quadratic", [False, True], ids=["snap", "qsnap"])
def test_normal_equations_equal_the_design_matrix_products(frames, quadratic):
    desc = Bispectrum(4, 4.0, radelem={"Li": 0.5, "O": 0.45, "Mn": 0.52}, wj=WJ)
    args = _fit_arrays(frames, desc, quadratic)
    A, b = _core.snap_design_matrix(desc._impl, frames.batch(), **args)
    n = len(desc.species) * n_columns(desc.size, quadratic)
    expected_rows = (np.isfinite(args["energy"]).sum()
                     + sum(np.isfinite(args["forces"][frames.offsets[f]:frames.offsets[f + 1]]).sum()
                           for f in range(len(frames)) if args["w_force"][f] > 0)
                     + 6 * len(frames))
    assert A.shape == (expected_rows, n)
    results = []
    for threads in (1, 2, 2):
        old = ldrx.get_num_threads()
        ldrx.set_num_threads(threads)
        try:
            ata, atb = np.zeros((n, n)), np.zeros(n)
            btb, rows = _core.snap_normal_equations(desc._impl, frames.batch(), **args, ata=ata, atb=atb)
        finally:
            ldrx.set_num_threads(old)
        results.append(ata)
        assert rows == len(b)
        np.testing.assert_allclose(ata, A.T @ A, rtol=1e-12, atol=1e-12 * np.abs(ata).max())
        np.testing.assert_allclose(atb, A.T @ b, rtol=1e-12, atol=1e-12 * np.abs(atb).max())
        assert np.isclose(btb, b @ b, rtol=1e-12)
        assert np.array_equal(ata, ata.T)
    np.testing.assert_array_equal(results[1], results[2])  # same thread count: the same bits


def test_rows_are_the_descriptor_derivatives(frames):
    """With no standardisation, the force rows are LAMMPS's snad/atom and the virial rows its snav."""
    desc = Bispectrum(4, 4.0, radelem={"Li": 0.5, "O": 0.45, "Mn": 0.52}, wj=WJ)
    ns, nc = len(desc.species), desc.size
    data = frames[:2]
    ones = np.ones(len(data))
    A, b = _core.snap_design_matrix(desc._impl, data.batch(), np.zeros((ns, nc)), np.ones((ns, nc)), False,
                                    np.zeros(len(data)), np.zeros((data.n_atoms, 3)), ones, ones,
                                    np.zeros((len(data), 6)), ones)
    rows, vir = desc.force_rows(data)
    B = desc.compute(data)
    sp = np.array([desc.species.index(z) for z in data.numbers])
    P = 1 + nc
    r = 0
    for f in range(len(data)):
        a0, a1 = data.offsets[f], data.offsets[f + 1]
        N = a1 - a0
        energy_row = np.zeros(ns * P)
        for i in range(a0, a1):
            energy_row[sp[i] * P] += 1 / N
            energy_row[sp[i] * P + 1:(sp[i] + 1) * P] += B[i] / N
        np.testing.assert_allclose(A[r], energy_row, rtol=1e-12, atol=1e-12)
        F = A[r + 1:r + 1 + 3 * N].reshape(N, 3, ns, P)
        np.testing.assert_allclose(F[..., 0], 0.0)
        np.testing.assert_allclose(F[..., 1:], rows[a0:a1].transpose(0, 2, 1, 3), rtol=1e-10, atol=1e-10)
        V = A[r + 1 + 3 * N:r + 7 + 3 * N].reshape(6, ns, P)
        np.testing.assert_allclose(V[..., 1:] * N, vir[f].transpose(1, 0, 2), rtol=1e-10, atol=1e-10)
        r += 7 + 3 * N


def test_stress_is_the_strain_derivative(frames):
    m = known_model(frames, True)
    data = frames[0]
    p = m.predict(data, stress=True)
    h, vol = 1e-5, abs(np.linalg.det(data.cells[0]))
    pairs = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]
    for v, (a, b) in enumerate(pairs):
        e = np.zeros((3, 3))
        e[a, b] = e[b, a] = h / (1 if a == b else 2)
        E = []
        for sign in (1, -1):
            d = data.subset([0])
            d.positions[:] = data.positions @ (np.eye(3) + sign * e).T
            d.cells[:] = data.cells @ (np.eye(3) + sign * e).T
            E.append(m.predict(d, forces=False, stress=False).energy[0])
        assert np.isclose(p.stress[0, v], (E[0] - E[1]) / (2 * h) / vol, rtol=1e-6, atol=1e-9)


def test_reference_coefficients_through_lammps_files(tmp_path):
    """The LAMMPS reference's coefficients, written as .snapcoeff/.snapparam and read with from_lammps,
    give pair_style snap's energies and forces (this also checks our reader of LAMMPS's formats)."""
    with gzip.open(DATA / "lammps-snap" / "reference.json.gz") as f:
        ref = json.load(f)
    for case in ref["cases"]:
        coef = np.array(case["coefficients"])
        prefix = tmp_path / f"ref{case['twojmax']}{case['bzeroflag']}"
        lines = [f"# reference\n{len(ref['species_order'])} {coef.shape[1]}"]
        for el, r, w, c in zip(ref["species_order"], ref["radelem"], ref["wj"], coef):
            lines.append(f"{el} {r} {w}")
            lines.extend(repr(float(x)) for x in c)
        (tmp_path / (prefix.name + ".snapcoeff")).write_text("\n".join(lines) + "\n")
        (tmp_path / (prefix.name + ".snapparam")).write_text(
            f"rcutfac {ref['rcutfac']}\ntwojmax {case['twojmax']}\nrfac0 {ref['rfac0']}\nrmin0 {ref['rmin0']}\n"
            f"switchflag {ref['switchflag']}\nbzeroflag {case['bzeroflag']}\nquadraticflag 0\n")
        model = SNAP.from_lammps(prefix)
        for s in case["structures"][:2] + case["structures"][3:4]:  # two 64-atom cells and the thin cell
            z = np.array([atomic_numbers[x] for x in s["symbols"]])
            data = ldrx.Dataset(z, np.array(s["positions"]), np.array(s["cell"])[None], np.array([s["pbc"]]),
                                [0, len(z)])
            p = model.predict(data, stress=False)
            assert abs(p.energy[0] - s["pair_snap_energy"]) < 1e-8
            np.testing.assert_allclose(p.forces, np.array(s["pair_snap_forces"]), rtol=0, atol=1e-8)


def reference_model(ref, case, quadratic, seed=0):
    """The LAMMPS reference case's SNAP (its beta0 and beta), with random alpha for qSNAP."""
    el = ref["species_order"]
    m = SNAP(twojmax=case["twojmax"], rcutfac=ref["rcutfac"], rfac0=ref["rfac0"], rmin0=ref["rmin0"],
             radelem=dict(zip(el, ref["radelem"])), wj=dict(zip(el, ref["wj"])), bzeroflag=bool(case["bzeroflag"]),
             switchflag=bool(ref["switchflag"]), quadratic=quadratic)
    m.species = sorted(atomic_numbers[x] for x in el)
    m.radelem, m.wj = m._resolve_elements(m.species)
    m._make_descriptor()
    order = [el.index(chemical_symbols[z]) for z in m.species]
    coef = np.array(case["coefficients"])[order]
    if quadratic:
        nq = m.ncoeff * (m.ncoeff + 1) // 2
        coef = np.hstack([coef, np.random.default_rng(seed).normal(0, 1e-3, (len(m.species), nq))])
    m.coefficients = coef
    m.reference_energies = {z: 0.0 for z in m.species}
    m._fitted = True
    return m


def forward_backward(model, data):
    """Energies, forces, virial the unfused way: B (forward), E_i and beta_eff in numpy, then backward."""
    e, beta = model.atomic_energies(data)
    F, W = model.descriptor.backward(data, beta)
    return np.bincount(data.frame_index, weights=e, minlength=len(data)), F, W


def fused(model, data):
    e, F, W = _core.snap_energy_forces(model.descriptor._impl, data.batch(), model.coefficients,
                                       model.hyper.quadratic, True)
    return np.bincount(data.frame_index, weights=e, minlength=len(data)), F, W


@pytest.mark.parametrize("quadratic", [False, True], ids=["snap", "qsnap"])
def test_fused_prediction_equals_forward_backward(quadratic):
    """The one-pass kernel (U, Z once per atom) gives what B + backward give, in both parallel modes
    (frames in parallel; one large frame split into per-thread atom blocks), and the same bits run to run."""
    with gzip.open(DATA / "lammps-snap" / "reference.json.gz") as f:
        ref = json.load(f)

    def dataset(s):
        z = np.array([atomic_numbers[x] for x in s["symbols"]])
        return ldrx.Dataset(z, np.array(s["positions"]), np.array(s["cell"])[None], np.array([s["pbc"]]),
                            [0, len(z)])

    def check(model, data):
        expected = forward_backward(model, data)
        got = fused(model, data)
        for x, y in zip(got, expected):
            np.testing.assert_allclose(x, y, rtol=0, atol=1e-12 * np.abs(y).max())
        assert np.array_equal(got[0], model.predict(data, stress=False).energy)
        return got

    old = ldrx.get_num_threads()
    try:
        for case in ref["cases"]:
            model = reference_model(ref, case, quadratic)
            cells = ldrx.Dataset.concatenate([dataset(s) for s in case["structures"]])  # 5 frames
            for threads in (1, 2):
                ldrx.set_num_threads(threads)
                check(model, cells)
        # one large frame on 2 threads: its atoms split into two blocks with thread-local force sums
        case = ref["cases"][1]
        model = reference_model(ref, case, quadratic, seed=1)
        big = ldrx.Dataset.from_atoms([dataset(case["structures"][0]).to_atoms()[0].repeat((2, 2, 2))])  # 512 atoms
        ldrx.set_num_threads(2)
        first = check(model, big)
        again = fused(model, big)
        for x, y in zip(first, again):
            np.testing.assert_array_equal(x, y)
        if quadratic:  # the quadratic part matters here
            linear = model.coefficients.copy()
            linear[:, 1 + model.ncoeff:] = 0.0
            e_lin = _core.snap_energy_forces(model.descriptor._impl, big.batch(), linear, True, False)[0]
            assert abs(e_lin.sum() - first[0][0]) > 1e-3 * abs(first[0][0])
    finally:
        ldrx.set_num_threads(old)


@pytest.fixture(scope="module")
def small_fit(frames):
    true = known_model(frames, True, seed=3)
    data = labelled(frames, true)
    return SNAP(twojmax=4, rcutfac=4.0, quadratic=True, wj=WJ).fit(data), data


def test_lammps_export_round_trip(small_fit, tmp_path):
    m, data = small_fit
    coeff, param = m.to_lammps(tmp_path / "pot")
    text = open(coeff).read().split("\n")
    body = [t for t in text if t and not t.startswith("#")]
    assert body[0] == f"{len(m.species)} {n_columns(m.ncoeff, True)}"
    assert body[1].split()[0] == "Li" and len(body) == 1 + len(m.species) * (1 + n_columns(m.ncoeff, True))
    assert "quadraticflag 1" in open(param).read()
    back = SNAP.from_lammps(tmp_path / "pot")
    p, q = m.predict(data, stress=True), back.predict(data, stress=True)
    np.testing.assert_allclose(q.energy, p.energy, rtol=1e-14, atol=1e-10)
    np.testing.assert_allclose(q.forces, p.forces, rtol=1e-13, atol=1e-11)
    np.testing.assert_allclose(q.stress, p.stress, rtol=1e-13, atol=1e-13)


def test_save_load_and_calculator(small_fit, tmp_path):
    m, data = small_fit
    path = tmp_path / "model.ldrx"
    m.save(path)
    back = ldrx.load(path)
    assert isinstance(back, SNAP) and back.hyper == m.hyper
    np.testing.assert_array_equal(back.coefficients, m.coefficients)
    p, q = m.predict(data), back.predict(data)
    np.testing.assert_array_equal(p.energy, q.energy)
    atoms = data.to_atoms()[0]
    atoms.calc = back.calculator()
    assert np.isclose(atoms.get_potential_energy(), p.energy[0], rtol=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), p.forces[:len(atoms)], rtol=1e-12, atol=1e-12)


def test_registry_and_estimator_api(frames):
    q = ldrx.models.make_model("qsnap")
    assert isinstance(q, SNAP) and q.hyper.quadratic and q.hyper.twojmax == 6
    s = ldrx.models.make_model("snap")
    assert not s.hyper.quadratic and s.hyper.twojmax == 8
    with pytest.raises(TypeError, match="unknown SNAP hyper-parameter"):
        SNAP(twojmx=6)
    true = known_model(frames, False)
    data = labelled(frames, true)
    m = ldrx.fit(data, model="snap", twojmax=4, rcutfac=4.0, wj=WJ, force_weight=0.0, ridge=1e-10)  # energies only
    assert ldrx.evaluate.metrics(m, data)["energy_rmse_meV_per_atom"] < 1e-3
    forces_only = ldrx.Dataset(data.numbers, data.positions, data.cells, data.pbc, data.offsets, None, data.forces)
    m = ldrx.fit(forces_only, model="snap", twojmax=4, rcutfac=4.0, wj=WJ, ridge=1e-10)
    assert ldrx.evaluate.metrics(m, data)["forces_rmse_eV_per_A"] < 1e-6 * np.sqrt(np.mean(data.forces ** 2))
    m2 = ldrx.fit(forces_only, model="snap", twojmax=4, rcutfac=4.0, wj=WJ, ridge=1e-10)
    np.testing.assert_array_equal(m.coefficients, m2.coefficients)  # deterministic


def test_group_weights_and_validation_metrics(frames):
    true = known_model(frames, False)
    data = labelled(frames, true)
    noisy = labelled(frames, true)
    noisy.energy = noisy.energy + np.random.default_rng(0).normal(0, 5.0, len(noisy))  # garbage energies
    for f in range(len(noisy)):
        noisy.info[f]["group"] = "bad"
    both = ldrx.Dataset.concatenate([data, noisy])
    kw = dict(twojmax=4, rcutfac=4.0, wj=WJ, ridge=1e-10)
    m = SNAP(group_weights={"bad": {"energy": 0.0, "force": 1.0}}, **kw).fit(both, valid=data)
    assert m.info["valid_metrics"]["energy_rmse_meV_per_atom"] < 1e-3    # the bad group's energies ignored
    m = SNAP(**kw).fit(both, valid=data)
    assert m.info["valid_metrics"]["energy_rmse_meV_per_atom"] > 100.0   # ... and here they are not
    with pytest.raises(ValueError, match="unknown keys"):
        SNAP(group_weights={"bad": {"energies": 0.0}})


def test_bad_input(frames):
    data = labelled(frames, known_model(frames, False))
    with pytest.raises(ldrx.DataError, match="no energies, forces or stresses"):
        SNAP(twojmax=4).fit(frames)
    for bad in (5, -2):
        with pytest.raises(ValueError, match="twojmax"):
            SNAP(twojmax=bad)
    with pytest.raises(ValueError, match="radelem has no value for \\['Mn'\\]"):
        SNAP(twojmax=4, radelem={"Li": 0.5, "O": 0.5}).fit(data)
    with pytest.raises(ValueError, match="wj has no value for"):
        SNAP(twojmax=4, wj={"Li": 1.0}).fit(data)
    with pytest.raises(ValueError, match="exceeds the supported"):
        SNAP(twojmax=4, rcutfac=30.0).fit(data)
    with pytest.raises(ValueError, match="nothing to fit"):
        SNAP(energy_weight=0, force_weight=0, stress_weight=0)
    m = known_model(frames, False)
    with pytest.raises(ldrx.DataError, match="element Ni is not one of the model's species"):
        m.predict(ldrx.Dataset.from_atoms(random_frames(1, (4, 6), species=(28,), seed=1)))


def test_ill_conditioned_fit_warns_with_the_condition_number(frames):
    # one frame, energies only: 1 row for dozens of columns, and no ridge
    with pytest.warns(IllConditionedWarning, match=r"condition number (inf|[0-9.e+]+)"):
        SNAP(twojmax=4, rcutfac=4.0, wj=WJ, ridge=0.0, force_weight=0.0).fit(labelled(frames[:1], known_model(frames, False)))
    # the solvers themselves, on an exactly collinear pair of columns
    A = np.random.default_rng(0).normal(size=(20, 3))
    A[:, 2] = A[:, 1]
    with pytest.warns(IllConditionedWarning, match="condition number"):
        lstsq(A, np.ones(20))
    with pytest.warns(IllConditionedWarning, match="condition number"):
        sol = solve_normal_equations(A.T @ A, A.T @ np.ones(20))
    assert sol.method == "eigh" and sol.rank == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        solve_normal_equations(A.T @ A, A.T @ np.ones(20), ridge=1e-3)  # regularised: no warning
