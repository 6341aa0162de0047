"""GAP: kernel rows against finite differences, forces vs energy derivatives, fit, save/load, bad input."""

from pathlib import Path

import numpy as np
import pytest

import ldrx
from ldrx.models.gap import GAP, soap_kernel_rows

from conftest import random_frames


@pytest.fixture(scope="module")
def emt_data():
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator
    frames = random_frames(n_frames=16, n_atoms=(4, 9), species=(29, 28), seed=1, density=0.05, min_dist=1.8)
    for a in frames:
        a.calc = EMT()
        e, f = a.get_potential_energy(), a.get_forces()
        a.calc = SinglePointCalculator(a, energy=e, forces=f)
    return ldrx.Dataset.from_atoms(frames)


@pytest.fixture(scope="module")
def model_ef(emt_data):
    return GAP(n_max=4, l_max=3, r_cut=4.0, n_sparse=15, sigma_force=0.05, seed=0).fit(emt_data)


def test_force_rows_match_fd(emt_data, model_ef):
    m = model_ef
    part = emt_data[0:2]
    KE, KF, KV = soap_kernel_rows(m.descriptor, part, m.sparse_points, m.m_offsets, m.hyper.zeta, True)
    h = 1e-5
    for i, k in [(0, 0), (1, 2), (part.natoms[0] + 1, 1)]:
        p, q = part.subset([0, 1]), part.subset([0, 1])
        p.positions[i, k] += h
        q.positions[i, k] -= h
        fd = (soap_kernel_rows(m.descriptor, p, m.sparse_points, m.m_offsets, m.hyper.zeta, False)[0]
              - soap_kernel_rows(m.descriptor, q, m.sparse_points, m.m_offsets, m.hyper.zeta, False)[0]) / (2 * h)
        f = 0 if i < part.natoms[0] else 1
        np.testing.assert_allclose(KF[3 * i + k], fd[f], atol=1e-7 * np.abs(KF).max())


def test_predicted_forces_stress_fd(emt_data, model_ef):
    a = emt_data[3:4].to_atoms()[0]
    pred = model_ef.predict(a)
    E = lambda at: model_ef.predict(at, forces=False, stress=False).energy[0]
    h = 1e-5
    for i, k in [(0, 0), (2, 1)]:
        p, q = a.copy(), a.copy()
        p.positions[i, k] += h
        q.positions[i, k] -= h
        assert abs(-(E(p) - E(q)) / (2 * h) - pred.forces[i, k]) < 1e-6 * np.abs(pred.forces).max()
    eps = np.zeros((3, 3))
    eps[0, 0] = h
    p, q = a.copy(), a.copy()
    p.set_cell(a.cell @ (np.eye(3) + eps), scale_atoms=True)
    q.set_cell(a.cell @ (np.eye(3) - eps), scale_atoms=True)
    s_xx = (E(p) - E(q)) / (2 * h) / a.get_volume()
    assert abs(s_xx - pred.stress[0, 0]) < 1e-6 * max(1.0, abs(s_xx))


def test_fit_energies_only_and_with_forces(emt_data, model_ef):
    e_only = ldrx.fit(emt_data, model="gap", n_max=4, l_max=3, r_cut=4.0, n_sparse=15, seed=0)
    pe, pf = e_only.predict(emt_data), model_ef.predict(emt_data)
    rmse_e = lambda p: np.sqrt(np.mean(((p.energy - emt_data.energy) / emt_data.natoms) ** 2))
    rmse_f = lambda p: np.sqrt(np.mean((p.forces - emt_data.forces) ** 2))
    assert rmse_e(pe) < 0.01            # energies are interpolated closely when only they are fitted
    assert rmse_f(pf) < rmse_f(pe)      # fitting forces lowers the force error
    assert model_ef.info["forces_fitted"] and not e_only.info["forces_fitted"]


def test_save_load_calculator(tmp_path, emt_data, model_ef):
    path = tmp_path / "gap.ldrx"
    model_ef.save(path)
    m2 = ldrx.load(path)
    p1, p2 = model_ef.predict(emt_data), m2.predict(emt_data)
    np.testing.assert_allclose(p2.energy, p1.energy, rtol=0, atol=1e-10)
    np.testing.assert_allclose(p2.forces, p1.forces, rtol=0, atol=1e-10)
    a = emt_data[0:1].to_atoms()[0]
    a.calc = m2.calculator()
    assert np.isclose(a.get_potential_energy(), p1.energy[0])


def test_sparse_selection_seeded_and_distinct(emt_data):
    kw = dict(n_max=3, l_max=2, r_cut=4.0, n_sparse=10)
    a = GAP(seed=3, **kw).fit(emt_data)
    b = GAP(seed=3, **kw).fit(emt_data)
    np.testing.assert_array_equal(a.sparse_points, b.sparse_points)
    assert len(np.unique(np.round(a.sparse_points, 10), axis=0)) == len(a.sparse_points)


def test_bad_input(emt_data):
    with pytest.raises(ValueError, match="n_max"):
        GAP(n_max=0).fit(emt_data)
    with pytest.raises(ValueError, match="l_max"):
        GAP(l_max=50).fit(emt_data)
    with pytest.raises(ValueError, match="n_sparse"):
        GAP(n_sparse=0)
    with pytest.raises(ValueError, match="sigma_force"):
        GAP(sigma_force=-1)
    with pytest.raises(TypeError, match="unknown GAP"):
        GAP(nmax=3)
    with pytest.warns(UserWarning, match="distinct environments"):
        GAP(n_max=3, l_max=2, r_cut=4.0, n_sparse=500).fit(emt_data)


@pytest.mark.parametrize("forces, nu", [(False, (2, 2)), (True, (2, 2)), (True, (1, 1))])
def test_agrees_with_quip_gap_fit(forces, nu, tmp_path):
    """GAP-E / GAP-EF with QUIP's equispaced SOAP and the same sparse points as gap_fit (INDEX_FILE): held-out
    predictions of ldrx and quippy's Potential agree within 1e-6 eV/atom (measured ~5e-9) and 1e-5 eV/Å; also
    with the mu1nu1 compression (gap_fit's soap nu_R=1 nu_S=1)."""
    pytest.importorskip("quippy")
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from quip_gap_check import compare
    r = compare(n_frames=14, n_test=4, n_max=4, l_max=3, n_sparse=12, sigma_force=0.1 if forces else None,
                workdir=str(tmp_path), verbose=False, nu=nu)
    assert r["E_spread_eV_atom"] > 1e-3          # the labels are not trivial
    assert r["dE_eV_atom"] < 1e-6
    assert r["dF_eV_A"] < 1e-5


def test_sparse_atoms_bad_input():
    with pytest.raises(ValueError, match="duplicate"):
        GAP(sparse_atoms=[1, 2, 2])
    with pytest.raises(ValueError, match="radial_basis"):
        GAP(radial_basis="poly")


def _check_batched_rows_match_reference(**soap):
    """Covariance rows (energies, forces, virials) of 3 random Li/O/Mn/Ni cells against 3 sparse points per
    species, SOAP channels Li | O | Mn+Ni with the `soap` settings: batched equal to the reference path."""
    from ldrx import _core
    from ldrx.descriptors import SOAP
    fr = random_frames(n_frames=3, n_atoms=(8, 14), species=(3, 8, 25, 28), seed=5, density=0.07)
    data = ldrx.Dataset.from_atoms(fr)
    d = SOAP([3, 8, 25, 28], r_cut=4.0, n_max=3, l_max=2, atom_sigma=0.5,
             compression={"Li": 0, "O": 1, "Mn": 2, "Ni": 2}, **soap)
    q = d.compute(data)
    rng = np.random.default_rng(0)
    X, offs = [], [0]
    for z in d.species:
        idx = np.flatnonzero(data.numbers == z)
        pick = rng.choice(idx, min(3, len(idx)), replace=False)
        X.append(q[pick])
        offs.append(offs[-1] + len(pick))
    X, offs = np.ascontiguousarray(np.vstack(X)), np.array(offs, dtype=np.int64)
    ref = _core.gap_soap_rows(d._impl, data.batch(), X, offs, 3.0, True, batched=False)
    new = _core.gap_soap_rows(d._impl, data.batch(), X, offs, 3.0, True, batched=True)
    for a, b in zip(ref, new):
        assert np.abs(a).max() > 0
        assert np.abs(a - b).max() <= 1e-12 * np.abs(a).max()


def test_batched_rows_and_cpp_prediction_match_reference(emt_data, model_ef):
    """The batched covariance rows equal the one-adjoint-per-sparse-point reference; the C++ forward+backward
    prediction equals the former numpy-kernel + backward path."""
    _check_batched_rows_match_reference()
    e0, F0, W0 = model_ef._atomic_energies_reference(emt_data, True)
    e1, F1, W1 = model_ef.atomic_energies(emt_data, True)
    np.testing.assert_allclose(e1, e0, rtol=0, atol=1e-10 * np.abs(e0).max())
    np.testing.assert_allclose(F1, F0, rtol=0, atol=1e-10 * np.abs(F0).max())
    np.testing.assert_allclose(W1, W0, rtol=0, atol=1e-10 * np.abs(W0).max())


def test_bindings_check_arrays(emt_data, model_ef):
    """gap_soap_rows / gap_soap_predict take arrays through the hardened input_array: lossless conversion only,
    exact shapes, valid species offsets."""
    from ldrx import _core
    m = model_ef
    impl, b = m.descriptor._impl, emt_data[:2].batch()
    X, offs, w = m.sparse_points, m.m_offsets, m.alpha
    ref = _core.gap_soap_rows(impl, b, X, offs, 4.0, False)[0]
    np.testing.assert_allclose(_core.gap_soap_rows(impl, b, np.asfortranarray(X), offs.astype(np.int32), 4.0, False)[0], ref)
    with pytest.raises(ValueError, match="X must have shape"):
        _core.gap_soap_rows(impl, b, X[:, :-1], offs, 4.0, False)
    with pytest.raises(ValueError, match="X must hold real numbers"):
        _core.gap_soap_rows(impl, b, X.astype(complex), offs, 4.0, False)
    with pytest.raises(ValueError, match="m_offsets must hold integers"):
        _core.gap_soap_rows(impl, b, X, offs.astype(float), 4.0, False)
    with pytest.raises(ValueError, match="m_offsets must not decrease"):
        _core.gap_soap_predict(impl, b, X, np.array([0, len(X), 0]), w, 4.0, False)   # two species
    with pytest.raises(ValueError, match="w must have shape"):
        _core.gap_soap_predict(impl, b, X, offs, w[:-1], 4.0, False)


def test_long_descriptors_predict_through_the_blocked_path(emt_data, model_ef, monkeypatch):
    """Above CPP_PREDICT_MAX_SIZE prediction takes the blocked numpy path; both paths give the same numbers."""
    from ldrx.models import gap as gap_module
    e1, F1, W1 = model_ef.atomic_energies(emt_data, True)
    monkeypatch.setattr(gap_module, "CPP_PREDICT_MAX_SIZE", model_ef.descriptor.size - 1)
    called = []
    orig = type(model_ef)._atomic_energies_reference
    monkeypatch.setattr(type(model_ef), "_atomic_energies_reference",
                        lambda self, *a: called.append(1) or orig(self, *a))
    e0, F0, W0 = model_ef.atomic_energies(emt_data, True)
    assert called
    np.testing.assert_allclose(e0, e1, rtol=0, atol=1e-10 * np.abs(e1).max())
    np.testing.assert_allclose(F0, F1, rtol=0, atol=1e-10 * np.abs(F1).max())


@pytest.mark.parametrize("nu", [(1, 1), (0, 1), (1, 0), (0, 2), (2, 1), (0, 0)])
def test_compressed_soap_batched_rows_match_reference(nu):
    """With a compressed power spectrum (Darby et al.'s nu_R, nu_S; element grouping combined) the batched
    covariance rows (energies, forces, virials) equal the one-adjoint-per-sparse-point reference, which the SOAP
    finite-difference tests cover."""
    _check_batched_rows_match_reference(nu_R=nu[0], nu_S=nu[1])


def test_mu1nu1_gap_fits_predicts_and_round_trips(tmp_path, emt_data):
    """GAP-EF on the mu1nu1 SOAP: the descriptor is the compressed one, the fit beats the mean, predicted forces are
    the energy derivatives, and save/load keeps nu_R / nu_S and the predictions."""
    m = GAP(n_max=4, l_max=3, r_cut=4.0, n_sparse=15, sigma_force=0.05, nu_R=1, nu_S=1, seed=0).fit(emt_data)
    assert m.descriptor.size == 2 * 4 * 4 and m.descriptor.nu_R == 1 and m.descriptor.nu_S == 1
    p = m.predict(emt_data)
    e_ref = emt_data.energy / np.diff(emt_data.offsets)
    e_fit = p.energy / np.diff(emt_data.offsets)
    assert np.sqrt(np.mean((e_fit - e_ref) ** 2)) < 0.5 * np.std(e_ref)
    # forces = -dE/dr by central differences on one frame
    a = emt_data[:1].to_atoms()[0]
    F = m.predict(a).forces
    h = 1e-5
    for i, k in [(0, 0), (1, 2), (len(a) - 1, 1)]:
        pp, mm = a.copy(), a.copy()
        pp.positions[i, k] += h
        mm.positions[i, k] -= h
        fd = -(m.predict(pp).energy[0] - m.predict(mm).energy[0]) / (2 * h)
        assert abs(fd - F[i, k]) < 1e-6 * max(1.0, np.abs(F).max())
    path = tmp_path / "mu1nu1.ldrx"
    m.save(path)
    m2 = ldrx.load(path)
    assert (m2.hyper.nu_R, m2.hyper.nu_S) == (1, 1) and m2.descriptor.size == m.descriptor.size
    np.testing.assert_allclose(m2.predict(emt_data).energy, p.energy, rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="nu_S must be 0, 1 or 2"):
        GAP(nu_S=3)
