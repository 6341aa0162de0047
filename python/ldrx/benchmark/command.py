"""``ldrx bench CONFIG.toml --out DIR``: the command-line face of :mod:`ldrx.benchmark`."""

from __future__ import annotations

import sys


def add_parser(subparsers):
    b = subparsers.add_parser(
        "bench", help="the LDR benchmark of a TOML configuration: learning curves, timing, memory, figures",
        description="Train every model of CONFIG on one shared split at every training-set size; write "
                    "results.json, results.md and PNG figures to --out. A re-run resumes: finished "
                    "(model, size) cells are not retrained. Bundled configurations: 'quick' (every family but NequIP, small "
                    "settings, three sizes: ldrx bench quick --out bench-quick); from a source checkout also "
                    "examples/bench-sample.toml and examples/ldr-paper.toml")
    b.add_argument("config", help="TOML configuration file, or the name of a bundled one ('quick')")
    b.add_argument("--out", required=True, help="output folder (created; reused to resume)")
    b.add_argument("--no-figures", action="store_true", help="write the tables only")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=_bench)
    return b


def _bench(args):
    from . import run
    try:
        records = run(args.config, args.out, progress=not args.quiet, figures=not args.no_figures)
    except RuntimeError as exc:
        print(f"ldrx: error: {exc}", file=sys.stderr)
        return 1
    from pathlib import Path
    print((Path(args.out) / "results.md").read_text())
    print(f"{len(records)} records written to {Path(args.out) / 'results.json'}")
    return 0
