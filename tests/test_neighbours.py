import numpy as np
import pytest
from ase import Atoms
from ase.neighborlist import neighbor_list

import ldrx
from ldrx import _core

from conftest import random_frames


def _pairs_ldrx(atoms, cutoff, threads=1):
    data = ldrx.Dataset.from_atoms([atoms])
    start, index, vec, dist, shift = _core.neighbour_list(data.batch(), 0, cutoff, threads)
    centre = np.repeat(np.arange(len(atoms)), np.diff(start))
    return centre, index, shift, vec, dist


def _as_set(i, j, S):
    return sorted(zip(i.tolist(), j.tolist(), map(tuple, np.asarray(S).tolist())))


@pytest.mark.parametrize("pbc", [(True, True, True), (True, False, True), (False, False, False), (False, True, False)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_ase(pbc, seed):
    for atoms in random_frames(3, (2, 30), seed=seed, pbc=pbc):
        for cutoff in (2.5, 5.0, 9.0):  # 9 A is more than the cell widths: several images
            i, j, S, vec, dist = _pairs_ldrx(atoms, cutoff)
            ai, aj, aS, aD, ad = neighbor_list("ijSDd", atoms, cutoff)
            assert _as_set(i, j, S) == _as_set(ai, aj, aS)
            # vectors: r_j + S.cell - r_i
            expect = atoms.positions[j] - atoms.positions[i] + S @ atoms.cell[:]
            np.testing.assert_allclose(vec, expect, atol=1e-12)
            np.testing.assert_allclose(dist, np.linalg.norm(expect, axis=1), atol=1e-12)


def test_threads_give_identical_list():
    atoms = random_frames(1, (200, 201), seed=3)[0]
    a = _pairs_ldrx(atoms, 6.0, threads=1)
    b = _pairs_ldrx(atoms, 6.0, threads=4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_thin_cell_sees_own_images():
    atoms = Atoms("Li", positions=[[0, 0, 0]], cell=np.diag([2.0, 2.0, 2.0]), pbc=True)
    i, j, S, vec, dist = _pairs_ldrx(atoms, 2.1)
    assert len(i) == 6 and np.allclose(dist, 2.0)
    i, j, S, vec, dist = _pairs_ldrx(atoms, 4.5)
    ai, aj, aS = neighbor_list("ijS", atoms, 4.5)
    assert _as_set(i, j, S) == _as_set(ai, aj, aS)


def test_molecule_with_zero_cell():
    atoms = Atoms("H2O", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    i, j, S, vec, dist = _pairs_ldrx(atoms, 1.2)
    assert _as_set(i, j, S) == _as_set(*neighbor_list("ijS", atoms, 1.2))


def test_atoms_outside_the_cell_are_wrapped_consistently():
    atoms = random_frames(1, (10, 11), seed=5)[0]
    shifted = atoms.copy()
    shifted.positions += np.array([3, -2, 5]) @ atoms.cell[:] + 1e-9
    a = _pairs_ldrx(atoms, 5.0)
    b = _pairs_ldrx(shifted, 5.0)
    assert sorted(np.round(a[4], 8)) == sorted(np.round(b[4], 8))


def test_degenerate_periodic_cell_is_rejected():
    atoms = Atoms("Li2", positions=[[0, 0, 0], [1, 1, 1]], cell=[[2, 0, 0], [4, 0, 0], [0, 0, 3]], pbc=True)
    with pytest.raises(ValueError, match="linearly dependent"):
        _pairs_ldrx(atoms, 3.0)
