"""Columnar frames: the one data layout of ldrx (see DESIGN.md, "The frame layout").

A :class:`Dataset` holds N frames as concatenated arrays that the C++ core reads without copies::

    numbers   int32   [n_atoms]        atomic numbers
    positions float64 [n_atoms, 3]     Cartesian, Å
    cells     float64 [N, 3, 3]        rows are lattice vectors, Å
    pbc       bool    [N, 3]
    offsets   int64   [N + 1]          atoms of frame f: offsets[f] .. offsets[f+1]-1
    energy    float64 [N]              total energy, eV (NaN where unknown)
    forces    float64 [n_atoms, 3]     eV/Å (NaN where unknown)
    stress    float64 [N, 6] or None   eV/Å^3, Voigt order xx yy zz yz xz xy, ASE sign convention
    ids       list of str [N]          e.g. the file each frame came from
    info      list of dict [N]         free-form per-frame metadata
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from . import _core
from ._files import atomic_write  # noqa: F401  (also importable from here, as before)
from .errors import DataError

__all__ = ["Dataset", "DataError", "as_dataset", "dataset_from_atoms", "dataset_to_atoms"]


def _as(a, dtype, shape_tail=()):
    a = np.ascontiguousarray(a, dtype=dtype)
    return a.reshape((-1,) + tuple(shape_tail)) if shape_tail else a.reshape(-1)


class Dataset:
    """Frames in the ldrx layout, with energy/force/stress labels."""

    def __init__(self, numbers, positions, cells, pbc, offsets, energy=None, forces=None, stress=None,
                 ids=None, info=None, check=True):
        self.numbers = _as(numbers, np.int32)
        self.positions = _as(positions, np.float64, (3,))
        self.offsets = _as(offsets, np.int64)
        n_frames = len(self.offsets) - 1
        self.cells = _as(cells, np.float64, (3, 3))
        self.pbc = _as(pbc, bool, (3,))
        n_atoms = int(self.offsets[-1]) if n_frames >= 0 and len(self.offsets) else 0
        self.energy = (np.full(n_frames, np.nan) if energy is None else _as(energy, np.float64))
        self.forces = (np.full((n_atoms, 3), np.nan) if forces is None else _as(forces, np.float64, (3,)))
        self.stress = None if stress is None else _as(stress, np.float64, (6,))
        self.ids = [str(i) for i in range(n_frames)] if ids is None else [str(i) for i in ids]
        self.info = [{} for _ in range(n_frames)] if info is None else [dict(d) for d in info]
        self.skipped: list[tuple[str, str]] = []
        self._batch = None
        if check:
            self._check_layout()

    # ------------------------------------------------------------------ layout and validation
    def _where(self, f, atom=None):
        s = f"{self.ids[f]} (frame {f})"
        return s if atom is None else f"{s}, atom {atom}"

    def _check_layout(self):
        o = self.offsets
        N = len(o) - 1
        if N < 0 or o[0] != 0 or np.any(np.diff(o) < 0):
            raise DataError("offsets must start at 0 and be non-decreasing")
        n = int(o[-1])
        for name, arr, rows in (("numbers", self.numbers, n), ("positions", self.positions, n),
                                ("forces", self.forces, n), ("cells", self.cells, N), ("pbc", self.pbc, N),
                                ("energy", self.energy, N)):
            if len(arr) != rows:
                raise DataError(f"{name} has {len(arr)} rows, expected {rows}")
        if self.stress is not None and len(self.stress) != N:
            raise DataError(f"stress has {len(self.stress)} rows, expected {N}")
        if len(self.ids) != N or len(self.info) != N:
            raise DataError("ids and info need one entry per frame")
        if np.any(np.diff(o) == 0):
            f = int(np.argmax(np.diff(o) == 0))
            raise DataError(f"{self._where(f)}: frame has no atoms")
        bad = ~np.isfinite(self.positions).all(axis=1)
        if bad.any():
            a = int(np.argmax(bad))
            f = int(np.searchsorted(o, a, side="right") - 1)
            raise DataError(f"{self._where(f, a - o[f])}: position is not finite: {self.positions[a]}")
        badc = ~np.isfinite(self.cells).all(axis=(1, 2))
        if badc.any():
            f = int(np.argmax(badc))
            raise DataError(f"{self._where(f)}: cell is not finite")
        if np.any(np.isinf(self.forces)):
            a = int(np.argmax(np.isinf(self.forces).any(axis=1)))
            f = int(np.searchsorted(o, a, side="right") - 1)
            raise DataError(f"{self._where(f, a - o[f])}: force is infinite")
        if np.any(np.isinf(self.energy)):
            f = int(np.argmax(np.isinf(self.energy)))
            raise DataError(f"{self._where(f)}: energy is infinite")
        if np.any((self.numbers < 1) | (self.numbers > 118)):
            a = int(np.argmax((self.numbers < 1) | (self.numbers > 118)))
            f = int(np.searchsorted(o, a, side="right") - 1)
            raise DataError(f"{self._where(f, a - o[f])}: invalid atomic number {self.numbers[a]}")

    def check_energy_kinds(self):
        """Refuse a data set that mixes total and cohesive energies (XSF comments say which; frames without
        the record hold total energies, the ldrx convention). Either kind alone fits the same way, because
        the per-species reference energies absorb the isolated-atom energies; a mix would be fitted as if
        the two were the same quantity."""
        first = {}
        for f, inf in enumerate(self.info):
            if np.isfinite(self.energy[f]):
                first.setdefault(inf.get("energy_kind") or "total", f)
        if len(first) > 1:
            (ka, fa), (kb, fb) = sorted(first.items(), key=lambda kv: kv[1])[:2]
            raise DataError(f"the data mix energy kinds: {self._where(fa)} holds a {ka} energy, {self._where(fb)} "
                            f"a {kb} energy; use one kind for all frames")

    def closest_pairs(self, cutoff=0.5):
        """Per frame: the shortest interatomic distance below `cutoff` Å (periodic images included;
        inf if none) and the atom pair (frame-local indices, -1 if none). A frame whose cell cannot be used
        (zero or dependent periodic lattice vectors, atoms absurdly far outside) is a DataError naming it."""
        try:
            return _core.closest_pairs(self.batch(), float(cutoff))
        except ValueError as exc:
            raise self._frame_error(exc) from exc

    def _frame_error(self, exc):
        """A DataError naming the frame's id for a C++ error 'frame f: ...'."""
        import re
        m = re.match(r"frame (\d+): (.*)", str(exc), re.S)
        if m and int(m.group(1)) < len(self):
            return DataError(f"{self._where(int(m.group(1)))}: {m.group(2)}")
        return DataError(str(exc))

    def check_overlaps(self, r_min=0.5, covalent_fraction=None):
        """Frames with atoms too close to be physical, as (frame, reason) pairs: two atoms (or periodic
        images) closer than `r_min` Å, or, with `covalent_fraction`, closer than that fraction of the sum of
        their covalent radii (Cordero et al., Dalton Trans. 2008, 2832, as ``ase.data.covalent_radii``)."""
        bad = {}
        if r_min:
            dist, pairs = self.closest_pairs(r_min)
            for f in np.flatnonzero(np.isfinite(dist)):
                i, j = pairs[f]
                bad[int(f)] = (f"atoms {i} and {j} are {dist[f]:.3g} Å apart (closer than {r_min} Å, "
                               f"periodic images included{self._volume_note(f)})")
        if covalent_fraction and len(self):
            from ase.data import chemical_symbols, covalent_radii
            zs = self.species
            sums = covalent_radii[zs][:, None] + covalent_radii[zs][None, :]
            try:
                d = _core.pair_min_distances(self.batch(), float(covalent_fraction * sums.max()), zs)
            except ValueError as exc:
                raise self._frame_error(exc) from exc
            ratio = d / sums
            for f in np.flatnonzero((ratio < covalent_fraction).any(axis=(1, 2))):
                if int(f) in bad:
                    continue
                a, b = np.unravel_index(np.argmin(ratio[f]), ratio[f].shape)
                bad[int(f)] = (f"a {chemical_symbols[zs[a]]}-{chemical_symbols[zs[b]]} pair is {d[f, a, b]:.3g} Å "
                               f"apart, {ratio[f, a, b]:.2f} x the sum of their covalent radii ({sums[a, b]:.3g} Å; "
                               f"below {covalent_fraction} x no geometry is physical{self._volume_note(f)})")
        return sorted(bad.items())

    def _volume_note(self, f):
        """'; cell volume V Å^3 per atom' for a periodic frame, else ''."""
        if not self.pbc[f].all():
            return ""
        return f"; cell volume {abs(np.linalg.det(self.cells[f])) / self.natoms[f]:.3g} Å^3 per atom"

    # ------------------------------------------------------------------ basic properties
    def __len__(self):
        return len(self.offsets) - 1

    @property
    def n_frames(self):
        return len(self)

    @property
    def n_atoms(self):
        return int(self.offsets[-1])

    @property
    def natoms(self):
        """Atoms per frame, int64 [N]."""
        return np.diff(self.offsets)

    @property
    def frame_index(self):
        """Frame of each atom, int64 [n_atoms]."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.natoms)

    @property
    def species(self):
        """Sorted atomic numbers present."""
        return [int(z) for z in np.unique(self.numbers)]

    @property
    def symbols(self):
        from ase.data import chemical_symbols
        return [chemical_symbols[z] for z in self.species]

    def batch(self):
        """The frames as the C++ core sees them. The arrays are shared, not copied, so in-place changes
        are seen; the view is rebuilt when an array is replaced."""
        arrays = (self.numbers, self.positions, self.cells, self.pbc, self.offsets)
        if self._batch is None or any(a is not b for a, b in zip(arrays, self._batch[0])):
            self._check_layout()
            view = _core.Batch(self.numbers, self.positions, self.cells,
                               np.ascontiguousarray(self.pbc).view(np.uint8), self.offsets)
            self._batch = (arrays, view)
        return self._batch[1]

    def has_forces(self):
        return bool(np.isfinite(self.forces).any())

    def __repr__(self):
        return (f"Dataset({len(self)} frames, {self.n_atoms} atoms, species {self.symbols}, "
                f"forces={'yes' if self.has_forces() else 'no'}, "
                f"stress={'yes' if self.stress is not None else 'no'})")

    # ------------------------------------------------------------------ subsets and splits
    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            n = len(self)
            if not -n <= index < n:
                raise IndexError(f"frame {index} out of range for {n} frames")
            index = [index % n]
        idx = np.arange(len(self))[index] if isinstance(index, slice) else np.asarray(index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return self.subset(idx)

    def subset(self, indices):
        """New Dataset with the frames `indices` (in that order)."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise IndexError("frame index out of range")
        idx = idx % max(len(self), 1)
        counts = self.natoms[idx]
        offsets = np.zeros(len(idx) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        atoms = (np.concatenate([np.arange(self.offsets[f], self.offsets[f + 1]) for f in idx])
                 if len(idx) else np.zeros(0, dtype=np.int64))
        return Dataset(self.numbers[atoms], self.positions[atoms], self.cells[idx], self.pbc[idx], offsets,
                       self.energy[idx], self.forces[atoms], None if self.stress is None else self.stress[idx],
                       [self.ids[f] for f in idx], [self.info[f] for f in idx], check=False)

    def split(self, test_fraction=0.1, seed=0):
        """Random (train, test) split. The same seed on the same data gives the same split, whatever
        model is fitted afterwards. The test set has round(test_fraction * N) frames."""
        train, test = split_indices(len(self), test_fraction, seed)
        return self.subset(train), self.subset(test)

    def subsets(self, sizes: Iterable[int], seed=0):
        """Nested random subsets for learning curves: each smaller set is contained in each larger one."""
        perm = np.random.default_rng(seed).permutation(len(self))
        out = []
        for n in sizes:
            if not 0 < n <= len(self):
                raise ValueError(f"subset size {n} is not in 1..{len(self)}")
            out.append(self.subset(np.sort(perm[:n])))
        return out

    @classmethod
    def concatenate(cls, parts: Sequence["Dataset"]):
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        stress = None
        if all(p.stress is not None for p in parts):
            stress = np.concatenate([p.stress for p in parts])
        elif any(p.stress is not None for p in parts):
            stress = np.concatenate([p.stress if p.stress is not None else np.full((len(p), 6), np.nan)
                                     for p in parts])
        offsets = np.concatenate([[0], np.cumsum(np.concatenate([p.natoms for p in parts]))])
        out = cls(np.concatenate([p.numbers for p in parts]), np.concatenate([p.positions for p in parts]),
                  np.concatenate([p.cells for p in parts]), np.concatenate([p.pbc for p in parts]), offsets,
                  np.concatenate([p.energy for p in parts]), np.concatenate([p.forces for p in parts]), stress,
                  sum((p.ids for p in parts), []), sum((p.info for p in parts), []), check=False)
        out.skipped = sum((p.skipped for p in parts), [])
        out.check_energy_kinds()
        return out

    @classmethod
    def empty(cls):
        return cls(np.zeros(0, np.int32), np.zeros((0, 3)), np.zeros((0, 3, 3)), np.zeros((0, 3), bool),
                   np.zeros(1, np.int64), check=False)

    # ------------------------------------------------------------------ reference energies
    def composition(self, species: Sequence[int] | None = None):
        """Atom counts per frame and species, float64 [N, n_species] (species: atomic numbers)."""
        species = self.species if species is None else [int(z) for z in species]
        col = {z: k for k, z in enumerate(species)}
        missing = set(self.species) - set(col)
        if missing:
            raise DataError(f"species {sorted(missing)} are in the data but not in {species}")
        comp = np.zeros((len(self), len(species)))
        np.add.at(comp, (self.frame_index, np.array([col[z] for z in self.numbers], dtype=np.int64)), 1.0)
        return comp

    def fit_reference_energies(self, species: Sequence[int] | None = None):
        """Per-species reference energies (eV/atom) by least squares of the total energies on the
        composition: E_f ~ sum_s n_fs e_s. Where compositions are linearly dependent (LiTMO2 / TMO2:
        n_O = 2 n_TM) the minimum-norm solution is returned: only the combinations that the data
        determine are meaningful, and they are all a potential needs. Returns {Z: e_s}."""
        species = self.species if species is None else [int(z) for z in species]
        return reference_energies_lstsq(self.composition(species), self.energy, species)

    def reference_energy(self, refs: dict):
        """Sum of per-species reference energies per frame, [N]."""
        table = np.zeros(119)
        for z, v in refs.items():
            table[int(z)] = v
        known = np.zeros(119, bool)
        known[[int(z) for z in refs]] = True
        if not known[self.numbers].all():
            z = int(self.numbers[~known[self.numbers]][0])
            raise DataError(f"no reference energy for atomic number {z}")
        return np.bincount(self.frame_index, weights=table[self.numbers], minlength=len(self))

    # ------------------------------------------------------------------ conversions
    @classmethod
    def from_atoms(cls, atoms_list, ids=None):
        """From an ASE Atoms or a list of them. Energies, forces and stress are taken from an attached
        calculator (e.g. a SinglePointCalculator from a file reader) where present."""
        return dataset_from_atoms(atoms_list, ids=ids)

    def to_atoms(self):
        """List of ASE Atoms, labels attached as SinglePointCalculator results."""
        return dataset_to_atoms(self)

    @classmethod
    def from_pymatgen(cls, structures, energies=None, forces=None, ids=None):
        """From pymatgen Structures (periodic) or Molecules; labels may be passed alongside or taken
        from site properties 'forces' and structure.properties['energy']."""
        from .io.pymatgen_io import dataset_from_pymatgen
        return dataset_from_pymatgen(structures, energies=energies, forces=forces, ids=ids)

    def to_pymatgen(self):
        from .io.pymatgen_io import dataset_to_pymatgen
        return dataset_to_pymatgen(self)

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Write to a .npz file (atomically: a temporary file is renamed into place)."""
        import json
        arrays = dict(numbers=self.numbers, positions=self.positions, cells=self.cells, pbc=self.pbc,
                      offsets=self.offsets, energy=self.energy, forces=self.forces,
                      ids=np.array(self.ids, dtype=str),
                      info=np.array(json.dumps(self.info, default=str)),
                      format=np.array("ldrx-dataset-1"))
        if self.stress is not None:
            arrays["stress"] = self.stress
        atomic_write(path, lambda f: np.savez_compressed(f, **arrays))

    @classmethod
    def load(cls, path):
        import json
        with np.load(path, allow_pickle=False) as z:
            if "format" not in z or str(z["format"]) != "ldrx-dataset-1":
                raise DataError(f"{path}: not an ldrx dataset file")
            return cls(z["numbers"], z["positions"], z["cells"], z["pbc"], z["offsets"], z["energy"],
                       z["forces"], z["stress"] if "stress" in z else None, list(z["ids"]),
                       json.loads(str(z["info"])))


def as_dataset(frames) -> Dataset:
    """The one conversion of user input to frames: a Dataset as is, an ASE Atoms or a list (or tuple) of
    Atoms as a new Dataset (labels from attached calculators). Anything else is a TypeError that names
    what was given. Descriptors, models and metrics all accept their frames through this."""
    if isinstance(frames, Dataset):
        return frames
    from ase import Atoms
    if isinstance(frames, Atoms):
        return dataset_from_atoms([frames])
    if isinstance(frames, (list, tuple)):
        bad = [type(a).__name__ for a in frames if not isinstance(a, Atoms)]
        if not bad:
            return dataset_from_atoms(frames)
        raise TypeError(f"expected a Dataset, an ase.Atoms or a list of Atoms; the list holds {bad[0]}")
    raise TypeError(f"expected a Dataset, an ase.Atoms or a list of Atoms, got {type(frames).__name__}")


def _labels(atoms):
    """Energy, forces, stress from an attached calculator's stored results (never triggers a calculation)."""
    e = f = s = None
    calc = atoms.calc
    results = getattr(calc, "results", None) or {}
    if "energy" in results:
        e = float(results["energy"])
    elif "free_energy" in results:
        e = float(results["free_energy"])
    if "forces" in results:
        f = np.asarray(results["forces"], float)
    if "stress" in results:
        s = np.asarray(results["stress"], float).reshape(-1)
        if s.size == 9:
            m = s.reshape(3, 3)
            s = np.array([m[0, 0], m[1, 1], m[2, 2], m[1, 2], m[0, 2], m[0, 1]])
    if e is None and "energy" in atoms.info:
        e = float(atoms.info["energy"])
    if f is None and "forces" in atoms.arrays:
        f = np.asarray(atoms.arrays["forces"], float)
    return e, f, s


def dataset_from_atoms(atoms_list, ids=None):
    from ase import Atoms

    if isinstance(atoms_list, Atoms):
        atoms_list = [atoms_list]
    atoms_list = list(atoms_list)
    if ids is None:
        ids = [str(a.info.get("id", k)) for k, a in enumerate(atoms_list)]
    if not atoms_list:
        return Dataset.empty()
    numbers, positions, cells, pbc, energy, forces, stress, info = [], [], [], [], [], [], [], []
    any_stress = False
    for k, a in enumerate(atoms_list):
        n = len(a)
        e, f, s = _labels(a)
        if f is not None and f.shape != (n, 3):
            raise DataError(f"{ids[k]} (frame {k}): forces have shape {f.shape}, expected ({n}, 3)")
        numbers.append(a.numbers)
        positions.append(a.positions)
        cells.append(np.asarray(a.cell[:], float))
        pbc.append(a.pbc)
        energy.append(np.nan if e is None else e)
        forces.append(np.full((n, 3), np.nan) if f is None else f)
        any_stress |= s is not None
        stress.append(np.full(6, np.nan) if s is None else s)
        info.append({key: v for key, v in a.info.items() if isinstance(v, (str, int, float, bool))})
    offsets = np.concatenate([[0], np.cumsum([len(a) for a in atoms_list])])
    return Dataset(np.concatenate(numbers), np.concatenate(positions), np.array(cells), np.array(pbc), offsets,
                   np.array(energy), np.concatenate(forces), np.array(stress) if any_stress else None, ids, info)


def dataset_to_atoms(data):
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    out = []
    for f in range(len(data)):
        a0, a1 = data.offsets[f], data.offsets[f + 1]
        atoms = Atoms(numbers=data.numbers[a0:a1], positions=data.positions[a0:a1], cell=data.cells[f],
                      pbc=data.pbc[f])
        atoms.info.update(data.info[f])
        atoms.info["id"] = data.ids[f]
        res = {}
        if np.isfinite(data.energy[f]):
            res["energy"] = float(data.energy[f])
        if np.isfinite(data.forces[a0:a1]).all():
            res["forces"] = data.forces[a0:a1].copy()
        if data.stress is not None and np.isfinite(data.stress[f]).all():
            res["stress"] = data.stress[f].copy()
        if res:
            atoms.calc = SinglePointCalculator(atoms, **res)
        out.append(atoms)
    return out


def split_indices(n_frames, test_fraction=0.1, seed=0):
    """(train, test) frame indices, each sorted, of :meth:`Dataset.split` for `n_frames` frames."""
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError("test_fraction must be in [0, 1)")
    perm = np.random.default_rng(seed).permutation(n_frames)
    n_test = int(round(test_fraction * n_frames))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def reference_energies_lstsq(composition, energy, species):
    """{Z: e_s} minimising sum_f (E_f - sum_s n_fs e_s)^2 over the frames with an energy (minimum norm)."""
    ok = np.isfinite(energy)
    if not ok.any():
        raise DataError("no frame has an energy: cannot fit reference energies")
    e, *_ = np.linalg.lstsq(composition[ok], energy[ok], rcond=None)
    return {int(z): float(v) for z, v in zip(species, e)}
