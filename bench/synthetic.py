"""Synthetic LDR-sized data for cost benchmarks: 10,842 rocksalt-derived cells of about 30 atoms with the
11 LDR elements, labelled by a cheap species-dependent Morse pair potential. Only the cost matters
here, not the physics.

    python bench/synthetic.py [n_frames]      # writes bench/out/synthetic_<n>.npz
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import ldrx
from ldrx import _core

OUT = Path(__file__).resolve().parent / "out"
TM = [21, 22, 23, 24, 25, 26, 27, 28, 29]  # Sc..Cu
LI, O = 3, 8


def _cell(rng):
    """Rocksalt supercell (a = 4.2 Å) of 32 sites (2x2x1 conventional) or 24/36/40 for variety, strained."""
    reps = [(2, 2, 1), (2, 2, 1), (3, 1, 1), (3, 1, 1), (1, 1, 4)][rng.integers(5)]
    a = 4.2 * rng.uniform(0.97, 1.03)
    base = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    cat, an = [], []
    for i in range(reps[0]):
        for j in range(reps[1]):
            for k in range(reps[2]):
                for b in base:
                    cat.append((b + [i, j, k]) * a)
                    an.append((b + [i, j, k] + [0.5, 0, 0]) * a)
    cell = np.diag(np.array(reps, float) * a)
    strain = np.eye(3) + rng.normal(0, 0.015, (3, 3))
    return np.array(cat) @ strain, np.array(an) @ strain, cell @ strain


def make(n_frames=10842, seed=0):
    rng = np.random.default_rng(seed)
    numbers, positions, cells, offsets = [], [], [], [0]
    for _ in range(n_frames):
        cat, an, cell = _cell(rng)
        n = len(cat)
        tms = rng.choice(TM, size=rng.integers(1, 4), replace=False)
        z_cat = np.where(np.arange(n) % 2 == 0, LI, rng.choice(tms, n))
        delithiated = rng.uniform() < 0.4
        keep = np.ones(n, bool)
        if delithiated:  # TMO2-like: remove a random fraction of Li
            keep &= ~((z_cat == LI) & (rng.uniform(size=n) < rng.uniform(0.3, 1.0)))
        pos = np.concatenate([cat[keep], an]) + rng.normal(0, 0.08, (keep.sum() + len(an), 3))
        z = np.concatenate([z_cat[keep], np.full(len(an), O)])
        numbers.append(z)
        positions.append(pos)
        cells.append(cell)
        offsets.append(offsets[-1] + len(z))
    data = ldrx.Dataset(np.concatenate(numbers), np.concatenate(positions), np.array(cells),
                        np.ones((n_frames, 3), bool), np.array(offsets))
    data.energy, data.forces = morse_labels(data)
    return data


def morse_labels(data, cutoff=6.0):
    """E = sum_pairs D (exp(-2 a (r - r0)) - 2 exp(-a (r - r0))), r0 and D depending on the species."""
    rad = np.zeros(119)
    rad[LI], rad[O] = 1.0, 1.1
    rad[TM] = np.linspace(1.0, 0.9, len(TM))
    energy = np.zeros(len(data))
    forces = np.zeros((data.n_atoms, 3))
    b = data.batch()
    for f in range(len(data)):
        a0 = data.offsets[f]
        start, j, vec, dist, _ = _core.neighbour_list(b, f, cutoff)
        i = np.repeat(np.arange(len(start) - 1), np.diff(start))
        zi, zj = data.numbers[a0 + i], data.numbers[a0 + j]
        r0 = rad[zi] + rad[zj]
        D = np.where((zi == O) ^ (zj == O), 0.6, 0.15)
        x = np.exp(-1.5 * (dist - r0))
        sw = 0.5 * (np.cos(np.pi * dist / cutoff) + 1)
        dsw = -0.5 * np.pi / cutoff * np.sin(np.pi * dist / cutoff)
        e = D * (x * x - 2 * x)
        de = D * (-3.0 * x * x + 3.0 * x)
        energy[f] = 0.5 * np.sum(e * sw)
        g = 0.5 * (de * sw + e * dsw)[:, None] * vec / dist[:, None]  # dE/d(vec) per directed pair
        fo = np.zeros((len(start) - 1, 3))
        np.add.at(fo, i, g)
        np.add.at(fo, j, -g)
        forces[a0:a0 + len(start) - 1] = fo
    return energy, forces


def load(n_frames=10842, seed=0):
    """The synthetic set, generated once and cached under bench/out/."""
    path = OUT / f"synthetic_{n_frames}_{seed}.npz"
    if path.exists():
        return ldrx.Dataset.load(path)
    data = make(n_frames, seed)
    data.save(path)
    return data


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10842
    d = load(n)
    print(d, "mean atoms per frame", d.natoms.mean())
