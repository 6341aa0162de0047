"""Conversions between Datasets and pymatgen Structures / Molecules (pymatgen is optional)."""

from __future__ import annotations

import numpy as np

from ..errors import DataError


def _require_pymatgen():
    try:
        import pymatgen.core  # noqa: F401  (only whether it imports)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("pymatgen is needed for this: pip install 'ldrx[pymatgen]'") from exc


def dataset_from_pymatgen(structures, energies=None, forces=None, ids=None):
    _require_pymatgen()
    from pymatgen.core import Molecule, Structure

    from ..data import Dataset
    if isinstance(structures, (Structure, Molecule)):
        structures = [structures]
    structures = list(structures)
    n = len(structures)
    if energies is not None and len(energies) != n:
        raise DataError(f"{len(energies)} energies for {n} structures")
    if forces is not None and len(forces) != n:
        raise DataError(f"{len(forces)} force arrays for {n} structures")
    numbers, positions, cells, pbc, energy, frc = [], [], [], [], [], []
    for k, s in enumerate(structures):
        na = len(s)
        numbers.append([site.specie.Z for site in s])
        positions.append(s.cart_coords)
        if isinstance(s, Structure):
            cells.append(s.lattice.matrix)
            pbc.append(s.lattice.pbc)
        else:
            cells.append(np.zeros((3, 3)))
            pbc.append((False, False, False))
        e = energies[k] if energies is not None else s.properties.get("energy", np.nan)
        energy.append(np.nan if e is None else float(e))
        f = forces[k] if forces is not None else s.site_properties.get("forces")
        f = np.full((na, 3), np.nan) if f is None else np.asarray(f, float)
        if f.shape != (na, 3):
            tag = ids[k] if ids is not None else k
            raise DataError(f"{tag} (frame {k}): forces have shape {f.shape}, expected ({na}, 3)")
        frc.append(f)
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in structures])])
    return Dataset(np.concatenate(numbers), np.concatenate(positions), np.array(cells), np.array(pbc, bool),
                   offsets, np.array(energy), np.concatenate(frc), None, ids)


def dataset_to_pymatgen(data):
    _require_pymatgen()
    from pymatgen.core import Lattice, Molecule, Structure
    out = []
    for f in range(len(data)):
        a0, a1 = data.offsets[f], data.offsets[f + 1]
        z = data.numbers[a0:a1].tolist()
        props = {"forces": data.forces[a0:a1].tolist()}
        if data.pbc[f].any():
            s = Structure(Lattice(data.cells[f], pbc=tuple(bool(p) for p in data.pbc[f])), z,
                          data.positions[a0:a1], coords_are_cartesian=True, site_properties=props)
        else:
            s = Molecule(z, data.positions[a0:a1], site_properties=props)
        s.properties["energy"] = float(data.energy[f])
        s.properties["id"] = data.ids[f]
        out.append(s)
    return out
