"""Conversions between Datasets and ASE Atoms, and reading anything ASE reads."""

from __future__ import annotations

import numpy as np

from ..errors import DataError


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

    from ..data import Dataset
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


def read_ase(path, index=":", **kwargs):
    import ase.io
    try:
        frames = ase.io.read(path, index=index, **kwargs)
    except Exception as exc:  # ASE raises many kinds
        raise DataError(f"{path}: ASE could not read it: {exc}") from exc
    if not isinstance(frames, list):
        frames = [frames]
    ids = [f"{path}@{k}" for k in range(len(frames))] if len(frames) > 1 else [str(path)]
    return dataset_from_atoms(frames, ids=ids)
