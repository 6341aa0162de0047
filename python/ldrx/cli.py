"""Command line: ``ldrx fit``, ``ldrx eval``, ``ldrx info``.

    ldrx fit example --model ann --epochs 300 --out ann.ldrx     # the bundled LDR sample, 90:10 split
    ldrx fit data/ --model snap --set twojmax=8 --out snap.ldrx
    ldrx eval ann.ldrx data/ --parity parity.png
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
import warnings


def _value(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _read(path, strict):
    import ldrx
    if path == "example":
        path = ldrx.io.example_data_path()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = ldrx.read(path, on_error="raise" if strict else "skip")
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    return data


def _fit(args):
    import ldrx
    from ldrx.evaluate import metrics, parity_plot, table
    from ldrx.parallel import world
    if world().size > 1:  # started by mpiexec: data-parallel fit
        from ldrx import cli_mpi
        return cli_mpi.fit(args, world())
    if args.threads:
        ldrx.set_num_threads(args.threads)
    data = _read(args.data, args.strict)
    train, test = data.split(args.test_fraction, seed=args.seed)
    hyper = {k: _value(v) for k, v in (s.split("=", 1) for s in args.set)}
    for name in ("epochs", "force_weight"):
        if getattr(args, name) is not None:
            hyper[name] = getattr(args, name)
    print(f"data: {len(data)} frames, {data.n_atoms} atoms ({len(train)} train, {len(test)} test, seed {args.seed}); "
          f"model {args.model}; threads {ldrx.get_num_threads()}")
    t = time.perf_counter()
    model = ldrx.fit(train, model=args.model, seed=args.seed, **hyper)
    fit_time = time.perf_counter() - t
    rows = {"train": metrics(model, train)}
    if len(test):
        rows["test"] = metrics(model, test)
    print(table(rows, title=f"{args.model}: fitted in {fit_time:.1f} s"))
    if args.out:
        model.save(args.out)
        print(f"model written to {args.out}")
    if args.parity and len(test):
        parity_plot(model, test, args.parity, title=f"{args.model}, test set")
        print(f"parity plot written to {args.parity}")
    return 0


def _eval(args):
    import ldrx
    from ldrx.evaluate import metrics, parity_plot, table
    model = ldrx.load(args.model)
    data = _read(args.data, args.strict)
    print(table({str(args.data): metrics(model, data)}, title=f"{model.family} model {args.model}"))
    if args.parity:
        parity_plot(model, data, args.parity, title=str(args.data))
        print(f"parity plot written to {args.parity}")
    return 0


def _info(args):
    import ldrx
    from ldrx import _core
    print(f"ldrx {ldrx.__version__}; OpenMP: {_core.has_openmp()}; threads: {ldrx.get_num_threads()}")
    print(f"example data: {ldrx.io.example_data_path()}")
    from ldrx.models import _FAMILIES
    print(f"model families: {', '.join(sorted(_FAMILIES))}")
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="ldrx", description="Fast machine-learned interatomic potentials")
    sub = p.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fit", help="fit a model on a 90:10 split and print train/test errors")
    f.add_argument("data", nargs="?", default="example",
                   help="folder of XSF files, any ASE-readable file, a dataset .npz, or 'example' (bundled LDR sample)")
    f.add_argument("--model", default="ann", help="ann | snap | qsnap | ...")
    f.add_argument("--epochs", type=int, default=None)
    f.add_argument("--force-weight", type=float, default=None, dest="force_weight")
    f.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any hyper-parameter")
    f.add_argument("--test-fraction", type=float, default=0.1)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--out", default=None, help="write the fitted model here")
    f.add_argument("--parity", default=None, help="write a parity plot (PNG) of the test set")
    f.add_argument("--threads", type=int, default=None)
    f.add_argument("--strict", action="store_true", help="stop at bad frames instead of skipping them")
    f.set_defaults(func=_fit)
    e = sub.add_parser("eval", help="errors of a saved model on labelled data")
    e.add_argument("model")
    e.add_argument("data")
    e.add_argument("--parity", default=None)
    e.add_argument("--strict", action="store_true")
    e.set_defaults(func=_eval)
    i = sub.add_parser("info", help="build and environment information")
    i.set_defaults(func=_info)
    args = p.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"ldrx: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
