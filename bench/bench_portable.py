"""Portable wheel vs -march=native, side by side in one run, one thread: Chebyshev descriptor (forward, and
forward + backward) and bispectrum (2J=8) per-atom times on the LDR sample, and one ANN epoch (energies only,
LDR setting) on the sample. Each build runs in its own process:

    baseline   the wheel's portable core (x86-64, SSE2), forced with LDRX_ISA=baseline
    avx2       the wheel's x86-64-v3 copy (what the wheel picks on an AVX2 CPU)
    avx512     the wheel's x86-64-v4 copy (only where the CPU has AVX-512)
    native     a source build with -march=native (cmake default, or pip -Ccmake.define.LDRX_NATIVE=ON)

    python bench/bench_portable.py --wheel-python /tmp/ldrx-wheel-check/venv/bin/python [--native-path python]

--wheel-python: a Python with the wheel installed (.ci/wheel-check makes one); --native-path: a folder holding an
ldrx package with a native _core (default: this checkout's python/, linked to build/dev as in the README).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def measure(repeat):
    import warnings

    import ldrx
    from ldrx import _dispatch
    from ldrx.descriptors import Bispectrum, Chebyshev
    ldrx.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = ldrx.read(ldrx.io.example_data_path(), on_error="skip")
    n = data.n_atoms

    def best(fn):
        ts = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        return min(ts)
    import numpy as np
    cheb = Chebyshev(data.species)
    G = cheb.compute(data)
    dG = np.ones_like(G)
    out = {"isa": _dispatch.ISA, "atoms": n}
    out["cheb_fwd_us"] = best(lambda: cheb.compute(data)) / n * 1e6
    out["cheb_fwd_bwd_us"] = out["cheb_fwd_us"] + best(lambda: cheb.backward(data, dG)) / n * 1e6
    syms = data.symbols
    bis = Bispectrum(twojmax=8, rcutfac=4.2, radelem={s: 0.5 for s in syms}, wj={s: 1.0 for s in syms})
    out["bisp_fwd_us"] = best(lambda: bis.compute(data)) / n * 1e6
    m = ldrx.models.ANN(epochs=1, progress=False)
    m.fit(data)
    t = time.perf_counter()
    m = ldrx.models.ANN(epochs=1 + 5, progress=False).fit(data)
    h = m.history
    out["ann_epoch_s"] = (h[-1]["time_s"] - h[0]["time_s"]) / (len(h) - 1)
    out["checksum_G"] = float(G.sum())
    print("RESULT " + json.dumps(out), flush=True)


def run(python, env_extra, repeat):
    env = dict(os.environ, OMP_NUM_THREADS="1", **env_extra)
    r = subprocess.run([python, __file__, "--worker", "--repeat", str(repeat)], capture_output=True, text=True,
                       env=env, cwd="/tmp")
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"error": (r.stderr.strip().splitlines() or ["?"])[-1]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wheel-python", default="/tmp/ldrx-wheel-check/venv/bin/python")
    ap.add_argument("--native-path", default=str(HERE.parent / "python"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--worker", action="store_true")
    a = ap.parse_args()
    if a.worker:
        return measure(a.repeat)
    rows = []
    for name, py, env in (("wheel, baseline (x86-64)", a.wheel_python, {"LDRX_ISA": "baseline", "PYTHONPATH": ""}),
                          ("wheel, avx2 (x86-64-v3)", a.wheel_python, {"LDRX_ISA": "avx2", "PYTHONPATH": ""}),
                          ("wheel, avx512 (x86-64-v4)", a.wheel_python, {"LDRX_ISA": "avx512", "PYTHONPATH": ""}),
                          ("source, -march=native", sys.executable, {"PYTHONPATH": a.native_path})):
        rows.append((name, run(py, env, a.repeat)))
    print("one thread, LDR sample; µs/atom (descriptor) and s/epoch (ANN, energies only, LDR setting)")
    print("| build | Chebyshev fwd | Chebyshev fwd+bwd | bispectrum 2J=8 fwd | ANN epoch (s) |")
    print("|---|---|---|---|---|")
    for name, r in rows:
        if "error" in r:
            print(f"| {name} | not run: {r['error'][:80]} | | | |")
        else:
            print(f"| {name} | {r['cheb_fwd_us']:.2f} | {r['cheb_fwd_bwd_us']:.2f} | {r['bisp_fwd_us']:.2f} | "
                  f"{r['ann_epoch_s']:.3f} |")


if __name__ == "__main__":
    main()
