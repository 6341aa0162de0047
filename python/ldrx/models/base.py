"""What every model family shares: the estimator API, predictions, model files, the ASE calculator.

A family subclasses :class:`Model` and implements ``fit``, ``_predict`` and the two state hooks
``_state`` / ``_from_state``; saving, loading, validation, input conversion and the calculator come
from here.
"""

from __future__ import annotations

import dataclasses
import io
import json
import warnings
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..data import Dataset, atomic_write
from .. import _core
from ..elements import element_values
from ..errors import DataError, ExtrapolationWarning, ModelFileError

FILE_MAGIC = "ldrx-model"
DOMAIN_CUTOFF = 3.0   # Å: shortest pair distances per species pair are recorded up to this distance
DOMAIN_MARGIN = 0.9   # a pair closer than this fraction of the training set's shortest is an extrapolation


@dataclass
class Prediction:
    """Model output for a set of frames: total energy [N] (eV), forces [n_atoms, 3] (eV/Å) or None,
    stress [N, 6] (eV/Å^3, Voigt xx yy zz yz xz xy, ASE's sign) or None where a frame is not periodic."""
    energy: np.ndarray
    forces: np.ndarray | None = None
    stress: np.ndarray | None = None


def as_dataset(frames) -> Dataset:
    """A Dataset from a Dataset, an ASE Atoms or a list of Atoms."""
    if isinstance(frames, Dataset):
        return frames
    from ase import Atoms
    if isinstance(frames, Atoms) or (isinstance(frames, (list, tuple)) and all(isinstance(a, Atoms) for a in frames)):
        return Dataset.from_atoms(frames)
    raise TypeError(f"expected a Dataset, an ase.Atoms or a list of Atoms, got {type(frames).__name__}")


def virial_to_stress(virial, data: Dataset):
    """ASE stress (eV/Å^3) from the virial W = sum d (x) F (eV): sigma = -W / V; NaN for frames that
    are not periodic in all three directions."""
    vol = np.abs(np.linalg.det(data.cells))
    ok = data.pbc.all(axis=1) & (vol > 0)
    stress = np.full((len(data), 6), np.nan)
    stress[ok] = -virial[ok] / vol[ok, None]
    return stress


class Model:
    """Estimator API shared by all families: ``fit``, ``predict``, ``save``/``load``, ``calculator``."""

    family: ClassVar[str] = ""
    format_version: ClassVar[int] = 1

    species: list  # atomic numbers the model knows, in its own order

    # ---------------------------------------------------------------- to implement per family
    def fit(self, train: Dataset, valid: Dataset | None = None):  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict(self, data: Dataset, forces: bool, stress: bool) -> Prediction:  # pragma: no cover
        raise NotImplementedError

    def _state(self) -> tuple[dict, dict]:  # pragma: no cover - abstract
        """(JSON-able metadata, dict of numpy arrays) that fully describe the fitted model."""
        raise NotImplementedError

    @classmethod
    def _from_state(cls, meta: dict, arrays: dict):  # pragma: no cover - abstract
        raise NotImplementedError

    # ---------------------------------------------------------------- shared
    @property
    def is_fitted(self) -> bool:
        return getattr(self, "_fitted", False)

    def _require_fitted(self):
        if not self.is_fitted:
            raise RuntimeError(f"this {type(self).__name__} has not been fitted or loaded")

    def check_species(self, data: Dataset):
        known = set(int(z) for z in self.species)
        for f in range(len(data)):
            zs = data.numbers[data.offsets[f]:data.offsets[f + 1]]
            bad = [int(z) for z in zs if int(z) not in known]
            if bad:
                from ase.data import chemical_symbols
                a = int(np.flatnonzero(~np.isin(zs, list(known)))[0])
                raise DataError(f"{data.ids[f]} (frame {f}), atom {a}: element {chemical_symbols[bad[0]]} is not "
                                f"one of the model's species {[chemical_symbols[z] for z in self.species]}")

    def predict(self, frames, forces: bool = True, stress: bool = True) -> Prediction:
        """Energies (eV), forces (eV/Å) and stress (eV/Å^3) for a Dataset, an Atoms or a list of Atoms.
        Warns (ExtrapolationWarning) about frames with atoms closer than the training set ever had them."""
        self._require_fitted()
        data = as_dataset(frames)
        if len(data) == 0:
            raise DataError("no frames to predict")
        self.check_species(data)
        self.check_domain(data)
        return self._predict(data, forces, stress)

    def learn_domain(self, train: Dataset, comm=None):
        """Record the shortest distance between atoms of each pair of species in the training set (up to
        DOMAIN_CUTOFF); every family calls this in fit, and predict checks new frames against it. With an MPI
        `comm` (ldrx.parallel), `train` is this rank's shard and the minimum is taken over all ranks."""
        d = _core.pair_min_distances(train.batch(), DOMAIN_CUTOFF, [int(z) for z in self.species])
        local = d.min(axis=0) if len(d) else None
        if comm is not None and comm.size > 1:
            parts = [m for m in comm.allgather(local) if m is not None]
            local = np.minimum.reduce(parts) if parts else None
        self.domain_min_distance = local

    def check_domain(self, data: Dataset, warn: bool = True):
        """Frames with a pair of atoms closer than DOMAIN_MARGIN x the shortest pair of the same species in
        the training set, as a list of (frame, reason); with `warn`, one ExtrapolationWarning names them."""
        mins = getattr(self, "domain_min_distance", None)
        if mins is None:
            return []
        d = _core.pair_min_distances(data.batch(), DOMAIN_CUTOFF, [int(z) for z in self.species])
        limit = DOMAIN_MARGIN * np.minimum(mins, DOMAIN_CUTOFF)
        out = []
        from ase.data import chemical_symbols as cs
        for f in np.flatnonzero((d < limit).any(axis=(1, 2))):
            a, b = np.unravel_index(np.argmax(limit - d[f]), limit.shape)
            seen = f"{mins[a, b]:.2f} Å" if np.isfinite(mins[a, b]) else f"none within {DOMAIN_CUTOFF} Å"
            out.append((int(f), f"{cs[self.species[a]]}-{cs[self.species[b]]} {d[f, a, b]:.2f} Å apart "
                                f"(shortest in the training set: {seen})"))
        if out and warn:
            head = "; ".join(f"{data.ids[f]} (frame {f}): {why}" for f, why in out[:3])
            more = f" and {len(out) - 3} more" if len(out) > 3 else ""
            warnings.warn(f"{len(out)} frame(s) outside the training data, predictions are extrapolations: "
                          f"{head}{more}", ExtrapolationWarning, stacklevel=3)
        return out

    def calculator(self):
        """An ASE Calculator (energy, free_energy, forces, stress)."""
        from ..apps.calculator import LdrxCalculator
        self._require_fitted()
        return LdrxCalculator(self)

    def save(self, path):
        """Write the model to `path` (a zip of JSON metadata and arrays), atomically."""
        self._require_fitted()
        from .. import __version__
        meta, arrays = self._state()
        if getattr(self, "domain_min_distance", None) is not None:
            arrays = {**arrays, "_domain_min_distance": self.domain_min_distance}
        head = {"format": FILE_MAGIC, "family": self.family, "format_version": self.format_version,
                "ldrx_version": __version__, "species": [int(z) for z in self.species], **meta}
        payload = {f"a_{k}": np.asarray(v) for k, v in arrays.items()}
        payload["meta"] = np.array(json.dumps(head, default=_json_default))

        def write(f):
            buf = io.BytesIO()
            np.savez_compressed(buf, **payload)
            f.write(buf.getvalue())
        atomic_write(path, write)

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`; the family must be this class's (use ldrx.load for any)."""
        meta, arrays = read_model_file(path)
        if cls.family and meta["family"] != cls.family:
            raise ModelFileError(f"{path}: holds a '{meta['family']}' model, not '{cls.family}'")
        if meta["format_version"] > cls.format_version:
            raise ModelFileError(f"{path}: format version {meta['format_version']} is newer than this ldrx "
                                 f"reads ({cls.family} version {cls.format_version}); upgrade ldrx "
                                 f"(file written by ldrx {meta.get('ldrx_version', '?')})")
        domain = arrays.pop("_domain_min_distance", None)
        model = cls._from_state(meta, arrays)
        model.domain_min_distance = domain
        if [int(z) for z in model.species] != [int(z) for z in meta["species"]]:
            raise ModelFileError(f"{path}: species in the header do not match the model body")
        model._fitted = True
        return model


def read_model_file(path):
    try:
        with np.load(path, allow_pickle=False) as z:
            if "meta" not in z.files:
                raise ModelFileError(f"{path}: not an ldrx model file")
            meta = json.loads(str(z["meta"]))
            arrays = {k[2:]: z[k] for k in z.files if k.startswith("a_")}
    except (OSError, ValueError) as exc:
        if isinstance(exc, ModelFileError):
            raise
        raise ModelFileError(f"{path}: not an ldrx model file ({exc})") from exc
    if meta.get("format") != FILE_MAGIC:
        raise ModelFileError(f"{path}: not an ldrx model file")
    for key in ("family", "format_version", "species"):
        if key not in meta:
            raise ModelFileError(f"{path}: model file lacks '{key}'")
    return meta, arrays


def _json_default(o):
    if dataclasses.is_dataclass(o):
        return dataclasses.asdict(o)
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def fit_reference_energies(train: Dataset, species, given=None, comm=None) -> dict:
    """Per-species reference energies {Z: eV}: `given` (dict keyed by symbol or Z) or a least-squares
    fit on the training compositions (see Dataset.fit_reference_energies). With an MPI `comm`
    (ldrx.parallel), `train` is this rank's shard: the compositions and energies (n_species + 1 numbers a
    frame) are gathered in rank order and every rank solves the serial problem."""
    if given is not None:
        refs = element_values(given, "reference_energies")
        missing = set(int(z) for z in species) - set(refs)
        if missing:
            raise ValueError(f"reference energies missing for atomic numbers {sorted(missing)}")
        return refs
    if comm is not None and comm.size > 1:
        from ..data import reference_energies_lstsq
        from ..parallel import gather_concat
        species = [int(z) for z in species]
        return reference_energies_lstsq(gather_concat(train.composition(species), comm),
                                        gather_concat(train.energy, comm), species)
    return train.fit_reference_energies(species)
