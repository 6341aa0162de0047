"""GAP-E and GAP-EF on the bundled LDR sample: fit time, peak memory, train/test RMSE (90:10, seed 0).

    OMP_NUM_THREADS=1 python bench/bench_gap.py [--variant E EF] [--n-sparse 100] [--full-species]
    python bench/bench_gap.py --synthetic 10842 --threads 2 --variant E     # the synthetic LDR-sized set
    OMP_NUM_THREADS=1 python bench/bench_gap.py --soap full grouped mu1nu1 mu1nu1-grouped --variant E EF
                                                # length / accuracy trade-off of the SOAP compressions
    OMP_NUM_THREADS=1 python bench/bench_gap.py --soap grouped mu1nu1 --variant E EF --cv   # the same, grouped CV

Each (variant, SOAP) runs in its own process so the peak resident memory (ru_maxrss) is its own. Default SOAP:
n_max 8, l_max 6, r_c 5 Å, atom_sigma 0.5, zeta 4, with the species grouped as Li | O | transition
metals (2,100 features); --full-species uses all 11 channels (27,412 features). --soap picks one or more
SOAP presets (all with the same n_max, l_max, --n-max / --l-max):
    full            11 species channels, full power spectrum
    grouped         channels Li | O | TM (element grouping), full power spectrum
    mu1nu1          11 channels, Darby et al.'s nu_R = 1, nu_S = 1 compression (length 11 n_max (l_max+1))
    mu1nu1-grouped  Li | O | TM channels and nu_R = 1, nu_S = 1
    nuRS[-grouped]  any nu_R = R, nu_S = S (nu11 = mu1nu1, nu22 = full)
The --soap table adds test* (the test frames the model flags as extrapolations left out, ldrx.evaluate) and the
SOAP time per atom (forward; forward + backward; medians of 3) on the first 20 training frames.
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


GROUPED = {e: (0 if e == "Li" else 1 if e == "O" else 2) for e in EL}
PRESETS = {"full": dict(compression=None), "grouped": dict(compression=GROUPED),
           "mu1nu1": dict(compression=None, nu_R=1, nu_S=1), "mu1nu1-grouped": dict(compression=GROUPED, nu_R=1, nu_S=1)}
for _r in range(3):          # nuRS and nuRS-grouped: any (nu_R, nu_S)
    for _s in range(3):
        PRESETS[f"nu{_r}{_s}"] = dict(compression=None, nu_R=_r, nu_S=_s)
        PRESETS[f"nu{_r}{_s}-grouped"] = dict(compression=GROUPED, nu_R=_r, nu_S=_s)


def gap_hyper(variant, n_sparse, full, radial_basis="gto", soap=None, n_max=8, l_max=6, sigma_energy=0.005):
    """GAP hyper-parameters of a variant ("E" or "EF") and SOAP preset."""
    hyper = dict(n_max=n_max, l_max=l_max, r_cut=5.0, atom_sigma=0.5, zeta=4, n_sparse=n_sparse, sigma_energy=sigma_energy,
                 sigma_force=0.1 if variant == "EF" else None, compression=None if full else GROUPED, seed=0,
                 progress=False, radial_basis=radial_basis)
    if soap:
        hyper.update(PRESETS[soap])
    return hyper


def cv(a):
    """5-fold cross-validation grouped by reduced composition (seed 0) of each (SOAP preset, variant) on the
    sample's 329 frames: mean ± spread over the folds of the held-out RMSE."""
    import ldrx
    import ldrx.select as sel
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = ldrx.read(ldrx.io.example_data_path(), on_error="skip")
    print(f"GAP, 5 folds grouped by composition, seed 0, {len(data)} frames; {ldrx.get_num_threads()} thread(s)\n")
    print("| SOAP | variant | sigma_E (eV/atom) | E RMSE (meV/atom) | F RMSE (eV/Å) | E RMSE per fold | CV time (s) |")
    print("|---|---|---|---|---|---|---|")
    for soap in a.soap:
        for v in a.variant:
            for se in a.sigma_energy:
                t = time.perf_counter()
                hyper = gap_hyper(v, a.n_sparse, False, a.radial_basis, soap, a.n_max, a.l_max, se)
                del hyper["seed"], hyper["progress"]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    r = sel.cross_validate(data, "gap", folds=5, groups="composition", seed=0, progress=False,
                                           **hyper)
                mean, std = r["mean"], r["std"]
                per = " ".join(f"{f['energy_rmse_meV_per_atom']:.1f}" for f in r["folds"])
                print(f"| {soap} | GAP-{v} | {se:g} | {mean['energy_rmse_meV_per_atom']:.1f} ± "
                      f"{std['energy_rmse_meV_per_atom']:.1f} | {mean['forces_rmse_eV_per_A']:.3f} ± "
                      f"{std['forces_rmse_eV_per_A']:.3f} | {per} | {time.perf_counter() - t:.0f} |", flush=True)


def run(variant, n_sparse, full, synthetic=0, radial_basis="gto", soap=None, n_max=8, l_max=6):
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
    hyper = gap_hyper(variant, n_sparse, full, radial_basis, soap, n_max, l_max)
    t = time.perf_counter()
    model = ldrx.fit(train, model="gap", **hyper)
    fit_s = time.perf_counter() - t
    out = {"variant": "GAP-" + variant, "frames": len(train), "atoms": int(train.n_atoms), "fit_s": fit_s, "d": model.descriptor.size, "M": model.info["sparse_points"],
           "rows": model.info["rows"]}
    if soap:
        out["soap"] = soap
        import warnings as _w

        from ldrx.evaluate import metrics_rows
        from ldrx.errors import ExtrapolationWarning
        with _w.catch_warnings():
            _w.simplefilter("ignore", ExtrapolationWarning)
            rows = metrics_rows(model, {"train": train, "test": test})
        for name, m in rows.items():
            key = "test*" if name.startswith("test*") else name
            out[f"{key}_E_meV_atom"] = m["energy_rmse_meV_per_atom"]
            out[f"{key}_F_eV_A"] = m["forces_rmse_eV_per_A"]
            if key == "test*":
                out["left_out"] = name[len("test* "):]
        out.setdefault("test*_E_meV_atom", out["test_E_meV_atom"])
        out.setdefault("test*_F_eV_A", out["test_F_eV_A"])
        # SOAP time per atom on the first 20 training frames (the model's descriptor; medians of 3 runs)
        sub, desc = train[:20], model.descriptor
        q = desc.compute(sub)
        g = np.random.default_rng(0).normal(size=q.shape)

        def med(fn):
            ts = []
            for _ in range(3):
                t = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t)
            return float(np.median(ts)) / sub.n_atoms * 1e6
        out["fwd_us_atom"] = med(lambda: desc.compute(sub))
        out["fwdbwd_us_atom"] = med(lambda: (desc.compute(sub), desc.backward(sub, g)))
        out["peak_MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(out))
        return
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
    ap.add_argument("--soap", nargs="+", default=None, choices=list(PRESETS), metavar="PRESET",
                    help="SOAP presets for the length / accuracy table (see the module docstring)")
    ap.add_argument("--n-max", type=int, default=8)
    ap.add_argument("--l-max", type=int, default=6)
    ap.add_argument("--cv", action="store_true", help="with --soap: grouped 5-fold cross-validation instead")
    ap.add_argument("--sigma-energy", type=float, nargs="+", default=[0.005], help="eV/atom (--cv: one row each)")
    ap.add_argument("--child", default=None)
    ap.add_argument("--child-soap", default=None)
    a = ap.parse_args()
    if a.child:
        run(a.child, a.n_sparse, a.full_species, a.synthetic, a.radial_basis, a.child_soap, a.n_max, a.l_max)
        return
    if a.soap:
        return cv(a) if a.cv else tradeoff(a)
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


def tradeoff(a):
    """One child per (SOAP preset, variant); prints the length / accuracy / time table."""
    env = dict(os.environ)
    if a.threads:
        env["OMP_NUM_THREADS"] = str(a.threads)
    rows = []
    for soap in a.soap:
        for v in a.variant:
            cmd = [sys.executable, __file__, "--child", v, "--child-soap", soap, "--n-sparse", str(a.n_sparse),
                   "--radial-basis", a.radial_basis, "--n-max", str(a.n_max), "--l-max", str(a.l_max)]
            res = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if res.returncode:
                print(res.stderr[-2000:])
                continue
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    print(f"threads: {env.get('OMP_NUM_THREADS', 'default')}; SOAP n_max {a.n_max}, l_max {a.l_max}, r_c 5, "
          f"{a.radial_basis} basis; zeta 4, {a.n_sparse} sparse points per species (CUR), sigma_E 5 meV/atom, "
          f"sigma_F 0.1 eV/Å (EF); test* {rows[0].get('left_out', '(nothing flagged)') if rows else ''}")
    keys = [("soap", "SOAP"), ("variant", "fit"), ("d", "d"), ("train_E_meV_atom", "E train"),
            ("test_E_meV_atom", "E test"), ("test*_E_meV_atom", "E test*"), ("train_F_eV_A", "F train"),
            ("test_F_eV_A", "F test"), ("test*_F_eV_A", "F test*"), ("fit_s", "fit s"),
            ("fwd_us_atom", "SOAP fwd us/atom"), ("fwdbwd_us_atom", "SOAP fwd+bwd us/atom"), ("peak_MB", "peak MB")]
    print("| " + " | ".join(h for _, h in keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(f"{r[k]:.3g}" if isinstance(r.get(k), float) else str(r.get(k, "-")) for k, _ in keys)
              + " |")


if __name__ == "__main__":
    main()
