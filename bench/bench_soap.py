"""SOAP per-atom time, forward and forward+backward, ldrx vs featomic vs dscribe on the same cells.

    OMP_NUM_THREADS=1 python bench/bench_soap.py [--frames 4] [--threads 1 2] [--n-max 8 --l-max 6]
    OMP_NUM_THREADS=1 python bench/bench_soap.py --threads 1 --nu 22 11 --no-peers   # full vs mu1nu1 (ldrx only)

11 elements, r_c 5 Å, atom_sigma 0.5, frames from the bundled LDR sample. featomic: GTO, max_radial =
n_max - 1, gradients w.r.t. positions for the backward column (featomic's rayon pool has the size
RAYON_NUM_THREADS had at start, so run once per thread count with both variables set); dscribe: gto basis, forward only
(its analytic derivatives are for non-periodic systems). Times are medians of 3 runs (featomic with
gradients: one run). --nu RS ... adds ldrx columns for the compressed spectra (Darby et al.; nu_R = R, nu_S = S;
"11" is mu1nu1, "22" the full spectrum), measured side by side in the same run.
"""
import argparse
import time
import warnings

import numpy as np

import ldrx
from ldrx.descriptors import SOAP

EL = ["Li", "O", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu"]


def med(fn, reps=3):
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--n-max", type=int, default=8)
    ap.add_argument("--l-max", type=int, default=6)
    ap.add_argument("--nu", nargs="+", default=["22"], help="(nu_R nu_S) pairs as digits: 22 full, 11 mu1nu1, ...")
    ap.add_argument("--no-peers", action="store_true", help="ldrx only (no featomic / dscribe columns)")
    a = ap.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = ldrx.read(ldrx.io.example_data_path(), on_error="skip")[: a.frames]
    atoms = data.to_atoms()
    n = data.n_atoms
    descs = {}
    for nu in a.nu:
        tag = "" if nu == "22" else " mu1nu1" if nu == "11" else f" nu_R={nu[0]} nu_S={nu[1]}"
        descs[tag] = SOAP(EL, r_cut=5.0, n_max=a.n_max, l_max=a.l_max, atom_sigma=0.5, nu_R=int(nu[0]), nu_S=int(nu[1]))
    print(f"{len(data)} frames, {n} atoms, d = " + ", ".join(f"{d.size}{t}" for t, d in descs.items()))
    rows = []
    for th in a.threads:
        ldrx.set_num_threads(th)
        row = {"threads": th}
        for tag, desc in descs.items():
            row[f"ldrx{tag} fwd"] = med(lambda: desc.compute(data)) / n * 1e6
            q = desc.compute(data)
            g = np.random.default_rng(0).normal(size=q.shape)
            row[f"ldrx{tag} fwd+bwd"] = med(lambda: (desc.compute(data), desc.backward(data, g))) / n * 1e6
        if a.no_peers:
            rows.append(row)
            continue
        try:
            import featomic
            hyp = dict(cutoff={"radius": 5.0, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
                       density={"type": "Gaussian", "width": 0.5},
                       basis={"type": "TensorProduct", "max_angular": a.l_max,
                              "radial": {"type": "Gto", "max_radial": a.n_max - 1}})
            calc = featomic.SoapPowerSpectrum(**hyp)
            row["featomic fwd"] = med(lambda: calc.compute(atoms)) / n * 1e6
            row["featomic grad"] = med(lambda: calc.compute(atoms, gradients=["positions"]), reps=1) / n * 1e6
        except ImportError:
            pass
        try:
            from dscribe.descriptors import SOAP as DS
            ds = DS(species=EL, r_cut=5.0, n_max=a.n_max, l_max=a.l_max, sigma=0.5, periodic=True)
            row["dscribe fwd"] = med(lambda: ds.create(atoms, n_jobs=th)) / n * 1e6
        except ImportError:
            pass
        rows.append(row)
    keys = list(rows[0])
    print("| " + " | ".join(k + (" (us/atom)" if k != "threads" else "") for k in keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(f"{r[k]:.0f}" if k != "threads" else str(r[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
