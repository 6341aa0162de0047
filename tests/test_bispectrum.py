"""Bispectrum descriptor: agreement with LAMMPS ML-SNAP, invariances, derivatives, bad input."""

import gzip
import json

import numpy as np
import pytest
from ase.data import atomic_numbers

import ldrx
from ldrx import _core
from ldrx.descriptors import Bispectrum

from conftest import DATA, random_frames
from descriptor_contract import (check_backward_by_finite_differences, check_force_rows_agree_with_backward,
                                 check_invariances, check_tangent_and_adjoint)

REF_PATH = DATA / "lammps-snap" / "reference.json.gz"


@pytest.fixture(scope="module")
def ref():
    with gzip.open(REF_PATH) as f:
        return json.load(f)


def ref_dataset(s):
    z = np.array([atomic_numbers[x] for x in s["symbols"]], np.int32)
    return ldrx.Dataset(z, np.array(s["positions"]), np.array(s["cell"])[None], np.array([s["pbc"]]), [0, len(z)])


def ref_descriptor(ref, case, bzeroflag=None):
    el = ref["species_order"]
    return Bispectrum(case["twojmax"], ref["rcutfac"], ref["rfac0"], ref["rmin0"],
                      radelem=dict(zip(el, ref["radelem"])), wj=dict(zip(el, ref["wj"])),
                      bzeroflag=bool(case["bzeroflag"] if bzeroflag is None else bzeroflag),
                      switchflag=bool(ref["switchflag"]))


def lammps_rotation(cell):
    """LAMMPS stores a general triclinic cell rotated so that a is along x and b in the xy plane; the
    reference file keeps positions and cell in the original frame but derivatives and forces in LAMMPS's.
    Returns Q with vectors_lammps = vectors_original @ Q (identity for a cell already in that form)."""
    q, r = np.linalg.qr(cell.T)
    return q @ np.diag(np.sign(np.diag(r)))


def case_ids(ref):
    return [(c, s) for c in range(len(ref["cases"])) for s in range(len(ref["cases"][c]["structures"]))]


with gzip.open(REF_PATH) as _f:
    _REF = json.load(_f)
CASES = case_ids(_REF)


@pytest.mark.parametrize("ci,si", CASES, ids=[f"2J{_REF['cases'][c]['twojmax']}-bz{_REF['cases'][c]['bzeroflag']}-s{s}"
                                                  for c, s in CASES])
def test_matches_lammps(ref, ci, si):
    case = ref["cases"][ci]
    s = case["structures"][si]
    data = ref_dataset(s)
    desc = ref_descriptor(ref, case)
    n = data.n_atoms
    # bispectrum (compute sna/atom), 1e-10 relative
    B = desc.compute(data)
    B_ref = np.array(s["bispectrum"])
    assert B.shape == B_ref.shape == (n, {6: 30, 8: 55}[case["twojmax"]])
    np.testing.assert_allclose(B, B_ref, rtol=1e-10, atol=1e-10 * np.abs(B_ref).max())
    Q = lammps_rotation(data.cells[0])
    # snad/atom: layout [t][xyz][k] per atom, force sign
    if "snad_atom" in s:
        snad = np.array(s["snad_atom"])
        assert snad.shape == (n, len(ref["species_order"]) * 3 * desc.size)  # e.g. 990 = 11 * 3 * 30
        rows, _ = desc.force_rows(data)
        rows = np.einsum("atxk,xy->atyk", rows, Q)
        np.testing.assert_allclose(rows.reshape(n, -1), snad, rtol=0, atol=1e-8)
    # pair_style snap with the stored coefficients: E = sum_i beta0 + beta . B_i, forces by the Y adjoint
    coef = np.array(case["coefficients"])
    sp = np.array([desc.species.index(z) for z in data.numbers])
    energy = np.sum(coef[sp, 0] + np.einsum("ik,ik->i", coef[sp, 1:], B))
    assert abs(energy - s["pair_snap_energy"]) < 1e-8
    forces, _ = desc.backward(data, coef[sp, 1:])
    np.testing.assert_allclose(forces @ Q, np.array(s["pair_snap_forces"]), rtol=0, atol=1e-8)


def test_hand_checked_example():
    """Notes section 1.12: 4 atoms, 2 types, checked against LAMMPS (10 significant digits given)."""
    pos = np.array([[10, 10, 10], [11.2, 10.3, 9.6], [9.1, 11.4, 10.5], [10.4, 8.9, 11.7]], float)
    data = ldrx.Dataset(np.array([1, 2, 1, 2]), pos, np.eye(3)[None] * 20, np.ones((1, 3), bool), [0, 4])
    desc = Bispectrum(4, 1.0, 0.99363, 0.0, radelem={1: 2.3, 2: 2.0}, wj={1: 1.0, 2: 0.7}, bzeroflag=False)
    expected = [17.8394208693, 15.295249457, 7.7600975355, 8.7187869676, 5.1751899131, 1.6869787034,
                3.2778172644, 15.5960071455, 10.1828421673, 1.4881433162, 3.3117370208, 25.1037854236,
                4.5494688369, 5.0758184387]
    np.testing.assert_allclose(desc.compute(data)[0], expected, rtol=1e-10)
    assert desc.triples[:8] == [(0, 0, 0), (1, 0, 1), (1, 1, 2), (2, 0, 2), (2, 1, 3), (2, 2, 2), (2, 2, 4), (3, 0, 3)]
    # bzero: B of an isolated atom is (j + 1)
    shifted = Bispectrum(4, 1.0, radelem={1: 2.3, 2: 2.0}, wj={1: 1.0, 2: 0.7}, bzeroflag=True).compute(data)[0]
    np.testing.assert_allclose(desc.compute(data)[0] - shifted, [j + 1 for _, _, j in desc.triples], rtol=1e-12)


def test_component_counts():
    table = {0: 1, 1: 2, 2: 5, 3: 8, 4: 14, 5: 20, 6: 30, 7: 40, 8: 55, 9: 70, 10: 91, 12: 140}
    assert {k: _core.bispectrum_ncoeff(k) for k in table} == table
    assert Bispectrum(8, 4.0, radelem={"O": 0.5}).names[-1] == "B(8,8,8)"


SPECIES = {"Li": 0.5, "O": 0.45, "Mn": 0.52, "Ni": 0.48}
WJ = {"Li": 1.0, "O": 0.8, "Mn": 0.9, "Ni": 1.1}


@pytest.fixture(scope="module")
def desc():
    return Bispectrum(6, 4.6, radelem=SPECIES, wj=WJ, bzeroflag=True)


@pytest.fixture(scope="module")
def frames():
    return ldrx.Dataset.from_atoms(random_frames(4, (6, 14), species=(3, 8, 25, 28), seed=3, density=0.07))


def test_invariances(desc, frames):
    check_invariances(desc, frames)


def test_forces_and_virial_match_finite_differences(desc, frames):
    check_backward_by_finite_differences(desc, frames)


def test_tangent_matches_finite_differences_and_is_adjoint(desc, frames):
    check_tangent_and_adjoint(desc, frames)


def test_force_rows_agree_with_backward(desc, frames):
    check_force_rows_agree_with_backward(desc, frames)


def test_threads_give_the_same_result(desc, frames):
    n = ldrx.get_num_threads()
    try:
        ldrx.set_num_threads(1)
        B1 = desc.compute(frames)
        F1, _ = desc.backward(frames, np.ones((frames.n_atoms, desc.size)))
        ldrx.set_num_threads(2)
        B2 = desc.compute(frames)
        F2, _ = desc.backward(frames, np.ones((frames.n_atoms, desc.size)))
    finally:
        ldrx.set_num_threads(n)
    np.testing.assert_array_equal(B1, B2)
    np.testing.assert_allclose(F1, F2, rtol=1e-12, atol=1e-12)


def test_non_periodic_and_isolated_atom():
    from ase import Atoms
    desc = Bispectrum(6, 4.0, radelem={"O": 0.5, "Li": 0.5}, bzeroflag=True)
    lone = Atoms("O", positions=[[0, 0, 0]], pbc=False)
    np.testing.assert_allclose(desc.compute(lone), 0.0, atol=1e-14)
    mol = Atoms("OLiO", positions=[[0, 0, 0], [1.7, 0, 0], [3.4, 0.3, 0]], pbc=False)
    assert np.all(np.isfinite(desc.compute(mol)))


def test_bad_input(frames):
    for bad in (5, -2, 7.0, "6"):
        with pytest.raises(ValueError, match="twojmax"):
            Bispectrum(bad, 4.0, radelem={"O": 0.5})
    with pytest.raises(ValueError, match="radelem is needed"):
        Bispectrum(6, 4.0)
    with pytest.raises(ValueError, match="same elements"):
        Bispectrum(6, 4.0, radelem={"O": 0.5, "Li": 0.5}, wj={"O": 1.0})
    with pytest.raises(ValueError, match="exceeds the supported"):
        Bispectrum(6, 25.0, radelem={"O": 0.5})
    with pytest.raises(ValueError, match="rcutfac"):
        Bispectrum(6, -1.0, radelem={"O": 0.5})
    desc = Bispectrum(6, 4.0, radelem={"O": 0.5, "Li": 0.5, "Mn": 0.5})
    with pytest.raises(ldrx.DataError, match=r"frame \d+\), atom \d+: element Ni has no radelem"):
        desc.compute(frames)
