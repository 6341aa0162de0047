"""The cross-validation behind ldrx's SNAP / qSNAP defaults, and what a full grid costs.

    python bench/bench_select.py snap      # SNAP 2J=8: rcutfac x wj rule x scaling x force_weight x ridge
    python bench/bench_select.py snap-refine   # around the best: lower force weight, rank:W, rcutfac 5.5
    python bench/bench_select.py qsnap --wj rank:0.4; ... qsnap --second  # qSNAP 2J=6: wj rule x scaling x force_weight x ridge (rcutfac 5.0)
    python bench/bench_select.py split     # the chosen defaults vs the old ones and FitSNAP's settings, 90:10 (seed 0)

Data: the bundled LDR sample (329 frames, see sample()), 5 folds grouped by reduced composition (a fold leaves out
whole compositions), seed 0; score "paper" = E_rmse / 50 meV/atom + F_rmse / 0.5 eV/Å (ldrx.select).
Tables: mean ± spread (standard deviation over the folds) of the held-out RMSE and MAE. Run with
OMP_NUM_THREADS=1 for comparable timings.
"""

from __future__ import annotations

import argparse
import time
import warnings


#: FitSNAP's settings for the LDR set (issue 13): wj decreasing Li 1.0, O 0.9, Sc 0.8 ... Cu 0.4
FITSNAP_WJ = {"Li": 1.0, "O": 0.9, "Sc": 0.8, "Ti": 0.75, "V": 0.7, "Cr": 0.65, "Mn": 0.6, "Fe": 0.55, "Co": 0.5,
              "Ni": 0.45, "Cu": 0.4}


def sample():
    """The LDR sample's 329 good frames (ldrx.read skips 954.xsf and 13.xsf, whose Li-Ni / Li-Mn pairs at
    0.66 / 0.77 Å are impossible, and three cells that are eight times too small)."""
    import ldrx
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ldrx.read(ldrx.io.example_data_path(), on_error="skip")


def show(res, title, top=12):
    import ldrx
    print(f"\n### {title}\n")
    print(f"{len(res.params)} settings x {len(res.folds)} folds in {res.info['cv_seconds']:.0f} s "
          f"({ldrx.get_num_threads()} thread(s)); best: {res.best_params}\n")
    print(res.markdown(top=top), flush=True)


def best_per(res, keys):
    """The best row for each value combination of `keys` (e.g. per wj rule)."""
    out = {}
    for r in sorted(res.results, key=lambda r: r["rank"]):
        k = tuple(str(r.get(x)) for x in keys)
        out.setdefault(k, r)
    head = keys + ["force_weight", "scaling", "ridge", "score", "E RMSE (meV/atom)", "F RMSE (eV/Å)"]
    print("\n| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for k, r in out.items():
        print("| " + " | ".join(list(k) + [f"{r['force_weight']:g}", r["scaling"], f"{r['ridge']:g}",
                                          f"{r['score']:.3f}",
                                          f"{r['energy_rmse_meV_per_atom']:.1f} ± {r['energy_rmse_meV_per_atom_std']:.1f}",
                                          f"{r['forces_rmse_eV_per_A']:.3f} ± {r['forces_rmse_eV_per_A_std']:.3f}"]) + " |")


def wj_rules():
    return ["uniform", "rank:0.4", "z", FITSNAP_WJ]


def snap(args):
    import ldrx.select as sel
    data = sample()
    grid = []
    for rc in args.rcutfac:
        for wj in wj_rules():
            grid.append({"rcutfac": [rc], "wj": [wj], "scaling": ["standardise"],
                         "force_weight": [1e-4, 3e-4, 1e-3], "ridge": [1e-6, 1e-5, 1e-4, 1e-3]})
            grid.append({"rcutfac": [rc], "wj": [wj], "scaling": ["none"],
                         "force_weight": [1e-4, 3e-4, 1e-3], "ridge": [0.01, 0.03, 0.1, 0.3, 1.0]})
    t = time.perf_counter()
    res = sel.search(data, "snap", grid=grid, folds=5, groups="composition", score="paper", seed=0, refit=False,
                     repulsion=None)
    show(res, "SNAP 2J=8, 5 folds grouped by composition, score paper")
    best_per(res, ["rcutfac", "wj"])
    print(f"\nfull grid: {len(res.params)} settings, {len(res.params) * 5} fold fits, {time.perf_counter() - t:.0f} s")


def snap_refine(args):
    """Around the best of `snap`: the force weight below the first grid's edge, the rank rule's lowest
    weight, a longer cut-off."""
    import ldrx.select as sel
    data = sample()
    grid = []
    for rc, wj in ((5.0, "rank:0.2"), (5.0, "rank:0.4"), (5.0, "rank:0.6"), (5.5, "rank:0.4")):
        grid.append({"rcutfac": [rc], "wj": [wj], "scaling": ["standardise"], "force_weight": [3e-5, 1e-4, 3e-4],
                     "ridge": [1e-5, 1e-4]})
        grid.append({"rcutfac": [rc], "wj": [wj], "scaling": ["none"], "force_weight": [3e-5, 1e-4, 3e-4],
                     "ridge": [0.1, 0.3, 1.0]})
    t = time.perf_counter()
    res = sel.search(data, "snap", grid=grid, folds=5, groups="composition", score="paper", seed=0, refit=False,
                     repulsion=None)
    show(res, "SNAP 2J=8 refined, 5 folds grouped by composition, score paper")
    best_per(res, ["rcutfac", "wj", "scaling"])
    print(f"\nfull grid: {len(res.params)} settings, {len(res.params) * 5} fold fits, {time.perf_counter() - t:.0f} s")


def qsnap(args):
    import ldrx.select as sel
    data = sample()
    grid = []
    for wj in args.wj:
        if args.second:   # the second run, around the first's best, with wj rank:0.2
            grid.append({"wj": [wj], "scaling": ["standardise"], "force_weight": [1e-4, 2e-4], "ridge": [1e-4],
                         "quadratic_penalty": [1e4]})
            grid.append({"wj": [wj], "scaling": ["none"], "force_weight": [1e-4, 3e-4], "ridge": [3.0, 10.0]})
            continue
        grid.append({"wj": [wj], "scaling": ["standardise"], "force_weight": [2e-4], "ridge": [1e-4],
                     "quadratic_penalty": [1e4]})
        grid.append({"wj": [wj], "scaling": ["none"], "force_weight": [1e-4, 3e-4], "ridge": [0.3, 1.0, 3.0]})
    t = time.perf_counter()
    res = sel.search(data, "qsnap", grid=grid, folds=5, groups="composition", score="paper", seed=0, refit=False,
                     repulsion=None,
                     rcutfac=args.rcutfac[0], progress=True)
    show(res, f"qSNAP 2J=6, rcutfac {args.rcutfac[0]}, 5 folds grouped by composition, score paper")
    best_per(res, ["wj", "scaling"])
    print(f"\nfull grid: {len(res.params)} settings, {len(res.params) * 5} fold fits, {time.perf_counter() - t:.0f} s")


def split(args):
    import ldrx
    import ldrx.evaluate as ev
    data = sample()
    train, test = data.split(0.1, seed=0)
    rows, flagged = {}, set()
    cases = {
        "snap defaults": ("snap", {}),
        "snap old defaults (rcutfac 4.2, wj uniform)": ("snap", dict(rcutfac=4.2, wj="uniform", force_weight=1e-4,
                                                                      ridge=1e-4, scaling="standardise")),
        "snap FitSNAP settings": ("snap", dict(rcutfac=5.0, wj=FITSNAP_WJ, energy_weight=1e4, force_weight=1.0,
                                               ridge=3e3, scaling="none")),
        "qsnap defaults": ("qsnap", {}),
        "qsnap standardised ridge": ("qsnap", dict(scaling="standardise")),
        "qsnap old defaults": ("qsnap", dict(rcutfac=4.2, wj="uniform", force_weight=2e-4, ridge=1e-4,
                                             quadratic_penalty=1e4, scaling="standardise")),
        "qsnap FitSNAP settings": ("qsnap", dict(rcutfac=5.0, wj=FITSNAP_WJ, energy_weight=1e4, force_weight=1.0,
                                                 ridge=1e4, scaling="none")),
    }
    for name, (model, hyper) in cases.items():
        if args.only and not name.startswith(args.only):
            continue
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = ldrx.fit(train, model=model, **hyper)
            rows[name + " test"] = ev.metrics(m, test)
            clean, out = ev.in_domain(m, test)
            flagged.update(i.split("/")[-1] for i in out)
            rows[name + " test*"] = ev.metrics(m, clean)
        print(f"{name}: fit {time.perf_counter() - t:.1f} s", flush=True)
    print(ev.table(rows, title=f"LDR sample, 90:10 split (seed 0): {len(train)} train / {len(test)} test frames, "
                               f"{ldrx.get_num_threads()} thread(s); test* leaves out the frames each model flags "
                               f"as extrapolations (any of: {sorted(flagged)})"))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["snap", "snap-refine", "qsnap", "split"])
    p.add_argument("--rcutfac", type=float, nargs="+", default=None)
    p.add_argument("--wj", nargs="+", default=["rank:0.2"])
    p.add_argument("--second", action="store_true", help="qsnap: the second, narrower grid")
    p.add_argument("--only", default=None, help="split: only the cases whose name starts with this")
    args = p.parse_args()
    if args.rcutfac is None:
        args.rcutfac = [4.2, 5.0] if args.what == "snap" else [5.0]
    {"snap": snap, "snap-refine": snap_refine, "qsnap": qsnap, "split": split}[args.what](args)


if __name__ == "__main__":
    main()
