"""NequIP (Batzner et al., Nat. Commun. 13, 2453 (2022)) through the `nequip` package (>= 0.19), the LDR
benchmark's point of comparison, behind ldrx's estimator API.

``NequIP(**hyper).fit(train)``:

1. per-species reference energies (least squares on the training compositions, as every ldrx family)
   are subtracted; the frames are written as extxyz from ldrx's own arrays (energies and forces in eV,
   eV/Å: never through ase's XSF reader, which takes XSF forces for Hartree/Å);
2. a nequip 0.19 Hydra config is generated (ASEDataModule, NequIPGNNModel, EnergyForceLoss or
   EnergyOnlyLoss, Adam, Lightning on CPU) and ``nequip-train`` runs in a subprocess with
   OMP_NUM_THREADS set to ldrx's thread count;
3. the last epoch's checkpoint (not a validation-selected one: the validation frames are a few training
   frames that nequip's Trainer insists on) is packaged with ``nequip-package build`` into a
   ``.nequip.zip``, whose bytes the ldrx model file embeds, so ``save``/``load`` need no side files.

Prediction loads the package in eager mode (nequip's ASE integration, on CPU; no AOTInductor compile,
which the nequip docs flag as fragile on CPU) and adds the reference energies back.

Defaults are a small model that trains in minutes on CPU on the bundled sample: 2 layers, l_max 1,
16 features, r_max 5 Å, 10 epochs. The paper's NequIP is much larger and trained for days.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..data import Dataset
from ..elements import species_numbers
from ..errors import DataError, ModelFileError
from .base import Model, Prediction, fit_reference_energies


@dataclass
class NequIPHyper:
    """Hyper-parameters (nequip's names where they exist)."""
    r_max: float = 5.0            # cutoff (Å)
    num_layers: int = 2
    l_max: int = 1
    num_features: int = 16
    parity: bool = False          # nequip's docs: often as good and faster
    radial_mlp_depth: int = 1
    radial_mlp_width: int = 32
    num_bessels: int = 8
    epochs: int = 10              # Lightning max_epochs
    batch_size: int = 5
    lr: float = 0.01              # Adam
    force_weight: float = 1.0     # loss coefficient of the force MSE (per-atom energy MSE has 1); 0: energies only
    val_frames: int = 5           # training frames that also serve as nequip's validation set
    model_dtype: str = "float64"
    species: Optional[tuple] = None  # elements the model knows; default: those of the training set
    reference_energies: Optional[dict] = None  # {element: eV}; default: least squares on the training set
    workdir: Optional[str] = None  # keep nequip's run folder here (default: a temporary folder, removed)
    progress: bool = True
    seed: int = 0

    def validate(self):
        for name in ("num_layers", "num_features", "radial_mlp_depth", "radial_mlp_width", "num_bessels",
                     "epochs", "batch_size", "val_frames"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.l_max < 0:
            raise ValueError("l_max must be >= 0")
        if self.r_max <= 0 or self.lr <= 0 or self.force_weight < 0:
            raise ValueError("r_max and lr must be > 0, force_weight >= 0")
        if self.model_dtype not in ("float32", "float64"):
            raise ValueError("model_dtype must be float32 or float64")


def _hyper_from_kwargs(kwargs) -> NequIPHyper:
    names = {f.name for f in dataclasses.fields(NequIPHyper)}
    unknown = set(kwargs) - names
    if unknown:
        raise TypeError(f"unknown NequIP hyper-parameter(s) {sorted(unknown)}; valid: {sorted(names)}")
    h = NequIPHyper(**kwargs)
    h.validate()
    return h


def _require_nequip():
    try:
        import nequip  # noqa: F401
    except ImportError as exc:
        raise ImportError("the NequIP family needs the nequip package: pip install \"ldrx[nequip]\" "
                          "(install torch's CPU build first: pip install torch --index-url "
                          "https://download.pytorch.org/whl/cpu)") from exc


def write_extxyz(data: Dataset, path, energy=None):
    """Frames as extxyz with a SinglePointCalculator holding `energy` (default data.energy, eV) and
    data.forces (eV/Å), written from ldrx's arrays."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write
    energy = data.energy if energy is None else energy
    frames = []
    for f, atoms in enumerate(data.to_atoms()):
        forces = data.forces[data.offsets[f]:data.offsets[f + 1]]
        kw = {"energy": float(energy[f])}
        if np.isfinite(forces).all():
            kw["forces"] = forces.copy()
        atoms.calc = SinglePointCalculator(atoms, **kw)
        frames.append(atoms)
    write(str(path), frames, format="extxyz")


def make_config(h: NequIPHyper, type_names, train_file, val_file, out_dir) -> dict:
    """nequip 0.19 Hydra config (a dict; written as YAML) for CPU training."""
    energy_only = h.force_weight == 0
    loss = ({"_target_": "nequip.train.EnergyOnlyLoss", "per_atom_energy": True} if energy_only else
            {"_target_": "nequip.train.EnergyForceLoss", "per_atom_energy": True,
             "coeffs": {"total_energy": 1.0, "forces": float(h.force_weight)}})
    metrics = ({"_target_": "nequip.train.EnergyOnlyMetrics"} if energy_only else
               {"_target_": "nequip.train.EnergyForceMetrics",
                "coeffs": {"total_energy_mae": 1.0, "forces_mae": 1.0}})
    loader = {"_target_": "torch.utils.data.DataLoader", "batch_size": int(h.batch_size)}
    return {
        "run": ["train"],
        "seed": int(h.seed),
        "cutoff_radius": float(h.r_max),
        "model_type_names": list(type_names),
        "chemical_species": list(type_names),
        "data": {
            "_target_": "nequip.data.datamodule.ASEDataModule",
            "seed": int(h.seed),
            "train_file_path": str(train_file),
            "val_file_path": str(val_file),
            "transforms": [
                {"_target_": "nequip.data.transforms.ChemicalSpeciesToAtomTypeMapper",
                 "model_type_names": list(type_names),
                 "chemical_species_to_atom_type_map": {t: t for t in type_names}},
                {"_target_": "nequip.data.transforms.NeighborListTransform", "r_max": float(h.r_max)},
            ],
            "train_dataloader": {**loader, "shuffle": True},
            "val_dataloader": loader,
            "stats_manager": {"_target_": ("nequip.data.EnergyOnlyDataStatisticsManager" if energy_only
                                           else "nequip.data.CommonDataStatisticsManager"),
                              "type_names": list(type_names)},
        },
        "trainer": {
            "_target_": "lightning.Trainer",
            "accelerator": "cpu",
            "devices": 1,
            "max_epochs": int(h.epochs),
            "check_val_every_n_epoch": 1,
            "log_every_n_steps": 5,
            "enable_progress_bar": bool(h.progress),
            "logger": {"_target_": "lightning.pytorch.loggers.CSVLogger", "save_dir": str(out_dir)},
            "callbacks": [{"_target_": "lightning.pytorch.callbacks.ModelCheckpoint",
                           "dirpath": str(out_dir), "filename": "last-epoch", "save_top_k": 1,
                           "save_last": True}],
        },
        "training_module": {
            "_target_": "nequip.train.NequIPLightningModule",
            "loss": loss,
            "val_metrics": metrics,
            "train_metrics": metrics,
            "optimizer": {"_target_": "torch.optim.Adam", "lr": float(h.lr)},
            "model": {
                "_target_": "nequip.model.NequIPGNNModel",
                "seed": int(h.seed),
                "model_dtype": h.model_dtype,
                "type_names": list(type_names),
                "r_max": float(h.r_max),
                "l_max": int(h.l_max),
                "parity": bool(h.parity),
                "num_layers": int(h.num_layers),
                "num_features": int(h.num_features),
                "radial_mlp_depth": int(h.radial_mlp_depth),
                "radial_mlp_width": int(h.radial_mlp_width),
                "num_bessels": int(h.num_bessels),
                "avg_num_neighbors": "${training_data_stats:num_neighbors_mean}",
                "per_type_energy_shifts": "${training_data_stats:per_atom_energy_mean}",
                "per_type_energy_scales": ("${training_data_stats:per_atom_energy_std}" if energy_only
                                           else "${training_data_stats:forces_rms}"),
            },
        },
    }


def _run(cmd, env, cwd, log):
    with open(log, "a") as f:
        f.flush()
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        lines = Path(log).read_text(errors="replace").strip().splitlines()
        tail = next((l for l in reversed(lines) if l.strip()), "(no output)")
        raise RuntimeError(f"nequip training failed ({tail.strip()}); log: {log}")


class NequIP(Model):
    """NequIP through the nequip package. ``NequIP(**hyper).fit(train)``; see the module docstring."""

    family = "nequip"
    format_version = 1

    def __init__(self, **hyper):
        _require_nequip()
        self.hyper = _hyper_from_kwargs(hyper)
        self.species = []
        self.history = []
        self._fitted = False
        self._calc = None

    @property
    def type_names(self):
        from ase.data import chemical_symbols
        return [chemical_symbols[z] for z in self.species]

    def fit(self, train: Dataset, valid: Dataset | None = None):
        """Train nequip on `train` (valid is ignored: nequip validates on a few training frames)."""
        _require_nequip()
        h = self.hyper
        if len(train) == 0:
            raise DataError("the training set is empty")
        if not np.isfinite(train.energy).all():
            raise DataError("every NequIP training frame needs an energy")
        self.species = species_numbers(list(h.species) if h.species is not None else train.species)
        self.check_species(train)
        self.learn_domain(train)
        self.reference_energies = fit_reference_energies(train, self.species, h.reference_energies)
        e = train.energy - train.reference_energy(self.reference_energies)
        work = Path(h.workdir) if h.workdir else Path(tempfile.mkdtemp(prefix="ldrx-nequip-"))
        work.mkdir(parents=True, exist_ok=True)
        try:
            self._train(train, e, work.resolve())
        finally:
            if not h.workdir:
                shutil.rmtree(work, ignore_errors=True)
        self._fitted = True
        return self

    def _train(self, train, e, work):
        import yaml
        from .. import get_num_threads
        h = self.hyper
        write_extxyz(train, work / "train.extxyz", e)
        nval = min(h.val_frames, len(train))
        pick = np.sort(np.random.default_rng(h.seed).choice(len(train), nval, replace=False))
        write_extxyz(train.subset(pick), work / "val.extxyz", e[pick])
        out = work / "run"
        cfg = make_config(h, self.type_names, work / "train.extxyz", work / "val.extxyz", out)
        with open(work / "config.yaml", "w") as f:
            yaml.safe_dump(cfg, f, sort_keys=False)
        env = dict(os.environ)
        threads = str(get_num_threads())
        env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
        log = work / "nequip.log"
        t0 = time.perf_counter()
        ckpt, pkg = out / "last.ckpt", work / "model.nequip.zip"
        # one interpreter for `nequip-train` and `nequip-package build` (each start imports torch and Lightning)
        code = ("import sys\n"
                "from nequip.scripts.train import main as train\n"
                "from nequip.scripts.package import main as package\n"
                f"sys.argv = ['nequip-train', '-cp', {str(work.resolve())!r}, '-cn', 'config.yaml', "
                f"'hydra.run.dir={out.resolve()}']\n"
                "try:\n    train()\nexcept SystemExit as e:\n    if e.code: raise\n"
                f"package(['build', {str(ckpt)!r}, {str(pkg)!r}])\n")
        _run([sys.executable, "-c", code], env, work, log)
        self.train_time_s = time.perf_counter() - t0
        if not pkg.exists():
            raise RuntimeError(f"nequip wrote no packaged model {pkg}; log: {log}")
        self.package = np.frombuffer(pkg.read_bytes(), dtype=np.uint8).copy()
        self.history = self._read_history(out)
        self.epochs_done = len(self.history)
        self._calc = None

    @staticmethod
    def _read_history(out):
        """Per-epoch records from Lightning's CSVLogger (metrics.csv): epoch and the logged metrics."""
        import csv
        files = sorted(out.glob("lightning_logs/version_*/metrics.csv"))
        if not files:
            return []
        rows = {}
        with open(files[-1], newline="") as f:
            for r in csv.DictReader(f):
                if not r.get("epoch"):
                    continue
                ep = int(float(r["epoch"])) + 1
                rec = rows.setdefault(ep, {"epoch": ep})
                for k, v in r.items():
                    if k not in ("epoch", "step") and v not in ("", None) and "epoch" in k:
                        rec[k] = float(v)
        names = {"train_metric_epoch/per_atom_energy_rmse": ("train_energy_rmse_meV_per_atom", 1000.0),
                 "train_metric_epoch/forces_rmse": ("train_forces_rmse_eV_per_A", 1.0),
                 "val0_epoch/per_atom_energy_rmse": ("valid_energy_rmse_meV_per_atom", 1000.0),
                 "val0_epoch/forces_rmse": ("valid_forces_rmse_eV_per_A", 1.0)}
        for rec in rows.values():  # ldrx's names (as ANN.history) next to nequip's
            for k, (name, scale) in names.items():
                if k in rec:
                    rec[name] = scale * rec[k]
        return [rows[k] for k in sorted(rows)]

    # ------------------------------------------------------------------ prediction
    def _calculator_nequip(self):
        if self._calc is None:
            _require_nequip()
            from nequip.integrations.ase import NequIPCalculator
            d = Path(tempfile.mkdtemp(prefix="ldrx-nequip-"))
            try:
                p = d / "model.nequip.zip"
                p.write_bytes(self.package.tobytes())
                self._calc = NequIPCalculator._from_saved_model(str(p), device="cpu",
                                                                chemical_species_to_atom_type_map=True)
            finally:
                shutil.rmtree(d, ignore_errors=True)
        return self._calc

    def _predict(self, data: Dataset, forces: bool, stress: bool) -> Prediction:
        calc = self._calculator_nequip()
        energy = np.zeros(len(data))
        F = np.zeros((data.n_atoms, 3)) if forces else None
        S = np.full((len(data), 6), np.nan) if stress else None
        ref = data.reference_energy(self.reference_energies)
        for f, atoms in enumerate(data.to_atoms()):
            atoms.calc = None
            props = ["energy"] + (["forces"] if forces else [])
            calc.calculate(atoms, properties=props)
            energy[f] = float(calc.results["energy"]) + ref[f]
            if forces:
                F[data.offsets[f]:data.offsets[f + 1]] = calc.results["forces"]
            if stress and "stress" in calc.results and atoms.pbc.all():
                S[f] = calc.results["stress"]
        return Prediction(energy, F, S)

    # ------------------------------------------------------------------ persistence
    def _state(self):
        meta = {"hyper": dataclasses.asdict(self.hyper),
                "reference_energies": {str(z): v for z, v in self.reference_energies.items()},
                "history": self.history, "train_time_s": getattr(self, "train_time_s", None)}
        return meta, {"package": self.package}

    @classmethod
    def _from_state(cls, meta, arrays):
        m = cls(**meta["hyper"])
        m.species = [int(z) for z in meta["species"]]
        m.reference_energies = {int(z): float(v) for z, v in meta["reference_energies"].items()}
        m.history = meta.get("history", [])
        m.train_time_s = meta.get("train_time_s")
        if "package" not in arrays or arrays["package"].dtype != np.uint8:
            raise ModelFileError("NequIP model file lacks the packaged nequip model")
        m.package = arrays["package"]
        return m
