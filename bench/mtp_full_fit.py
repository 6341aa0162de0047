"""A full level-16 MTP fit on the synthetic LDR-sized set (bench/synthetic.py: 10,842 frames, 293,216 atoms),
2 threads: wall time, peak memory and training errors on the first 1000 frames (README, MTP training cost).

    PYTHONPATH=python python bench/mtp_full_fit.py [--iters 180] [--threads 2]
"""
import argparse
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import synthetic  # noqa: E402

import ldrx  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iters", type=int, default=180, help="L-BFGS iterations (max_iter)")
    p.add_argument("--level", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    ldrx.set_num_threads(args.threads)
    data = synthetic.load(10842)
    print(f"data: {len(data)} frames, {data.n_atoms} atoms; level {args.level}, {args.threads} threads", flush=True)
    t0 = time.perf_counter()
    model = ldrx.fit(data, model="mtp", level=args.level, max_iter=args.iters, progress=True)
    print(f"fit: {time.perf_counter() - t0:.1f} s wall ({args.iters} L-BFGS iterations, linear start included)")
    print("training errors on the first 1000 frames:", ldrx.evaluate.metrics(model, data[:1000]))
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
