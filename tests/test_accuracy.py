"""Accuracy pins: the README's figures on the bundled LDR sample (90:10 split, seed 0), with the settings
the README states, asserted within 15 %, so a broken fit fails (not just "better than composition only").
Figures: README "Accuracy on the LDR sample"; benches print them (bench/ann_accuracy.py,
bench/bench_snap_fit.py accuracy, bench/bench_select.py split; the default pair wall is on). The long energies + forces ANN run (500 epochs) is replaced by a short
setting whose figures bench/ann_accuracy.py prints (see its docstring)."""

import warnings

import pytest

import ldrx
from ldrx.evaluate import in_domain, metrics

TOL = 0.15

# name: (fit settings, {quantity: README figure}); test* leaves out the frames the model flags as extrapolations
PINS = {
    "ann-energies": (dict(model="ann", epochs=500),
                     {"E test": 37.8, "E test*": 37.1, "F test": 1.743, "F test*": 1.109}),
    # python bench/ann_accuracy.py --epochs 40 --force-weights 0.01 --force-fraction 0.25
    "ann-energies+forces-short": (dict(model="ann", epochs=40, force_weight=0.01, force_fraction=0.25),
                                  {"E train": 24.2, "E test*": 55.3, "F train": 0.510, "F test*": 0.551}),
    # defaults chosen by grouped cross-validation (ldrx.select; bench/bench_select.py split prints test / test*)
    "snap": (dict(model="snap"), {"E train": 25.8, "E test": 41.6, "E test*": 29.1, "F train": 0.387,
                                  "F test*": 0.429}),
    "qsnap": (dict(model="qsnap"), {"E train": 14.7, "E test": 28.0, "E test*": 27.7, "F train": 0.243,
                                    "F test*": 0.416}),
}


@pytest.fixture(scope="module")
def split(ldr_sample):
    train, test = ldr_sample.split(0.1, seed=0)
    assert (len(train), len(test)) == (296, 33)
    return train, test


def _figures(model, train, test):
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the extrapolation warning for the frames test* leaves out
        for name, data in (("train", train), ("test", test), ("test*", in_domain(model, test)[0])):
            m = metrics(model, data)
            out[f"E {name}"] = m["energy_rmse_meV_per_atom"]
            out[f"F {name}"] = m["forces_rmse_eV_per_A"]
    return out


@pytest.mark.parametrize("name", sorted(PINS))
def test_readme_accuracy(split, name):
    settings, expected = PINS[name]
    train, test = split
    model = ldrx.fit(train, progress=False, **settings)
    if name == "qsnap":   # 11 elements, 496 columns each, solved by Cholesky of the streamed normal equations
        assert model.info["columns"] == 11 * 496 and model.info["solver"] == "cholesky"
    got = _figures(model, train, test)
    for key, want in expected.items():
        assert abs(got[key] - want) <= TOL * want, f"{name}: {key} = {got[key]:.4g}, README / bench says {want}"
