"""``mpiexec -n N ldrx fit ...``: the fit command over MPI ranks (see ldrx.parallel).

Each rank reads its shard of the frames, the train/test split is the serial one (made on global frame indices),
the fit reduces over the ranks, the metrics are those of the whole sets, and only rank 0 prints and writes files.
The printed numbers equal those of the serial ``ldrx fit``.
"""

from __future__ import annotations

import sys
import time
import warnings


def fit(args, comm, model):
    """`model`: the unfitted model that ``ldrx fit`` built from its options (checked before any data is read)."""
    from . import parallel
    return parallel.run_cli(lambda: _fit(args, comm, model), comm)


def _fit(args, comm, model):
    import inspect

    import ldrx
    from .cli import UsageError, apply_threads
    from .evaluate import metrics_rows, parity_plot, table
    from .parallel import gather_dataset, read_shard, split_shard
    say = (lambda *a, **k: print(*a, **k, flush=True)) if comm.is_root else (lambda *a, **k: None)
    if "comm" not in inspect.signature(model.fit).parameters:
        raise UsageError(f"--model {args.model}: this family does not train over MPI ranks; run it without mpiexec")
    apply_threads(args)
    path = ldrx.io.example_data_path() if args.data == "example" else args.data
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = read_shard(path, comm, on_error="raise" if args.strict else "skip")
    for w in caught:
        print(f"warning (rank {comm.rank}): {w.message}", file=sys.stderr)
    train, test = split_shard(data, comm, args.test_fraction, seed=args.seed)
    counts = comm.allgather((len(data), data.n_atoms, len(train), len(test)))
    n, na, ntr, nte = (sum(c[i] for c in counts) for i in range(4))
    say(f"data: {n} frames, {na} atoms ({ntr} train, {nte} test, seed {args.seed}); model {args.model}; "
        f"MPI ranks {comm.size} x threads {ldrx.get_num_threads()}")
    t = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(train, comm=comm.comm)
    if comm.is_root:
        for w in caught:
            print(f"warning: {w.message}", file=sys.stderr)
    fit_time = time.perf_counter() - t
    # the metrics table of the serial command, computed by rank 0 on the gathered sets (shards in rank order)
    sets = {"train": gather_dataset(train, comm), "test": gather_dataset(test, comm)}
    if comm.is_root:
        rows = metrics_rows(model, sets)
        say(table(rows, title=f"{args.model}: fitted in {fit_time:.1f} s on {comm.size} MPI ranks "
                              f"(* without the frames flagged as extrapolations)"))
        if args.out:
            model.save(args.out)
            say(f"model written to {args.out}")
        if args.parity and nte:
            parity_plot(model, sets, args.parity, title=f"{args.model} on {args.data}")
            say(f"parity plot written to {args.parity}")
    return 0
