"""ANN training cost: seconds per epoch (energies only; energies + forces) and peak memory, on the LDR
sample and on a synthetic LDR-sized set (10,842 frames, bench/synthetic.py), at 1 and 2 threads. Each
measurement runs in its own process so that its peak memory (ru_maxrss) is its own.

    python bench/bench_ann.py                 # both data sets
    python bench/bench_ann.py --frames 2000   # a smaller synthetic set

It also times prediction (energies + forces) on the LDR sample, one pass against two passes.

The LDR paper (one Xeon core, aenet, energies only, 10,842 structures): about 210 min for 300 epochs and
38 h for 3300 epochs, i.e. about 42 s per epoch.
"""

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent


def measure(source, frames, force_weight, threads, epochs):
    import numpy as np

    import ldrx
    from ldrx.models.ann import ANN
    ldrx.set_num_threads(threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if source == "sample":
            data = ldrx.read(ldrx.io.example_data_path(), on_error="skip")
        else:
            sys.path.insert(0, str(HERE))
            import synthetic
            data = synthetic.load(frames)
    t0 = time.perf_counter()
    m = ANN(epochs=0, progress=False).fit(data)  # features, normalisation
    t_setup = time.perf_counter() - t0
    m.hyper.force_weight = force_weight
    t0 = time.perf_counter()
    trainer = m._trainer(data, None, None, np.random.default_rng(0))
    trainer.loss_grad(m.theta)  # first epoch builds the neighbour-list cache when training on forces
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(epochs):
        trainer.loss_grad(m.theta)
    per_epoch = (time.perf_counter() - t0) / epochs
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return dict(source=source, frames=len(data), atoms=data.n_atoms, force_weight=force_weight, threads=threads,
                setup_s=t_setup, first_epoch_s=t_first, epoch_s=per_epoch,
                us_per_atom_epoch=per_epoch / data.n_atoms * 1e6, peak_rss_MiB=rss)


def prediction(repeat=5):
    """µs/atom of ANN energies + forces on the LDR sample: predict (one neighbourhood expansion per atom
    for descriptor, network and adjoint) next to the two-pass path (features, networks, then backward)."""
    import numpy as np

    import ldrx
    from ldrx.models.ann import ANN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = ldrx.read(ldrx.io.example_data_path(), on_error="skip")
    m = ANN(epochs=2, progress=False).fit(data)

    def two_pass():
        spi = m._species_index(data)
        out, dnn = m.networks.evaluate(m.theta, m._normalise(m.descriptor.compute(data), spi), spi, True)
        return m.descriptor.backward(data, dnn * m._inv_sigma[spi] / m.scale)

    def best(fn):
        t = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            t.append(time.perf_counter() - t0)
        return min(t) / data.n_atoms * 1e6

    for threads in (1, 2):
        ldrx.set_num_threads(threads)
        one, two = best(lambda: m.predict(data)), best(two_pass)
        print(f"ANN energy + forces on the LDR sample, {threads} thread(s): predict {one:.1f} µs/atom "
              f"(checks included), two-pass path {two:.1f} µs/atom (x{two / one:.2f})", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=10842)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure(**json.loads(args.one))))
        return
    prediction()
    rows = []
    for source in ("sample", "synthetic"):
        for fw in (0.0, 0.1):
            for threads in (1, 2):
                epochs = args.epochs if (fw == 0 or source == "sample") else max(2, args.epochs // 2)
                spec = dict(source=source, frames=args.frames, force_weight=fw, threads=threads, epochs=epochs)
                out = subprocess.run([sys.executable, __file__, "--one", json.dumps(spec)], capture_output=True,
                                     text=True, check=True)
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
                r = rows[-1]
                print(f"{r['source']:>9s} {r['frames']:6d} frames {r['atoms']:7d} atoms  "
                      f"{'E+F' if r['force_weight'] else 'E  '}  {r['threads']} thr: "
                      f"{r['epoch_s']:8.3f} s/epoch ({r['us_per_atom_epoch']:6.2f} µs/atom)  "
                      f"first epoch {r['first_epoch_s']:6.2f} s  features+setup {r['setup_s']:6.2f} s  "
                      f"peak {r['peak_rss_MiB']:7.0f} MiB", flush=True)
    paper = 210 * 60 / 300
    for r in rows:
        if r["source"] == "synthetic" and r["force_weight"] == 0:
            print(f"energies-only epoch on {r['frames']} frames at {r['threads']} thread(s): {r['epoch_s']:.3f} s "
                  f"vs about {paper:.0f} s for aenet in the LDR paper (x{paper / r['epoch_s']:.0f})")


if __name__ == "__main__":
    main()
