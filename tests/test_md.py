"""Models in MD: the ASE calculator's extrapolation warnings (bench/md_stability.py runs the MD itself)."""
import warnings

import numpy as np
import pytest

import ldrx
from ldrx.errors import ExtrapolationWarning


@pytest.fixture(scope="module")
def ann_e(ldr_sample):
    train, _ = ldr_sample.split(0.1, seed=0)
    return ldrx.fit(train, model="ann", epochs=200, progress=False), train


def _cell(data):
    f = [k for k in range(len(data)) if data.natoms[k] == 32][0]
    return data.to_atoms()[f] * (2, 1, 2)


def test_calculator_warns_once_per_decade_and_names_the_structure(ann_e, ldr_sample):
    model, train = ann_e
    atoms = _cell(ldr_sample)
    atoms.info["id"] = "some/training/file.xsf"
    li = np.flatnonzero(atoms.numbers == 3)[:2]
    atoms.positions[li[1]] = atoms.positions[li[0]] + [1.2, 0.0, 0.0]   # Li-Li far closer than in training
    atoms.calc = model.calculator()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k in range(25):
            atoms.positions[0] += 1e-4        # a new structure each call, as in MD
            atoms.get_forces()
    ext = [w for w in caught if issubclass(w.category, ExtrapolationWarning)]
    assert len(ext) == 2                  # the first, then at 10
    assert atoms.calc.n_extrapolations == 25 and atoms.calc.n_calculations == 25
    first = str(ext[0].message)
    assert "Li32Mn16Ni16O64 (128 atoms), calculation 1" in first and "Li-Li 1.20 Å" in first
    assert "file.xsf" not in first
    assert "10 of 10 calculations" in str(ext[1].message)
