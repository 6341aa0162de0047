"""Reading anything ASE reads. (The Dataset <-> Atoms conversions live in :mod:`ldrx.data`.)"""

from __future__ import annotations

from ..data import dataset_from_atoms, dataset_to_atoms  # noqa: F401  (the conversions live in data.py)
from ..errors import DataError


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
