"""Metrics, tables and parity plots: the same for every model family.

Energies are compared per atom (meV/atom), forces per Cartesian component (eV/Å), as in the LDR
benchmark (Choyal, Sagar, Sai Gautam, JCTC 2024).
"""

from __future__ import annotations

import numpy as np

from .data import Dataset, as_dataset
from .models.base import Prediction


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


def _subset_prediction(pred: Prediction, data: Dataset, keep) -> Prediction:
    keep = np.asarray(keep, bool)
    atoms = np.repeat(keep, data.natoms)
    return Prediction(pred.energy[keep], None if pred.forces is None else pred.forces[atoms],
                      None if pred.stress is None else pred.stress[keep])


def in_domain(model, data):
    """(`data` without the frames `model` flags as extrapolations, their ids): the README's test*. A frame is
    flagged when a pair of its atoms is closer than the model's training set had them (Model.check_domain)."""
    data = as_dataset(data)
    flagged = [f for f, _ in model.check_domain(data, warn=False)]
    return data.subset(np.setdiff1d(np.arange(len(data)), flagged)), [data.ids[f] for f in flagged]


def metrics_rows(model, sets: dict) -> dict:
    """{row name: errors} for {name: Dataset}, empty sets left out. Where the model flags frames as
    extrapolations (Model.check_domain), a second row 'name*' gives the errors without them, and the row
    name says how many were left out (the README's test*)."""
    import warnings

    from .errors import ExtrapolationWarning
    rows = {}
    for name, data in sets.items():
        data = as_dataset(data)
        if len(data) == 0:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExtrapolationWarning)
            pred = model.predict(data, forces=True, stress=False)
        rows[name] = errors(pred, data)
        flagged = [f for f, _ in model.check_domain(data, warn=False)]
        if flagged and len(flagged) < len(data):
            keep = np.ones(len(data), bool)
            keep[flagged] = False
            rows[f"{name}* (without {len(flagged)} extrapolated)"] = errors(_subset_prediction(pred, data, keep),
                                                                            data.subset(np.flatnonzero(keep)))
    return rows


def write_predictions(data: Dataset, pred: Prediction, out=None):
    """Write predictions: ``.extxyz`` / ``.xyz`` (structures with energy, forces and stress, as ASE writes
    them), or a table (``.csv``; ``.txt``, ``.dat`` or None: aligned text, None to stdout) of energies,
    energies per atom and stress per structure."""
    import sys
    kind = "table" if out is None else _prediction_format(out)
    if kind == "extxyz":
        import ase.io
        from ase.calculators.singlepoint import SinglePointCalculator
        frames = []
        for f, atoms in enumerate(data.to_atoms()):
            a0, a1 = data.offsets[f], data.offsets[f + 1]
            res = {"energy": float(pred.energy[f]), "forces": pred.forces[a0:a1]}
            if pred.stress is not None and np.isfinite(pred.stress[f]).all():
                res["stress"] = pred.stress[f]
            atoms.calc = None
            atoms.info.pop("energy", None)
            atoms.calc = SinglePointCalculator(atoms, **res)
            frames.append(atoms)
        ase.io.write(out, frames, format="extxyz")
        return
    sep = "," if kind == "csv" else "  "
    head = ["structure", "atoms", "formula", "energy_eV", "energy_per_atom_eV", "stress_xx_eV_A3", "stress_yy",
            "stress_zz", "stress_yz", "stress_xz", "stress_xy"]
    lines = [sep.join(head)]
    for f in range(len(data)):
        a0, a1 = data.offsets[f], data.offsets[f + 1]
        st = pred.stress[f] if pred.stress is not None else np.full(6, np.nan)
        formula = _formula(data.numbers[a0:a1])
        lines.append(sep.join([data.ids[f], str(a1 - a0), formula, f"{pred.energy[f]:.6f}",
                               f"{pred.energy[f] / (a1 - a0):.6f}"] + [f"{v:.6g}" for v in st]))
    text = "\n".join(lines) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        from .data import atomic_write
        atomic_write(out, lambda fh: fh.write(text.encode()))


def _formula(numbers):
    from ase import Atoms
    return Atoms(numbers=numbers).get_chemical_formula()


def _prediction_format(out):
    low = str(out).lower()
    if low.endswith((".extxyz", ".xyz")):
        return "extxyz"
    if low.endswith(".csv"):
        return "csv"
    if low.endswith((".txt", ".dat", ".tsv")):
        return "text"
    raise ValueError(f"-o {out}: write .extxyz or .xyz (structures with energy, forces, stress) or a table "
                     f".csv, .txt or .dat (energies and stress per structure)")


def _energy_per_atom(model, data, energy):
    """Energies per atom relative to the model's per-species reference energies (eV/atom), so that errors
    of a few meV/atom are visible on the axes; raw energies per atom where the model has none."""
    refs = getattr(model, "reference_energies", None)
    base = data.reference_energy(refs) if refs else 0.0
    return (energy - base) / data.natoms


def parity_plot(model, frames, path, title: str | None = None):
    """Parity plots a paper can use, written to `path` (PNG, 200 dpi): (a) energies per atom relative to
    the model's per-species reference energies, (b) histogram of the per-atom energy errors, (c) force
    components with hexbin density shading. `frames` is a Dataset or {name: Dataset} (e.g. train and
    test, drawn in different colours); frames the model flags as extrapolations are marked with crosses;
    every panel states N, MAE and RMSE, without the extrapolated frames (which the tables report in their own
    rows; off-scale ones are drawn at the edge and their values given). Returns {name: errors} of all frames."""
    import warnings

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    from .errors import ExtrapolationWarning
    sets = frames if isinstance(frames, dict) else {"data": frames}
    sets = {k: as_dataset(v) for k, v in sets.items() if len(as_dataset(v))}
    colours = {"train": "0.55", "test": "tab:blue", "unseen": "tab:blue"}
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.8))
    out = {}
    force_set = None
    lo, hi = np.inf, -np.inf
    errs, off_scale = {}, []
    for k, (name, data) in enumerate(sets.items()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExtrapolationWarning)
            pred = model.predict(data, forces=True, stress=False)
        m = errors(pred, data)
        out[name] = m
        c = colours.get(name, f"C{k}")
        flagged = np.zeros(len(data), bool)
        flagged[[f for f, _ in model.check_domain(data, warn=False)]] = True
        ok = np.isfinite(data.energy)
        x = _energy_per_atom(model, data, np.nan_to_num(data.energy))
        y = _energy_per_atom(model, data, pred.energy)
        good = ok & ~flagged
        # N, MAE, RMSE without the extrapolated frames where there are any (their own row in the tables)
        keep = ~flagged
        mk = errors(_subset_prediction(pred, data, keep), data.subset(np.flatnonzero(keep))) if flagged.any() else m
        star = f" (without {flagged.sum()} extrapolated)" if flagged.any() else ""
        ax[0].scatter(x[good], y[good], s=10 if name == "train" else 16, c=c, alpha=0.7, lw=0,
                      label=f"{name}{star}: N={good.sum()}, MAE {mk['energy_mae_meV_per_atom']:.1f}, "
                            f"RMSE {mk['energy_rmse_meV_per_atom']:.1f} meV/atom")
        if good.any():
            lo, hi = min(lo, x[good].min(), y[good].min()), max(hi, x[good].max(), y[good].max())
        fl = ok & flagged
        if fl.any():
            off_scale.append((name, x[fl], y[fl]))
        errs[name] = ((y[good] - x[good]) * 1000.0, c)
        fok = np.isfinite(data.forces) & np.repeat(keep, data.natoms)[:, None]
        if pred.forces is not None and fok.any() and (force_set is None or name != "train"):
            force_set = (name + star, data.forces[fok], pred.forces[fok], mk)
    if np.isfinite(lo):
        pad = 0.05 * (hi - lo + 1e-3)
        lo, hi = lo - pad, hi + pad
        ax[0].plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax[0].set_xlim(lo, hi)
        ax[0].set_ylim(lo, hi)
        for name, xs, ys in off_scale:
            inside = (xs > lo) & (xs < hi) & (ys > lo) & (ys < hi)
            what = ", ".join(f"{a:.2f} → {b:.2f}" for a, b in zip(xs[~inside][:3], ys[~inside][:3]))
            ax[0].scatter(np.clip(xs, lo, hi), np.clip(ys, lo, hi), s=80, marker="x", c="tab:red", lw=1.8, clip_on=False, zorder=5,
                          label=f"{name}: extrapolation, {len(xs)} frame{'s' if len(xs) > 1 else ''}"
                                + (f" (off scale, DFT → predicted eV/atom: {what})" if what else ""))
    ref = "relative to the per-species reference energies" if getattr(model, "reference_energies", None) else ""
    ax[0].set_xlabel(f"DFT energy (eV/atom){chr(10) + ref if ref else ''}")
    ax[0].set_ylabel("predicted energy (eV/atom)")
    ax[0].legend(fontsize=7, loc="upper left")
    ax[0].set_title("(a) energies")
    allerr = np.concatenate([e for e, _ in errs.values()]) if errs else np.zeros(0)
    if allerr.size:
        lim = float(np.percentile(np.abs(allerr), 99.5)) * 1.05 + 1e-6
        bins = np.linspace(-lim, lim, 41)
        for name, (e, c) in errs.items():
            ax[1].hist(np.clip(e, -lim, lim), bins=bins, color=c, alpha=0.55, density=True,
                       label=f"{name} (N={e.size}, RMSE {np.sqrt(np.mean(e ** 2)):.1f})")
    ax[1].axvline(0, c="k", lw=0.8)
    ax[1].set_xlabel("energy error, predicted - DFT (meV/atom)")
    ax[1].set_ylabel("frames (normalised)")
    ax[1].legend(fontsize=8)
    ax[1].set_title("(b) energy errors, extrapolations left out")
    if force_set is not None:
        name, fx, fy, m = force_set
        lim = float(np.percentile(np.abs(np.concatenate([fx, fy])), 99.9)) * 1.05 + 1e-9
        hb = ax[2].hexbin(fx, fy, gridsize=70, extent=(-lim, lim, -lim, lim), norm=LogNorm(), cmap="viridis",
                          mincnt=1)
        fig.colorbar(hb, ax=ax[2], label="force components per bin")
        ax[2].plot([-lim, lim], [-lim, lim], "k--", lw=0.8)
        ax[2].set_xlim(-lim, lim)
        ax[2].set_ylim(-lim, lim)
        ax[2].text(0.03, 0.97, f"{name}\nN={fx.size} components\nMAE {m['forces_mae_eV_per_A']:.3f} eV/Å\n"
                               f"RMSE {m['forces_rmse_eV_per_A']:.3f} eV/Å", transform=ax[2].transAxes, va="top",
                   fontsize=8, bbox=dict(fc="white", ec="0.7"))
        ax[2].set_title(f"(c) forces")
    else:
        ax[2].text(0.5, 0.5, "no forces", ha="center", transform=ax[2].transAxes)
    ax[2].set_xlabel("DFT force component (eV/Å)")
    ax[2].set_ylabel("predicted force component (eV/Å)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=200)
    plt.close(fig)
    return out if isinstance(frames, dict) else out["data"]


def benchmark(config, out_dir, progress: bool = True, figures: bool = True) -> list:
    """The LDR benchmark of a TOML configuration (path or dict) into `out_dir`: results.json, results.md,
    figures; resumes finished cells. See :mod:`ldrx.benchmark`."""
    from .benchmark import run
    return run(config, out_dir, progress=progress, figures=figures)
