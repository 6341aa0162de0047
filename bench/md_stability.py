"""Do the default models trained on the bundled LDR sample survive MD? NVT with ASE's Langevin thermostat
(300 K, 1 fs, friction 0.01 /fs) for 10 ps on a 128-atom LDR cell (the sample's 32-atom Li8Mn4Ni4O16 frame,
2 x 1 x 2), for each model with each repulsive baseline, printing per model the shortest distance of each
species pair over the trajectory next to the training set's, the mean temperature, whether the run is
physical, and the wall time.

    OMP_NUM_THREADS=1 python bench/md_stability.py                      # default ANN and SNAP, wall and none
    python bench/md_stability.py --ps 2 --repulsion wall zbl none
    python bench/md_stability.py --ann-file /tmp/ann.ldrx --snap-file /tmp/snap.ldrx   # cached fits
    python bench/md_stability.py --models ann --ann-force-weight 0.01 --full   # the ANN trained on forces too
    python bench/md_stability.py --models ann --ann-force-weight 0.1 --ann-zbl-delta --repulsion fitted
    python bench/md_stability.py --models ann --ann-force-weight 0.1 --ann-augment 0.08 2   # + displaced frames

The models are ``ldrx.fit(train, model=NAME)`` with every default (ANN: 500 epochs, energies only) on the
sample's 90 % split (seed 0), fitted once without a baseline; the baselines are then attached from the same
training set (the wall is zero on every training frame, so the fitted networks/coefficients are the same as
a fit with the wall on; a test checks that).

``--ann-zbl-delta`` fits the ANN to the labels minus a ZBL repulsion that is switched off only between
ZBL_DELTA_SWITCH (1-4 Å), i.e. non-zero on every training frame (Δ-learning on ZBL, as NequIP's ZBL pair
term); such a model runs with the baseline it was fitted on (``--repulsion fitted``).

``--ann-augment SIGMA COPIES`` adds COPIES rattled copies (Gaussian, SIGMA Å) of every training frame to the
ANN's training set, labelled with the frame's DFT energy and forces plus the change the default SNAP predicts
between the DFT structure and the rattled one: a stand-in for DFT frames at thermal displacements, which the
sample lacks (70 % of its force components are below 0.1 eV/Å). It tests whether an ANN is soft because of
the data rather than the code.

Before MD, each model's *stiffness* on the start cell is printed: the energy rise per atom for a Gaussian
rattle of 0.05 Å (ase's ``rattle(0.05, seed=1)``), and the harmonic force constant it implies,
k = 2 dE / (3 N sigma^2). A potential much softer than the others at the DFT structure cannot hold the
lattice at 300 K however good its test errors.

A run is *physical* when all of these hold over the whole run (sampled every 10 fs):
- no species pair comes closer than 0.85 x its *typical* shortest distance in the training set, the
  2nd percentile over the training frames of the frame's shortest distance of that pair (the plain minimum
  is set by single strongly compressed frames, e.g. Li-O 1.57 Å where 2 % of the frames have 1.83 Å or
  less; both are printed);
- the mean temperature is within 10 % of the target;
- no atom moves more than 3 Å from its start (no melting or rearrangement of the lattice);
- the potential energy stays finite.
A run stops as soon as a pair breaks the first rule (with --full: only when it is beyond repair, a pair
closer than 0.5 x the typical distance, a non-finite energy, or the model refusing the structure).
kill -TERM (or Ctrl-C) stops the current run and prints the tables so far.
"""

import argparse
import time
import warnings

import numpy as np

import ldrx
from ldrx import _core
from ldrx.models.base import DOMAIN_CUTOFF

MIN_FRACTION = 0.85      # physical: every pair >= this x the typical training shortest distance
T_TOLERANCE = 0.10       # physical: |mean T - target| <= this x target
MAX_DISPLACEMENT = 3.0   # Å, physical: no atom further than this from its start
HOPELESS_FRACTION = 0.5  # stop the run: a pair closer than this x the typical training distance
ZBL_DELTA_SWITCH = (1.0, 4.0)  # Å: --ann-zbl-delta's ZBL is full below the first, switched off at the second
RATTLE = 0.05            # Å, the stiffness probe's Gaussian displacement


def fit(name, data, path, settings=None, zbl_delta=False):
    """The model `name` fitted on `data` without a baseline (or loaded from `path`); with `zbl_delta`, fitted
    to the labels minus a ZBL repulsion switched off between ZBL_DELTA_SWITCH and carrying it."""
    if path:
        return ldrx.load(path)
    if not zbl_delta:
        return ldrx.fit(data, model=name, progress=False, repulsion=None, **(settings or {}))
    from ldrx.models.base import Model
    from ldrx.models.repulsion import ZBLBaseline
    species = sorted(set(int(z) for z in data.numbers))
    S = len(species)
    holder = Model()
    holder.repulsion = ZBLBaseline(species, np.full((S, S), ZBL_DELTA_SWITCH[0]), np.full((S, S), ZBL_DELTA_SWITCH[1]))
    model = ldrx.fit(holder.without_baseline(data), model=name, progress=False, repulsion=None, **(settings or {}))
    model.repulsion = holder.repulsion
    return model


def augment(train, sigma, copies, seed=0):
    """`train` plus `copies` rattled copies of each frame (Gaussian, `sigma` Å) labelled with the frame's DFT
    labels extended by the default SNAP's local change: E_DFT + E_SNAP(rattled) - E_SNAP(DFT structure), and the
    same for forces. A stand-in for DFT frames at thermal displacements, which the sample lacks (a teacher
    model's labels, as in Gardner et al.'s synthetic pre-training, Mach. Learn.: Sci. Technol. 5, 015003, 2024)."""
    from ase.calculators.singlepoint import SinglePointCalculator
    snap = ldrx.fit(train, model="snap", progress=False)
    at_dft = snap.predict(train)
    frames = train.to_atoms()
    out = []
    for c in range(copies):
        rattled = [a.copy() for a in frames]
        for i, a in enumerate(rattled):
            a.rattle(sigma, seed=seed + 1000 * c + i)
        at_rattled = snap.predict(ldrx.Dataset.from_atoms(rattled))
        for i, a in enumerate(rattled):
            s, e = train.offsets[i], train.offsets[i + 1]
            a.calc = SinglePointCalculator(
                a, energy=train.energy[i] + at_rattled.energy[i] - at_dft.energy[i],
                forces=train.forces[s:e] + at_rattled.forces[s:e] - at_dft.forces[s:e])
        out += rattled
    return ldrx.Dataset.concatenate([train, ldrx.Dataset.from_atoms(out)])


def stiffness(model, atoms):
    """(energy rise per atom in meV, force constant in eV/Å^2) of `model` for a RATTLE Gaussian rattle of `atoms`."""
    a = atoms.copy()
    a.calc = model.calculator()
    e0 = a.get_potential_energy()
    a.rattle(RATTLE, seed=1)
    de = a.get_potential_energy() - e0
    return 1000 * de / len(a), 2 * de / (3 * len(a) * RATTLE ** 2)


def set_baseline(model, kind, train, typical=None):
    """Attach the baseline `kind` to a model fitted without one (as a fit with repulsion=kind would).
    "wall-typical" (a diagnostic, not a library setting): the wall at the typical training distances instead
    of the shortest (it is NOT zero on the training frames with shorter pairs)."""
    from ldrx.models.repulsion import PairWall
    if kind == "fitted":       # the baseline the model was fitted with (its networks learned the rest)
        return model
    model.repulsion = None
    if kind == "wall-typical":
        model.learn_domain(train)
        model.repulsion = PairWall.from_min_distance(model.species, np.where(np.isfinite(typical), typical, np.inf),
                                                     DOMAIN_CUTOFF)
    elif kind != "none":
        model.learn_domain(train)
        model.subtract_baseline(train, kind)
    return model


def typical_min(train, species):
    d = _core.pair_min_distances(train.batch(), DOMAIN_CUTOFF, species)
    S = len(species)
    out = np.full((S, S), np.inf)
    for a in range(S):
        for b in range(S):
            v = np.sort(d[:, a, b][np.isfinite(d[:, a, b])])
            if v.size:
                out[a, b] = v[int(0.02 * v.size)]
    return out, d.min(axis=0)


def run(model, atoms, args, typical):
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    atoms = atoms.copy()
    atoms.calc = model.calculator()
    MaxwellBoltzmannDistribution(atoms, temperature_K=args.temperature, rng=np.random.default_rng(args.seed))
    Stationary(atoms)
    dyn = Langevin(atoms, args.dt * units.fs, temperature_K=args.temperature, friction=0.01 / units.fs,
                   rng=np.random.default_rng(args.seed))
    species = [int(z) for z in model.species]
    S = len(species)
    closest = np.full((S, S), np.inf)
    temp, epot = [], []
    start = atoms.get_positions().copy()
    max_disp = 0.0
    every = max(1, int(round(10 / args.dt)))            # sample every 10 fs
    n_blocks = int(round(args.ps * 1000 / args.dt)) // every
    stopped = None
    t0 = time.perf_counter()
    for block in range(n_blocks):
        try:
            dyn.run(every)
        except KeyboardInterrupt:  # Ctrl-C / kill -INT: stop here, still print the tables
            stopped = "interrupted"
            break
        except Exception as exc:   # the model refuses the structure (e.g. atoms closer than the ANN's r_min)
            stopped = f"{type(exc).__name__}: {str(exc)[:80]}"
            break
        d = _core.pair_min_distances(ldrx.Dataset.from_atoms(atoms).batch(), DOMAIN_CUTOFF, species)[0]
        closest = np.minimum(closest, d)
        ep = atoms.get_potential_energy() / len(atoms)
        epot.append(ep)
        temp.append(atoms.get_temperature())
        max_disp = max(max_disp, float(np.linalg.norm(atoms.get_positions() - start, axis=1).max()))
        if not np.isfinite(ep) or (np.isfinite(typical) & (closest < HOPELESS_FRACTION * typical)).any():
            stopped = "collapsed" if np.isfinite(ep) else "energy not finite"
            break
        if not args.full and (np.isfinite(typical) & (closest < MIN_FRACTION * typical)).any():
            stopped = "not physical any more; --full runs on"
            break
        if (block + 1) * every * args.dt % 1000 == 0:
            ratio = np.where(np.isfinite(typical), closest / typical, np.inf)
            print(f"    {(block + 1) * every * args.dt / 1000:5.1f} ps  T {np.mean(temp[-100:]):6.1f} K  "
                  f"E_pot {ep:.4f} eV/atom  closest pair / typical {ratio.min():.3f}  max displacement "
                  f"{max_disp:.2f} Å  {time.perf_counter() - t0:.0f} s", flush=True)
    wall = time.perf_counter() - t0
    t_done = len(temp) * every * args.dt / 1000
    return dict(closest=closest, temp=np.array(temp), epot=np.array(epot), max_disp=max_disp, stopped=stopped,
                wall=wall, ps=t_done, steps=len(temp) * every)


def verdict(res, typical, species, args):
    from ase.data import chemical_symbols as cs
    why = []
    if res["stopped"] or res["ps"] < args.ps:
        why.append(f"stopped at {res['ps']:.2f} ps ({res['stopped']})")
    ratio = res["closest"] / typical
    if np.nanmin(ratio) < MIN_FRACTION:
        a, b = np.unravel_index(np.nanargmin(ratio), ratio.shape)
        why.append(f"{cs[species[a]]}-{cs[species[b]]} {res['closest'][a, b]:.2f} Å < {MIN_FRACTION} x "
                   f"{typical[a, b]:.2f}")
    if len(res["temp"]) == 0 or abs(res["temp"].mean() - args.temperature) > T_TOLERANCE * args.temperature:
        why.append(f"mean T {res['temp'].mean() if len(res['temp']) else np.nan:.0f} K")
    if res["max_disp"] > MAX_DISPLACEMENT:
        why.append(f"an atom moved {res['max_disp']:.1f} Å")
    if len(res["epot"]) == 0 or not np.all(np.isfinite(res["epot"])):
        why.append("energy not finite")
    return "physical" if not why else "NOT physical: " + "; ".join(why)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["ann", "snap"])
    ap.add_argument("--repulsion", nargs="+", default=["wall", "none"], choices=["wall", "zbl", "none", "wall-typical", "fitted"])
    ap.add_argument("--ps", type=float, default=10.0)
    ap.add_argument("--dt", type=float, default=1.0, help="time step, fs")
    ap.add_argument("--temperature", type=float, default=300.0)
    ap.add_argument("--ann-file", default=None, help="a cached default ANN fit (ldrx.fit(train, model='ann'))")
    ap.add_argument("--snap-file", default=None, help="a cached default SNAP fit")
    ap.add_argument("--ann-force-weight", type=float, default=None,
                    help="train the ANN on energies and forces with this force_weight (default: energies only)")
    ap.add_argument("--ann-epochs", type=int, default=None, help="the ANN's epochs (default: the ANN default, 500)")
    ap.add_argument("--ann-l2", type=float, default=None, help="the ANN's weight decay l2 (default 0)")
    ap.add_argument("--ann-zbl-delta", action="store_true",
                    help="fit the ANN on the labels minus a ZBL repulsion switched off between 1 and 4 Å "
                         "(Δ-learning; run it with --repulsion fitted)")
    ap.add_argument("--ann-augment", nargs=2, type=float, metavar=("SIGMA", "COPIES"), default=None,
                    help="train the ANN on the split plus COPIES rattled copies (SIGMA Å) of each frame, labelled "
                         "DFT + the default SNAP's change (a stand-in for thermally displaced DFT frames)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--full", action="store_true", help="run on after a pair came too close (to see how far)")
    args = ap.parse_args()
    from pathlib import Path
    for opt, path in (("--ann-file", args.ann_file), ("--snap-file", args.snap_file)):
        if path and not Path(path).is_file():
            ap.error(f"{opt}: no such file {path}")
    if args.ann_augment and not (args.ann_augment[0] > 0 and args.ann_augment[1] >= 1
                                 and args.ann_augment[1] == int(args.ann_augment[1])):
        ap.error("--ann-augment SIGMA COPIES: SIGMA > 0 (Å) and COPIES a whole number >= 1")
    import signal

    def interrupt(*_):
        raise KeyboardInterrupt
    # kill -INT / -TERM (also in the background, where the shell ignores SIGINT): stop the current run and
    # still print the tables
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    from ase.data import chemical_symbols as cs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = ldrx.read(ldrx.io.example_data_path(), on_error="skip")
    train, _ = data.split(0.1, seed=0)
    cell = data.to_atoms()[[f for f in range(len(data)) if data.natoms[f] == 32][0]] * (2, 1, 2)
    print(f"NVT, ASE Langevin thermostat {args.temperature:g} K, friction 0.01/fs, {args.dt:g} fs, {args.ps:g} ps "
          f"on {cell.get_chemical_formula()} ({len(cell)} atoms); default models fitted on the LDR sample's 90 % "
          f"split; {ldrx.get_num_threads()} threads", flush=True)
    warnings.simplefilter("ignore", ldrx.errors.ExtrapolationWarning)
    warnings.simplefilter("ignore", FutureWarning)        # ASE's Langevin fixcm notice
    warnings.simplefilter("ignore", DeprecationWarning)   # ASE's MaxwellBoltzmannDistribution notice
    present = sorted(set(int(z) for z in cell.numbers))
    rows = []
    for name in args.models:
        t = time.perf_counter()
        settings = {}
        if name == "ann":
            settings = {k: v for k, v in (("force_weight", args.ann_force_weight), ("epochs", args.ann_epochs),
                                          ("l2", args.ann_l2)) if v is not None}
        delta = name == "ann" and args.ann_zbl_delta
        if delta and args.repulsion != ["fitted"]:
            ap.error("--ann-zbl-delta: the ANN learned the labels minus its ZBL; run it with --repulsion fitted")
        data_fit = train
        if name == "ann" and args.ann_augment and not args.ann_file:
            data_fit = augment(train, args.ann_augment[0], int(args.ann_augment[1]))
            print(f"ann: trained on {len(data_fit)} frames, {len(train)} DFT + rattled copies", flush=True)
        model = fit(name, data_fit, getattr(args, f"{name}_file", None), settings, delta)
        print(f"{name}: {repr(model)} ({time.perf_counter() - t:.0f} s)", flush=True)
        species = [int(z) for z in model.species]
        typical, strict = typical_min(train, species)
        for kind in args.repulsion:
            set_baseline(model, kind, train, typical)
            de, k = stiffness(model, cell)
            print(f"  {name}, repulsion {kind}: {model.repulsion!r}; stiffness: {de:.1f} meV/atom for a "
                  f"{RATTLE} Å rattle, k = {k:.2f} eV/Å^2", flush=True)
            res = run(model, cell, args, typical)
            res["stiffness"] = k
            res["verdict"] = verdict(res, typical, species, args)
            rows.append((name, kind, res))
            print(f"  {name}, repulsion {kind}: {res['verdict']}; T {res['temp'].mean():.1f} K over "
                  f"{res['ps']:.2f} ps; max displacement {res['max_disp']:.2f} Å; {res['wall']:.0f} s "
                  f"({1e6 * res['wall'] / max(res['steps'], 1) / len(cell):.0f} µs/atom/step)", flush=True)
        pairs = [(za, zb) for i, za in enumerate(present) for zb in present[i:]]
        idx = [(species.index(za), species.index(zb)) for za, zb in pairs]
        mine = [r for r in rows if r[0] == name]
        print(f"\nshortest distance per pair (Å), {name}:")
        print("| pair | training min | training typical (2 %) | " + " | ".join(f"MD, {k}" for _, k, _ in mine) + " |")
        print("|---|---|---|" + "---|" * len(mine))
        for (za, zb), (a, b) in zip(pairs, idx):
            print(f"| {cs[za]}-{cs[zb]} | {strict[a, b]:.2f} | {typical[a, b]:.2f} | "
                  + " | ".join(f"{r['closest'][a, b]:.2f}" for _, _, r in mine) + " |")
        print(flush=True)
    print("| model | repulsion | stiffness k (eV/Å^2) | simulated (ps) | mean T (K) | max displacement (Å) | verdict | "
          "wall time (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, kind, r in rows:
        print(f"| {name} | {kind} | {r['stiffness']:.2f} | {r['ps']:.2f} | {r['temp'].mean():.1f} | {r['max_disp']:.2f} | "
              f"{r['verdict']} | {r['wall']:.0f} |")


if __name__ == "__main__":
    main()
