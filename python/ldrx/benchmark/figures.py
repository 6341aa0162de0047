"""The benchmark's figures (PNG, matplotlib), as the LDR paper shows them:

  fig_errors.png      Fig. 4: energy and force RMSE of train and test sets, one column per model, against
                      training-set size
  fig_train_time.png  Fig. 5: training wall time against training-set size, every model
  fig_epochs.png      Fig. 6: for models that record a per-step history (ANN: epochs, with test errors; MTP:
                      L-BFGS iterations, training errors): cumulative training time and energy RMSE against
                      the step, one line per training-set size
  parity_<model>.png  energies (eV/atom) and force components (eV/Å), test (and train) set, largest size
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _series(records, model, split, key):
    rows = sorted((r["size"], r[key]) for r in records if r["model"] == model and r["split"] == split)
    x = np.array([s for s, _ in rows], float)
    y = np.array([np.nan if v is None else v for _, v in rows], float)
    return x, y


def make_figures(out: Path, cfg, records, histories, largest: int):
    out = Path(out)
    models = [m for m in cfg.models if any(r["model"] == m.name for r in records)]
    if not models:
        return []
    files = [fig_errors(out / "fig_errors.png", models, records),
             fig_train_time(out / "fig_train_time.png", models, records, cfg.threads)]
    timed = {k: h for k, h in histories.items() if h and "time_s" in h[0]}  # per-epoch times (ANN)
    if timed:
        files.append(fig_epochs(out / "fig_epochs.png", timed, cfg.threads))
    for m in models:
        sizes = sorted({r["size"] for r in records if r["model"] == m.name})
        p = out / "predictions" / f"{m.name}-{sizes[-1]}.npz"
        if p.exists():
            files.append(fig_parity(out / f"parity_{m.name}.png", p, m, sizes[-1]))
    return files


def fig_errors(path, models, records):
    plt = _plt()
    nm = len(models)
    fig, ax = plt.subplots(2, nm, figsize=(3.2 * nm + 1.0, 6.4), squeeze=False, sharex=False)
    handles = {}
    for j, m in enumerate(models):
        for i, (key, label) in enumerate((("energy_rmse_meV_per_atom", "energy RMSE (meV/atom)"),
                                          ("forces_rmse_eV_per_A", "force RMSE (eV/Å)"))):
            a = ax[i, j]
            shown = []
            for split, style in (("train", dict(ls="--", marker="o", mfc="white")), ("test", dict(ls="-", marker="s"))):
                x, y = _series(records, m.name, split, key)
                if np.isfinite(y).any():
                    a.plot(x, y, label=split, **style)
                    shown.append((split, x, y))
            # test*: without the frames flagged as extrapolations, drawn where any test frame was flagged
            flagged = [r for r in records if r["model"] == m.name and r["split"] == "test" and r.get("n_extrapolated")]
            if flagged:
                xs, ys = _series([r for r in records if f"{key}_in_domain" in r], m.name, "test", f"{key}_in_domain")
                k = max(r["n_extrapolated"] for r in flagged)
                a.plot(xs, ys, ls=":", marker="^", color="C2", label="test* (without frames flagged as extrapolations)")
                if i == 0:
                    a.set_title(f"{m.name} ({m.family})\n{k} test frame{'s' if k > 1 else ''} flagged", fontsize=10)
                x_te, y_te = next(((x, y) for s, x, y in shown if s == "test"), (None, None))
                inner = np.nanmax(np.concatenate([y for s, _, y in shown if s == "train"] + [ys]))
                if y_te is not None and np.nanmax(y_te) > 3 * inner:
                    top = 1.5 * inner  # one extrapolated frame would flatten every other curve: clip it
                    a.set_ylim(0, top)
                    a.margins(x=0.15)
                    for xv, yv in zip(x_te, y_te):
                        if yv > top:
                            a.annotate(f"test {yv:.3g} ↑", (xv, top), xytext=(0, -12), textcoords="offset points",
                                       ha="center", fontsize=7, color="C1",
                                       arrowprops=dict(arrowstyle="-|>", color="C1", lw=0.8))
            a.set_xlabel("training structures")
            if j == 0:
                a.set_ylabel(label)
            if i == 0 and not flagged:
                a.set_title(f"{m.name} ({m.family})", fontsize=10)
            a.grid(alpha=0.3)
            a.set_ylim(bottom=0)
            for h, lab in zip(*a.get_legend_handles_labels()):
                handles.setdefault(lab, h)
    fig.suptitle("Learning curves: train and test RMSE against training-set size")
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    fig.legend(handles.values(), handles.keys(), loc="upper center", ncol=len(handles), fontsize=9,
               bbox_to_anchor=(0.5, 0.95), frameon=False)  # one legend: the panels keep their space
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def fig_train_time(path, models, records, threads):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for m in models:
        x, y = _series(records, m.name, "train", "train_s")
        ax.plot(x, y, marker="o", label=f"{m.name} ({m.family})")
    ax.set_xlabel("training structures")
    ax.set_ylabel("training wall time (s)")
    ax.set_yscale("log")
    ax.set_title(f"Training time against training-set size ({threads} thread(s))")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def fig_epochs(path, histories, threads):
    plt = _plt()
    models = list(dict.fromkeys(m for m, _ in histories))
    fig, ax = plt.subplots(len(models), 2, figsize=(11, 4.0 * len(models)), squeeze=False)
    for i, m in enumerate(models):
        sizes = sorted(n for mm, n in histories if mm == m)
        colors = plt.cm.viridis(np.linspace(0, 0.85, len(sizes)))
        for c, n in zip(colors, sizes):
            h = histories[(m, n)]
            step = "epoch" if "epoch" in h[0] else "iter"  # ANN: epochs; MTP: L-BFGS iterations
            ep = np.array([r.get(step, np.nan) for r in h], float)
            ax[i, 0].plot(ep, [r.get("time_s", np.nan) for r in h], color=c, label=f"{n} structures")
            tr = [r.get("train_energy_rmse_meV_per_atom", np.nan) for r in h]
            te = [r.get("monitor_energy_rmse_meV_per_atom", np.nan) for r in h]
            ax[i, 1].plot(ep, tr, color=c, ls="--", lw=1, label=None if np.isfinite(te).any() else f"{n} structures")
            if np.isfinite(te).any():
                ax[i, 1].plot(ep, te, color=c, lw=1.4, label=f"{n} structures")
        xlabel = "epoch" if step == "epoch" else "L-BFGS iteration"
        ax[i, 0].set_xlabel(xlabel)
        ax[i, 0].set_ylabel("cumulative training time (s)")
        ax[i, 0].set_title(f"{m}: training time ({threads} thread(s))")
        ax[i, 0].legend(fontsize=8)
        ax[i, 0].grid(alpha=0.3)
        ax[i, 1].set_xlabel(xlabel)
        ax[i, 1].set_ylabel("energy RMSE (meV/atom)")
        ax[i, 1].set_yscale("log")
        ax[i, 1].set_ylim(bottom=max(ax[i, 1].get_ylim()[0], 0.1))  # a perfect fit of the training set
        has_test = any(np.isfinite(r.get("monitor_energy_rmse_meV_per_atom", np.nan))
                       for n in sizes for r in histories[(m, n)])
        ax[i, 1].set_title(f"{m}: energy RMSE (test solid, train dashed)" if has_test else
                           f"{m}: training energy RMSE (dashed)")
        ax[i, 1].legend(fontsize=8)
        ax[i, 1].grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _rmse(a, b):
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.sqrt(np.mean((a[ok] - b[ok]) ** 2))) if ok.any() else float("nan")


def fig_parity(path, pred_path, m, size):
    plt = _plt()
    with np.load(pred_path) as z:
        d = {k: z[k] for k in z.files}
    fig, ax = plt.subplots(1, 2, figsize=(10.5, 4.8))
    for split, style in (("train", dict(s=6, alpha=0.35, color="0.6")), ("test", dict(s=10, alpha=0.8, color="C0"))):
        x, y = d[f"{split}_energy_ref"], d[f"{split}_energy_pred"]
        ax[0].scatter(x, y, label=f"{split}: RMSE {1000 * _rmse(x, y):.1f} meV/atom", **style)
        fx, fy = d[f"{split}_forces_ref"], d[f"{split}_forces_pred"]
        ok = np.isfinite(fx) & np.isfinite(fy)
        if ok.any():
            ax[1].scatter(fx[ok], fy[ok], label=f"{split}: RMSE {_rmse(fx, fy):.3f} eV/Å",
                          **{**style, "s": style["s"] / 3, "alpha": style["alpha"] / 2})
    for a in ax:
        lo, hi = a.get_xlim()
        lo2, hi2 = a.get_ylim()
        lo, hi = min(lo, lo2), max(hi, hi2)
        a.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        a.set_xlim(lo, hi)
        a.set_ylim(lo, hi)
        a.grid(alpha=0.3)
        a.legend(fontsize=8, loc="upper left")
    ax[0].set_xlabel("DFT energy (eV/atom)")
    ax[0].set_ylabel("predicted energy (eV/atom)")
    ax[0].set_title("energies")
    ax[1].set_xlabel("DFT force component (eV/Å)")
    ax[1].set_ylabel("predicted force component (eV/Å)")
    ax[1].set_title("forces")
    fig.suptitle(f"{m.name} ({m.family}), {size} training structures")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
