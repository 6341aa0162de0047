"""NequIP adapter (needs the optional nequip package): fit, predict, save/load, calculator, forces."""

import numpy as np
import pytest

pytest.importorskip("nequip")

import ldrx  # noqa: E402


@pytest.fixture(scope="module")
def fitted(ldr_sample, tmp_path_factory):
    train = ldr_sample[:6]
    model = ldrx.fit(train, model="nequip", epochs=1, num_layers=1, num_features=4, radial_mlp_width=8,
                     batch_size=3, val_frames=2, progress=False, seed=0)
    return model, train


def test_fit_predict_save_load(fitted, tmp_path):
    model, train = fitted
    assert model.family == "nequip" and model.is_fitted and len(model.history) == 1
    pred = model.predict(train, stress=False)
    assert pred.energy.shape == (len(train),) and pred.forces.shape == (train.n_atoms, 3)
    # the reference energies are added back: per-atom energies in the DFT range, not near zero
    e = pred.energy / train.natoms
    assert np.all(np.abs(e - train.energy / train.natoms) < 1.0)
    m = ldrx.evaluate.metrics(model, train)
    assert np.isfinite(m["energy_rmse_meV_per_atom"]) and np.isfinite(m["forces_rmse_eV_per_A"])
    path = tmp_path / "n.ldrx"
    model.save(path)
    again = ldrx.load(path)
    p2 = again.predict(train, stress=False)
    np.testing.assert_array_equal(p2.energy, pred.energy)
    np.testing.assert_array_equal(p2.forces, pred.forces)


def test_forces_are_minus_the_energy_gradient_and_calculator(fitted):
    model, train = fitted
    atoms = train[0].to_atoms()[0]
    atoms.calc = model.calculator()
    f = atoms.get_forces()
    h = 1e-4
    for i, k in ((0, 0), (3, 2)):
        a = atoms.copy(); a.calc = model.calculator()
        a.positions[i, k] += h
        ep = a.get_potential_energy()
        a.positions[i, k] -= 2 * h
        em = a.get_potential_energy()
        assert f[i, k] == pytest.approx(-(ep - em) / (2 * h), abs=1e-5)


def test_unknown_hyper_parameter():
    with pytest.raises(TypeError, match="num_feature"):
        ldrx.models.make_model("nequip", num_feature=3)
