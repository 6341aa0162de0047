"""Li-intercalation voltages: eq. 1 on a model with known energies, the layered R-3m pairs, disordered
rocksalt samples, the command line."""

import numpy as np
import pytest

pytest.importorskip("pymatgen")

from ldrx.apps import voltage as V  # noqa: E402
from ldrx.models.base import Prediction  # noqa: E402

PER_ATOM = {3: -1.5, 8: -4.0, 22: -7.0, 25: -6.0, 27: -5.0, 28: -4.5}  # eV per atom, by atomic number


class KnownModel:
    """Energy = sum of fixed per-atom energies: E[LiTMO2] - E[TMO2] = E(Li) per formula unit exactly."""
    family = "known"

    def predict(self, frames, forces=True, stress=True):
        from ldrx.models.base import as_dataset
        d = as_dataset(frames)
        e = np.bincount(d.frame_index, weights=np.array([PER_ATOM[int(z)] for z in d.numbers]), minlength=len(d))
        return Prediction(e, np.zeros((d.n_atoms, 3)) if forces else None, np.zeros((len(d), 6)) if stress else None)

    def calculator(self):
        from ldrx.apps.calculator import LdrxCalculator
        return LdrxCalculator(self)


def test_voltage_formula():
    # V = -(E_lith - E_delith - n E_Li) / n
    assert V.voltage(-20.0, -15.0, -1.9) == pytest.approx(3.1)
    assert V.voltage(-40.0, -30.0, -1.9, n_li=2) == pytest.approx(3.1)


@pytest.mark.parametrize("relaxed", [False, True])
def test_layered_voltages_of_a_known_model(relaxed):
    e_li = -1.9
    res = V.layered_voltages(KnownModel(), e_li, tms=("Co", "Ni", "Mn"), relaxed=relaxed, progress=False)
    for r in res:
        assert r.static_V == pytest.approx(-(PER_ATOM[3] - e_li))  # -0.4 V
        if relaxed:
            assert r.relaxed_V == pytest.approx(r.static_V) and r.converged


def test_disordered_rocksalt_voltage_mean_and_spread():
    r = V.composition_voltage(KnownModel(), "Li1.2Mn0.4Ti0.4O2", -1.9, n_samples=3, seed=4)
    assert len(r.samples_static) == 3
    assert r.static_V == pytest.approx(-(PER_ATOM[3] + 1.9)) and np.std(r.samples_static) < 1e-12


@pytest.mark.parametrize("tm", V.TMS)
def test_layered_pairs_are_r3m_with_the_right_composition(tm):
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer
    lith, delith = V.layered(tm)
    assert sorted(lith.get_chemical_symbols()) == sorted(["Li"] * 3 + [tm] * 3 + ["O"] * 6)
    assert sorted(delith.get_chemical_symbols()) == sorted([tm] * 3 + ["O"] * 6)
    for atoms in (lith, delith):
        sga = SpacegroupAnalyzer(AseAtomsAdaptor.get_structure(atoms), symprec=1e-3)
        assert sga.get_space_group_symbol() == "R-3m"
    np.testing.assert_allclose(lith.cell.array, delith.cell.array)
    d = lith.get_all_distances(mic=True)
    assert d[np.triu_indices(len(lith), 1)].min() > 1.8  # sensible TM-O and Li-O bonds


def test_licoo2_geometry_is_the_measured_one():
    p = V.layered_parameters("Co")
    assert (p["a"], p["c"], p["z"]) == pytest.approx((2.8156, 14.0542, 0.2396))
    lith, _ = V.layered("Co")
    assert lith.cell.lengths()[:2] == pytest.approx([2.8156] * 2)
    # a bigger TM3+ gives a bigger in-plane lattice parameter
    assert V.layered_parameters("Ti")["a"] > V.layered_parameters("Cr")["a"] > p["a"]
    with pytest.raises(ValueError, match="Zn"):
        V.layered("Zn")


def test_disordered_rocksalt_samples():
    a = V.disordered_rocksalt("Li1.2Mn0.4Ti0.4O2", n_samples=3, seed=1)
    b = V.disordered_rocksalt("Li1.2Mn0.4Ti0.4O2", n_samples=3, seed=1)
    for (l1, d1, k), (l2, d2, _) in zip(a, b):
        assert (l1.numbers == l2.numbers).all() and (d1.numbers == d2.numbers).all()
        sym = l1.get_chemical_symbols()
        n_cat = len(sym) - sym.count("O")
        assert n_cat == sym.count("O")  # rocksalt: one cation per anion
        assert sym.count("Li") / sym.count("O") == pytest.approx(0.6)
        assert sym.count("Mn") == sym.count("Ti")
        assert "Li" not in d1.get_chemical_symbols() and k == sym.count("Li")
    assert not (a[0][0].numbers == a[1][0].numbers).all()  # different random occupations
    with pytest.raises(ValueError, match="rocksalt"):
        V.disordered_rocksalt("LiMn2O4")
    half = V.disordered_rocksalt("LiMnO2", n_samples=1, li_removed=0.5)[0]
    assert half[1].get_chemical_symbols().count("Li") == half[2]


def test_cli_voltage(tmp_path, ldr_sample, capsys):
    import csv

    import ldrx
    from ldrx.cli import main
    model = ldrx.fit(ldr_sample, model="snap", twojmax=2, rcutfac=4.0)  # every LDR element
    path = tmp_path / "m.ldrx"
    model.save(path)
    dft = tmp_path / "dft.csv"
    dft.write_text("tm,voltage_V\nCo,4.0\nLiNiO2,3.8\n")
    out_csv, plot = tmp_path / "v.csv", tmp_path / "p.png"
    assert main(["voltage", str(path), "--e-li", "-1.9", "--tm", "Co,Ni", "--csv", str(out_csv),
                 "--dft", str(dft), "--plot", str(plot)]) == 0
    text = capsys.readouterr().out
    assert "LiCoO2" in text and "LiNiO2" in text
    rows = list(csv.DictReader(open(out_csv)))
    assert [r["tm"] for r in rows] == ["LiCoO2", "LiNiO2"] and "voltage_static_V" in rows[0]
    lith, delith = V.layered("Co")
    e = model.predict([lith, delith], forces=False, stress=False).energy / 3
    assert float(rows[0]["voltage_static_V"]) == pytest.approx(-(e[0] - e[1] + 1.9), abs=1e-4)
    assert plot.stat().st_size > 5000
    assert main(["voltage", str(path), "--e-li", "-1.9", "--tm", "Zn"]) == 2
    assert "--tm" in capsys.readouterr().err
