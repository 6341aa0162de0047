"""ZBL repulsive baseline: analytic derivatives, switch, and its use in the models (fit, predict, files)."""
import numpy as np
import pytest

import ldrx
from ldrx.models.repulsion import ZBLBaseline, switch, zbl

from baseline_checks import check_baseline_forces_and_stress
from conftest import random_frames

SPECIES = [3, 8, 25]


def _baseline():
    inner = np.array([[1.0, 0.9, 1.1], [0.9, 0.8, 1.0], [1.1, 1.0, 1.2]])
    return ZBLBaseline(SPECIES, inner, inner + 1.3)


def test_zbl_values_and_derivative():
    # ZBL for O-O at 1 Å: 64 * 14.3996 / 1 * phi(1 / a), a = 0.4685 / (2 * 8^0.23)
    a = 0.46850 / (2 * 8 ** 0.23)
    x = 1.0 / a
    phi = (0.18175 * np.exp(-3.1998 * x) + 0.50986 * np.exp(-0.94229 * x) + 0.28022 * np.exp(-0.4029 * x)
           + 0.02817 * np.exp(-0.20162 * x))
    assert zbl(1.0, 8, 8)[0] == pytest.approx(64 * 14.3996454784255 * phi, rel=1e-12)
    r = np.linspace(0.2, 3.0, 15)
    h = 1e-6
    for z1, z2 in ((3, 3), (3, 8), (25, 8)):
        e, de = zbl(r, z1, z2)
        fd = (zbl(r + h, z1, z2)[0] - zbl(r - h, z1, z2)[0]) / (2 * h)
        assert np.allclose(de, fd, rtol=1e-7)
        assert np.all(e > 0) and np.all(de < 0)
    s, ds = switch(np.array([0.5, 1.0, 1.5, 2.0, 2.5]), 1.0, 2.0)
    assert s.tolist()[:2] == [1.0, 1.0] and s[2] == pytest.approx(0.5) and s.tolist()[3:] == [0.0, 0.0]
    rr = np.linspace(1.01, 1.99, 9)
    assert np.allclose(switch(rr, 1.0, 2.0)[1], (switch(rr + h, 1.0, 2.0)[0] - switch(rr - h, 1.0, 2.0)[0]) / (2 * h))


def test_forces_and_virial_equal_finite_differences():
    b = _baseline()
    atoms = random_frames(1, n_atoms=(12, 14), species=SPECIES, min_dist=0.7, seed=3)[0]
    data = ldrx.Dataset.from_atoms(atoms)
    E, F, W = b(data)
    assert E[0] > 1.0 and np.abs(F).max() > 1.0          # the frame has pairs inside the switch region
    check_baseline_forces_and_stress(b, atoms)


def test_zero_beyond_the_switch_and_per_pair():
    b = ZBLBaseline([3, 8], [[1.0, 0.5], [0.5, 0.5]], [[2.0, 1.0], [1.0, 1.0]])
    from ase import Atoms
    li2 = ldrx.Dataset.from_atoms(Atoms("Li2", positions=[[0, 0, 0], [1.5, 0, 0]], cell=[10] * 3, pbc=True))
    lio = ldrx.Dataset.from_atoms(Atoms("LiO", positions=[[0, 0, 0], [1.5, 0, 0]], cell=[10] * 3, pbc=True))
    assert b(li2)[0][0] > 0
    E, F, W = b(lio)
    assert E[0] == 0 and not F.any() and not W.any()


def test_models_fit_without_it_on_their_data_and_save_it(tmp_path, ldr_sample):
    data = ldr_sample.subset(range(40))
    m = ldrx.fit(data, model="snap", twojmax=4, progress=False, repulsion="zbl")
    assert m.repulsion is not None
    # switched off at the training set's shortest distances: zero on the training data
    e, F, W = m.repulsion(data)
    assert not e.any() and not F.any()
    off = ldrx.fit(data, model="snap", twojmax=4, progress=False, repulsion=None)

    assert off.repulsion is None
    assert np.array_equal(off.coefficients, m.coefficients)
    # closer than in training: the baseline adds a repulsion to the prediction
    atoms = data.to_atoms()[0]
    i, j = 0, 1
    d = atoms.get_distance(i, j, mic=True, vector=True)
    atoms.positions[j] = atoms.positions[i] + d / np.linalg.norm(d) * 1.0
    with pytest.warns(ldrx.errors.ExtrapolationWarning):
        pm, po = m.predict(atoms), off.predict(atoms)
    assert pm.energy[0] > po.energy[0] + 1.0
    m.save(tmp_path / "m.ldrx")
    back = ldrx.load(tmp_path / "m.ldrx")
    assert np.array_equal(back.repulsion.r_outer, m.repulsion.r_outer)
    with pytest.warns(ldrx.errors.ExtrapolationWarning):
        pb = back.predict(atoms)
    assert np.array_equal(pb.energy, pm.energy) and np.array_equal(pb.forces, pm.forces)


def test_zero_on_every_training_frame_of_the_sample(ldr_sample):
    """Switched off at the shortest distance of each pair: the sample's own frames, outliers such as 954.xsf
    (Li-O 0.94 Å) included, get no repulsion, so targets and fitted models are unchanged."""
    from ldrx import _core
    from ldrx.models.base import DOMAIN_CUTOFF
    species = [int(z) for z in ldr_sample.species]
    d = _core.pair_min_distances(ldr_sample.batch(), DOMAIN_CUTOFF, species)
    b = ZBLBaseline.from_training_distances(species, d, DOMAIN_CUTOFF)
    e, F, W = b(ldr_sample)
    assert not e.any() and not F.any() and not W.any()
    li, o = species.index(3), species.index(8)
    assert b.r_outer[li, o] == pytest.approx(d[:, li, o].min())
