"""Chebyshev descriptor: agreement with a naive pair/triplet implementation, invariances, and analytic
vs finite-difference derivatives (adjoint, tangent, virial)."""

import numpy as np
import pytest
from ase import Atoms
from scipy.spatial.transform import Rotation

import ldrx
from ldrx.descriptors import Chebyshev

from conftest import random_frames
from descriptor_contract import check_tangent_and_adjoint
from naive_chebyshev import naive_chebyshev

SPECIES = [3, 8, 25, 28, 22]


def _frames(seed=0, n=3, pbc=(True, True, True), atoms=(4, 14), species=SPECIES):
    return random_frames(n, atoms, species=species, seed=seed, density=0.09, pbc=pbc)


@pytest.mark.parametrize("pbc", [(True, True, True), (True, True, False), (False, False, False)])
@pytest.mark.parametrize("orders", [(16, 4), (10, 6), (3, 0)])
def test_matches_naive_implementation(pbc, orders):
    frames = _frames(1, pbc=pbc)
    nr, na = orders
    d = Chebyshev(SPECIES, 6.0, nr, 4.5, na)
    G = d.compute(frames)
    ref = np.concatenate([naive_chebyshev(a, SPECIES, 6.0, nr, 4.5, na) for a in frames])
    assert G.shape == ref.shape == (sum(map(len, frames)), 2 * (nr + 1 + na + 1))
    np.testing.assert_allclose(G, ref, rtol=0, atol=1e-11 * np.abs(ref).max())


def test_single_species_has_no_weighted_block():
    frames = _frames(2, species=[8])
    d = Chebyshev(["O"], 5.0, 8, 4.0, 3)
    G = d.compute(frames)
    assert G.shape[1] == 9 + 4 == d.size == len(d.names)
    ref = np.concatenate([naive_chebyshev(a, [8], 5.0, 8, 4.0, 3) for a in frames])
    np.testing.assert_allclose(G, ref, atol=1e-11 * np.abs(ref).max())


def test_ldr_setting_has_44_features_and_aenet_typespin():
    d = Chebyshev(["Li", "O", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu"])
    assert d.size == 44
    assert d.weights == [-5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5]
    assert Chebyshev(["Ti", "O"]).weights == [-1, 1]
    assert Chebyshev(["Li", "O", "Mn", "Ni"]).weights == [-2, -1, 1, 2]


def test_thin_cell_counts_images():
    # a cell much thinner than the cut-off: every image within 8 A must be seen
    atoms = Atoms("LiO", positions=[[0, 0, 0], [1.05, 1.0, 1.1]], cell=[[2.1, 0.1, 0], [0, 2.0, 0.2], [0.1, 0, 2.2]], pbc=True)
    d = Chebyshev(["Li", "O"], 8.0, 16, 6.5, 4)
    ref = naive_chebyshev(atoms, [3, 8], 8.0, 16, 6.5, 4)
    np.testing.assert_allclose(d.compute(atoms), ref, rtol=1e-11)


def test_invariances():
    atoms = _frames(3, n=1, atoms=(12, 13))[0]
    d = Chebyshev(SPECIES, 6.0, 10, 4.5, 4)
    G = d.compute(atoms)
    R = Rotation.random(random_state=1).as_matrix()
    rot = atoms.copy()
    rot.positions = atoms.positions @ R.T
    rot.cell = atoms.cell[:] @ R.T
    np.testing.assert_allclose(d.compute(rot), G, atol=1e-10)
    tr = atoms.copy()
    tr.positions += [1.3, -7.2, 0.4]
    np.testing.assert_allclose(d.compute(tr), G, atol=1e-10)
    perm = np.random.default_rng(0).permutation(len(atoms))
    np.testing.assert_allclose(d.compute(atoms[perm]), G[perm], atol=1e-10)


def _energy(d, atoms, w):
    return float(np.sum(d.compute(atoms) * w))


@pytest.mark.parametrize("pbc", [(True, True, True), (False, False, False)])
def test_backward_matches_finite_differences(pbc):
    atoms = _frames(4, n=1, atoms=(9, 10), pbc=pbc)[0]
    d = Chebyshev(SPECIES, 5.0, 8, 4.0, 4)
    w = np.random.default_rng(0).normal(size=(len(atoms), d.size))
    F, W = d.backward(atoms, w)
    h = 1e-5
    for a in range(len(atoms)):
        for c in range(3):
            p, m = atoms.copy(), atoms.copy()
            p.positions[a, c] += h
            m.positions[a, c] -= h
            fd = -(_energy(d, p, w) - _energy(d, m, w)) / (2 * h)
            assert abs(F[a, c] - fd) < 1e-6 * max(1.0, abs(fd)), (a, c, F[a, c], fd)
    np.testing.assert_allclose(F.sum(axis=0), 0.0, atol=1e-9 * np.abs(F).max())


def test_virial_matches_strain_derivative():
    atoms = _frames(5, n=1, atoms=(8, 9))[0]
    d = Chebyshev(SPECIES, 5.0, 8, 4.0, 4)
    w = np.random.default_rng(1).normal(size=(len(atoms), d.size))
    _, W = d.backward(atoms, w)
    voigt = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]
    h = 1e-6
    for k, (a, b) in enumerate(voigt):
        eps = np.zeros((3, 3))
        eps[a, b] = eps[b, a] = h / (2 if a != b else 1)
        vals = []
        for sgn in (1, -1):
            s = atoms.copy()
            s.set_cell(atoms.cell[:] @ (np.eye(3) + sgn * eps), scale_atoms=True)
            vals.append(_energy(d, s, w))
        dEde = (vals[0] - vals[1]) / (2 * h)  # dE/d(engineering strain component)
        assert abs(-W[0, k] - dEde) < 1e-5 * max(1.0, abs(dEde)), (k, W[0, k], dEde)


def test_tangent_matches_finite_differences_and_is_adjoint_of_backward():
    data = ldrx.Dataset.from_atoms(_frames(6, n=2, atoms=(7, 9)))
    check_tangent_and_adjoint(Chebyshev(SPECIES, 5.0, 8, 4.0, 4), data)


def test_results_do_not_depend_on_threads():
    frames = _frames(7, n=1, atoms=(150, 151))  # one large frame: atoms split among threads
    data = ldrx.Dataset.from_atoms(frames)
    d = Chebyshev(SPECIES, 6.0, 16, 5.0, 4)
    w = np.random.default_rng(3).normal(size=(data.n_atoms, d.size))
    n0 = ldrx.get_num_threads()
    try:
        ldrx.set_num_threads(1)
        G1, (F1, W1) = d.compute(data), d.backward(data, w)
        ldrx.set_num_threads(3)
        G3, (F3, W3) = d.compute(data), d.backward(data, w)
        F3b, W3b = d.backward(data, w)
    finally:
        ldrx.set_num_threads(n0)
    np.testing.assert_array_equal(G1, G3)
    np.testing.assert_array_equal(F3, F3b)  # same thread count: identical bits
    np.testing.assert_array_equal(W3, W3b)
    # other thread counts add the per-thread force sums in another order
    np.testing.assert_allclose(F1, F3, rtol=0, atol=1e-12 * np.abs(F1).max())
    np.testing.assert_allclose(W1, W3, rtol=1e-12)


def test_unknown_species_is_reported():
    atoms = Atoms("LiFO", positions=[[0, 0, 0], [1.5, 0, 0], [0, 1.5, 0]], cell=np.eye(3) * 6, pbc=True)
    with pytest.raises(ValueError, match="frame 0, atom 1: atomic number 9"):
        Chebyshev(["Li", "O"]).compute(atoms)


def test_bad_parameters():
    with pytest.raises(ValueError):
        Chebyshev(["Li", "Li"])
    with pytest.raises(ValueError):
        Chebyshev(["Li"], radial_order=-1)
    with pytest.raises(ValueError):
        Chebyshev(["Xx"])
