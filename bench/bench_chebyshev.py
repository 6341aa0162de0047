"""Chebyshev descriptor: per-atom time of the neighbour list, forward, forward + backward (forces) and
tangent, at 1 and 2 threads, on the LDR sample (331 real 11-element cells, about 31 atoms each) with the
LDR setting (radial 8.0 Å / order 16, angular 6.5 Å / order 4, 44 features).

    python bench/bench_chebyshev.py [--repeat 5]
"""

import argparse
import time
import warnings

import numpy as np

import ldrx
from ldrx import _core
from ldrx.descriptors import Chebyshev


def best_of(fn, repeat):
    t = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return min(t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = ldrx.read(ldrx.io.example_data_path(), on_error="skip")
    d = Chebyshev(data.species)
    b = data.batch()
    n = data.n_atoms
    w = np.random.default_rng(0).normal(size=(n, d.size))
    v = np.random.default_rng(1).normal(size=(n, 3))
    start, *_ = _core.neighbour_list(b, 0, 8.0)
    pairs = sum(len(_core.neighbour_list(b, f, 8.0)[1]) for f in range(len(data)))
    print(f"LDR sample: {len(data)} frames, {n} atoms, {pairs / n:.0f} neighbours within 8 Å per atom")
    rows = {}
    for threads in (1, 2):
        ldrx.set_num_threads(threads)

        def nl():
            for f in range(len(data)):
                _core.neighbour_list(b, f, 8.0)
        rows[threads] = {
            "forward": best_of(lambda: d.compute(data), args.repeat) / n,
            "backward": best_of(lambda: d.backward(data, w), args.repeat) / n,
            "tangent": best_of(lambda: d.tangent(data, v), args.repeat) / n,
        }
        if threads == 1:
            rows[threads]["neighbour list (serial)"] = best_of(nl, args.repeat) / n
    print(f"{'µs per atom':<26s}{'1 thread':>10s}{'2 threads':>11s}{'speed-up':>10s}")
    for k in ("forward", "backward", "tangent"):
        a, c = rows[1][k] * 1e6, rows[2][k] * 1e6
        print(f"{k:<26s}{a:10.2f}{c:11.2f}{a / c:10.2f}")
    fb1 = (rows[1]["forward"] + rows[1]["backward"]) * 1e6
    fb2 = (rows[2]["forward"] + rows[2]["backward"]) * 1e6
    print(f"{'forward + backward':<26s}{fb1:10.2f}{fb2:11.2f}{fb1 / fb2:10.2f}")
    print(f"{'neighbour list (serial)':<26s}{rows[1]['neighbour list (serial)'] * 1e6:10.2f}")


if __name__ == "__main__":
    main()
