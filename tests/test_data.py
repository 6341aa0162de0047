"""Data layer: XSF reading (strict, with clear errors), ASE / pymatgen conversion, splits, reference
energies, persistence."""

import numpy as np
import pytest

import ldrx
from ldrx import DataError, Dataset
from ldrx.io import example_data_path, parse_xsf, write_xsf

from conftest import random_frames

GOOD = """# total energy = -10.5 eV

CRYSTAL
PRIMVEC
 4.0 0.0 0.0
 0.0 4.0 0.0
 0.0 0.0 4.0
PRIMCOORD
2 1
Li 0.0 0.0 0.0 0.1 0.2 0.3
O  2.0 2.0 2.0 -0.1 -0.2 -0.3
"""


def test_parse_good_file():
    fr = parse_xsf(GOOD, "good.xsf")
    assert fr["energy"] == -10.5 and fr["numbers"].tolist() == [3, 8]
    np.testing.assert_array_equal(fr["forces"][1], [-0.1, -0.2, -0.3])
    assert fr["pbc"].all() and fr["cell"][2, 2] == 4.0


@pytest.mark.parametrize("text, match", [
    (GOOD.replace("2 1\n", "3 1\n"), "declares 3 atoms but the file has 2"),
    (GOOD.replace("# total energy = -10.5 eV\n", ""), "no energy line"),
    (GOOD.replace("0.1 0.2 0.3", "0.1 x 0.3"), r"good.xsf:10: non-numeric"),
    (GOOD.replace("Li 0.0", "Qq 0.0"), r"good.xsf:10: unknown element 'Qq'"),
    (GOOD.replace("O  2.0 2.0 2.0", "O  nan 2.0 2.0"), "non-finite coordinate"),
    (GOOD.replace("-10.5", "abc"), "cannot read the energy"),
    (GOOD.replace(" 0.0 0.0 4.0\n", ""), "PRIMVEC rows"),
    (GOOD + "Li 1.0 1.0 1.0 0 0 0\n", "more atom rows than the 2 declared"),
    (GOOD.replace("O  2.0 2.0 2.0 -0.1 -0.2 -0.3", "O  2.0 2.0 2.0"), "atom row has 4 fields, the first had 7"),
    (GOOD.split("PRIMCOORD")[0], "no PRIMCOORD"),
])
def test_malformed_files_name_file_and_line(text, match):
    with pytest.raises(DataError, match=match):
        parse_xsf(text, "good.xsf")


def test_truncated_file_in_a_folder(tmp_path):
    (tmp_path / "1.xsf").write_text(GOOD)
    (tmp_path / "2.xsf").write_text(GOOD[:-30])
    with pytest.raises(DataError, match="2.xsf"):
        ldrx.read(tmp_path)
    with pytest.warns(UserWarning, match="skipped 1 bad frame"):
        d = ldrx.read(tmp_path, on_error="skip")
    assert len(d) == 1 and d.skipped[0][0].endswith("2.xsf")


def test_molecule_block():
    text = "# total energy = -3.0 eV\nATOMS\nO 0 0 0 0 0 0\nH 0.96 0 0 0 0 0\nH -0.24 0.93 0 0 0 0\n"
    fr = parse_xsf(text)
    assert not fr["pbc"].any() and len(fr["numbers"]) == 3


def test_example_data_and_broken_frames():
    folder = example_data_path()
    assert len(list(folder.glob("*.xsf"))) == 334
    with pytest.raises(DataError, match=r"13.xsf.*Li-Mn pair is 0.767 Å apart, 0.29 x the sum of their covalent radii"):
        ldrx.read(folder)
    with pytest.warns(UserWarning, match="skipped 5 bad frame"):
        d = ldrx.read(folder, on_error="skip")
    assert len(d) == 329
    assert sorted(s.split("/")[-1] for s, _ in d.skipped) == ["13.xsf", "2188.xsf", "2218.xsf", "2225.xsf", "954.xsf"]
    assert "Li-Ni pair is 0.658 Å apart, 0.26 x" in dict((s.split("/")[-1], r) for s, r in d.skipped)["954.xsf"]
    with pytest.warns(UserWarning, match="skipped 3 bad frame"):   # the absolute 0.5 Å check alone
        assert len(ldrx.read(folder, on_error="skip", covalent_fraction=None)) == 331
    for bad in (-1, 0, 1.5):
        with pytest.raises(ValueError, match="covalent_fraction must be between 0 and 1"):
            ldrx.read(folder, covalent_fraction=bad)
    why = dict((s.split("/")[-1], r) for s, r in d.skipped)["2225.xsf"]
    assert "0.0157 Å" in why
    assert d.species == [3, 8, 21, 22, 23, 24, 25, 26, 27, 28, 29]
    assert d.has_forces() and np.isfinite(d.energy).all()


def test_xsf_roundtrip(tmp_path, ldr_sample):
    d = ldr_sample.subset([0, 5])
    for f in range(2):
        a0, a1 = d.offsets[f], d.offsets[f + 1]
        write_xsf(tmp_path / f"{f}.xsf", d.numbers[a0:a1], d.positions[a0:a1], d.cells[f], energy=d.energy[f],
                  forces=d.forces[a0:a1])
    back = ldrx.read(tmp_path)
    np.testing.assert_allclose(back.positions, d.positions, atol=1e-9)
    np.testing.assert_allclose(back.forces, d.forces, atol=1e-8)
    np.testing.assert_allclose(back.energy, d.energy, atol=1e-9)


def test_ase_and_extxyz_roundtrip(tmp_path, ldr_sample):
    import ase.io
    d = ldr_sample.subset(range(4))
    atoms = d.to_atoms()
    ase.io.write(tmp_path / "x.extxyz", atoms)
    back = ldrx.read(tmp_path / "x.extxyz")
    assert len(back) == 4
    np.testing.assert_allclose(back.positions, d.positions)
    np.testing.assert_allclose(back.forces, d.forces)
    np.testing.assert_allclose(back.energy, d.energy)
    again = Dataset.from_atoms(atoms)
    np.testing.assert_array_equal(again.numbers, d.numbers)


def test_pymatgen_roundtrip(ldr_sample):
    pytest.importorskip("pymatgen")
    d = ldr_sample.subset(range(3))
    structs = d.to_pymatgen()
    back = Dataset.from_pymatgen(structs)
    np.testing.assert_allclose(back.positions, d.positions, atol=1e-10)
    np.testing.assert_allclose(back.cells, d.cells)
    np.testing.assert_allclose(back.energy, d.energy)
    np.testing.assert_allclose(back.forces, d.forces)
    with pytest.raises(DataError, match="forces have shape"):
        Dataset.from_pymatgen(structs[:1], forces=[np.zeros((2, 3))])


def test_forces_not_matching_atoms():
    atoms = random_frames(1, (5, 6))[0]
    from ase.calculators.singlepoint import SinglePointCalculator
    atoms.calc = SinglePointCalculator(atoms, energy=1.0)
    atoms.calc.results["forces"] = np.zeros((4, 3))
    with pytest.raises(DataError, match=r"frame 0\): forces have shape \(4, 3\), expected \(5, 3\)"):
        Dataset.from_atoms([atoms])


def test_non_finite_positions_named():
    atoms = random_frames(2, (5, 6))
    atoms[1].positions[2, 1] = np.inf
    with pytest.raises(DataError, match=r"frame 1\), atom 2: position is not finite"):
        Dataset.from_atoms(atoms)


def test_split_is_reproducible_and_disjoint(ldr_sample):
    a_tr, a_te = ldr_sample.split(0.1, seed=0)
    b_tr, b_te = ldr_sample.split(0.1, seed=0)
    assert a_te.ids == b_te.ids and a_tr.ids == b_tr.ids
    assert len(a_te) == 33 and len(a_tr) == 296
    assert not set(a_te.ids) & set(a_tr.ids)
    c_tr, c_te = ldr_sample.split(0.1, seed=1)
    assert c_te.ids != a_te.ids


def test_nested_subsets(ldr_sample):
    subs = ldr_sample.subsets([20, 50, 100], seed=3)
    assert [len(s) for s in subs] == [20, 50, 100]
    assert set(subs[0].ids) <= set(subs[1].ids) <= set(subs[2].ids)


def test_subset_keeps_atoms_with_frames(ldr_sample):
    s = ldr_sample[[5, 2]]
    for k, f in enumerate([5, 2]):
        a0, a1 = ldr_sample.offsets[f], ldr_sample.offsets[f + 1]
        b0, b1 = s.offsets[k], s.offsets[k + 1]
        np.testing.assert_array_equal(s.positions[b0:b1], ldr_sample.positions[a0:a1])
        assert s.ids[k] == ldr_sample.ids[f]


def test_reference_energies_fit_compositions(ldr_sample):
    refs = ldr_sample.fit_reference_energies()
    resid = (ldr_sample.energy - ldr_sample.reference_energy(refs)) / ldr_sample.natoms
    assert np.abs(resid).mean() < 0.5  # eV/atom: the composition explains most of the energy
    # exact on data that is exactly linear in the composition
    d = ldr_sample.subset(range(40))
    true = {z: -1.0 - 0.1 * k for k, z in enumerate(d.species)}
    d.energy = d.reference_energy(true)
    fit = d.reference_energy(d.fit_reference_energies())
    np.testing.assert_allclose(fit, d.energy, rtol=1e-10)


def test_save_load(tmp_path, ldr_sample):
    d = ldr_sample.subset(range(7))
    d.save(tmp_path / "d.npz")
    back = ldrx.read(tmp_path / "d.npz")
    for k in ("numbers", "positions", "cells", "pbc", "offsets", "energy", "forces"):
        np.testing.assert_array_equal(getattr(back, k), getattr(d, k))
    assert back.ids == d.ids
    assert [p.name for p in tmp_path.iterdir()] == ["d.npz"]


def test_empty_folder(tmp_path):
    with pytest.raises(DataError, match="no .xsf files"):
        ldrx.read(tmp_path)


def test_core_view_follows_the_arrays(ldr_sample):
    from ldrx.descriptors import Chebyshev
    d = ldr_sample.subset(range(2))
    c = Chebyshev(d.species, 5.0, 4, 4.0, 2)
    g0 = c.compute(d)
    moved = d.positions.copy()
    moved[0] += 0.05
    d.positions = moved               # replaced array
    g1 = c.compute(d)
    d.positions[0] -= 0.05            # changed in place
    g2 = c.compute(d)
    assert not np.allclose(g0, g1) and np.allclose(g0, g2)
    d.numbers = d.numbers[:-1]
    with pytest.raises(DataError, match="numbers has"):
        c.compute(d)


def test_pairs_closer_than_half_their_covalent_radii_are_bad(tmp_path):
    """A Li-Ni pair at 0.9 Å passes the absolute 0.5 Å check but is 0.36 x the sum of the covalent radii
    (1.28 + 1.24 Å): an impossible geometry, refused by name; at 1.5 Å (0.6 x) the frame is read."""
    for d, bad in ((0.9, True), (1.5, False)):
        pos = np.array([[0, 0, 0], [d, 0, 0], [0, 2.1, 0], [0, 0, 2.1]], float)
        path = tmp_path / f"f{d}.xsf"
        write_xsf(path, [3, 28, 8, 8], pos, cell=np.eye(3) * 6, energy=-10.0)
        data = ldrx.read(path, covalent_fraction=None)
        assert data.check_overlaps(0.5) == []                            # the absolute check alone passes both
        if bad:
            with pytest.raises(DataError, match=r"f0.9.xsf.*Li-Ni pair is 0.9 Å apart, 0.36 x the sum of their "
                                                r"covalent radii \(2.52 Å"):
                ldrx.read(path)
        else:
            assert len(ldrx.read(path)) == 1
