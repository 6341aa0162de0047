"""aenet interoperability: the TiO2 networks of aenet 2.0.4 must give predict.x's energies and forces."""

import json

import numpy as np
import pytest

import ldrx
from ldrx.models.ann import ANN

from conftest import DATA

AENET = DATA / "aenet-tio2"
REF = json.loads((AENET / "reference.json").read_text())


@pytest.fixture(scope="module")
def tio2():
    return ANN.from_aenet({"Ti": AENET / "Ti.15t-15t.nn", "O": AENET / "O.15t-15t.nn"})


@pytest.fixture(scope="module")
def structures():
    return {r["file"]: ldrx.read(AENET / "structures" / r["file"], energy_required=False) for r in REF}


def test_reads_the_networks(tio2):
    assert tio2.species == [22, 8]  # aenet's ENV order
    assert tio2.descriptor.size == 44 and tio2.networks.n_params == 2 * 931
    assert tio2.hyper.hidden == (15, 15) and tio2.hyper.activation == "tanh"


@pytest.mark.parametrize("entry", REF, ids=[r["file"] for r in REF])
def test_matches_predict_x(tio2, structures, entry):
    data = structures[entry["file"]]
    pred = tio2.predict(data)
    # the tolerances: 1e-5 eV per cell, 1e-4 eV/A
    assert abs(pred.energy[0] - entry["total_energy_eV"]) < 1e-5
    np.testing.assert_allclose(pred.forces, entry["forces_eV_per_A"], rtol=0, atol=1e-4)
    # and to the digits predict.x prints (8 decimals for energies, 6 for forces)
    assert abs(pred.energy[0] - entry["total_energy_eV"]) < 1e-7
    np.testing.assert_allclose(pred.forces, entry["forces_eV_per_A"], rtol=0, atol=1.5e-6)
    e_coh = pred.energy[0] - sum(tio2.reference_energies[int(z)] for z in data.numbers)
    assert abs(e_coh - entry["cohesive_energy_eV"]) < 1e-7


def test_write_and_read_back(tio2, structures, tmp_path):
    paths = tio2.to_aenet(tmp_path)
    assert sorted(paths) == ["O", "Ti"] and all(p.endswith(".15t-15t.nn") for p in paths.values())
    again = ANN.from_aenet(paths)
    data = ldrx.Dataset.concatenate(list(structures.values()))
    a, b = tio2.predict(data), again.predict(data)
    # aenet stores the second moment, not sigma: sqrt(<G^2> - mu^2) round-trips to ~1e-16 relative
    np.testing.assert_allclose(a.energy, b.energy, rtol=1e-13)
    np.testing.assert_allclose(a.forces, b.forces, rtol=0, atol=1e-12)
    # byte-identical network records: our writer produces what we read
    from ldrx.io.aenet import read_nn
    orig, back = read_nn(AENET / "Ti.15t-15t.nn"), read_nn(paths["Ti"])
    np.testing.assert_array_equal(orig["weights"], back["weights"])
    np.testing.assert_allclose(orig["sf_cov"], back["sf_cov"], rtol=1e-13)


def test_mismatched_networks_are_rejected(tmp_path):
    with pytest.raises(ldrx.ModelFileError, match="network is for Ti"):
        ANN.from_aenet({"O": AENET / "Ti.15t-15t.nn", "Ti": AENET / "O.15t-15t.nn"})
    with pytest.raises(ldrx.ModelFileError, match="descriptor's species"):
        ANN.from_aenet({"Ti": AENET / "Ti.15t-15t.nn"})
    bad = tmp_path / "trunc.nn"
    bad.write_bytes((AENET / "Ti.15t-15t.nn").read_bytes()[:5000])
    with pytest.raises(ldrx.ModelFileError, match="trunc.nn"):
        ANN.from_aenet({"Ti": bad, "O": AENET / "O.15t-15t.nn"})
