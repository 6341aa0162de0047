"""The opt-in repulsive baseline, the data-derived pair wall (ldrx.models.repulsion.PairWall): analytic
forces and stress, exactly zero on the training data (fits and their predictions there unchanged), stops a
pair pushed inside the training set's shortest distance, travels with the model file."""
import warnings

import numpy as np
import pytest

import ldrx
from ldrx.models.base import DOMAIN_CUTOFF
from ldrx.models.repulsion import WALL_DEPTH, WALL_ENERGY, PairWall, ZBLBaseline

from baseline_checks import check_baseline_forces_and_stress
from conftest import random_frames

SPECIES = [3, 8, 25]


def _wall():
    return PairWall(SPECIES, [[1.9, 1.6, 2.0], [1.6, 1.5, 1.7], [2.0, 1.7, 2.1]])


def test_wall_profile():
    w = PairWall([3], [[2.0]])
    r = np.array([2.5, 2.0, 2.0 - WALL_DEPTH, 2.0 - 2 * WALL_DEPTH])
    e, de = w.pair(np.minimum(r, 2.0), np.zeros(4, int), np.zeros(4, int))
    assert e.tolist() == [0.0, 0.0, pytest.approx(WALL_ENERGY), pytest.approx(8 * WALL_ENERGY)]
    assert de[0] == 0 and de[1] == 0 and de[2] < -1.0       # zero slope at r_wall, steep inside
    rr = np.linspace(1.0, 1.99, 12)
    h = 1e-6
    fd = (w.pair(rr + h, 0, 0)[0] - w.pair(rr - h, 0, 0)[0]) / (2 * h)
    assert np.allclose(w.pair(rr, 0, 0)[1], fd, rtol=1e-7)


def test_wall_forces_and_stress_equal_finite_differences():
    b = _wall()
    atoms = random_frames(1, n_atoms=(12, 14), species=SPECIES, min_dist=0.9, seed=5)[0]
    data = ldrx.Dataset.from_atoms(atoms)
    E, F, W = b(data)
    assert E[0] > 0.1 and np.abs(F).max() > 0.5          # the frame has pairs inside their walls
    check_baseline_forces_and_stress(b, atoms)


def test_unseen_pairs_get_the_covalent_rule():
    from ase.data import covalent_radii
    d = np.array([[2.3, 1.8], [1.8, np.inf]])            # O-O never within the cut-off
    w = PairWall.from_min_distance([3, 8], d, DOMAIN_CUTOFF)
    assert w.r_wall[0, 1] == 1.8 and w.r_wall[0, 0] == 2.3
    assert w.r_wall[1, 1] == pytest.approx(0.75 * 2 * covalent_radii[8])


@pytest.fixture(scope="module")
def small(ldr_sample):
    return ldr_sample.subset(range(40))


def _squeezed(atoms, model, factor=0.8):
    """`atoms` with its closest Li-O pair moved to `factor` x the model's wall radius of Li-O."""
    from ase.geometry import get_distances
    li, o = [np.flatnonzero(atoms.numbers == z) for z in (3, 8)]
    D = get_distances(atoms.positions[li], atoms.positions[o], cell=atoms.cell, pbc=True)[1]
    a, b = np.unravel_index(np.argmin(D), D.shape)
    i, j = li[a], o[b]
    v = atoms.get_distance(i, j, mic=True, vector=True)
    s = model.species
    r_w = model.repulsion.r_wall[s.index(3), s.index(8)]
    out = atoms.copy()
    out.positions[j] = atoms.positions[i] + v / np.linalg.norm(v) * factor * r_w
    return out


@pytest.mark.parametrize("family, settings", [("snap", dict(twojmax=4)), ("ann", dict(epochs=5, hidden=(4,)))])
def test_wall_changes_nothing_on_the_training_data(small, family, settings, tmp_path):
    wall = ldrx.fit(small, model=family, progress=False, repulsion="wall", **settings)
    off = ldrx.fit(small, model=family, progress=False, repulsion="none", **settings)
    assert isinstance(wall.repulsion, PairWall) and off.repulsion is None and wall.hyper.repulsion == "wall"
    # r_wall is the training set's shortest distance of each pair: the wall is exactly zero on every frame
    e, F, W = wall.repulsion(small)
    assert not e.any() and not F.any() and not W.any()
    np.testing.assert_array_equal(wall.repulsion.r_wall, np.where(np.isfinite(wall.domain_min_distance),
                                                                   wall.domain_min_distance, wall.repulsion.r_wall))
    pw, po = wall.predict(small), off.predict(small)
    assert np.array_equal(pw.energy, po.energy) and np.array_equal(pw.forces, po.forces)
    assert np.array_equal(pw.stress, po.stress, equal_nan=True)
    # a pair pushed inside its wall: the energy rises, more the deeper it goes
    atoms = small.to_atoms()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ldrx.errors.ExtrapolationWarning)
        e_off = [off.predict(_squeezed(atoms, wall, f)).energy[0] for f in (0.9, 0.7)]
        e_wall = [wall.predict(_squeezed(atoms, wall, f)).energy[0] for f in (0.9, 0.7)]
        calc = _squeezed(atoms, wall, 0.7)
        calc.calc = wall.calculator()
        e_calc = calc.get_potential_energy()
    r_w = wall.repulsion.r_wall[wall.species.index(3), wall.species.index(8)]
    for f, eo, ew in zip((0.9, 0.7), e_off, e_wall):
        x = (1 - f) * r_w / WALL_DEPTH
        assert ew - eo == pytest.approx(WALL_ENERGY * x ** 3, rel=1e-6)   # the one pair inside its wall
    assert e_wall[1] - e_off[1] > 1.0 and e_wall[1] - e_off[1] > e_wall[0] - e_off[0] > 0
    assert e_calc == pytest.approx(e_wall[1], rel=1e-12)
    # it travels with the model file and is named in the repr
    assert "pair wall" in repr(wall)
    wall.save(tmp_path / "m.ldrx")
    back = ldrx.load(tmp_path / "m.ldrx")
    assert isinstance(back.repulsion, PairWall) and back.hyper.repulsion == "wall"
    np.testing.assert_array_equal(back.repulsion.r_wall, wall.repulsion.r_wall)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ldrx.errors.ExtrapolationWarning)
        assert back.predict(_squeezed(atoms, wall, 0.7)).energy[0] == e_wall[1]
    off.save(tmp_path / "off.ldrx")
    assert ldrx.load(tmp_path / "off.ldrx").repulsion is None


def test_fitted_parameters_identical_with_and_without_the_wall(small):
    wall = ldrx.fit(small, model="snap", twojmax=4, progress=False, repulsion="wall")
    off = ldrx.fit(small, model="snap", twojmax=4, progress=False, repulsion=None)
    assert np.array_equal(wall.coefficients, off.coefficients)


def test_repulsion_setting_is_checked():
    with pytest.raises(ValueError, match="'wall'"):
        ldrx.fit(random_frames(2), model="snap", repulsion="lj", progress=False)


def test_every_family_gets_the_wall_and_can_switch_it_off():
    """Families whose hyper-parameters have no `repulsion` (here MTP) get it through Model.learn_domain."""
    data = ldrx.Dataset.from_atoms(random_frames(4, n_atoms=(4, 6), species=(3, 8), seed=1))
    data.energy[:] = -5.0 * data.natoms
    data.forces[:] = 0.0
    for kind, cls in (("default", PairWall), ("wall", PairWall), ("none", type(None)), ("zbl", ZBLBaseline)):
        kw = {} if kind == "default" else {"repulsion": kind}
        m = ldrx.models.make_model("mtp", level=2, max_iter=2, **kw).fit(data)
        assert isinstance(m.repulsion, cls)
        if cls is not type(None):
            e, F, W = m.repulsion(data)
            assert not e.any() and not F.any()
