"""The explicit multi-element ("chem") bispectrum next to the plain one, and the radelem rules (issue 13).

    python bench/bench_chem.py cv        # grouped 5-fold CV: SNAP 2J=8 (plain) vs 2J=4 (plain) vs 2J=4 chem (Li / O / TM),
                                         # without and with bnormflag
    python bench/bench_chem.py split     # the seed-0 90:10 split: accuracy, feature counts and fit times
    python bench/bench_chem.py radelem   # grouped 5-fold CV: radelem uniform 0.5 vs covalent[:P] rules
    python bench/bench_chem.py cost      # per-atom µs of compute / backward / force rows, plain vs chem (30 frames)

Data and protocol as bench/bench_select.py (329 frames of the bundled LDR sample, 5 folds grouped by reduced
composition, seed 0, score "paper" = E_rmse / 50 meV/atom + F_rmse / 0.5 eV/Å). Tables: mean ± spread
(standard deviation over the folds) of the held-out RMSE. Run with OMP_NUM_THREADS=1 for comparable timings.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from bench_select import sample, show

TM = ["Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu"]
#: one group each for Li and O, one for the nine transition metals: 27 group triples
LI_O_TM = {"Li": "Li", "O": "O", **{s: "TM" for s in TM}}
SOLVE = {"force_weight": [1e-4, 3e-4], "ridge": [0.01, 0.1, 1.0]}


def descriptors():
    return {"plain 2J=8 (default)": {"twojmax": [8]},
            "plain 2J=4": {"twojmax": [4]},
            "chem Li/O/TM 2J=4": {"twojmax": [4], "chem": [LI_O_TM]},
            "chem Li/O/TM 2J=4 bnormflag": {"twojmax": [4], "chem": [LI_O_TM], "bnormflag": [True]}}


def n_features(hyper):
    from ldrx import _core
    ng = len(set(hyper["chem"].values())) if hyper.get("chem") else 0
    return _core.bispectrum_ncoeff(hyper.get("twojmax", 8), ng)


def cv(args):
    import ldrx
    import ldrx.select as sel
    data = sample()
    print(f"{len(data)} frames, {ldrx.get_num_threads()} thread(s)")
    print("\n| descriptor | components per element | columns | CV time (s) | best force_weight, ridge | E RMSE (meV/atom) | F RMSE (eV/Å) | score |")
    print("|---|---|---|---|---|---|---|---|")
    runs = []
    for name, d in descriptors().items():
        if args.only and not any(name == o for o in args.only.split(";")):
            continue
        t = time.perf_counter()
        res = sel.search(data, "snap", grid={**d, **SOLVE}, folds=5, groups="composition", score="paper", seed=0,
                         refit=False, repulsion=None)
        dt = time.perf_counter() - t
        r = min(res.results, key=lambda r: r["rank"])
        nf = n_features({k: v[0] for k, v in d.items()})
        print(f"| {name} | {nf} | {11 * (nf + 1)} | {dt:.0f} | {r['force_weight']:g}, {r['ridge']:g} | "
              f"{r['energy_rmse_meV_per_atom']:.1f} ± {r['energy_rmse_meV_per_atom_std']:.1f} | "
              f"{r['forces_rmse_eV_per_A']:.3f} ± {r['forces_rmse_eV_per_A_std']:.3f} | {r['score']:.3f} |", flush=True)
        if args.verbose:
            show(res, name)
        runs.append((name, res, r))
    if len(runs) > 1:   # the folds are the same (seeded grouping of the same frames): paired differences
        name0, res0, r0 = runs[0]
        f0 = res0.per_fold[res0.results.index(r0)]
        e0 = np.array([f["energy_rmse_meV_per_atom"] for f in f0])
        g0 = np.array([f["forces_rmse_eV_per_A"] for f in f0])
        print(f"\n| descriptor | E RMSE per fold (meV/atom) | F RMSE per fold (eV/Å) | dE vs {name0} (folds better) | dF vs {name0} |")
        print("|---|---|---|---|---|")
        for name, res, r in runs:
            pf = res.per_fold[res.results.index(r)]
            e = np.array([f["energy_rmse_meV_per_atom"] for f in pf])
            g = np.array([f["forces_rmse_eV_per_A"] for f in pf])
            print(f"| {name} | {' '.join(f'{x:.1f}' for x in e)} | {' '.join(f'{x:.3f}' for x in g)} | "
                  f"{(e - e0).mean():+.1f} ± {(e - e0).std(ddof=1):.1f} ({int((e < e0).sum())}/{len(e)}) | "
                  f"{(g - g0).mean():+.3f} ± {(g - g0).std(ddof=1):.3f} ({int((g < g0).sum())}/{len(g)}) |")


def split(args):
    import ldrx
    import ldrx.evaluate as ev
    data = sample()
    train, test = data.split(0.1, seed=0)
    rows, flagged = {}, set()
    cases = {"snap 2J=8 defaults": {}, "snap 2J=8 radelem covalent:0.25": dict(radelem="covalent:0.25"),
             "snap 2J=4": dict(twojmax=4), "snap 2J=4 chem Li/O/TM": dict(twojmax=4, chem=LI_O_TM),
             "snap 2J=4 chem Li/O/TM bnormflag": dict(twojmax=4, chem=LI_O_TM, bnormflag=True)}
    for name, hyper in cases.items():
        if args.only and not name.startswith(args.only):
            continue
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = ldrx.fit(train, model="snap", progress=False, **hyper)
        dt = time.perf_counter() - t
        rows[f"{name} ({m.ncoeff} comp., fit {dt:.0f} s) test"] = ev.metrics(m, test)
        clean, out = ev.in_domain(m, test)
        flagged.update(i.split("/")[-1] for i in out)
        rows[f"{name} ({m.ncoeff} comp., fit {dt:.0f} s) test*"] = ev.metrics(m, clean)
        print(f"{name}: {m.ncoeff} components, fit {dt:.1f} s", flush=True)
    print(ev.table(rows, title=f"LDR sample, 90:10 split (seed 0): {len(train)} train / {len(test)} test frames, "
                               f"{ldrx.get_num_threads()} thread(s); test* leaves out the frames each model flags as "
                               f"extrapolations (any of: {sorted(flagged)})"))


def paired(res, key):
    """The best setting for each value of `key`, its per-fold RMSE, and the fold-wise differences to the best
    setting of the first value (the baseline): the folds are shared, so the paired differences show whether
    a gain is larger than the fold-to-fold noise."""
    best = {}
    for i, r in sorted(enumerate(res.results), key=lambda x: x[1]["rank"]):
        best.setdefault(str(r.get(key)), i)
    first = str(res.params[0].get(key))
    e0 = np.array([f["energy_rmse_meV_per_atom"] for f in res.per_fold[best[first]]])
    f0 = np.array([f["forces_rmse_eV_per_A"] for f in res.per_fold[best[first]]])
    print(f"\n| {key} | best setting | E RMSE per fold (meV/atom) | F RMSE per fold (eV/Å) | "
          f"dE vs {first} (mean ± sd, folds better) | dF vs {first} |")
    print("|---|---|---|---|---|---|")
    for v, i in best.items():
        r = res.results[i]
        e = np.array([f["energy_rmse_meV_per_atom"] for f in res.per_fold[i]])
        f = np.array([f["forces_rmse_eV_per_A"] for f in res.per_fold[i]])
        print(f"| {v} | {', '.join(f'{k} {_short(x)}' for k, x in res.params[i].items() if k != key)} | "
              f"{' '.join(f'{x:.1f}' for x in e)} | {' '.join(f'{x:.3f}' for x in f)} | "
              f"{(e - e0).mean():+.1f} ± {(e - e0).std(ddof=1):.1f} ({int((e < e0).sum())}/5) | "
              f"{(f - f0).mean():+.3f} ± {(f - f0).std(ddof=1):.3f} ({int((f < f0).sum())}/5) |")


def _short(v):
    return f"{v:g}" if isinstance(v, float) else ("{...}" if isinstance(v, dict) else str(v))


def radelem(args):
    import ldrx
    import ldrx.select as sel
    data = sample()
    grid = [{"rcutfac": [rc], "radelem": [r], **SOLVE} for rc in args.rcutfac
            for r in [None, "covalent:0.25", "covalent:0.5", "covalent:1"]]
    t = time.perf_counter()
    res = sel.search(data, "snap", grid=grid, folds=5, groups="composition", score="paper", seed=0, refit=False,
                     repulsion=None)
    show(res, "SNAP 2J=8 (wj rank), radelem rules, 5 folds grouped by composition, score paper")
    paired(res, "radelem")
    print(f"\n{len(res.params)} settings x 5 folds, {time.perf_counter() - t:.0f} s, {ldrx.get_num_threads()} thread(s)")


def cost(args):
    import ldrx
    from ldrx.descriptors import Bispectrum
    from ldrx.models.snap import element_weights
    data = sample()[:30]
    sp = ["Li", "O"] + TM
    rad = {s: 0.5 for s in sp}
    wj = element_weights([3, 8, 21, 22, 23, 24, 25, 26, 27, 28, 29], "rank")
    ds = {"plain 2J=8": Bispectrum(8, 5.0, radelem=rad, wj=wj), "plain 2J=4": Bispectrum(4, 5.0, radelem=rad, wj=wj),
          "chem Li/O/TM 2J=4": Bispectrum(4, 5.0, radelem=rad, wj=wj, chem=LI_O_TM)}
    print(f"{data.n_atoms} atoms, {ldrx.get_num_threads()} thread(s); µs per atom, second of two passes\n")
    print("| descriptor | components | compute | backward | force rows |\n|---|---|---|---|---|")
    for rep in range(2):
        for name, d in ds.items():
            t = [time.perf_counter()]
            d.compute(data)
            t.append(time.perf_counter())
            d.backward(data, np.ones((data.n_atoms, d.size)))
            t.append(time.perf_counter())
            d.force_rows(data)
            t.append(time.perf_counter())
            if rep:
                us = np.diff(t) / data.n_atoms * 1e6
                print(f"| {name} | {d.size} | {us[0]:.0f} | {us[1]:.0f} | {us[2]:.0f} |")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["cv", "split", "radelem", "cost"])
    p.add_argument("--rcutfac", type=float, nargs="+", default=[5.0])
    p.add_argument("--only", default=None, help="split: only the cases whose name starts with this; cv: only the "
                                                "descriptors named (separated by ';')")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args()
    {"cv": cv, "split": split, "radelem": radelem, "cost": cost}[args.what](args)


if __name__ == "__main__":
    main()
