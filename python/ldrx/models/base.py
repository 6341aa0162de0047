"""What every model family shares: the estimator API, predictions, model files, the ASE calculator.

A family subclasses :class:`Model` and implements ``fit``, ``_predict`` and the two state hooks
``_state`` / ``_from_state``; saving, loading, validation, input conversion and the calculator come
from here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from .._files import atomic_write
from ..data import Dataset, as_dataset  # noqa: F401  (as_dataset: importable from here, as before)
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


# ---------------------------------------------------------------------------------------------------
# Helpers every family uses (so a new family adds a room, not copies): hyper-parameter parsing, the
# conversion of training inputs, species index tables and the prediction epilogue.

def hyper_from_kwargs(hyper_cls, kwargs: dict, family: str):
    """An instance of the hyper-parameter dataclass `hyper_cls` from keyword arguments: unknown names are a
    TypeError listing the valid ones; the dataclass's ``validate()`` (if any) runs after construction
    (``__post_init__`` runs as usual)."""
    names = {f.name for f in dataclasses.fields(hyper_cls)}
    unknown = set(kwargs) - names
    if unknown:
        raise TypeError(f"unknown {family} hyper-parameter(s) {sorted(unknown)}; valid: {sorted(names)}")
    h = hyper_cls(**kwargs)
    if callable(getattr(h, "validate", None)):
        h.validate()
    return h


def training_data(train, valid=None) -> tuple[Dataset, Dataset | None]:
    """(train, valid) as Datasets, whatever fit was given (a Dataset, an ASE Atoms or a list of Atoms; see
    ldrx.data.as_dataset); an empty validation set is None. Every family's fit starts with this."""
    train = as_dataset(train)
    if len(train) == 0:
        raise DataError("the training set is empty")
    if valid is not None:
        valid = as_dataset(valid)
        if len(valid) == 0:
            valid = None
    return train, valid


def species_index(species, numbers) -> np.ndarray:
    """Index of each atomic number of `numbers` in the list `species`, int32; -1 for numbers not in it."""
    numbers = np.asarray(numbers)
    size = max(119, int(numbers.max(initial=0)) + 1, max((int(z) for z in species), default=0) + 1)
    table = np.full(size, -1, np.int32)
    table[[int(z) for z in species]] = np.arange(len(species), dtype=np.int32)
    return table[numbers]


def prediction_from_atoms(data: Dataset, atom_energy, forces=None, virial=None, want_forces=True,
                          want_stress=True) -> Prediction:
    """The epilogue of every _predict: frame energies summed from per-atom energies [n_atoms], forces
    [n_atoms, 3] passed on when wanted, stress from the virial [n_frames, 6] (eV) when wanted."""
    energy = np.bincount(data.frame_index, weights=atom_energy, minlength=len(data))
    return Prediction(energy, forces if want_forces else None,
                      virial_to_stress(virial, data) if want_stress and virial is not None else None)


def neighbour_list_bytes(data: Dataset, cutoff: float) -> float:
    """Estimated memory of the neighbour lists of `data` at `cutoff` (36 bytes a pair; used to decide
    whether a trainer keeps them across loss evaluations)."""
    vol = np.abs(np.linalg.det(data.cells))
    n = data.natoms.astype(float)
    dens = np.where(vol > 0, n / np.where(vol > 0, vol, 1), 0.1)
    return float(np.sum(n * dens * 4.0 / 3.0 * np.pi * cutoff ** 3)) * 36.0


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
    repulsion = None  # short-range baseline (ldrx.models.repulsion: PairWall, ZBLBaseline) added to the predictions
    training = None   # summary of the training set (learn_domain): frames, atoms, species, frame fingerprints

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

    def _describe(self) -> str:
        """One line on the model's form (descriptor, cut-offs, architecture); families override it."""
        return ""

    @property
    def n_parameters(self):
        """Number of fitted parameters (None where a family does not say)."""
        return None

    # ---------------------------------------------------------------- shared
    @property
    def is_fitted(self) -> bool:
        return getattr(self, "_fitted", False)

    def __repr__(self):
        from ase.data import chemical_symbols as cs
        parts = [self._describe()]
        if self.is_fitted:
            parts.insert(0, "species " + "/".join(cs[z] for z in self.species))
            if self.n_parameters is not None:
                parts.append(f"{self.n_parameters} parameters")
            t = self.training
            if t:
                parts.append(f"trained on {t['n_frames']} frames, {t['n_atoms']} atoms "
                             f"({t['n_energies']} energies, {t['n_force_components']} force components)")
            parts.append(repr(self.repulsion) if self.repulsion is not None else "no repulsive baseline")
        else:
            parts.append("not fitted")
        return f"<{type(self).__name__} {self.family}: " + "; ".join(p for p in parts if p) + ">"

    def training_frames(self, frames) -> np.ndarray:
        """Boolean per frame of `frames`: True where the frame was in this model's training set (matched by
        content, see frame_fingerprints; all False for models that do not record it)."""
        data = as_dataset(frames)
        known = (self.training or {}).get("fingerprints")
        if known is None or len(known) == 0:
            return np.zeros(len(data), bool)
        return np.isin(frame_fingerprints(data), np.asarray(known, np.uint64))

    def _require_fitted(self):
        if not self.is_fitted:
            raise RuntimeError(f"this {type(self).__name__} has not been fitted or loaded")

    def _species_index(self, data: Dataset) -> np.ndarray:
        """Species index (position in self.species) of every atom of `data`, int32 [n_atoms]."""
        return species_index(self.species, data.numbers)

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
        pred = self._predict(data, forces, stress)
        if self.repulsion is not None:
            e, F, W = self.repulsion(data, forces=forces, virial=stress)
            pred.energy = pred.energy + e
            if forces and pred.forces is not None:
                pred.forces = pred.forces + F
            if stress and pred.stress is not None:
                pred.stress = pred.stress + virial_to_stress(W, data)
        return pred

    def learn_domain(self, train: Dataset, comm=None):
        """Record the shortest distance between atoms of each pair of species in the training set (up to
        DOMAIN_CUTOFF); every family calls this in fit, and predict checks new frames against it. With an MPI
        `comm` (ldrx.parallel), `train` is this rank's shard and the minimum is taken over all ranks."""
        d = _core.pair_min_distances(train.batch(), DOMAIN_CUTOFF, [int(z) for z in self.species])
        local = d.min(axis=0) if len(d) else None
        counts = [len(train), int(train.n_atoms), int(np.isfinite(train.energy).sum()),
                  int(np.isfinite(train.forces).sum())]
        fingerprints = frame_fingerprints(train)
        if comm is not None and comm.size > 1:   # the whole training set: all shards, in rank order
            gathered = comm.allgather((local, counts, fingerprints))
            parts = [m for m, _, _ in gathered if m is not None]
            local = np.minimum.reduce(parts) if parts else None
            counts = [sum(c[i] for _, c, _ in gathered) for i in range(4)]
            fingerprints = np.concatenate([fp for _, _, fp in gathered])
        self.domain_min_distance = local
        # the repulsive baseline: the family's `repulsion` setting, else the default pair wall (zero on `train`)
        from . import repulsion
        kind = repulsion.check_kind(getattr(getattr(self, "hyper", None), "repulsion",
                                            getattr(self, "repulsion_setting", repulsion.DEFAULT)))
        self.repulsion = None
        if kind == "wall" and local is not None:
            self.repulsion = repulsion.PairWall.from_min_distance(self.species, local, DOMAIN_CUTOFF)
        elif kind == "zbl" and local is not None:   # zero on `train` too (switched off at its shortest pairs)
            self.repulsion = repulsion.ZBLBaseline.from_training_distances(self.species, local[None], DOMAIN_CUTOFF)
        self.training = {"n_frames": counts[0], "n_atoms": counts[1], "n_energies": counts[2],
                         "n_force_components": counts[3], "fingerprints": fingerprints}

    def subtract_baseline(self, data: Dataset, kind, comm=None) -> Dataset:
        """Set up the short-range repulsive baseline `kind` ('wall', 'zbl' or None; see ldrx.models.repulsion)
        from the training set's shortest pair distances and return `data` with its
        energies, forces and stresses minus the baseline. Families call this in fit and train on the
        result; predict adds the baseline back. With an MPI `comm` (ldrx.parallel), `data` is this rank's
        shard and the baseline is set up from the distances of all shards (in rank order)."""
        from .repulsion import PairWall, ZBLBaseline, check_kind
        kind = check_kind(kind)
        if kind is None:
            self.repulsion = None
            return data
        if kind == "wall":   # from learn_domain's shortest distances (all shards); zero on the training data
            if not isinstance(self.repulsion, PairWall):
                self.repulsion = PairWall.from_min_distance(self.species, self.domain_min_distance, DOMAIN_CUTOFF)
            return self.without_baseline(data)
        d = _core.pair_min_distances(data.batch(), DOMAIN_CUTOFF, [int(z) for z in self.species])
        if comm is not None and comm.size > 1:
            d = np.concatenate([p for p in comm.allgather(d) if len(p)] or [d])
        self.repulsion = ZBLBaseline.from_training_distances(self.species, d, DOMAIN_CUTOFF)
        return self.without_baseline(data)

    def without_baseline(self, data: Dataset) -> Dataset:
        """Labels of `data` minus the repulsive baseline (a new Dataset; `data` itself where it is zero)."""
        if self.repulsion is None or len(data) == 0:
            return data
        e, F, W = self.repulsion(data, forces=True, virial=data.stress is not None)
        if not (np.any(e) or np.any(F) or (W is not None and np.any(W))):
            return data
        out = data.subset(np.arange(len(data)))
        out.energy = data.energy - e
        out.forces = data.forces - F
        if data.stress is not None:
            out.stress = data.stress - np.nan_to_num(virial_to_stress(W, data))
        return out

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
        extra = {}
        if self.repulsion is not None:
            rmeta, rarr = self.repulsion.state()
            extra["repulsion"] = rmeta
            arrays = {**arrays, **{f"_repulsion_{k}": v for k, v in rarr.items()}}
        if self.training is not None:
            extra["training"] = {k: v for k, v in self.training.items() if k != "fingerprints"}
            arrays = {**arrays, "_training_fingerprints": np.asarray(self.training["fingerprints"], np.uint64)}
        head = {"format": FILE_MAGIC, "family": self.family, "format_version": self.format_version,
                "ldrx_version": __version__, "species": [int(z) for z in self.species], **meta, **extra}
        payload = {f"a_{k}": np.asarray(v) for k, v in arrays.items()}
        payload["meta"] = np.array(json.dumps(head, default=_json_default))

        def write(f):
            buf = io.BytesIO()
            np.savez_compressed(buf, **payload)
            f.write(buf.getvalue())
        atomic_write(path, write)

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`; the family must be this class's (use ldrx.load for any).
        Every problem with the file (missing, truncated, corrupt, another format or family, entries missing
        or inconsistent) is a ModelFileError that names the file and what is wrong."""
        meta, arrays = read_model_file(path)
        if cls.family and meta["family"] != cls.family:
            raise ModelFileError(f"{path}: holds a '{meta['family']}' model, not '{cls.family}'")
        if meta["format_version"] > cls.format_version:
            raise ModelFileError(f"{path}: format version {meta['format_version']} is newer than this ldrx "
                                 f"reads ({cls.family} version {cls.format_version}); upgrade ldrx "
                                 f"(file written by ldrx {meta.get('ldrx_version', '?')})")
        domain = arrays.pop("_domain_min_distance", None)
        rep = {k[len("_repulsion_"):]: arrays.pop(k) for k in list(arrays) if k.startswith("_repulsion_")}
        prints = arrays.pop("_training_fingerprints", None)
        with model_file_errors(path):
            model = cls._from_state(meta, arrays)
        model.domain_min_distance = domain
        if "repulsion" in meta:
            from .repulsion import from_state
            try:
                model.repulsion = from_state(meta["repulsion"], rep)
            except (KeyError, ValueError) as exc:
                raise ModelFileError(f"{path}: bad repulsive baseline ({exc})") from exc
        if "training" in meta:
            model.training = {**meta["training"], "fingerprints": prints if prints is not None else np.zeros(0, np.uint64)}
        if [int(z) for z in model.species] != [int(z) for z in meta["species"]]:
            raise ModelFileError(f"{path}: species in the header do not match the model body")
        model._fitted = True
        return model


def frame_fingerprints(data: Dataset) -> np.ndarray:
    """One 64-bit fingerprint per frame (atomic numbers, positions and cell rounded to 1e-6 Å), to
    recognise training frames wherever the data files have moved."""
    import hashlib
    out = np.zeros(len(data), np.uint64)
    for f in range(len(data)):
        a0, a1 = data.offsets[f], data.offsets[f + 1]
        h = hashlib.blake2b(digest_size=8)
        h.update(np.ascontiguousarray(data.numbers[a0:a1], np.int32).tobytes())
        h.update(np.round(data.positions[a0:a1], 6).tobytes())
        h.update(np.round(data.cells[f], 6).tobytes())
        out[f] = int.from_bytes(h.digest(), "little")
    return out


@contextlib.contextmanager
def model_file_errors(path, what="model file"):
    """Turns any exception raised while interpreting the contents of a model file (a missing key, a value of
    the wrong type or shape, an inconsistent header, ...) into a ModelFileError that names the file and says
    what is wrong. For readers of every family: ``with model_file_errors(path): ...``."""
    try:
        yield
    except ModelFileError as exc:
        if str(path) in str(exc):
            raise
        raise ModelFileError(f"{path}: {exc}") from exc
    except KeyError as exc:
        raise ModelFileError(f"{path}: {what} lacks the entry {exc}") from exc
    except (ValueError, TypeError, IndexError, AttributeError, OverflowError) as exc:
        raise ModelFileError(f"{path}: invalid {what} ({type(exc).__name__}: {exc})") from exc


def read_npz(path, what="ldrx model file"):
    """{name: array} of every entry of an .npz file, read in full (so a truncated or bit-flipped file fails
    here, with a ModelFileError naming it, and never later)."""
    if not Path(path).is_file():
        raise ModelFileError(f"{path}: no such {what}" + (" (it is a folder)" if Path(path).exists() else ""))
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read the {what} ({exc})") from exc
    except Exception as exc:  # zipfile, zlib, numpy format errors: the bytes are not a valid file
        kind = "truncated or not a zip archive" if isinstance(exc, zipfile.BadZipFile) else "corrupt"
        raise ModelFileError(f"{path}: not a readable {what}: {kind} ({type(exc).__name__}: {exc})") from exc


def read_model_file(path):
    """(meta, arrays) of an ldrx model file; ModelFileError naming the file for anything wrong."""
    z = read_npz(path)
    if "meta" not in z:
        raise ModelFileError(f"{path}: not an ldrx model file (no 'meta' entry)")
    try:
        meta = json.loads(str(z["meta"]))
    except ValueError as exc:
        raise ModelFileError(f"{path}: the model header is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FILE_MAGIC:
        raise ModelFileError(f"{path}: not an ldrx model file")
    for key in ("family", "format_version", "species"):
        if key not in meta:
            raise ModelFileError(f"{path}: model file lacks '{key}'")
    if not isinstance(meta["format_version"], int) or not isinstance(meta["species"], list):
        raise ModelFileError(f"{path}: model header has an invalid format_version or species")
    arrays = {k[2:]: v for k, v in z.items() if k.startswith("a_")}
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
