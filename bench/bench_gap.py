"""GAP-E and GAP-EF on the bundled LDR sample: fit time, peak memory, train/test RMSE (90:10, seed 0).

    OMP_NUM_THREADS=1 python bench/bench_gap.py [--variant E EF] [--n-sparse 100] [--full-species]
    python bench/bench_gap.py --synthetic 10842 --threads 2 --variant E     # the synthetic LDR-sized set

Each variant runs in its own process so the peak resident memory (ru_maxrss) is its own. Default SOAP:
n_max 8, l_max 6, r_c 5 Å, atom_sigma 0.5, zeta 4, with the species grouped as Li | O | transition
metals (2,100 features); --full-species uses all 11 channels (27,412 features).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

EL = ["Li", "O", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu"]


def run(variant, n_sparse, full, synthetic=0, radial_basis="gto"):
    import ldrx
    if synthetic:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import synthetic as syn
        train = syn.load(synthetic)
        test = train[: min(300, len(train))]          # the fit is the cost here: errors on the first 300 training frames
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = ldrx.read(ldrx.io.example_data_path(), on_error="skip")
        train, test = data.split(test_fraction=0.1, seed=0)
    comp = None if full else {e: (0 if e == "Li" else 1 if e == "O" else 2) for e in EL}
    hyper = dict(n_max=8, l_max=6, r_cut=5.0, atom_sigma=0.5, zeta=4, n_sparse=n_sparse, sigma_energy=0.005,
                 sigma_force=0.1 if variant == "EF" else None, compression=comp, seed=0, progress=False,
                 radial_basis=radial_basis)
    t = time.perf_counter()
    model = ldrx.fit(train, model="gap", **hyper)
    fit_s = time.perf_counter() - t
    out = {"variant": "GAP-" + variant, "frames": len(train), "atoms": int(train.n_atoms), "fit_s": fit_s, "d": model.descriptor.size, "M": model.info["sparse_points"],
           "rows": model.info["rows"]}
    parts = (("train", test),) if synthetic else (("train", train), ("test", test))
    for name, part in parts:
        p = model.predict(part, stress=False)
        out[f"{name}_E_meV_atom"] = 1e3 * float(np.sqrt(np.mean(((p.energy - part.energy) / part.natoms) ** 2)))
        ok = np.isfinite(part.forces)
        out[f"{name}_F_eV_A"] = float(np.sqrt(np.mean((p.forces[ok] - part.forces[ok]) ** 2)))
    out["peak_MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", nargs="+", default=["E", "EF"])
    ap.add_argument("--n-sparse", type=int, default=100)
    ap.add_argument("--full-species", action="store_true")
    ap.add_argument("--synthetic", type=int, default=0, help="frames of bench/synthetic.py's set instead of the LDR sample")
    ap.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of the fits")
    ap.add_argument("--radial-basis", default="gto")
    ap.add_argument("--child", default=None)
    a = ap.parse_args()
    if a.child:
        run(a.child, a.n_sparse, a.full_species, a.synthetic, a.radial_basis)
        return
    env = dict(os.environ)
    if a.threads:
        env["OMP_NUM_THREADS"] = str(a.threads)
    rows = []
    for v in a.variant:
        cmd = [sys.executable, __file__, "--child", v, "--n-sparse", str(a.n_sparse), "--synthetic", str(a.synthetic),
               "--radial-basis", a.radial_basis] + (["--full-species"] if a.full_species else [])
        res = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if res.returncode:
            print(res.stderr[-2000:])
            continue
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    print(f"threads: {env.get('OMP_NUM_THREADS', 'default')}")
    keys = ["variant", "frames", "atoms", "d", "M", "rows", "fit_s", "peak_MB", "train_E_meV_atom", "test_E_meV_atom", "train_F_eV_A",
            "test_F_eV_A"]
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(f"{r[k]:.3g}" if isinstance(r.get(k), float) else str(r.get(k, "-")) for k in keys) + " |")


if __name__ == "__main__":
    main()
