"""Do models trained on the bundled LDR sample survive MD? NVT (ASE Langevin, 300 K, 1 fs) on a 128-atom LDR
cell (the sample's 32-atom Li8Mn4Ni4O16 frame, 2 x 1 x 2), printing the shortest distance of each species pair
over the trajectory next to the training set's, and the energy fluctuations.

    python bench/md_stability.py                        # default ANN (the README's main job) and SNAP, 10 ps each
    python bench/md_stability.py --ps 2 --no-repulsion  # the same models without the ZBL baseline
    python bench/md_stability.py --models ann --ann-file ann.ldrx

A run is called physical when no species pair comes closer than 0.75 x its shortest distance in the training
set (leaving out the 2 % of frames with the closest such pair, as the ZBL baseline does: the sample holds
single outlier frames, e.g. 954.xsf with Li-O 0.94 Å) and the potential energy stays within 1 eV/atom of its
start.
"""

import argparse
import time
import warnings

import numpy as np

import ldrx
from ldrx import _core


def train(name, data, args):
    if name == "ann":
        if args.ann_file:
            return ldrx.load(args.ann_file)
        # the README's main job: ldrx fit example --model ann --force-weight 0.01 --epochs 300
        return ldrx.fit(data, model="ann", epochs=args.epochs, force_weight=0.01, progress=False)
    return ldrx.fit(data, model=name, progress=False)


def robust_min(train, species):
    from ldrx.models.base import DOMAIN_CUTOFF
    from ldrx.models.repulsion import ZBLBaseline
    d = _core.pair_min_distances(train.batch(), DOMAIN_CUTOFF, species)
    return ZBLBaseline.from_training_distances(species, d, np.inf, outlier_fraction=0.02).r_outer, d.min(axis=0)


def run(model, atoms, args, label, train_min):
    from ase import units
    from ase.data import chemical_symbols as cs
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    if args.no_repulsion:
        model.repulsion = None
    elif args.ann_file and label == "ann":
        model.subtract_baseline(args.train_set, "zbl")   # the current baseline for a model file from elsewhere
    atoms = atoms.copy()
    atoms.calc = model.calculator()
    MaxwellBoltzmannDistribution(atoms, temperature_K=args.temperature, rng=np.random.default_rng(args.seed))
    Stationary(atoms)
    dyn = Langevin(atoms, args.dt * units.fs, temperature_K=args.temperature, friction=0.01 / units.fs,
                   rng=np.random.default_rng(args.seed))
    species = [int(z) for z in model.species]
    S = len(species)
    closest = np.full((S, S), np.inf)
    epot, etot, temp = [], [], []
    n_steps = int(round(args.ps * 1000 / args.dt))
    every = max(1, int(round(10 / args.dt)))            # sample every 10 fs
    t0 = time.perf_counter()
    broke = None
    n = len(atoms)
    e0 = None
    for block in range(n_steps // every):
        dyn.run(every)
        d = _core.pair_min_distances(ldrx.Dataset.from_atoms(atoms).batch(), 3.0, species)[0]
        closest = np.minimum(closest, d)
        ep = atoms.get_potential_energy() / n
        e0 = ep if e0 is None else e0
        epot.append(ep)
        etot.append(atoms.get_total_energy() / n)
        temp.append(atoms.get_temperature())
        step = (block + 1) * every
        too_close = np.isfinite(train_min) & (closest < 0.75 * train_min)
        if broke is None and (too_close.any() or abs(ep - e0) > 1.0 or not np.isfinite(ep)):
            a, b = np.argwhere(too_close)[0] if too_close.any() else (0, 0)
            broke = (step * args.dt / 1000, f"{cs[species[a]]}-{cs[species[b]]} {closest[a, b]:.2f} Å"
                     if too_close.any() else f"E_pot {ep - e0:+.2f} eV/atom")
            break
        if step % int(round(1000 / args.dt)) == 0:
            print(f"  {label}: {step * args.dt / 1000:5.1f} ps  T {np.mean(temp[-100:]):6.1f} K  "
                  f"E_pot {ep:.4f} eV/atom  {time.perf_counter() - t0:.0f} s", flush=True)
    wall = time.perf_counter() - t0
    return closest, np.array(epot), np.array(etot), np.array(temp), broke, wall, n_steps


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["ann", "snap"])
    ap.add_argument("--ps", type=float, default=10.0)
    ap.add_argument("--dt", type=float, default=1.0, help="time step, fs")
    ap.add_argument("--temperature", type=float, default=300.0)
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--ann-file", default=None, help="use this ANN model file instead of training one")
    ap.add_argument("--no-repulsion", action="store_true", help="switch the ZBL baseline off")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from ase.data import chemical_symbols as cs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = ldrx.read(ldrx.io.example_data_path(), on_error="skip")
    train_set, _ = data.split(0.1, seed=0)
    args.train_set = train_set
    cell = data.to_atoms()[[f for f in range(len(data)) if data.natoms[f] == 32][0]] * (2, 1, 2)
    print(f"NVT Langevin {args.temperature:g} K, {args.dt:g} fs, {args.ps:g} ps on {cell.get_chemical_formula()} "
          f"({len(cell)} atoms); models trained on the LDR sample's 90 % split; ZBL baseline "
          f"{'off' if args.no_repulsion else 'on'}; {ldrx.get_num_threads()} threads")
    for name in args.models:
        model = train(name, train_set, args)
        warnings.simplefilter("ignore", ldrx.errors.ExtrapolationWarning)
        species = [int(z) for z in model.species]
        robust, raw = robust_min(train_set, species)
        closest, epot, etot, temp, broke, wall, n_steps = run(model, cell, args, name, robust)
        present = sorted(set(int(z) for z in cell.numbers))
        print(f"{name}: {'UNPHYSICAL at %.2f ps (%s)' % broke if broke else 'physical for %g ps' % args.ps}; "
              f"{wall:.0f} s ({1e6 * wall / (len(epot) * 10 / args.dt) / len(cell):.0f} µs/atom/step with MD)")
        print(f"  T {temp.mean():.1f} ± {temp.std():.1f} K; E_pot {epot.mean():.4f} eV/atom, std "
              f"{1000 * epot.std():.1f} meV/atom; E_total std {1000 * etot.std():.1f} meV/atom")
        print(f"  {'pair':<8s}{'MD shortest (Å)':>16s}{'training, 98 % of frames':>26s}{'training, all':>15s}")
        for i, za in enumerate(present):
            for zb in present[i:]:
                a, b = species.index(za), species.index(zb)
                print(f"  {cs[za] + '-' + cs[zb]:<8s}{closest[a, b]:16.2f}{robust[a, b]:26.2f}{raw[a, b]:15.2f}")


if __name__ == "__main__":
    main()
