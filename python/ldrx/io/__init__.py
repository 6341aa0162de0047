"""Reading and writing: XSF (aenet), anything ASE reads (extxyz, VASP OUTCAR / vasprun.xml, ...),
pymatgen objects, and ldrx's own dataset files (.npz)."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np

from ..data import Dataset
from ..errors import DataError
from .xsf import parse_xsf, read_xsf, write_xsf

__all__ = ["read", "read_xsf", "write_xsf", "parse_xsf", "example_data_path", "aenet_example_path"]


def _natural_key(p: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def example_data_path() -> Path:
    """Folder of the bundled example data: 335 structures of the LDR data set (Choyal, Sagar, Sai Gautam,
    JCTC 2024; sai-mat-group/mlip-disordered-rocksalts), XSF files with DFT energies and forces."""
    return Path(__file__).resolve().parent.parent / "data" / "ldr-sample"


def aenet_example_path() -> Path:
    """Folder of aenet 2.0.4's TiO2 example networks, ``Ti.15t-15t.nn`` and ``O.15t-15t.nn`` (MPL-2.0; see
    its README.md), for ``ldrx.models.ANN.from_aenet``."""
    return Path(__file__).resolve().parent.parent / "data" / "aenet-tio2"


def _frames_to_dataset(frames, ids, infos):
    if not frames:
        return Dataset.empty()
    offsets = np.concatenate([[0], np.cumsum([len(f["numbers"]) for f in frames])])
    cells = np.array([f["cell"] if f["cell"] is not None else np.zeros((3, 3)) for f in frames])
    return Dataset(np.concatenate([f["numbers"] for f in frames]), np.concatenate([f["positions"] for f in frames]),
                   cells, np.array([f["pbc"] for f in frames]), offsets, np.array([f["energy"] for f in frames]),
                   np.concatenate([f["forces"] for f in frames]), None, ids, infos)


def _read_xsf_files(files, on_error, energy_required):
    from tqdm.auto import tqdm
    frames, ids, infos, skipped = [], [], [], []
    for p in tqdm(files, desc="reading XSF", unit="file", disable=len(files) < 2000, leave=False):
        try:
            fr = read_xsf(p, energy_required=energy_required)
        except (DataError, OSError, UnicodeDecodeError) as exc:
            if on_error == "skip":
                skipped.append((str(p), str(exc)))
                continue
            raise DataError(str(exc)) from exc
        frames.append(fr)
        ids.append(str(p))
        infos.append({"energy_kind": fr["energy_kind"]} if fr["energy_kind"] else {})
    data = _frames_to_dataset(frames, ids, infos)
    data.skipped = skipped
    data.check_energy_kinds()
    return data


def read(path, format: str | None = None, on_error: str = "raise", r_min: float = 0.5,
         energy_required: bool = True, index=":", covalent_fraction: float | None = 0.5, **ase_kwargs):
    """Read frames into a :class:`~ldrx.Dataset`.

    path: a folder of XSF files (aenet's training-set layout), an XSF file, a dataset ``.npz`` written
    by :meth:`Dataset.save`, any file ASE reads (extxyz, OUTCAR, vasprun.xml, ...), or a list of these.

    on_error: ``"raise"`` (default) stops at the first bad frame with a message naming the file, line
    and atom; ``"skip"`` leaves bad frames out, warns once, and lists ``(source, reason)`` in
    ``data.skipped``. Bad frames are malformed or truncated files, unknown elements, non-finite numbers,
    forces that do not match the atoms, and frames with two atoms (or periodic images) closer than
    `r_min` Å -- e.g. LDR structure 2225, whose cell is eight times too small -- or closer than
    `covalent_fraction` x the sum of their covalent radii (Cordero et al. 2008; None: no such check).
    No bond is that short: H2's is 1.2 x, the shortest oxide bonds about 0.7 x. In the LDR sample this
    flags 954.xsf (a Li-Ni pair at 0.66 Å, 0.26 x, in 5.3 Å^3 per atom) and 13.xsf (Li-Mn at 0.77 Å,
    0.29 x), both with ordinary DFT energies: corrupt geometries, which would set a pair wall's radii
    and dominate a test set's errors. The next-closest frame of the sample is at 0.69 x.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError("on_error must be 'raise' or 'skip'")
    if covalent_fraction is not None and not 0 < covalent_fraction < 1:
        raise ValueError(f"covalent_fraction must be between 0 and 1 (0.5: half the sum of the covalent radii) "
                         f"or None (no check), got {covalent_fraction!r}")
    if isinstance(path, (list, tuple)):
        parts = [read(p, format, on_error, r_min, energy_required, index, covalent_fraction, **ase_kwargs)
                 for p in path]
        return Dataset.concatenate(parts)
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file or folder")
    if p.is_dir():
        files = sorted((q for q in p.iterdir() if q.suffix.lower() == ".xsf"), key=_natural_key)
        if not files:
            raise DataError(f"{p}: folder holds no .xsf files")
        data = _read_xsf_files(files, on_error, energy_required)
    elif (format or p.suffix.lower().lstrip(".")) == "xsf":
        data = _read_xsf_files([p], on_error, energy_required)
    elif (format or p.suffix.lower().lstrip(".")) in ("npz", "ldrx-dataset"):
        data = Dataset.load(p)
    else:
        from .ase_io import read_ase
        try:
            data = read_ase(p, index=index, format=format, **ase_kwargs)
        except DataError as exc:
            if on_error == "raise":
                raise
            data = Dataset.empty()
            data.skipped = [(str(p), str(exc))]
    if (r_min or covalent_fraction) and len(data):
        bad = data.check_overlaps(r_min, covalent_fraction)
        if bad:
            if on_error == "raise":
                f, why = bad[0]
                raise DataError(f"{data.ids[f]} (frame {f}): {why}")
            keep = np.ones(len(data), bool)
            keep[[f for f, _ in bad]] = False
            skipped = data.skipped + [(data.ids[f], why) for f, why in bad]
            data = data.subset(np.flatnonzero(keep))
            data.skipped = skipped
    if data.skipped:
        head = "; ".join(f"{os.path.basename(s)}: {why}" for s, why in data.skipped[:3])
        more = f" (and {len(data.skipped) - 3} more)" if len(data.skipped) > 3 else ""
        warnings.warn(f"skipped {len(data.skipped)} bad frame(s): {head}{more}", stacklevel=2)
    if len(data) == 0 and not data.skipped:
        raise DataError(f"{p}: no frames")
    return data
