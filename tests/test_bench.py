"""ldrx bench: configuration checks, records, reproducibility, resume, nested subsets; ANN epoch monitor."""

import json

import numpy as np
import pytest

import ldrx
from ldrx.benchmark import ConfigError, RECORD_KEYS, parse_config, prepare_splits, run


@pytest.fixture(scope="module")
def small_data(tmp_path_factory, ldr_sample):
    path = tmp_path_factory.mktemp("bench") / "small.npz"
    ldr_sample[:30].save(path)
    return path


def _config(data, **over):
    cfg = {"data": str(data), "sizes": [8, 16], "seed": 3, "threads": 1,
           "models": {"snap": {"family": "snap", "twojmax": 2, "rcutfac": 4.0}}}
    cfg.update(over)
    return cfg


@pytest.mark.parametrize("change, key", [
    ({"sizes": [0, 5]}, "'sizes'"),
    ({"sizes": "all"}, "'sizes'"),
    ({"test_fraction": 1.5}, "'test_fraction'"),
    ({"threads": 0}, "'threads'"),
    ({"colour": "blue"}, "'colour'"),
    ({"models": {"a": {"epochs": 3}}}, "'models.a.family'"),
    ({"models": {"a": {"family": "svm"}}}, "'models.a.family'"),
    ({"models": {"a": {"family": "ann", "hiden": [5]}}}, "'models.a'"),
    ({"models": {"a": {"family": "ann", "epochs": -1}}}, "'models.a'"),
    ({"models": {}}, "'models'"),
])
def test_config_errors_name_the_key(small_data, change, key):
    with pytest.raises(ConfigError) as e:
        parse_config(_config(small_data, **change), "bench.toml")
    msg = str(e.value)
    assert key in msg and msg.startswith("bench.toml:") and "\n" not in msg


def test_missing_data_key_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="'data'"):
        parse_config({"sizes": [1], "models": {"a": {"family": "snap"}}})
    bad = tmp_path / "bad.toml"
    bad.write_text("data = \n")
    from ldrx.benchmark import load_config
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_cli_reports_config_errors_in_one_line(tmp_path, small_data, capsys):
    from ldrx.cli import main
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'data = "{small_data}"\nsizes = [4]\n[models.x]\nfamily = "nope"\n')
    assert main(["bench", str(cfg), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'models.x.family'" in err


def test_subsets_are_nested_and_share_one_test_set(ldr_sample):
    cfg = parse_config({"data": "example", "sizes": [40, 10, "all", 20], "seed": 1,
                        "models": {"s": {"family": "snap"}}})
    pool, test, subsets = prepare_splits(cfg, ldr_sample)
    assert list(subsets) == [10, 20, 40, len(pool)]
    assert len(test) == round(0.1 * len(ldr_sample))
    sets = [set(subsets[n].tolist()) for n in subsets]
    for small, big in zip(sets, sets[1:]):
        assert small < big
    assert not set(test.ids) & set(pool.ids)
    # the same seed gives the same split and subsets; another seed does not
    _, test2, subsets2 = prepare_splits(cfg, ldr_sample)
    assert test2.ids == test.ids and all((subsets2[n] == subsets[n]).all() for n in subsets)
    cfg3 = parse_config({"data": "example", "sizes": [40], "seed": 2, "models": {"s": {"family": "snap"}}})
    assert prepare_splits(cfg3, ldr_sample)[1].ids != test.ids
    big = parse_config({"data": "example", "sizes": [10 ** 6], "models": {"s": {"family": "snap"}}})
    with pytest.raises(ConfigError, match="'sizes'"):
        prepare_splits(big, ldr_sample)


def test_benchmark_records_reproduce_and_resume(tmp_path, small_data):
    out1, out2 = tmp_path / "a", tmp_path / "b"
    recs = run(_config(small_data), out1, progress=False)
    assert len(recs) == 4  # 1 model x 2 sizes x (train, test)
    for r in recs:
        assert set(RECORD_KEYS) <= set(r)
        assert r["threads"] == 1 and r["train_s"] > 0 and r["peak_rss_gb"] > 0
        assert np.isfinite(r["energy_rmse_meV_per_atom"]) and np.isfinite(r["forces_mae_eV_per_A"])
    saved = json.loads((out1 / "results.json").read_text())
    assert [r["size"] for r in saved] == [8, 8, 16, 16] and [r["split"] for r in saved] == ["train", "test"] * 2
    assert "| snap | snap | 16 |" in (out1 / "results.md").read_text()
    for fig in ("fig_errors.png", "fig_train_time.png", "parity_snap.png"):
        assert (out1 / fig).stat().st_size > 10000
    split = json.loads((out1 / "split.json").read_text())
    assert set(split["train_ids"]["8"]) < set(split["train_ids"]["16"])
    assert not set(split["train_ids"]["16"]) & set(split["test_ids"])

    # resume: nothing is retrained (the cell records stay untouched)
    stamps = {p.name: p.stat().st_mtime_ns for p in (out1 / "cells").glob("*.json")}
    again = run(_config(small_data), out1, progress=False, figures=False)
    assert {p.name: p.stat().st_mtime_ns for p in (out1 / "cells").glob("*.json")} == stamps
    assert again == recs

    # a changed hyper-parameter recomputes that model's cells only; an interrupted run (missing record) resumes
    (out1 / "cells" / "snap-16.json").unlink()
    run(_config(small_data), out1, progress=False, figures=False)
    assert (out1 / "cells" / "snap-8.json").stat().st_mtime_ns == stamps["snap-8.json"]
    assert (out1 / "cells" / "snap-16.json").exists()

    # the same seed in a fresh folder gives the same errors
    recs2 = run(_config(small_data), out2, progress=False, figures=False)
    keys = ("energy_rmse_meV_per_atom", "energy_mae_meV_per_atom", "forces_rmse_eV_per_A", "forces_mae_eV_per_A")
    for a, b in zip(recs, recs2):
        assert (a["model"], a["size"], a["split"]) == (b["model"], b["size"], b["split"])
        for k in keys:
            assert a[k] == pytest.approx(b[k], rel=1e-10)
    m = ldrx.load(out2 / "models" / "snap-16.ldrx")
    assert m.family == "snap"

    # test*: the test record carries the errors without extrapolated frames, as `ldrx fit` reports them
    # (evaluate.metrics_rows); a cell recorded without them gains them from its saved model, not by retraining
    test8 = next(r for r in recs2 if r["size"] == 8 and r["split"] == "test")
    from ldrx.data import Dataset
    rows = ldrx.evaluate.metrics_rows(ldrx.load(out2 / "models" / "snap-8.ldrx"),
                                      {"test": Dataset.load(out2 / "data" / "test.npz")})
    star = [v for k, v in rows.items() if k.startswith("test*")]
    assert len(star) == (1 if test8["n_extrapolated"] else 0)
    for k in ("energy_rmse_meV_per_atom", "forces_rmse_eV_per_A"):
        assert test8[f"{k}_in_domain"] == pytest.approx((star or [rows["test"]])[0][k], rel=1e-10)
    cell = json.loads((out2 / "cells" / "snap-8.json").read_text())
    for r in cell["records"]:
        for k in [k for k in r if k.endswith("_in_domain") or k == "n_extrapolated"]:
            del r[k]
    (out2 / "cells" / "snap-8.json").write_text(json.dumps(cell))
    recs3 = run(_config(small_data), out2, progress=False, figures=False)
    assert next(r for r in recs3 if r["size"] == 8 and r["split"] == "test") == test8
    assert "| E RMSE test* |" in (out2 / "results.md").read_text()


def test_ann_monitor_records_test_errors_without_changing_training(ldr_sample):
    train, test = ldr_sample[:12], ldr_sample[12:16]
    kw = dict(epochs=4, hidden=(4,), radial_order=4, angular_order=2, progress=False, seed=1)
    a = ldrx.fit(train, model="ann", **kw)
    b = ldrx.models.ANN(**kw).fit(train, monitor=test)
    np.testing.assert_array_equal(a.theta, b.theta)
    assert len(b.history) == 4 and all("monitor_energy_rmse_meV_per_atom" in h for h in b.history)
    assert "monitor_energy_rmse_meV_per_atom" not in a.history[0]
    last = ldrx.evaluate.metrics(b, test)["energy_rmse_meV_per_atom"]
    # the model keeps the networks with the lowest training loss; the monitor saw that epoch's networks
    rec = next(h for h in b.history if h["epoch"] == b.best_epoch)
    assert rec["monitor_energy_rmse_meV_per_atom"] == pytest.approx(last, rel=1e-6)


def test_bundled_quick_config_loads_by_name_and_matches_examples(tmp_path, monkeypatch):
    """`ldrx bench quick` (the README's first command) finds the configuration shipped in the package from any
    folder; examples/quick.toml is the same file, so the two cannot drift apart."""
    from pathlib import Path
    from ldrx.benchmark.config import bundled_configs, load_config
    monkeypatch.chdir(tmp_path)                       # not the source tree: the bundled copy must be found
    cfg = load_config("quick")                       # builds every model: hyper-parameters are valid
    assert cfg.data == "example" and len(cfg.sizes) >= 3
    assert {m.family for m in cfg.models} >= {"ann", "snap", "qsnap", "mtp", "gap"}
    example = Path(__file__).resolve().parent.parent / "examples" / "quick.toml"
    assert example.read_bytes() == bundled_configs()["quick"].read_bytes()
    with pytest.raises(FileNotFoundError, match="quick"):
        load_config("no-such-config")                 # the message lists the bundled names


def test_epochs_figure_takes_mtp_iterations(tmp_path):
    """MTP records L-BFGS iterations ("iter") and no test errors; ANN records epochs with test errors: both
    go into fig_epochs (it failed with a KeyError on MTP's history)."""
    from ldrx.benchmark.figures import fig_epochs
    ann = [{"epoch": e, "time_s": 0.1 * e, "train_energy_rmse_meV_per_atom": 50.0 / e,
            "monitor_energy_rmse_meV_per_atom": 60.0 / e} for e in range(1, 6)]
    mtp = [{"iter": i, "time_s": 0.2 * i, "loss": 1.0 / i, "train_energy_rmse_meV_per_atom": 80.0 / i}
           for i in range(1, 6)]
    path = fig_epochs(tmp_path / "e.png", {("ann", 10): ann, ("ann", 20): ann, ("mtp", 10): mtp}, 1)
    assert path.exists() and path.stat().st_size > 1000


def test_cell_digest_covers_the_family_defaults():
    """A resumed run must not keep cells trained under other defaults: the digest is taken over every
    hyper-parameter after the family's defaults are filled in (spelling a default out changes nothing)."""
    from ldrx.benchmark.config import ModelSpec
    base = ModelSpec("s", "snap", {"seed": 0}).digest()
    default_twojmax = ldrx.models.make_model("snap").hyper.twojmax
    assert ModelSpec("s", "snap", {"seed": 0, "twojmax": default_twojmax}).digest() == base
    assert ModelSpec("s", "snap", {"seed": 0, "twojmax": default_twojmax - 2}).digest() != base
    assert ModelSpec("a", "ann", {"progress": False}).digest() == ModelSpec("a", "ann", {}).digest()
