"""ldrx GAP against QUIP's gap_fit + quippy Potential on a small Li/O set (equal hyper-parameters, same sparse points).

    PYTHONPATH=python OMP_NUM_THREADS=1 python bench/quip_gap_check.py [--frames 24] [--forces] [--n-max 6 --l-max 4]

Random periodic Li/O cells labelled with a Lennard-Jones calculator (any smooth labels do: this compares two
regressions, not a potential), written as extxyz. Sparse points: a seeded random choice of training atoms per
species, handed to gap_fit as sparse_method=INDEX_FILE (1-based ranks among the descriptors of that species) and to
ldrx as ``sparse_atoms``. SOAP with radial_basis="equispaced" (QUIP's default basis), dot-product kernel
delta^2 (q.x)^zeta, the same e0, default_sigma and sparse_jitter (gap_fit adds it unscaled, ldrx times delta^2).
Prints the largest differences of test-set energies (eV/atom) and forces (eV/Å) between the two codes, and both
codes' fit times. Needs quippy-ase (it ships the gap_fit binary).
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def labelled_frames(n_frames, seed, n_atoms=(6, 14)):
    from ase import Atoms
    from ase.calculators.lj import LennardJones
    from ase.calculators.singlepoint import SinglePointCalculator
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n_frames:
        n = int(rng.integers(*n_atoms))
        a = (n / 0.07) ** (1 / 3)
        cell = np.diag(rng.uniform(0.85, 1.15, 3)) * a + rng.uniform(-0.15, 0.15, (3, 3)) * a * (1 - np.eye(3))
        pos = []
        while len(pos) < n:
            p = rng.uniform(0, 1, 3) @ cell
            t = Atoms("H" * (len(pos) + 1), positions=pos + [p], cell=cell, pbc=True)
            if not pos or t.get_distances(len(pos), list(range(len(pos))), mic=True).min() > 1.6:
                pos.append(p)
        at = Atoms(numbers=rng.choice([3, 8], n), positions=pos, cell=cell, pbc=True)
        at.calc = LennardJones(sigma=1.8, epsilon=0.05, rc=4.5, smooth=True)
        e, f = at.get_potential_energy(), at.get_forces()
        at.calc = SinglePointCalculator(at, energy=e, forces=f)
        out.append(at)
    return out


def gap_fit_binary():
    import quippy
    path = os.path.join(os.path.dirname(quippy.__file__), "gap_fit")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no gap_fit binary next to quippy ({path})")
    return path


def compare(n_frames=24, n_test=6, n_max=6, l_max=4, r_cut=4.5, atom_sigma=0.5, zeta=4, delta=0.5, n_sparse=20,
            sigma_energy=0.002, sigma_force=None, e0=(-1.5, -2.5), seed=0, workdir=None, verbose=True, nu=(2, 2)):
    """Fit both codes on the same random Li/O data; returns dict of the largest |ldrx - QUIP| energy (eV/atom) and
    force (eV/Å) differences on held-out frames, plus timings."""
    frames = labelled_frames(n_frames + n_test, seed)
    return fit_both(frames[:n_frames], frames[n_frames:], {"Li": e0[0], "O": e0[1]}, n_max=n_max, l_max=l_max,
                    r_cut=r_cut, atom_sigma=atom_sigma, zeta=zeta, delta=delta, n_sparse=n_sparse,
                    sigma_energy=sigma_energy, sigma_force=sigma_force, seed=seed, workdir=workdir, verbose=verbose,
                    nu=nu)


def fit_both(train_at, test_at, e0, n_max=6, l_max=4, r_cut=4.5, atom_sigma=0.5, zeta=4, delta=0.5, n_sparse=20,
             sigma_energy=0.002, sigma_force=None, seed=0, workdir=None, verbose=True, nu=(2, 2)):
    """gap_fit and ldrx on the same labelled ASE frames; e0 {element: eV} names the species (all of them).
    nu = (nu_R, nu_S): the SOAP compression of Darby et al. (QUIP's soap nu_R, nu_S; (2, 2) the full spectrum)."""
    import ase.io
    from ase.data import atomic_numbers
    import ldrx
    from quippy.potential import Potential

    species = sorted(atomic_numbers[e] for e in e0)
    train = ldrx.Dataset.from_atoms(train_at)
    rng = np.random.default_rng(seed + 1)
    sparse, files = [], {}
    tmp = workdir or tempfile.mkdtemp(prefix="ldrx_quip_")
    for z in species:
        idx = np.flatnonzero(train.numbers == z)
        if len(idx) == 0:
            raise ValueError(f"species {z} has no atoms in the training frames")
        pick = np.sort(rng.choice(len(idx), min(n_sparse, len(idx)), replace=False))
        sparse.extend(idx[pick].tolist())
        files[z] = os.path.join(tmp, f"sparse_{z}.txt")
        np.savetxt(files[z], pick + 1, fmt="%d")        # gap_fit: 1-based rank among this species' descriptors
    xyz = os.path.join(tmp, "train.xyz")
    ase.io.write(xyz, train_at, format="extxyz")
    zs = " ".join(str(z) for z in species)
    soap = (f"soap cutoff={r_cut} cutoff_transition_width=0.5 l_max={l_max} n_max={n_max} atom_sigma={atom_sigma} "
            f"n_species={len(species)} species_Z={{{{{zs}}}}} radial_basis=EQUISPACED_GAUSS covariance_type=dot_product "
            f"zeta={zeta} delta={delta} add_species=F sparse_method=INDEX_FILE"
            + ("" if tuple(nu) == (2, 2) else f" nu_R={nu[0]} nu_S={nu[1]}"))
    gap = " : ".join(f"{soap} Z={z} n_sparse={len(np.loadtxt(files[z], ndmin=1))} sparse_file={os.path.basename(files[z])}"
                     for z in species)
    sf = 0.1 if sigma_force is None else sigma_force
    xml = os.path.join(tmp, "gap.xml")
    e0s = ":".join(f"{k}:{v}" for k, v in e0.items())
    args = [f"at_file={xyz}", f"gap={{{gap}}}", f"e0={{{e0s}}}",
            f"default_sigma={{{sigma_energy} {sf} 0.0 0.0}}", "sparse_jitter=1e-10", f"gp_file={xml}",
            "energy_parameter_name=energy", "force_parameter_name=" + ("forces" if sigma_force else "no_forces"),
            "virial_parameter_name=no_virial", "do_copy_at_file=F", "sparse_separate_file=F"]
    with open(os.path.join(tmp, "gap_fit.conf"), "w") as fh:     # the command line is too short for many species
        fh.write("\n".join(args) + "\n")
    cmd = [gap_fit_binary(), "config_file=gap_fit.conf"]
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    t = time.perf_counter()
    res = subprocess.run(["/usr/bin/time", "-f", "MAXRSS_KB %M"] + cmd if os.path.exists("/usr/bin/time") else cmd,
                         cwd=tmp, capture_output=True, text=True, env=env)
    t_quip = time.perf_counter() - t
    if res.returncode:
        raise RuntimeError("gap_fit failed:\n" + res.stdout[-3000:] + res.stderr[-3000:])
    rss = [line.split()[1] for line in res.stderr.splitlines() if line.startswith("MAXRSS_KB")]
    t = time.perf_counter()
    model = ldrx.fit(train, model="gap", radial_basis="equispaced", n_max=n_max, l_max=l_max, r_cut=r_cut,
                     atom_sigma=atom_sigma, cutoff_width=0.5, zeta=zeta, delta=delta, sparse_atoms=sparse,
                     sigma_energy=sigma_energy, sigma_force=sigma_force, sparse_jitter=1e-10 / delta ** 2,
                     reference_energies=dict(e0), progress=False, nu_R=nu[0], nu_S=nu[1])
    t_ldrx = time.perf_counter() - t
    pot = Potential(param_filename=xml)
    test = ldrx.Dataset.from_atoms(test_at)
    pred = model.predict(test, stress=False)
    eq, fq = [], []
    for at in test_at:
        b = at.copy()
        b.calc = pot
        eq.append(b.get_potential_energy())
        fq.append(b.get_forces())
    eq, fq = np.array(eq), np.vstack(fq)
    out = {"dE_eV_atom": float(np.abs((pred.energy - eq) / test.natoms).max()),
           "dF_eV_A": float(np.abs(pred.forces - fq).max()),
           "E_spread_eV_atom": float(np.std(eq / test.natoms)),
           "F_rms_eV_A": float(np.sqrt(np.mean(fq ** 2))),
           "M": len(sparse), "d": int(model.descriptor.size), "rows": int(model.info["rows"]),
           "gap_fit_s": t_quip, "gap_fit_peak_MB": float(rss[0]) / 1024 if rss else None, "ldrx_s": t_ldrx}
    if verbose:
        print(out)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--test", type=int, default=6)
    ap.add_argument("--n-max", type=int, default=6)
    ap.add_argument("--l-max", type=int, default=4)
    ap.add_argument("--n-sparse", type=int, default=20)
    ap.add_argument("--forces", action="store_true", help="fit forces too (GAP-EF, sigma_force 0.1 eV/Å)")
    ap.add_argument("--nu", default="22", help="SOAP nu_R nu_S as two digits (22 full spectrum, 11 mu1nu1)")
    ap.add_argument("--synthetic", type=int, default=0,
                    help="instead of the Li/O set: the first N frames of bench/synthetic.py's 11-element set "
                         "(r_c 5, atom_sigma 0.5; --test more frames held out)")
    a = ap.parse_args()
    if a.synthetic:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import synthetic
        frames = synthetic.load(10842).subset(list(range(a.synthetic + a.test))).to_atoms()
        el = ["Li", "O", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu"]
        fit_both(frames[:a.synthetic], frames[a.synthetic:], {e: 0.0 for e in el}, n_max=a.n_max, l_max=a.l_max,
                 r_cut=5.0, atom_sigma=0.5, zeta=4, delta=1.0, n_sparse=a.n_sparse,
                 sigma_energy=0.005, sigma_force=0.1 if a.forces else None, nu=(int(a.nu[0]), int(a.nu[1])))
        return
    compare(a.frames, a.test, a.n_max, a.l_max, n_sparse=a.n_sparse, sigma_force=0.1 if a.forces else None,
            nu=(int(a.nu[0]), int(a.nu[1])))


if __name__ == "__main__":
    sys.exit(main())
