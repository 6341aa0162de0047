"""GAP covariance rows: the batched path (GEMMs over the sparse points) against the reference path (one SOAP
adjoint per sparse point per centre), side by side on the same frames, plus prediction (energies + forces).

    PYTHONPATH=python OMP_NUM_THREADS=1 python bench/bench_gap_rows.py [--frames 8] [--n-sparse 100] [--full-species]
                                                                       [--nu 11]   # mu1nu1 (Darby et al.)

SOAP n_max 8, l_max 6, r_c 5 Å, atom_sigma 0.5, zeta 4, first frames of the bundled LDR sample; sparse points: random
environments of those frames (n_sparse per species). Prints ms per atom for energy rows (KE) and energy+force rows
(KE, KF, KV), and the largest relative difference between the two paths.
"""
import argparse
import time
import warnings

import numpy as np

import ldrx
from ldrx import _core
from ldrx.descriptors import SOAP

EL = ["Li", "O", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--n-sparse", type=int, default=100)
    ap.add_argument("--full-species", action="store_true")
    ap.add_argument("--radial-basis", default="gto")
    ap.add_argument("--nu", default="22", help="nu_R nu_S as two digits: 22 full spectrum, 11 mu1nu1")
    a = ap.parse_args()
    nu = dict(nu_R=int(a.nu[0]), nu_S=int(a.nu[1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = ldrx.read(ldrx.io.example_data_path(), on_error="skip")
    part = data[: a.frames]
    comp = None if a.full_species else {e: (0 if e == "Li" else 1 if e == "O" else 2) for e in EL}
    d = SOAP(EL, r_cut=5.0, n_max=8, l_max=6, atom_sigma=0.5, radial_basis=a.radial_basis, compression=comp, **nu)
    q = d.compute(data[:40])
    numbers = data[:40].numbers
    rng = np.random.default_rng(0)
    X, offs = [], [0]
    for z in d.species:
        idx = np.flatnonzero(numbers == z)
        pick = rng.choice(idx, min(a.n_sparse, len(idx)), replace=False) if len(idx) else []
        X.append(q[pick].reshape(-1, d.size))
        offs.append(offs[-1] + len(pick))
    X, offs = np.ascontiguousarray(np.vstack(X)), np.array(offs, dtype=np.int64)
    b = part.batch()
    res = {}
    for forces in (False, True):
        for batched in (False, True):
            t = time.perf_counter()
            out = _core.gap_soap_rows(d._impl, b, X, offs, 4.0, forces, batched=batched)
            res[forces, batched] = (time.perf_counter() - t, out)
    n = part.n_atoms
    print(f"d = {d.size}, M = {len(X)}, {len(part)} frames, {n} atoms, threads = {ldrx.get_num_threads() if hasattr(ldrx, 'get_num_threads') else 'OMP_NUM_THREADS'}")
    print("| rows | reference ms/atom | batched ms/atom | speed-up | max rel diff |")
    print("|---|---|---|---|---|")
    for forces in (False, True):
        (t0, o0), (t1, o1) = res[forces, False], res[forces, True]
        diff = max(float(np.abs(u - v).max() / max(np.abs(u).max(), 1e-300)) for u, v in zip(o0, o1) if u is not None)
        print(f"| {'KE+KF+KV' if forces else 'KE'} | {1e3 * t0 / n:.3g} | {1e3 * t1 / n:.3g} | {t0 / t1:.2f}x | {diff:.1e} |")
    # prediction (energies, forces, virials): former numpy kernel + descriptor backward vs one C++ pass
    from ldrx.models.gap import GAP
    model = GAP(n_max=8, l_max=6, r_cut=5.0, atom_sigma=0.5, zeta=4, radial_basis=a.radial_basis, compression=comp, **nu)
    model.species = list(d.species)
    model._make_descriptor()
    model.sparse_points, model.m_offsets = X, offs
    model.alpha = rng.normal(size=len(X))
    model.reference_energies = {z: 0.0 for z in d.species}
    t = time.perf_counter()
    r0 = model._atomic_energies_reference(part, True)
    t0 = time.perf_counter() - t
    t = time.perf_counter()
    r1 = model.atomic_energies(part, True)
    t1 = time.perf_counter() - t
    diff = max(float(np.abs(u - v).max() / np.abs(u).max()) for u, v in zip(r0, r1))
    print(f"| predict E+F+V | {1e3 * t0 / n:.3g} (python) | {1e3 * t1 / n:.3g} (C++) | {t0 / t1:.2f}x | {diff:.1e} |")


if __name__ == "__main__":
    main()
