"""One benchmark cell (model x training-set size) in its own process:

    python -m ldrx.benchmark.worker CELL.json

CELL.json names the training and test sets (ldrx dataset .npz), the family and hyper-parameters, the
thread count and the output paths. A fresh process per cell makes the peak memory of training
measurable (the process's peak resident set size, ``getrusage(RUSAGE_SELF).ru_maxrss``, which includes
the interpreter, the imported libraries and the loaded data: ``base_rss_gb`` records that baseline, read
just before training starts) and keeps one model's threads or leaks from touching the next.
"""

from __future__ import annotations

import inspect
import json
import os
import resource
import sys
import time

import numpy as np


def _rss_now_gb() -> float:
    """Current resident set size (GB) from /proc (Linux); NaN elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e9
    except (OSError, ValueError, IndexError):
        return float("nan")


def _peak_rss_gb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1e9 if sys.platform == "darwin" else 1e6)  # bytes on macOS, kB on Linux


def run_cell(cell: dict) -> dict:
    import ldrx
    from ldrx.data import Dataset
    from ldrx.evaluate import errors
    from ldrx.models import make_model
    from .config import _as_python

    threads = int(cell["threads"])
    ldrx.set_num_threads(threads)
    try:  # families built on torch (nequip) honour torch's own thread count
        import torch
        torch.set_num_threads(threads)
    except ImportError:
        pass
    train = Dataset.load(cell["train"])
    test = Dataset.load(cell["test"])
    model = make_model(cell["family"], **_as_python(cell["hyper"]))
    kw = {}
    if "monitor" in inspect.signature(model.fit).parameters:
        kw["monitor"] = test  # per-epoch test errors for the epochs figure; never used for selection
    base = _rss_now_gb()
    t = time.perf_counter()
    model.fit(train, **kw)
    train_s = time.perf_counter() - t
    peak = _peak_rss_gb()
    model.save(cell["model_path"])

    records, preds = [], {}
    for split, data in (("train", train), ("test", test)):
        t = time.perf_counter()
        pred = model.predict(data, forces=True, stress=False)
        pred_s = time.perf_counter() - t
        m = errors(pred, data)
        records.append({"model": cell["model"], "family": cell["family"], "size": int(cell["size"]),
                        "split": split, "n_frames": len(data), "n_atoms": int(data.n_atoms),
                        "energy_rmse_meV_per_atom": m["energy_rmse_meV_per_atom"],
                        "energy_mae_meV_per_atom": m["energy_mae_meV_per_atom"],
                        "forces_rmse_eV_per_A": m["forces_rmse_eV_per_A"],
                        "forces_mae_eV_per_A": m["forces_mae_eV_per_A"],
                        "train_s": train_s, "predict_us_per_atom": 1e6 * pred_s / max(data.n_atoms, 1),
                        "peak_rss_gb": peak, "base_rss_gb": base, "threads": threads})
        preds[f"{split}_energy_ref"] = data.energy / data.natoms
        preds[f"{split}_energy_pred"] = pred.energy / data.natoms
        preds[f"{split}_forces_ref"] = data.forces.reshape(-1)
        preds[f"{split}_forces_pred"] = (np.full(data.forces.size, np.nan) if pred.forces is None
                                         else pred.forces.reshape(-1))
    records[1].update(domain_errors(model, test, pred))  # test*: the test set without extrapolated frames
    np.savez_compressed(cell["pred_path"], **preds)
    history = [{k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in rec.items()}
               for rec in getattr(model, "history", None) or []]
    out = {"records": records, "history": history, "config_digest": cell["config_digest"]}
    tmp = cell["record_path"] + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1)
    os.replace(tmp, cell["record_path"])  # the record appears last: its presence marks the cell done
    return out


def domain_errors(model, data, pred) -> dict:
    """The errors on the frames of `data` the model does not flag as extrapolations (Model.check_domain: atoms
    closer than in any training frame; the README's test*), as ``*_in_domain`` keys, and how many were flagged.
    With no frame flagged they equal the full-set errors."""
    from ldrx.evaluate import _subset_prediction, errors
    flagged = [f for f, _ in model.check_domain(data, warn=False)]
    keep = np.ones(len(data), bool)
    keep[flagged] = False
    out = {"n_extrapolated": len(flagged)}
    keys = ("energy_rmse_meV_per_atom", "energy_mae_meV_per_atom", "forces_rmse_eV_per_A", "forces_mae_eV_per_A")
    if keep.any():
        m = errors(_subset_prediction(pred, data, keep), data.subset(np.flatnonzero(keep)))
        out.update({f"{k}_in_domain": m[k] for k in keys})
    else:
        out.update({f"{k}_in_domain": float("nan") for k in keys})
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0]) as f:
        cell = json.load(f)
    run_cell(cell)
    return 0


if __name__ == "__main__":
    sys.exit(main())
