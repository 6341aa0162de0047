"""``mpiexec -n N ldrx fit ...``: the fit command over MPI ranks (see ldrx.parallel).

Each rank reads its shard of the frames, the train/test split is the serial one (made on global frame indices),
the fit reduces over the ranks, the metrics are those of the whole sets, and only rank 0 prints and writes files.
The printed numbers equal those of the serial ``ldrx fit``.
"""

from __future__ import annotations

import sys
import time
import warnings


def fit(args, comm):
    from . import parallel
    return parallel.run_cli(lambda: _fit(args, comm), comm)


def _fit(args, comm):
    import ldrx
    from .cli import _value
    from .evaluate import metrics, parity_plot, table
    from .parallel import gather_dataset, read_shard, split_shard
    say = (lambda *a, **k: print(*a, **k, flush=True)) if comm.is_root else (lambda *a, **k: None)
    if args.threads:
        ldrx.set_num_threads(args.threads)
    path = ldrx.io.example_data_path() if args.data == "example" else args.data
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = read_shard(path, comm, on_error="raise" if args.strict else "skip")
    for w in caught:
        print(f"warning (rank {comm.rank}): {w.message}", file=sys.stderr)
    train, test = split_shard(data, comm, args.test_fraction, seed=args.seed)
    hyper = {k: _value(v) for k, v in (s.split("=", 1) for s in args.set)}
    for name in ("epochs", "force_weight"):
        if getattr(args, name) is not None:
            hyper[name] = getattr(args, name)
    counts = comm.allgather((len(data), data.n_atoms, len(train), len(test)))
    n, na, ntr, nte = (sum(c[i] for c in counts) for i in range(4))
    say(f"data: {n} frames, {na} atoms ({ntr} train, {nte} test, seed {args.seed}); model {args.model}; "
        f"MPI ranks {comm.size} x threads {ldrx.get_num_threads()}")
    t = time.perf_counter()
    model = ldrx.fit(train, model=args.model, seed=args.seed, comm=comm.comm, **hyper)
    fit_time = time.perf_counter() - t
    rows = {"train": metrics(model, train, comm=comm.comm)}
    if nte:
        rows["test"] = metrics(model, test, comm=comm.comm)
    say(table(rows, title=f"{args.model}: fitted in {fit_time:.1f} s on {comm.size} MPI ranks"))
    if args.out and comm.is_root:
        model.save(args.out)
        say(f"model written to {args.out}")
    if args.parity and nte:
        everything = gather_dataset(test, comm)
        if comm.is_root:
            parity_plot(model, everything, args.parity, title=f"{args.model}, test set")
            say(f"parity plot written to {args.parity}")
    return 0
