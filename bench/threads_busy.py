"""ANN energies + forces (the ASE calculator's path) in µs/atom at 1 and 2 threads, on an idle machine and
with one core taken by another process (a Python busy loop), under OpenMP wait policies: what ldrx sets
by default (OMP_WAIT_POLICY=passive, unless the user set it or GOMP_SPINCOUNT), a short spin
(GOMP_SPINCOUNT=10000), libgomp's own default (spinning up to 300,000 iterations at each barrier),
OMP_WAIT_POLICY=active and =passive. Each setting runs in its
own process, since libgomp reads the variables when it loads.

    python bench/threads_busy.py [--seconds 3]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

WORKER = r"""
import json, os, sys, time, warnings
import numpy as np
import ldrx
path, threads, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
ldrx.set_num_threads(threads)
m = ldrx.load(path)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    data = ldrx.read(ldrx.io.example_data_path(), on_error="skip")
cell = data.subset([f for f in range(len(data)) if data.natoms[f] == 32][:1])
atoms = cell.to_atoms()[0] * (2, 1, 2)
batch = ldrx.Dataset.from_atoms(atoms)
m.predict(batch)
times = []
t_end = time.perf_counter() + seconds
while time.perf_counter() < t_end:
    t = time.perf_counter()
    m.predict(batch, forces=True, stress=True)
    times.append(time.perf_counter() - t)
print(json.dumps({"us_per_atom": 1e6 * float(np.median(times)) / len(atoms),
                  "spin": os.environ.get("GOMP_SPINCOUNT"), "policy": os.environ.get("OMP_WAIT_POLICY")}))
"""

BUSY = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    pass\n"   # ends with this script


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    import warnings

    import ldrx
    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "ann.ldrx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = ldrx.read(ldrx.io.example_data_path(), on_error="skip")
    ldrx.fit(data.subset(range(40)), model="ann", epochs=2, progress=False).save(path)   # timing only
    settings = {"ldrx default (passive)": {}, "GOMP_SPINCOUNT=10000": {"GOMP_SPINCOUNT": "10000"},
                "libgomp default": {"GOMP_SPINCOUNT": "300000"},
                "OMP_WAIT_POLICY=active": {"OMP_WAIT_POLICY": "active"},
                "OMP_WAIT_POLICY=passive": {"OMP_WAIT_POLICY": "passive"}}
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")}
    print(f"ANN E+F+stress, 128-atom LDR cell, µs/atom (median over {args.seconds:g} s); "
          f"{len(os.sched_getaffinity(0))} cores; load average before: {os.getloadavg()[0]:.2f}")
    print(f"{'wait policy':<26s}{'idle 1 thr':>12s}{'idle 2 thr':>12s}{'busy 1 thr':>12s}{'busy 2 thr':>12s}")
    for name, env in settings.items():
        row = []
        for busy in (False, True):
            hog = subprocess.Popen([sys.executable, "-c", BUSY]) if busy else None
            try:
                if hog:
                    time.sleep(0.5)
                for threads in (1, 2):
                    out = subprocess.run([sys.executable, "-c", WORKER, path, str(threads), str(args.seconds)],
                                         env={**base, **env}, capture_output=True, text=True, check=True)
                    row.append(json.loads(out.stdout.strip().splitlines()[-1])["us_per_atom"])
            finally:
                if hog:
                    hog.kill()
                    hog.wait()
        print(f"{name:<26s}" + "".join(f"{v:12.1f}" for v in row), flush=True)


if __name__ == "__main__":
    main()
