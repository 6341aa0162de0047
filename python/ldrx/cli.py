"""Command line: ``ldrx fit | eval | predict | params | info`` and ``ldrx --version``.

    ldrx fit example --model ann --force-weight 0.01 --epochs 300 --out ann.ldrx   # bundled LDR sample, 90:10
    ldrx fit data/ --model snap --set twojmax=6 --out snap.ldrx --parity parity.png
    ldrx eval ann.ldrx data/ --parity parity.png     # errors on labelled data (training frames reported apart)
    ldrx predict ann.ldrx POSCAR more.extxyz -o predicted.extxyz   # energies, forces, stress of structures
    ldrx params ann                                   # every hyper-parameter: default and meaning

Errors: every mistake is reported as one line on stderr that names the file or option and what would be
accepted; exit status 2 for the command line (unknown options or names, bad values, missing files), 1 for
unusable input (malformed data, not a model file). ``--debug`` or ``LDRX_DEBUG=1`` shows the traceback.

Adding a subcommand from another module: define ``add_parser(subparsers)`` there, which calls
``subparsers.add_parser(name, help=...)``, adds its options and ``set_defaults(func=handler)``; the
handler takes the parsed args and returns the exit status. Then add the module's name to COMMAND_MODULES
below (one line). A handler raises :class:`UsageError` for command-line mistakes and lets ldrx's
DataError / ModelFileError through; the helpers below (``read_data``, ``load_model``,
``add_threads_option`` / ``apply_threads``, ``model_from_options``) give the same messages as here.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import time
import traceback
import warnings

#: Modules that add subcommands through their own add_parser(subparsers) (see the docstring); one line each.
COMMAND_MODULES: list[str] = [
    "ldrx.cli_select",            # ldrx cv
    "ldrx.benchmark.command",     # ldrx bench
    "ldrx.apps.voltage",          # ldrx voltage
]


from .errors import UsageError  # noqa: E402 - a mistake on the command line: one line, exit status 2


# ------------------------------------------------------------------------------------------- helpers
def _note(text):
    """One line on stderr, after whatever stdout holds (so that piped output keeps its order)."""
    sys.stdout.flush()
    print(text, file=sys.stderr, flush=True)


def _warn_line(w):
    _note(f"warning: {w.message}")


def read_data(path, strict=False, what="DATA", labelled=True):
    """A Dataset from a CLI argument ('example' is the bundled LDR sample); warnings become one line each."""
    import ldrx
    if path is None:
        raise UsageError(f"{what}: give the data: a folder of XSF files, an XSF / extxyz / OUTCAR / vasprun.xml "
                         f"file, a dataset .npz, or 'example' for the bundled LDR sample")
    if path == "example":
        path = ldrx.io.example_data_path()
    if not os.path.exists(path):
        raise UsageError(f"{what} {path}: no such file or folder (give XSF files or a folder of them, any file "
                         f"ASE reads, a dataset .npz, or 'example' for the bundled LDR sample)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = ldrx.read(path, on_error="raise" if strict else "skip", energy_required=labelled)
    for w in caught:
        _warn_line(w)
    if len(data) == 0 and data.skipped:
        raise ldrx.DataError(f"{what} {path}: all {len(data.skipped)} frame(s) were left out as bad (the warning "
                             f"above says why); nothing to use")
    return data


def load_model(path):
    """A model file from a CLI argument: 'no such file' and 'not an ldrx model file' told apart."""
    import ldrx
    if not os.path.exists(path):
        raise UsageError(f"MODEL {path}: no such file (give a model written by 'ldrx fit ... --out MODEL')")
    if os.path.isdir(path):
        raise UsageError(f"MODEL {path}: is a folder, not a model file (written by 'ldrx fit ... --out MODEL')")
    import zipfile
    if not zipfile.is_zipfile(path):
        from .errors import ModelFileError
        with open(path, "rb") as fh:
            head = fh.read(512)
        kind = "a text file" if head and all(b in b"\t\n\r" or 32 <= b < 127 or b >= 128 for b in head) else "not a zip"
        raise ModelFileError(f"MODEL {path}: not an ldrx model file ({kind}; model files are written by "
                             f"'ldrx fit ... --out MODEL' or model.save)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = ldrx.load(path)
    for w in caught:
        _warn_line(w)
    return model


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def free_cores(cores: int | None = None) -> float:
    """Cores not busy with other work, from the 1-minute load average (ldrx's own process not yet counted)."""
    cores = usable_cores() if cores is None else cores
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover
        return float(cores)
    return max(0.0, cores - load)


def add_threads_option(parser):
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="OpenMP threads (default: OMP_NUM_THREADS, else every core ldrx may use); "
                             "use no more than the free cores")


def apply_threads(args):
    """Check --threads against the cores ldrx may use, set it, and warn when it exceeds the free cores."""
    import ldrx
    cores = usable_cores()
    n = getattr(args, "threads", None)
    if n is not None:
        if n < 1 or n > cores:
            raise UsageError(f"--threads {n}: give 1 to {cores} (the cores this process may use)")
        ldrx.set_num_threads(n)
    n = ldrx.get_num_threads()
    free = free_cores(cores)
    if n > 1 and n > free + 0.5:
        _note(f"warning: {n} threads, but the load average leaves about {free:.1f} of {cores} cores free; OpenMP "
              f"threads wait for each other when another process takes a core: consider --threads "
              f"{max(1, int(free + 0.5))}")
    return n


def _parse_set(items):
    """--set KEY=VALUE items as {key: (text, value)}; values are Python literals or plain strings."""
    out = {}
    for item in items:
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise UsageError(f"--set {item}: expected KEY=VALUE, e.g. --set hidden=(20,20) or --set twojmax=6")
        key, text = (s.strip() for s in item.split("=", 1))
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        out[key] = (f"--set {item}", value)
    return out


def model_from_options(family, options):
    """An unfitted model of `family` from {name: (option text, value)}, every value checked against the
    family's hyper-parameter dataclass before any data is read."""
    from .models import _FAMILIES, make_model
    from .params import check_value, families_with, hyper_fields
    if family not in _FAMILIES:
        raise UsageError(f"--model {family}: unknown model family; choose from {', '.join(sorted(_FAMILIES))}")
    fields = hyper_fields(family)
    hyper = {}
    for name, (option, value) in options.items():
        if name == "repulsion" and name not in fields:   # every family takes it (make_model checks the value)
            hyper[name] = value
            continue
        if name not in fields:
            others = [f for f in families_with(name) if f != family]
            also = f" (it is a hyper-parameter of {', '.join(others)})" if others else ""
            raise UsageError(f"{option}: {family} has no hyper-parameter '{name}'{also}; {family} accepts "
                             f"{', '.join(fields)} (see 'ldrx params {family}')")
        problem = check_value(fields[name], value)
        if problem:
            raise UsageError(f"{option}: {problem}")
        hyper[name] = value
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = make_model(family, **hyper)
        for w in caught:
            _warn_line(w)
    except (TypeError, ValueError) as exc:
        opts = ", ".join(o for o, _ in options.values()) or f"--model {family}"
        raise UsageError(f"{opts}: {exc}") from exc
    return model


# ------------------------------------------------------------------------------------------- commands
def _fit(args):
    import ldrx
    from .evaluate import metrics_rows, parity_plot, table
    if args.epochs is not None and args.epochs < 1:
        raise UsageError(f"--epochs {args.epochs}: give at least 1 (0 epochs would leave the networks untrained)")
    if not 0 <= args.test_fraction < 1:
        raise UsageError(f"--test-fraction {args.test_fraction}: give a fraction in [0, 1)")
    options = _parse_set(args.set)
    for name, flag in (("epochs", "--epochs"), ("force_weight", "--force-weight")):
        if getattr(args, name) is not None:
            options[name] = (f"{flag} {getattr(args, name)}", getattr(args, name))
    model = model_from_options(args.model, options)     # before the data: option mistakes fail at once
    from .parallel import world
    if world().size > 1:  # started by mpiexec with several ranks: data-parallel fit (ldrx.cli_mpi)
        from . import cli_mpi
        return cli_mpi.fit(args, world(), model)
    threads = apply_threads(args)
    data = read_data(args.data, args.strict)
    train, test = data.split(args.test_fraction, seed=args.seed)
    if len(train) == 0:
        raise UsageError(f"--test-fraction {args.test_fraction}: leaves no training frames of {len(data)}")
    print(f"data: {args.data}: {len(data)} frames, {data.n_atoms} atoms, {'/'.join(data.symbols)}; "
          f"{len(train)} train, {len(test)} test (seed {args.seed}); {threads} threads")
    print(f"model: {model!r}")
    t = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(train)
    for w in caught:
        _warn_line(w)
    fit_time = time.perf_counter() - t
    print(f"fitted in {fit_time:.1f} s: {model!r}")
    rows = metrics_rows(model, {"train": train, "test": test})
    print(table(rows, title=f"{args.model}: errors (* without the frames flagged as extrapolations)"))
    if args.out:
        model.save(args.out)
        print(f"model written to {args.out}")
    else:
        _note("note: the model is not saved; add --out MODEL.ldrx to keep it")
    if args.parity:
        if len(test) == 0:
            _note(f"note: the test set is empty (--test-fraction {args.test_fraction}); the parity plot shows "
                  f"the training set only")
        parity_plot(model, {"train": train, "test": test}, args.parity, title=f"{args.model} on {args.data}")
        print(f"parity plot written to {args.parity}")
    return 0


def _eval(args):
    from .evaluate import metrics_rows, parity_plot, table
    model = load_model(args.model)
    apply_threads(args)
    data = read_data(args.data, args.strict, labelled=False)
    import numpy as np
    if not (np.isfinite(data.energy).any() or np.isfinite(data.forces).any()):
        raise UsageError(f"DATA {args.data}: has no energies or forces to compare with; for predictions of "
                         f"unlabelled structures use 'ldrx predict {args.model} {args.data} -o OUT.extxyz'")
    seen = model.training_frames(data)
    sets = {str(args.data): data}
    if seen.any():
        _note(f"note: {int(seen.sum())} of the {len(data)} frames were in the model's training set; their "
              f"errors are reported apart ('train' rows), the others as 'unseen'")
        sets = {"train": data.subset(np.flatnonzero(seen)), "unseen": data.subset(np.flatnonzero(~seen))}
    rows = metrics_rows(model, sets)
    print(table(rows, title=f"{model.family} model {args.model} on {args.data} (* without the frames flagged as "
                            f"extrapolations)"))
    if args.parity:
        parity_plot(model, sets, args.parity, title=f"{model.family} model on {args.data}")
        print(f"parity plot written to {args.parity}")
    return 0


def _predict(args):
    from .evaluate import write_predictions
    from .evaluate import _prediction_format
    if args.out:
        try:
            _prediction_format(args.out)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    model = load_model(args.model)
    apply_threads(args)
    import ldrx
    parts = [read_data(p, args.strict, what="STRUCTURES", labelled=False) for p in args.structures]
    data = parts[0] if len(parts) == 1 else ldrx.Dataset.concatenate(parts)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pred = model.predict(data, forces=True, stress=True)
    for w in caught:
        _warn_line(w)
    out = args.out
    write_predictions(data, pred, out)
    if out:
        _note(f"{len(data)} structure(s) predicted; written to {out}")
    return 0


def _params(args):
    from .params import format_params
    from .models import _FAMILIES
    if args.family not in _FAMILIES:
        raise UsageError(f"FAMILY {args.family}: unknown model family; choose from {', '.join(sorted(_FAMILIES))}")
    print(format_params(args.family))
    return 0


def _info(args):
    import ldrx
    from ldrx import _core
    from .models import _FAMILIES
    cores = usable_cores()
    print(f"ldrx {ldrx.__version__}; OpenMP: {_core.has_openmp()}; threads: {ldrx.get_num_threads()} of {cores} "
          f"cores ({free_cores(cores):.1f} free by the load average); "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '')} GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT', '')}")
    print(f"example data: {ldrx.io.example_data_path()}")
    print(f"model families: {', '.join(sorted(_FAMILIES))} (hyper-parameters: ldrx params FAMILY)")
    return 0


# ------------------------------------------------------------------------------------------- parser
class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser():
    from . import __version__
    p = _Parser(prog="ldrx", description="Fast machine-learned interatomic potentials for disordered rocksalt oxides")
    p.add_argument("--version", action="version", version=f"ldrx {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks (also LDRX_DEBUG=1)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    f = sub.add_parser("fit", help="fit a model on a train/test split, print errors, save it")
    f.add_argument("data", nargs="?", default=None, metavar="DATA",
                   help="folder of XSF files, any ASE-readable file, a dataset .npz, or 'example' (bundled LDR sample)")
    f.add_argument("--model", default="ann", help="model family: ann (default), snap, qsnap, ... (ldrx info)")
    f.add_argument("--epochs", type=int, default=None, help="ANN: L-BFGS epochs (same as --set epochs=N)")
    f.add_argument("--force-weight", type=float, default=None, dest="force_weight",
                   help="weight of the force errors in the loss (same as --set force_weight=W)")
    f.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any hyper-parameter of the family (list them: ldrx params FAMILY)")
    f.add_argument("--test-fraction", type=float, default=0.1, help="held-out fraction (default 0.1)")
    f.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    f.add_argument("--out", "-o", default=None, metavar="MODEL", help="write the fitted model here")
    f.add_argument("--parity", default=None, metavar="PNG", help="write parity plots (train and test)")
    add_threads_option(f)
    f.add_argument("--strict", action="store_true", help="stop at bad frames instead of skipping them")
    f.set_defaults(func=_fit)

    e = sub.add_parser("eval", help="errors of a saved model on labelled data")
    e.add_argument("model", metavar="MODEL")
    e.add_argument("data", metavar="DATA", help="labelled data (as for fit); 'example' for the bundled sample")
    e.add_argument("--parity", default=None, metavar="PNG")
    add_threads_option(e)
    e.add_argument("--strict", action="store_true")
    e.set_defaults(func=_eval)

    r = sub.add_parser("predict", help="energies, forces and stress of structures (POSCAR, CIF, extxyz, XSF, ...)")
    r.add_argument("model", metavar="MODEL")
    r.add_argument("structures", nargs="+", metavar="STRUCTURES", help="files ASE or ldrx reads, or folders of XSF")
    r.add_argument("--out", "-o", default=None, metavar="OUT",
                   help="OUT.extxyz (structures with energy, forces, stress) or a table (.csv, .txt); "
                        "default: a table on stdout")
    add_threads_option(r)
    r.add_argument("--strict", action="store_true")
    r.set_defaults(func=_predict)

    q = sub.add_parser("params", help="hyper-parameters of a model family: default, meaning")
    q.add_argument("family", metavar="FAMILY")
    q.set_defaults(func=_params)

    i = sub.add_parser("info", help="version, threads, example data, model families")
    i.set_defaults(func=_info)

    import importlib
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return p


def main(argv=None):
    debug = os.environ.get("LDRX_DEBUG", "") not in ("", "0")
    try:
        args = build_parser().parse_args(argv)
        debug = debug or args.debug
        return args.func(args)
    except SystemExit as exc:   # argparse (usage: 2), --help / --version (0)
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        print("ldrx: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - every error becomes one line
        from .errors import DataError, ModelFileError
        if debug:
            traceback.print_exc()
        if isinstance(exc, (UsageError, FileNotFoundError)):
            code, text = 2, str(exc)
        elif isinstance(exc, (DataError, ModelFileError, ValueError, OSError)):
            code, text = 1, str(exc)
        else:
            code, text = 1, f"internal error ({type(exc).__name__}: {exc}); please report it with the output of --debug"
        text = " ".join(text.split())
        hint = "" if debug else " [--debug: traceback]" if code == 1 and "internal" in text else ""
        _note(f"ldrx: error: {text}{hint}")
        return code


if __name__ == "__main__":
    sys.exit(main())
