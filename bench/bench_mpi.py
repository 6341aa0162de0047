"""Strong scaling over MPI ranks (ldrx.parallel): an ANN epoch (energies only, and energies + forces) and a SNAP
fit on the synthetic LDR-sized set (bench/synthetic.py), at ranks x threads = 1x1, 2x1 and 1x2, with the time per
epoch spent in MPI collectives (comm). Every configuration fits the same global set and gives the same model,
bit for bit (checked here: the printed checksums must agree).

    python bench/bench_mpi.py                   # 10,842 frames
    python bench/bench_mpi.py --frames 2000     # smaller
    (needs mpi4py and mpiexec: pip install "ldrx[mpi]")
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent


def worker(frames, epochs, what):
    """Run under mpiexec: each rank takes its contiguous shard of the synthetic set."""
    import numpy as np
    from mpi4py import MPI

    import ldrx
    from ldrx.parallel import as_comm, owned_chunks
    sys.path.insert(0, str(HERE))
    import synthetic
    comm = MPI.COMM_WORLD
    c = as_comm(comm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = synthetic.load(frames)
    a, b = owned_chunks(len(data), c.rank, c.size)
    shard = data[a:b]
    out = {}
    if what in ("ann", "annf"):
        fw = 0.1 if what == "annf" else 0.0
        hyper = dict(epochs=1, force_weight=fw, progress=False, seed=0)
        ldrx.fit(shard, model="ann", comm=comm, **hyper)  # warm-up: descriptors, neighbour caches
        comm.Barrier()
        t = time.perf_counter()
        m = ldrx.fit(shard, model="ann", comm=comm, **{**hyper, "epochs": epochs})
        total = time.perf_counter() - t
        # per epoch: the whole fit minus its set-up (descriptors, statistics) is dominated by the epochs
        h = m.history
        per_epoch = (h[-1]["time_s"] - h[0]["time_s"]) / max(len(h) - 1, 1)
        out = dict(total_s=total, epoch_s=per_epoch, comm_per_epoch_s=m.comm_time_s / max(len(h), 1),
                   checksum=float(np.sum(m.theta)))
    else:
        comm.Barrier()
        t = time.perf_counter()
        m = ldrx.fit(shard, model="snap", comm=comm, chunk_frames=256, progress=False)
        out = dict(total_s=time.perf_counter() - t, comm_s=m.info.get("comm_seconds", 0.0),
                   checksum=float(np.sum(m.coefficients)))
    if c.is_root:
        print("RESULT " + json.dumps(out), flush=True)


def run(ranks, threads, frames, epochs, what):
    exe = shutil.which("mpiexec") or str(Path(sys.executable).parent / "mpiexec")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    cmd = [exe, "-n", str(ranks), sys.executable, __file__, "--worker", what, "--frames", str(frames),
           "--epochs", str(epochs)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(r.stderr[-2000:])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--frames", type=int, default=10842)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--worker", default=None)
    p.add_argument("--only", default="ann,annf,snap")
    a = p.parse_args()
    if a.worker:
        return worker(a.frames, a.epochs, a.worker)
    sys.path.insert(0, str(HERE))
    import synthetic
    synthetic.load(a.frames)  # build the cached set once
    names = {"ann": "ANN epoch, energies", "annf": "ANN epoch, energies + forces (w 0.1)", "snap": "SNAP fit (2J=8)"}
    print(f"synthetic set: {a.frames} frames; ranks x threads; comm = time in MPI collectives")
    print(f"| task | 1x1 (s) | 2x1 (s) | speed-up 2x1 | comm 2x1 (s) | 1x2 (s) | speed-up 1x2 | 2x1 model = 1x1 |")
    print("|---|---|---|---|---|---|---|---|")
    for what in a.only.split(","):
        res = {cfg: run(*cfg, a.frames, a.epochs, what) for cfg in ((1, 1), (2, 1), (1, 2))}
        key = "epoch_s" if what != "snap" else "total_s"
        ckey = "comm_per_epoch_s" if what != "snap" else "comm_s"
        t11, t21, t12 = (res[c][key] for c in ((1, 1), (2, 1), (1, 2)))
        # ranks must not change the model; threads may (SNAP's threaded accumulation depends on the thread count)
        same = res[(1, 1)]["checksum"] == res[(2, 1)]["checksum"]
        print(f"  checksums {what}: " + ", ".join(f"{r}x{t}: {res[(r, t)]['checksum']!r}" for r, t in res),
              file=sys.stderr)
        print(f"| {names[what]} | {t11:.3f} | {t21:.3f} | {t11 / t21:.2f} | {res[(2, 1)][ckey]:.4f} | {t12:.3f} | "
              f"{t11 / t12:.2f} | {'yes' if same else 'NO'} |", flush=True)


if __name__ == "__main__":
    main()
