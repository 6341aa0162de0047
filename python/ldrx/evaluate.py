"""Metrics, tables and parity plots: the same for every model family.

Energies are compared per atom (meV/atom), forces per Cartesian component (eV/Å), as in the LDR
benchmark (Choyal, Sagar, Sai Gautam, JCTC 2024).
"""

from __future__ import annotations

import numpy as np

from .data import Dataset
from .models.base import Prediction, as_dataset


def errors(pred: Prediction, data: Dataset, comm=None) -> dict:
    """RMSE and MAE of energies (meV/atom) and forces (eV/Å, per component) of a prediction against
    the labels of `data`. Frames or atoms without labels are left out; a quantity without any labels
    gives NaN. With an MPI `comm` (ldrx.parallel), `data` is this rank's shard: the residuals are gathered
    in rank order and every rank returns the metrics of the whole set."""
    from .parallel import SERIAL, gather_concat
    comm = SERIAL if comm is None else comm
    out = {}
    ok = np.isfinite(data.energy)
    de = gather_concat((pred.energy[ok] - data.energy[ok]) / data.natoms[ok] * 1000.0, comm)
    out["energy_rmse_meV_per_atom"] = float(np.sqrt(np.mean(de ** 2))) if de.size else float("nan")
    out["energy_mae_meV_per_atom"] = float(np.mean(np.abs(de))) if de.size else float("nan")
    if pred.forces is not None:
        fok = np.isfinite(data.forces)
        df = gather_concat((pred.forces - np.nan_to_num(data.forces))[fok], comm)
        out["forces_rmse_eV_per_A"] = float(np.sqrt(np.mean(df ** 2))) if df.size else float("nan")
        out["forces_mae_eV_per_A"] = float(np.mean(np.abs(df))) if df.size else float("nan")
    else:
        out["forces_rmse_eV_per_A"] = out["forces_mae_eV_per_A"] = float("nan")
    out["n_frames"] = int(sum(comm.allgather(int(ok.sum()))))
    out["n_force_components"] = int(sum(comm.allgather(int(np.isfinite(data.forces).sum()))))
    return out


def metrics(model, frames, forces: bool = True, comm=None) -> dict:
    """{"energy_rmse_meV_per_atom", "energy_mae_meV_per_atom", "forces_rmse_eV_per_A",
    "forces_mae_eV_per_A", ...} of `model` on labelled frames (with an MPI `comm`: this rank's shard of
    them; every rank gets the metrics of all shards)."""
    from .parallel import as_comm
    comm = as_comm(comm)
    data = as_dataset(frames)
    if comm.size == 1:
        pred = model.predict(data, forces=forces, stress=False)
    else:  # every rank takes part in the check, also one holding no frames of a small test set
        pred = comm.check(lambda: model.predict(data, forces=forces, stress=False) if len(data) else
                          Prediction(np.zeros(0), np.zeros((0, 3)) if forces else None))
    return errors(pred, data, comm)


def table(rows: dict, title: str | None = None) -> str:
    """Plain-text table of {name: metrics dict}, units in the header."""
    cols = [("energy_rmse_meV_per_atom", "E RMSE (meV/atom)"), ("energy_mae_meV_per_atom", "E MAE (meV/atom)"),
            ("forces_rmse_eV_per_A", "F RMSE (eV/Å)"), ("forces_mae_eV_per_A", "F MAE (eV/Å)")]
    w0 = max([len(k) for k in rows] + [5])
    head = f"{'set':<{w0}}  " + "  ".join(f"{h:>17s}" for _, h in cols)
    lines = ([title] if title else []) + [head, "-" * len(head)]
    for name, m in rows.items():
        lines.append(f"{name:<{w0}}  " + "  ".join(f"{m.get(k, float('nan')):17.4f}" for k, _ in cols))
    return "\n".join(lines)


def parity_plot(model, frames, path, title: str | None = None):
    """Energy (per atom) and force parity plots side by side, written to `path` (PNG)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    data = as_dataset(frames)
    pred = model.predict(data, forces=True, stress=False)
    m = errors(pred, data)
    fig, ax = plt.subplots(1, 2, figsize=(10, 4.6))
    ok = np.isfinite(data.energy)
    x, y = data.energy[ok] / data.natoms[ok], pred.energy[ok] / data.natoms[ok]
    ax[0].scatter(x, y, s=8, alpha=0.6)
    lo, hi = min(x.min(), y.min()), max(x.max(), y.max())
    ax[0].plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax[0].set_xlabel("DFT energy (eV/atom)")
    ax[0].set_ylabel("predicted energy (eV/atom)")
    ax[0].set_title(f"energy: RMSE {m['energy_rmse_meV_per_atom']:.1f} meV/atom")
    fok = np.isfinite(data.forces)
    if pred.forces is not None and fok.any():
        fx, fy = data.forces[fok], pred.forces[fok]
        ax[1].scatter(fx, fy, s=3, alpha=0.3)
        lo, hi = min(fx.min(), fy.min()), max(fx.max(), fy.max())
        ax[1].plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax[1].set_title(f"forces: RMSE {m['forces_rmse_eV_per_A']:.3f} eV/Å")
    ax[1].set_xlabel("DFT force component (eV/Å)")
    ax[1].set_ylabel("predicted force component (eV/Å)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return m
