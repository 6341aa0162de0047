"""ANN potential: exact gradients of the training loss, training, determinism, persistence, calculator,
checkpoints and bad input."""


import numpy as np
import pytest

import ldrx
from ldrx.models.ann import ANN


SMALL = dict(radial_cutoff=5.0, radial_order=8, angular_cutoff=4.0, angular_order=3, hidden=(6, 5), progress=False)


@pytest.fixture(scope="module")
def small_data(ldr_sample):
    return ldr_sample.subset(range(24))


def _trainer(model, data, force_weight):
    model.hyper.force_weight = force_weight
    return model._trainer(data, None, None, np.random.default_rng(0))


@pytest.mark.parametrize("force_weight", [0.0, 0.7])
@pytest.mark.parametrize("activation", ["tanh", "twist", "sigmoid"])
def test_loss_gradient_matches_finite_differences(small_data, force_weight, activation):
    m = ANN(epochs=0, activation=activation, **SMALL).fit(small_data)
    tr = _trainer(m, small_data, force_weight)
    rng = np.random.default_rng(1)
    theta = m.theta + 0.3 * rng.normal(size=m.theta.shape)
    loss, grad, info = tr.loss_grad(theta)
    assert (info["loss_forces"] > 0) == (force_weight > 0)
    for _ in range(4):
        v = rng.normal(size=theta.shape)
        h = 1e-5
        fd = (tr.loss_grad(theta + h * v, False)[0] - tr.loss_grad(theta - h * v, False)[0]) / (2 * h)
        assert abs(grad @ v - fd) < 2e-6 * max(abs(fd), 1e-3), (grad @ v, fd)


def test_training_reduces_errors_and_is_deterministic(small_data):
    a = ANN(epochs=60, seed=3, **SMALL).fit(small_data)
    b = ANN(epochs=60, seed=3, **SMALL).fit(small_data)
    np.testing.assert_array_equal(a.theta, b.theta)
    first, last = a.history[0], a.history[-1]
    assert last["train_energy_rmse_meV_per_atom"] < 0.2 * first["train_energy_rmse_meV_per_atom"]
    c = ANN(epochs=60, seed=4, **SMALL).fit(small_data)
    assert not np.array_equal(a.theta, c.theta)


def test_thread_count_does_not_change_training(small_data):
    n0 = ldrx.get_num_threads()
    try:
        ldrx.set_num_threads(1)
        a = ANN(epochs=15, force_weight=0.5, **SMALL).fit(small_data)
        ldrx.set_num_threads(2)
        b = ANN(epochs=15, force_weight=0.5, **SMALL).fit(small_data)
    finally:
        ldrx.set_num_threads(n0)
    np.testing.assert_array_equal(a.theta, b.theta)


def test_force_training_improves_forces(ldr_sample):
    train, test = ldr_sample.subset(range(60)).split(0.2, seed=0)
    e = ANN(epochs=80, **SMALL).fit(train)
    ef = ANN(epochs=80, force_weight=0.5, **SMALL).fit(train)
    me, mef = ldrx.evaluate.metrics(e, test), ldrx.evaluate.metrics(ef, test)
    assert mef["forces_rmse_eV_per_A"] < 0.8 * me["forces_rmse_eV_per_A"]


def test_prediction_is_consistent(small_data):
    m = ANN(epochs=10, **SMALL).fit(small_data)
    atoms = small_data.to_atoms()[3]
    atoms.calc = m.calculator()
    e0 = atoms.get_potential_energy()
    F = atoms.get_forces()
    S = atoms.get_stress()
    assert np.isclose(e0, m.predict(small_data).energy[3])
    assert np.isclose(m.atomic_energies(atoms).sum(), e0)
    h = 1e-5
    for a, c in [(0, 0), (5, 2), (11, 1)]:
        p, q = atoms.copy(), atoms.copy()
        p.positions[a, c] += h
        q.positions[a, c] -= h
        fd = -(m.predict(p).energy[0] - m.predict(q).energy[0]) / (2 * h)
        assert abs(F[a, c] - fd) < 1e-6
    # stress: dE/d(strain) / V
    eps = np.zeros((3, 3)); eps[0, 1] = eps[1, 0] = 0.5e-6
    p, q = atoms.copy(), atoms.copy()
    p.set_cell(atoms.cell[:] @ (np.eye(3) + eps), scale_atoms=True)
    q.set_cell(atoms.cell[:] @ (np.eye(3) - eps), scale_atoms=True)
    fd = (m.predict(p).energy[0] - m.predict(q).energy[0]) / 2e-6 / atoms.get_volume()  # shear strain +-1e-6
    assert abs(S[5] - fd) < 1e-6


def test_validation_keeps_best_and_early_stopping(ldr_sample):
    train, valid = ldr_sample.subset(range(40)).split(0.25, seed=1)
    m = ANN(epochs=200, patience=20, **SMALL).fit(train, valid)
    v = [h["valid_energy_rmse_meV_per_atom"] for h in m.history]
    assert m.history[m.best_epoch - 1]["valid_energy_rmse_meV_per_atom"] == min(v)
    # this run overfits early: patience must end it, exactly 20 epochs after the best one
    assert len(m.history) < 200 and m.stop_reason == "no validation improvement for 20 epochs"
    assert len(m.history) == m.best_epoch + 20 and min(v[m.best_epoch:]) >= min(v)
    got = ldrx.evaluate.metrics(m, valid)["energy_rmse_meV_per_atom"]
    assert np.isclose(got, min(v), rtol=1e-6)


def test_save_load_roundtrip(small_data, tmp_path):
    m = ANN(epochs=5, **SMALL).fit(small_data)
    m.save(tmp_path / "m.ldrx")
    for back in (ldrx.load(tmp_path / "m.ldrx"), ANN.load(tmp_path / "m.ldrx")):
        a, b = m.predict(small_data), back.predict(small_data)
        np.testing.assert_array_equal(a.energy, b.energy)
        np.testing.assert_array_equal(a.forces, b.forces)
    assert [p.name for p in tmp_path.iterdir()] == ["m.ldrx"]  # nothing half-written left over


def test_model_file_errors(small_data, tmp_path):
    import json
    m = ANN(epochs=2, **SMALL).fit(small_data)
    path = tmp_path / "m.ldrx"
    m.save(path)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    meta["format_version"] = 99
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "new.ldrx", **arrays)
    with pytest.raises(ldrx.ModelFileError, match="newer"):
        ldrx.load(tmp_path / "new.ldrx.npz")
    (tmp_path / "junk.ldrx").write_bytes(b"not a model")
    with pytest.raises(ldrx.ModelFileError, match="junk.ldrx"):
        ldrx.load(tmp_path / "junk.ldrx")
    li_only = ANN(epochs=1, species=("Li", "O"), **SMALL)
    with pytest.raises(ldrx.DataError, match="not one of the model's species"):
        li_only.fit(small_data)
    from ase import Atoms
    f_atom = Atoms("LiF", positions=[[0, 0, 0], [2, 0, 0]], cell=np.eye(3) * 5, pbc=True)
    with pytest.raises(ldrx.DataError, match="element F is not one of"):
        m.predict(f_atom)


def test_atoms_closer_than_r_min_are_rejected(small_data):
    m = ANN(epochs=1, **SMALL).fit(small_data)
    atoms = small_data.to_atoms()[0]
    atoms.positions[1] = atoms.positions[0] + [0.3, 0.2, 0.0]
    with pytest.raises(ldrx.DataError, match=r"0.361 Å apart \(closer than 0.55 Å.*r_min is 0.55 Å"):
        m.predict(atoms)


def test_empty_training_set():
    with pytest.raises(ldrx.DataError, match="empty"):
        ANN(**SMALL).fit(ldrx.Dataset.empty())


def test_unknown_hyper_parameter():
    with pytest.raises(TypeError, match="hiden"):
        ANN(hiden=(3,))
    with pytest.raises(ValueError, match="activation"):
        ANN(activation="relu6")


def test_checkpoint_and_resume(small_data, tmp_path):
    ck = tmp_path / "ck.npz"
    part = ANN(epochs=12, checkpoint=str(ck), checkpoint_every=5, **SMALL).fit(small_data)
    assert ck.exists() and part.epochs_done == 12
    resumed = ANN(epochs=30, checkpoint=str(ck), checkpoint_every=5, **SMALL).fit(small_data)
    assert resumed.epochs_done == 30 and len(resumed.history) == 30
    # the first 12 epochs are the checkpoint's record, and the first new epoch evaluates the saved (best)
    # weights: its loss is the best loss of the first run, not the loss of fresh random weights
    assert [h["loss"] for h in resumed.history[:12]] == [h["loss"] for h in part.history]
    assert resumed.history[12]["loss"] == min(h["loss"] for h in part.history)
    assert resumed.history[12]["loss"] < 0.5 * part.history[0]["loss"]
    assert resumed.history[-1]["loss"] < resumed.history[12]["loss"]
    # resuming with no epochs left returns exactly the weights in the checkpoint (here changed by hand,
    # so a run that ignored the checkpoint and retrained from its seed could not return them)
    with np.load(ck) as z:
        saved = {k: z[k] for k in z.files}
    marked = saved["best_theta"] + 0.01
    np.savez(ck, **{**saved, "theta": marked, "best_theta": marked, "epoch": np.array(30)})
    again = ANN(epochs=30, checkpoint=str(ck), **SMALL).fit(small_data)
    np.testing.assert_array_equal(again.theta, marked)
    assert again.epochs_done == 30
    other = small_data.subset(range(10))
    with pytest.raises(ldrx.ModelFileError, match="another training set"):
        ANN(epochs=30, checkpoint=str(ck), **SMALL).fit(other)


def test_weight_decay_shrinks_weights(small_data):
    a = ANN(epochs=40, **SMALL).fit(small_data)
    b = ANN(epochs=40, l2=1e-3, **SMALL).fit(small_data)
    assert np.linalg.norm(b.theta) < 0.9 * np.linalg.norm(a.theta)


def test_extrapolation_warning(ldr_sample, tmp_path):
    from ldrx.errors import ExtrapolationWarning
    train, test = ldr_sample.split(0.1, seed=0)
    m = ANN(epochs=1, **SMALL).fit(train)
    with pytest.warns(ExtrapolationWarning, match=r"3962.xsf \(frame \d+\): Li-Ti 2.28 Å apart \(shortest in the training set: 2.65 Å\)"):
        m.predict(test)
    found = m.check_domain(test, warn=False)
    assert [test.ids[f].split("/")[-1] for f, _ in found] == ["3962.xsf"]
    assert m.check_domain(train, warn=False) == []
    m.save(tmp_path / "m.ldrx")
    np.testing.assert_array_equal(ldrx.load(tmp_path / "m.ldrx").domain_min_distance, m.domain_min_distance)


def test_one_pass_prediction_equals_the_two_pass_path(small_data):
    """predict (descriptor, network and adjoint per atom from one expansion) against the reference path:
    batched features, batched networks, then the descriptor's backward."""
    m = ANN(epochs=5, **SMALL).fit(small_data)
    big = ldrx.Dataset.from_atoms([small_data.to_atoms()[0].repeat((2, 2, 2))])  # one frame: atom-parallel mode
    for data in (small_data, big):
        spi = m._species_index(data)
        out, dnn = m.networks.evaluate(m.theta, m._normalise(m.descriptor.compute(data), spi), spi, True)
        F_ref, W_ref = m.descriptor.backward(data, dnn * m._inv_sigma[spi] / m.scale)
        e_ref = np.bincount(data.frame_index, weights=m.atomic_energies(data), minlength=len(data))
        for threads in (1, 2):
            n0 = ldrx.get_num_threads()
            try:
                ldrx.set_num_threads(threads)
                p, q = m.predict(data), m.predict(data)
            finally:
                ldrx.set_num_threads(n0)
            np.testing.assert_allclose(p.energy, e_ref, rtol=1e-12)
            np.testing.assert_allclose(p.forces, F_ref, rtol=0, atol=1e-12 * np.abs(F_ref).max())
            vol = np.abs(np.linalg.det(data.cells))[:, None]
            np.testing.assert_allclose(p.stress, -W_ref / vol, rtol=0, atol=1e-12 * np.abs(W_ref / vol).max())
            np.testing.assert_array_equal(p.forces, q.forces)  # identical bits run to run


BISPECTRUM = dict(descriptor="bispectrum", descriptor_params={"twojmax": 4, "rcutfac": 4.0}, hidden=(5,),
                  progress=False)


def test_ann_on_the_bispectrum(small_data, tmp_path):
    """An ANN sits on any descriptor: exact loss gradient with forces, forces = -dE/dr, files."""
    from ldrx.descriptors import Bispectrum
    m = ANN(epochs=20, **BISPECTRUM).fit(small_data)
    assert isinstance(m.descriptor, Bispectrum) and m.descriptor.twojmax == 4 and m.descriptor.cutoff == 4.0
    assert m.history[-1]["loss"] < m.history[0]["loss"]
    tr = _trainer(m, small_data, 0.7)
    rng = np.random.default_rng(1)
    theta = m.theta + 0.3 * rng.normal(size=m.theta.shape)
    loss, grad, info = tr.loss_grad(theta)
    assert info["loss_forces"] > 0
    v = rng.normal(size=theta.shape)
    fd = (tr.loss_grad(theta + 1e-5 * v, False)[0] - tr.loss_grad(theta - 1e-5 * v, False)[0]) / 2e-5
    assert abs(grad @ v - fd) < 2e-6 * max(abs(fd), 1e-3)
    atoms = small_data.to_atoms()[2]
    F = m.predict(atoms).forces
    for a, c in [(0, 0), (4, 2)]:
        p, q = atoms.copy(), atoms.copy()
        p.positions[a, c] += 1e-5
        q.positions[a, c] -= 1e-5
        assert abs(F[a, c] + (m.predict(p).energy[0] - m.predict(q).energy[0]) / 2e-5) < 1e-6
    m.save(tmp_path / "b.ldrx")
    back = ldrx.load(tmp_path / "b.ldrx")
    np.testing.assert_array_equal(back.predict(small_data).energy, m.predict(small_data).energy)
    with pytest.raises(ValueError, match="Chebyshev"):
        m.to_aenet(tmp_path / "nn")
    with pytest.raises(ValueError, match="descriptor must be one of"):
        ANN(descriptor="soap-ish")
    with pytest.raises(ValueError, match="descriptor_params"):
        ANN(descriptor_params={"twojmax": 4})


def test_fit_accepts_atoms_like_every_family(small_data):
    """ANN.fit and SNAP.fit take a Dataset, an Atoms or a list of Atoms through one conversion."""
    from ldrx.models.snap import SNAP
    atoms = small_data.subset(range(6)).to_atoms()
    for model in (ANN(epochs=3, **SMALL), SNAP(twojmax=2, rcutfac=3.0, progress=False)):
        a = type(model)(**model.hyper.__dict__).fit(atoms)
        b = type(model)(**model.hyper.__dict__).fit(small_data.subset(range(6)))
        np.testing.assert_array_equal(a.predict(atoms).energy, b.predict(atoms).energy)
        with pytest.raises(TypeError, match="list of Atoms"):
            model.fit([1, 2])
    with pytest.raises(ldrx.DataError, match="empty"):
        ANN(**SMALL).fit([])
