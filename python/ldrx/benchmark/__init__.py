"""The LDR benchmark as one call: every model of a TOML configuration on one shared split, over a
learning curve of training-set sizes, with errors, training time, peak memory, tables and figures.

    import ldrx
    records = ldrx.evaluate.benchmark("examples/bench-sample.toml", "bench-out")

or ``ldrx bench examples/bench-sample.toml --out bench-out``. The protocol follows the LDR benchmark
(Choyal, Sagar, Sai Gautam, J. Chem. Theory Comput. 2024): one random 90:10 split of the data, shared by
every model; nested training subsets of the training part (each smaller set is contained in every
larger one), all tested on the same test set, so the learning curves differ only in the training data.

Output in DIR:
  results.json   list of records, one per (model, size, split): errors (meV/atom, eV/Å), train_s,
                 peak_rss_gb, threads, ...
  results.md     the same as Markdown tables, with the train-test gap
  fig_errors.png, fig_train_time.png, fig_epochs.png, parity_<model>.png
  cells/         one record per finished (model, size) cell; a re-run skips those (resume)
  models/        the fitted models (<model>-<size>.ldrx), predictions/ the parity data, logs/ each
                 training's output
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from .config import BenchConfig, ConfigError, ModelSpec, load_config, parse_config

__all__ = ["run", "load_config", "parse_config", "BenchConfig", "ConfigError", "ModelSpec", "prepare_splits"]

RECORD_KEYS = ("model", "family", "size", "split", "energy_rmse_meV_per_atom", "energy_mae_meV_per_atom",
               "forces_rmse_eV_per_A", "forces_mae_eV_per_A", "train_s", "peak_rss_gb", "threads")


def _read_data(cfg: BenchConfig):
    import ldrx
    path = ldrx.io.example_data_path() if cfg.data == "example" else cfg.data
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = ldrx.read(path, on_error="raise" if cfg.strict else "skip")
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    if len(data) < 2:
        raise ConfigError(f"{cfg.source}: 'data': {path} holds {len(data)} usable frame(s), too few to split")
    return data


def prepare_splits(cfg: BenchConfig, data):
    """(pool, test, {size: indices into pool}): one random split of `data` (cfg.test_fraction, cfg.seed)
    and nested random training subsets of its training part, one per size (sorted ascending)."""
    pool, test = data.split(cfg.test_fraction, seed=cfg.seed)
    sizes = []
    for s in cfg.sizes:
        n = len(pool) if s == "all" else int(s)
        if n > len(pool):
            raise ConfigError(f"{cfg.source}: 'sizes': {n} is larger than the training part of the data "
                              f"({len(pool)} of {len(data)} frames with test_fraction {cfg.test_fraction}); "
                              f"use \"all\" for all of it")
        sizes.append(n)
    sizes = sorted(set(sizes))
    perm = np.random.default_rng([cfg.seed, 1]).permutation(len(pool))
    return pool, test, {n: np.sort(perm[:n]) for n in sizes}


def _cell_name(model: str, size: int) -> str:
    return f"{model}-{size}"


def run(config, out_dir, progress: bool = True, figures: bool = True, python: str | None = None) -> list:
    """Run (or resume) the benchmark of `config` (TOML path, dict or BenchConfig) into `out_dir`;
    returns the records (also written to out_dir/results.json)."""
    cfg = load_config(config)
    out = Path(out_dir)
    for sub in ("cells", "models", "predictions", "logs", "data"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    data = _read_data(cfg)
    pool, test, subsets = prepare_splits(cfg, data)
    split_digest = cfg.split_digest()
    import ldrx
    root = str(ldrx.io.example_data_path() if cfg.data == "example" else cfg.data)

    def rel(i):  # frame ids relative to the data folder: the same split.json on every machine
        return os.path.relpath(i, root) if os.path.isdir(root) and str(i).startswith(root + os.sep) else i
    with open(out / "split.json", "w") as f:
        json.dump({"data": str(cfg.data), "n_frames": len(data), "seed": cfg.seed,
                   "test_fraction": cfg.test_fraction, "test_ids": [rel(i) for i in test.ids],
                   "train_ids": {str(n): [rel(pool.ids[i]) for i in idx] for n, idx in subsets.items()}}, f, indent=0)
    pool_path, test_path = out / "data" / "train_pool.npz", out / "data" / "test.npz"

    cells = [(m, n) for m in cfg.models for n in subsets]
    todo = []
    for m, n in cells:
        rec_path = out / "cells" / f"{_cell_name(m.name, n)}.json"
        digest = f"{split_digest}-{m.digest()}-{n}"
        if rec_path.exists():
            try:
                with open(rec_path) as f:
                    if json.load(f).get("config_digest") == digest:
                        continue
            except (OSError, ValueError):
                pass
            print(f"note: {rec_path.name} was computed with another configuration; recomputing", file=sys.stderr)
        todo.append((m, n, digest))
    if todo:
        for d, p in ((pool, pool_path), (test, test_path)):
            d.save(p)

    from tqdm.auto import tqdm
    bar = tqdm(total=len(cells), initial=len(cells) - len(todo), desc="benchmark", unit="cell",
               disable=not progress, dynamic_ncols=True)
    for m, n, digest in todo:
        name = _cell_name(m.name, n)
        bar.set_description(f"{m.name} ({m.family}), {n} train frames")
        cell = {"model": m.name, "family": m.family, "size": n, "hyper": m.hyper, "threads": cfg.threads,
                "config_digest": digest}
        _train_cell(cell, pool, pool_path, test_path, subsets[n], out, name, python)
        bar.update(1)
    bar.close()

    records, histories = collect(out, cfg, subsets)
    write_results(out, cfg, records)
    if figures:
        from .figures import make_figures
        make_figures(out, cfg, records, histories, max(subsets))
    return records


def _train_cell(cell, pool, pool_path, test_path, idx, out, name, python):
    train_path = out / "data" / f"train_{len(idx)}.npz"
    if not train_path.exists():
        pool.subset(idx).save(train_path)
    cell.update(train=str(train_path), test=str(test_path), model_path=str(out / "models" / f"{name}.ldrx"),
                pred_path=str(out / "predictions" / f"{name}.npz"),
                record_path=str(out / "cells" / f"{name}.json"))
    cell_path = out / "cells" / f"{name}.cell"
    with open(cell_path, "w") as f:
        json.dump(cell, f, indent=1)
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(cell["threads"])
    env["MKL_NUM_THREADS"] = str(cell["threads"])
    env["OPENBLAS_NUM_THREADS"] = str(cell["threads"])
    pkg_root = str(Path(__file__).resolve().parents[2])  # the folder that holds ldrx/
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    log = out / "logs" / f"{name}.log"
    t = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.run([python or sys.executable, "-m", "ldrx.benchmark.worker", str(cell_path)],
                              stdout=f, stderr=subprocess.STDOUT, env=env)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"training {cell['model']} ({cell['family']}) on {len(idx)} frames failed after "
                           f"{time.perf_counter() - t:.0f} s: {tail[0]} (full log: {log})")


def collect(out: Path, cfg: BenchConfig, subsets) -> tuple:
    """Records of every finished cell of this configuration (models in config order, sizes ascending)
    and the per-epoch histories {(model, size): [...]}."""
    records, histories = [], {}
    for m in cfg.models:
        for n in subsets:
            p = out / "cells" / f"{_cell_name(m.name, n)}.json"
            if not p.exists():
                continue
            with open(p) as f:
                cell = json.load(f)
            if not any("n_extrapolated" in r for r in cell["records"]):
                cell = _add_domain_errors(out, m, n, p, cell)
            records.extend(cell["records"])
            if cell.get("history"):
                histories[(m.name, n)] = cell["history"]
    return records, histories


def _add_domain_errors(out: Path, m, n, path: Path, cell: dict) -> dict:
    """A cell recorded before test* existed: its saved model predicts the test set once more, and the record
    gains the errors without extrapolated frames (no retraining)."""
    import ldrx
    from ldrx.data import Dataset
    from .worker import domain_errors
    model_path, test_path = out / "models" / f"{_cell_name(m.name, n)}.ldrx", out / "data" / "test.npz"
    if not (model_path.exists() and test_path.exists()):
        return cell
    from ..errors import ExtrapolationWarning
    model, test = ldrx.load(model_path), Dataset.load(test_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        pred = model.predict(test, forces=True, stress=False)
    for r in cell["records"]:
        if r["split"] == "test":
            r.update(domain_errors(model, test, pred))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(cell, indent=1))
    os.replace(tmp, path)
    return cell


def _fmt(x, nd):
    return "–" if x is None or not np.isfinite(x) else f"{x:.{nd}f}"


def _star(rec, key, nd):
    """test* cell: the error without extrapolated frames, with their count where there are any."""
    v = rec.get(f"{key}_in_domain")
    k = rec.get("n_extrapolated")
    if v is None or k is None:
        return "–"
    return _fmt(v, nd) + (f" ({k})" if k else "")


def results_markdown(cfg: BenchConfig, records: list) -> str:
    by = {(r["model"], r["size"], r["split"]): r for r in records}
    keys = sorted({(r["model"], r["size"]) for r in records},
                  key=lambda k: ([m.name for m in cfg.models].index(k[0]) if k[0] in [m.name for m in cfg.models]
                                 else 99, k[1]))
    lines = [f"# {cfg.title}", "",
             f"Data: `{cfg.data}`; one random split (test fraction {cfg.test_fraction}, seed {cfg.seed}) shared "
             f"by every model, nested training subsets; {cfg.threads} thread(s) per training. Energies in "
             f"meV/atom, forces per Cartesian component in eV/Å; gap = test − train RMSE; peak RSS = peak "
             f"resident memory of the training process (interpreter and data included); test* = the test set without "
             f"the frames the model flags as extrapolations (atoms closer than in any training frame; their number "
             f"in brackets).", "",
             "| model | family | train frames | E RMSE train | E RMSE test | E RMSE test* | E gap | E MAE test | "
             "F RMSE train | F RMSE test | F RMSE test* | F gap | F MAE test | train time (s) | peak RSS (GB) | "
             "threads |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for m, n in keys:
        tr, te = by.get((m, n, "train")), by.get((m, n, "test"))
        if tr is None or te is None:
            continue
        eg = te["energy_rmse_meV_per_atom"] - tr["energy_rmse_meV_per_atom"]
        fg = te["forces_rmse_eV_per_A"] - tr["forces_rmse_eV_per_A"]
        lines.append(f"| {m} | {tr['family']} | {n} | {_fmt(tr['energy_rmse_meV_per_atom'], 1)} | "
                     f"{_fmt(te['energy_rmse_meV_per_atom'], 1)} | {_star(te, 'energy_rmse_meV_per_atom', 1)} | "
                     f"{_fmt(eg, 1)} | {_fmt(te['energy_mae_meV_per_atom'], 1)} | "
                     f"{_fmt(tr['forces_rmse_eV_per_A'], 3)} | {_fmt(te['forces_rmse_eV_per_A'], 3)} | "
                     f"{_star(te, 'forces_rmse_eV_per_A', 3)} | {_fmt(fg, 3)} | "
                     f"{_fmt(te['forces_mae_eV_per_A'], 3)} | {_fmt(tr['train_s'], 1)} | {_fmt(tr['peak_rss_gb'], 2)} | "
                     f"{tr['threads']} |")
    lines += ["", "Models (family and hyper-parameters as configured; everything else is the family's default):", ""]
    for m in cfg.models:
        hyper = ", ".join(f"{k}={v!r}" for k, v in m.hyper.items())
        lines.append(f"- `{m.name}`: {m.family}; {hyper}")
    return "\n".join(lines) + "\n"


def write_results(out: Path, cfg: BenchConfig, records: list):
    from ..data import atomic_write

    def clean(r):
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()}
    text = json.dumps([clean(r) for r in records], indent=1)
    atomic_write(out / "results.json", lambda f: f.write(text.encode()))
    md = results_markdown(cfg, records)
    atomic_write(out / "results.md", lambda f: f.write(md.encode()))
