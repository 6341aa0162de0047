"""``ldrx cv``: cross-validated grid or random search for any model family (see :mod:`ldrx.select`).

    ldrx cv example --model snap --grid rcutfac=4.2,5.0 --grid ridge=1e-6,1e-4,1e-2 --group composition
    ldrx cv data/ --model qsnap --grid force_weight=1e-4,1e-3 --score energy --out best.ldrx --csv cv.csv
"""

from __future__ import annotations

import ast
import sys


class GridError(ValueError):
    pass


def _literal(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_grid(items) -> dict:
    """{"rcutfac": [4.2, 5.0], ...} from ["rcutfac=4.2,5.0", ...]; values are Python literals or strings,
    a dict or list value is written as a literal (wj={'Li':1.0,'O':0.9})."""
    grid = {}
    for item in items:
        key, eq, rhs = item.partition("=")
        key = key.strip()
        if not eq or not key.isidentifier() or not rhs.strip():
            raise GridError(f"--grid {item!r}: expected KEY=V1,V2,... (e.g. --grid ridge=1e-6,1e-4)")
        if key in grid:
            raise GridError(f"--grid {item!r}: {key} is given twice")
        try:
            values = ast.literal_eval("[" + rhs + "]")
        except (ValueError, SyntaxError):
            values = [_literal(v.strip()) for v in rhs.split(",")]
        if any(v == "" for v in values):
            raise GridError(f"--grid {item!r}: empty value")
        grid[key] = values
    return grid


def _score(text):
    if text in ("energy", "force", "paper"):
        return text
    try:   # energy=1,force=100
        out = {k.strip(): float(v) for k, v in (p.split("=", 1) for p in text.split(","))}
    except ValueError:
        raise GridError(f"--score {text!r}: expected energy, force, paper or energy=W,force=W") from None
    if not out or set(out) - {"energy", "force"}:
        raise GridError(f"--score {text!r}: expected energy, force, paper or energy=W,force=W")
    return out


def run(args) -> int:
    import ldrx
    import ldrx.select as sel
    try:
        grid = parse_grid(args.grid)
        bad = [s for s in args.set if "=" not in s]
        if bad:
            raise GridError(f"--set {bad[0]!r}: expected KEY=VALUE")
        fixed = {k: _literal(v) for k, v in (s.split("=", 1) for s in args.set)} if args.set else {}
        score = _score(args.score)
        from .params import hyper_fields   # names checked before the data are read
        known = hyper_fields(args.model)
        unknown = sorted(set(grid) - set(known) | set(fixed) - set(known))
        if unknown:
            from .models import make_model
            cls = type(make_model(args.model)).__name__
            raise GridError(f"unknown {cls} hyper-parameter {unknown[0]!r}; {args.model} accepts "
                            f"{', '.join(known)} (see 'ldrx params {args.model}')")
        if args.threads:
            ldrx.set_num_threads(args.threads)
        from .cli import read_data
        data = read_data(args.data, args.strict)
        groups = None if args.group == "frame" else args.group
        print(f"data: {len(data)} frames, {data.n_atoms} atoms; model {args.model}; {args.folds} folds grouped by "
              f"{args.group}; score {args.score}; threads {ldrx.get_num_threads()}", flush=True)
        res = sel.search(data, model=args.model, grid=grid, n_iter=args.n_iter, folds=args.folds, groups=groups,
                         score=score, seed=args.seed, refit=bool(args.out), **fixed)
    except TypeError as exc:   # unknown hyper-parameter names
        print(f"ldrx cv: error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as exc:
        print(f"ldrx cv: error: {exc}", file=sys.stderr)
        return 2
    print(res.markdown())
    print(f"best: {res.best_params} (score {res.results[res.best_index]['score']:.4g}); "
          f"cross-validation {res.info['cv_seconds']:.1f} s")
    if args.csv:
        res.to_csv(args.csv)
        print(f"table written to {args.csv}")
    if args.out:
        res.best_model.save(args.out)
        print(f"best model (refitted on all {len(data)} frames) written to {args.out}")
    return 0


def add_parser(subparsers):
    c = subparsers.add_parser("cv", help="cross-validated grid / random search of hyper-parameters")
    c.add_argument("data", help="folder of XSF files, any ASE-readable file, a dataset .npz, or 'example'")
    c.add_argument("--model", default="snap", help="ann | snap | qsnap | ...")
    c.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                   help="values to try for one hyper-parameter (repeat for more)")
    c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="fixed hyper-parameter")
    c.add_argument("--n-iter", type=int, default=None, dest="n_iter",
                   help="random search: this many settings drawn from the --grid values")
    c.add_argument("--folds", type=int, default=5)
    c.add_argument("--group", default="frame",
                   help="frame | composition | elements | tm | an info key: frames of one group share a fold")
    c.add_argument("--score", default="paper", help="energy | force | paper (E/50 meV/atom + F/0.5 eV/Å) | "
                                                     "energy=W,force=W")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--out", default=None, help="refit the best setting on all data and write it here")
    c.add_argument("--csv", default=None, help="write the results table (CSV)")
    c.add_argument("--threads", type=int, default=None)
    c.add_argument("--strict", action="store_true", help="stop at bad frames instead of skipping them")
    c.set_defaults(func=run)
    return c
