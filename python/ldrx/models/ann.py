"""AENET-style atomic neural-network potentials, on aenet's Chebyshev descriptor or any other.

Model (Artrith & Urban, Comput. Mater. Sci. 114, 135 (2016); Artrith, Urban, Ceder, PRB 96, 014112 (2017)):

    E = sum_i [ NN_{t_i}( (G_i - mu_t) / sigma_t ) / scale + shift + E_ref(t_i) ]

with one feed-forward network per species t, a descriptor G (by default aenet's Chebyshev descriptor, 44
features in the LDR setting; ``descriptor="bispectrum"`` puts the networks on SNAP's bispectrum, as n2p2 and
others put networks on other descriptors: see :data:`DESCRIPTORS`), per-species feature standardisation
(z-score), and aenet's global energy normalisation (per-atom cohesive energies of the training set mapped
onto [-1, 1]). Training is full-batch L-BFGS, one epoch being one loss-and-gradient evaluation, on energies
(aenet's train.x) or on energies and forces (the force term costs one adjoint and one tangent pass of the
descriptor per epoch, see DESIGN.md).

aenet's binary ``.nn`` files are read (:meth:`ANN.from_aenet`) and written (:meth:`ANN.to_aenet`), so the
LDR paper's published aenet potentials run in ldrx and ldrx's networks run in aenet.
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from ase.data import atomic_numbers, chemical_symbols

from .. import _core
from .._files import atomic_write
from ..data import Dataset, as_dataset
from ..descriptors.bispectrum import Bispectrum
from ..descriptors.chebyshev import Chebyshev
from ..elements import species_numbers
from ..errors import DataError, ModelFileError
from ..train.lbfgs import StopTraining, run_lbfgs
from .base import (Model, Prediction, fit_reference_energies, hyper_from_kwargs, model_file_errors,
                   neighbour_list_bytes, prediction_from_atoms, read_npz, training_data)

ACTIVATIONS = {"linear": 0, "tanh": 1, "sigmoid": 2, "mtanh": 3, "twist": 4}
_ACT_NAMES = {v: k for k, v in ACTIVATIONS.items()}


@dataclass
class ANNHyper:
    """Hyper-parameters. Defaults are the LDR benchmark's aenet setting where it is known."""
    hidden: tuple = (15, 15)          # hidden layer sizes, e.g. (15, 15)
    activation: str = "tanh"          # linear | tanh | sigmoid | mtanh | twist (hidden layers)
    epochs: int = 500                 # L-BFGS epochs: loss-and-gradient evaluations (aenet's ITERATIONS)
    force_weight: float = 0.0         # 0: energies only (aenet); else weight of the force MSE (normalised units)
    force_fraction: float = 1.0       # fraction of the frames with forces used in the force term
    l2: float = 0.0                   # weight decay: adds l2 / 2 * |w|^2 to the loss (normalised units)
    radial_cutoff: float = 8.0        # [Å] cut-off of the radial Chebyshev descriptor
    radial_order: int = 16            # order of the radial Chebyshev expansion
    angular_cutoff: float = 6.5       # [Å] cut-off of the angular Chebyshev descriptor
    angular_order: int = 4            # order of the angular Chebyshev expansion
    r_min: float = 0.55               # [Å] atoms closer than this are an error (aenet's RMIN)
    species: Optional[tuple] = None   # aenet ENV order; default: training species by atomic number
    typespin: Optional[tuple] = None  # species weights; default aenet's
    reference_energies: Optional[dict] = None  # [eV] {element: energy}; default: least squares on the training set
    memory: int = 20                  # L-BFGS history (aenet: 20)
    patience: Optional[int] = None    # [epochs] stop after this many without validation improvement
    valid_every: int = 1              # epochs between validation evaluations
    checkpoint: Optional[str] = None  # path of a checkpoint file; training resumes from it if present
    checkpoint_every: int = 50        # [epochs] between checkpoints
    progress: bool = True             # show a progress bar
    neighbour_cache_gb: float = 2.0   # [GB] cache neighbour lists for force training below this size
    descriptor: str = "chebyshev"     # a key of DESCRIPTORS: chebyshev (aenet; the radial_/angular_ settings above)
    descriptor_params: Optional[dict] = None  # settings of another descriptor, e.g. {"twojmax": 6} (bispectrum)
    repulsion: Optional[str] = "wall"  # short-range baseline (ldrx.models.repulsion): "wall" below the training set's shortest pairs (zero on it); "zbl"; None: off
    seed: int = 0                     # random seed of the initial weights and of force_fraction

    def validate(self):
        if self.descriptor not in DESCRIPTORS:
            raise ValueError(f"descriptor must be one of {sorted(DESCRIPTORS)}, got {self.descriptor!r}")
        if self.descriptor_params is not None and not isinstance(self.descriptor_params, dict):
            raise ValueError("descriptor_params must be a dict of the descriptor's settings")
        if self.descriptor == "chebyshev" and self.descriptor_params:
            raise ValueError("the Chebyshev descriptor takes radial_cutoff, radial_order, angular_cutoff and "
                             "angular_order, not descriptor_params")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        self.hidden = tuple(int(h) for h in self.hidden)
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError("hidden must list one or more positive layer sizes")
        if self.epochs < 0:
            raise ValueError("epochs must be >= 0")
        if self.force_weight < 0:
            raise ValueError("force_weight must be >= 0")
        if self.l2 < 0:
            raise ValueError("l2 must be >= 0")
        if not 0 < self.force_fraction <= 1:
            raise ValueError("force_fraction must be in (0, 1]")
        if self.angular_cutoff > self.radial_cutoff:
            raise ValueError("angular_cutoff must not exceed radial_cutoff (aenet's convention)")
        if self.r_min < 0 or self.r_min >= self.angular_cutoff:
            raise ValueError("r_min must be in [0, angular_cutoff)")
        if self.valid_every < 1 or self.checkpoint_every < 1:
            raise ValueError("valid_every and checkpoint_every must be >= 1")
        from .repulsion import check_kind
        self.repulsion = check_kind(self.repulsion)


def _chebyshev(species, h: ANNHyper, typespin=None):
    return Chebyshev(species, h.radial_cutoff, h.radial_order, h.angular_cutoff, h.angular_order, weights=typespin)


def _bispectrum(species, h: ANNHyper, typespin=None):
    """SNAP's bispectrum (defaults: SNAP's, 2J = 8, rcutfac 4.2 Å, radelem 0.5, wj 1 for every element)."""
    p = dict(h.descriptor_params or {})
    sym = [chemical_symbols[z] for z in species]
    p["radelem"] = {s: (p.get("radelem") or {}).get(s, 0.5) for s in sym}
    p["wj"] = {s: (p.get("wj") or {}).get(s, 1.0) for s in sym}
    return Bispectrum(p.pop("twojmax", 8), p.pop("rcutfac", 4.2), **p)


#: descriptors an ANN can sit on: name -> factory(species (atomic numbers), hyper, typespin) -> Descriptor.
#: A new descriptor family makes its networks possible with one entry here.
DESCRIPTORS = {"chebyshev": _chebyshev, "bispectrum": _bispectrum}


class ANN(Model):
    """Atomic neural-network potential (aenet-compatible). ``ANN(**hyper).fit(train, valid=None)``."""

    family = "ann"
    format_version = 1

    def __init__(self, **hyper):
        self.hyper = hyper_from_kwargs(ANNHyper, hyper, "ANN")
        self.species = []
        self.history = []
        self._fitted = False

    def _describe(self):
        h = self.hyper
        arch = "-".join(str(n) for n in ([self.descriptor.size] if hasattr(self, "descriptor") else ["G"])
                        + list(h.hidden) + [1])
        return (f"Chebyshev descriptor (radial {h.radial_cutoff:g} Å order {h.radial_order}, angular "
                f"{h.angular_cutoff:g} Å order {h.angular_order}), networks {arch} {h.activation} per species")

    @property
    def n_parameters(self):
        return int(self.networks.n_params) if hasattr(self, "networks") else None

    # ------------------------------------------------------------------ pieces
    def _build(self, species, typespin=None):
        h = self.hyper
        self.species = species_numbers(species)
        self.descriptor = DESCRIPTORS[h.descriptor](self.species, h, typespin)
        L = self.descriptor.size
        act = ACTIVATIONS[h.activation]
        self._nodes = [[L, *h.hidden, 1] for _ in self.species]
        self._acts = [[act] * len(h.hidden) + [0] for _ in self.species]
        self._make_networks()

    def _make_networks(self):
        self.networks = _core.AtomicNetworks(self._nodes, self._acts)

    def _normalise(self, G, spi):
        return (G - self.feature_mean[spi]) * self._inv_sigma[spi]

    @property
    def _inv_sigma(self):
        s = self.feature_std
        return np.where(s > 1e-10, 1.0 / np.where(s > 1e-10, s, 1.0), 0.0)

    def _ref_table(self):
        t = np.zeros(len(self.species))
        for k, z in enumerate(self.species):
            t[k] = self.reference_energies[z]
        return t

    def _check_distances(self, data: Dataset):
        """Atoms closer than r_min (aenet's RMIN) are an error, as in aenet."""
        bad = data.check_overlaps(self.hyper.r_min) if self.hyper.r_min > 0 else []
        if bad:
            f, why = bad[0]
            raise DataError(f"{data.ids[f]} (frame {f}): {why}; the model's r_min is {self.hyper.r_min} Å")

    # ------------------------------------------------------------------ training
    def fit(self, train, valid=None, monitor=None, comm=None):
        """Train on `train`; with `valid`, report its errors each epoch and keep the best-validating
        networks (else the best on the training loss). `monitor` (e.g. a test set) is only evaluated
        each epoch and recorded in ``history`` as ``monitor_*`` errors, never used to choose networks
        (learning curves against epochs, as in the LDR benchmark's Fig. 6). Each may be a Dataset, an
        ASE Atoms or a list of Atoms.

        comm: an mpi4py communicator for data-parallel training (see :mod:`ldrx.parallel`): `train` and
        `valid` are then this rank's shards of the sets (in rank order), and every rank ends with the same
        networks, bit for bit those of a serial fit on the whole set (`monitor` needs a single rank)."""
        from ..parallel import as_comm, chunk_bounds, gather_concat, global_counts, ordered_sum, redistribute
        h = self.hyper
        c = as_comm(comm)
        if c.size > 1:   # a rank's shard may be empty; the global set is checked below
            train = as_dataset(train)
            valid = None if valid is None else as_dataset(valid)
            if monitor is not None:
                raise ValueError("monitor= is evaluated on one process only: not available with an MPI comm "
                                 "of more than one rank")
        else:
            train, valid = training_data(train, valid)
        comm_t0 = c.comm_time
        # each rank owns whole chunks (the leaves of every reduction) of the global frame order
        frames, atoms = global_counts(train, c)
        if frames.sum() == 0:
            raise DataError("the training set is empty")
        train, k0, bounds = redistribute(train, c, chunk_bounds(frames.sum(), atoms.sum()))
        if not any(c.allgather(bool(np.isfinite(train.energy).any()))):
            raise DataError("no training frame has an energy")
        if h.species is not None:
            species = list(h.species)
        else:
            species = sorted(set().union(*c.allgather(train.species)))
        self._build(species, h.typespin)
        c.check(lambda: (self.check_species(train), self._check_distances(train)))
        self.learn_domain(train, comm=c)
        train = self.subtract_baseline(train, h.repulsion, comm=c)
        vframes, vatoms = global_counts(valid, c) if valid is not None else (np.zeros(1), np.zeros(1))
        if vframes.sum() > 0:
            valid, vk0, vbounds = redistribute(valid, c, chunk_bounds(vframes.sum(), vatoms.sum()))
            c.check(lambda: (self.check_species(valid), self._check_distances(valid)))
            valid = self.without_baseline(valid)
        else:
            valid = None
        if monitor is not None and len(monitor):
            self.check_species(monitor)
            self._check_distances(monitor)
            monitor = self.without_baseline(monitor)   # errors of networks + baseline, as predict gives
        rng = np.random.default_rng(h.seed)
        t0 = time.perf_counter()

        # references, feature statistics and energy normalisation from the training set
        self.reference_energies = fit_reference_energies(train, self.species, h.reference_energies, comm=c)
        spi = self._species_index(train)
        G = c.check(self.descriptor.compute, train) if len(train) else np.zeros((0, self.descriptor.size))
        ns, L = len(self.species), self.descriptor.size
        # per chunk: sum G, sum G^2 and count per species, summed in chunk order over all ranks
        parts = np.zeros((len(bounds) - 1, ns, 2 * L + 1))
        for k in range(len(bounds) - 1):
            a0, a1 = train.offsets[bounds[k]], train.offsets[bounds[k + 1]]
            Gk, sk = G[a0:a1], spi[a0:a1]
            for s in np.unique(sk):
                rows = Gk[sk == s]
                parts[k, s, :L] = rows.sum(axis=0)
                parts[k, s, L:2 * L] = (rows ** 2).sum(axis=0)
                parts[k, s, 2 * L] = len(rows)
        stats = ordered_sum(parts, k0, c)
        self.feature_mean = np.zeros((ns, L))
        self.feature_std = np.zeros((ns, L))
        for s in range(ns):
            n = stats[s, 2 * L]
            if n == 0:
                if c.is_root:
                    warnings.warn(f"no {chemical_symbols[self.species[s]]} atom in the training set: its network stays untrained")
                continue
            self.feature_mean[s] = stats[s, :L] / n
            self.feature_std[s] = np.sqrt(np.maximum(stats[s, L:2 * L] / n - self.feature_mean[s] ** 2, 0.0))
        ok = np.isfinite(train.energy)
        e_coh = (train.energy - train.reference_energy(self.reference_energies)) / train.natoms
        lo = c.allreduce_min(float(np.min(e_coh[ok])) if ok.any() else np.inf)
        hi = c.allreduce_max(float(np.max(e_coh[ok])) if ok.any() else -np.inf)
        self.scale = 2.0 / (hi - lo) if hi > lo else 1.0
        self.shift = 0.5 * (hi + lo)

        trainer = self._trainer(train, G, spi, rng, force_fraction=h.force_fraction, comm=c, bounds=bounds)
        vtrainer = self._trainer(valid, None, None, rng, comm=c, bounds=vbounds) if valid is not None else None
        mtrainer = self._trainer(monitor, None, None, rng) if monitor is not None and len(monitor) else None
        P = self.networks.n_params
        theta = self._initial_weights(rng)
        best = {"loss": np.inf, "theta": theta.copy(), "epoch": 0}
        self.history = []
        start = 0
        if h.checkpoint and Path(h.checkpoint).exists():
            theta, start, best = self._read_checkpoint(h.checkpoint, train, P, c)
        self.theta = theta

        from tqdm.auto import tqdm
        bar = tqdm(total=h.epochs, initial=start, desc="ANN L-BFGS", unit="epoch",
                   disable=not h.progress or not c.is_root, dynamic_ncols=True)
        last_valid = {}
        stale = [0]
        monitor_s = [0.0]

        def reduce(t, first_chunk, x, with_grad):
            """Loss, gradient and info over all ranks: chunk partials summed in the fixed tree order."""
            part = c.check(lambda: t.chunk_partials(x, with_grad) if t is not None else np.zeros((0, 6 + P)))
            tot = ordered_sum(part if with_grad else part[:, :6], first_chunk, c)
            info = {"loss_energy": tot[0], "loss_forces": tot[1], "energy_sse": tot[2], "energy_count": tot[3],
                    "force_sse": tot[4], "force_count": tot[5]}
            info["loss"] = tot[0] + tot[1]
            return info["loss"], (tot[6:] if with_grad else None), info

        def fun(x):
            loss, grad, info = reduce(trainer, k0, x, True)
            if h.l2:
                loss += 0.5 * h.l2 * float(x @ x)
                grad += h.l2 * x
            fun.info = info
            return loss, grad

        def on_epoch(epoch, x, loss):
            info = fun.info
            rec = {"epoch": epoch, "loss": loss, **self._rmse(info, "train")}
            track = loss
            if valid is not None and (epoch % h.valid_every == 0 or epoch == h.epochs):
                vloss, _, vinfo = reduce(vtrainer, vk0, x, False)  # None: this rank holds no validation frames
                last_valid.clear()
                last_valid.update({"valid_loss": vloss, **self._rmse(vinfo, "valid")})
                rec.update(last_valid)
                track = vloss
            elif valid is not None:
                track = None
            rec["time_s"] = time.perf_counter() - t0 - monitor_s[0]
            if mtrainer is not None:  # its cost is left out of time_s and train_time_s
                tm = time.perf_counter()
                _, _, minfo = mtrainer.loss_grad(x, False)
                rec.update(self._rmse(minfo, "monitor"))
                monitor_s[0] += time.perf_counter() - tm
            self.history.append(rec)
            if track is not None:
                if track < best["loss"]:
                    best.update(loss=track, theta=x.copy(), epoch=epoch)
                    stale[0] = 0
                else:
                    stale[0] += 1 if valid is None else h.valid_every
            post = {"E": f"{rec['train_energy_rmse_meV_per_atom']:.1f}"}
            if "train_forces_rmse_eV_per_A" in rec:
                post["F"] = f"{rec['train_forces_rmse_eV_per_A']:.3f}"
            if last_valid:
                post["vE"] = f"{last_valid['valid_energy_rmse_meV_per_atom']:.1f}"
                if "valid_forces_rmse_eV_per_A" in last_valid:
                    post["vF"] = f"{last_valid['valid_forces_rmse_eV_per_A']:.3f}"
            bar.set_postfix(post, refresh=False)
            bar.update(1)
            if h.checkpoint and epoch % h.checkpoint_every == 0:
                self._write_checkpoint(h.checkpoint, x, epoch, best, train, c)
            if h.patience is not None and valid is not None and stale[0] >= h.patience:
                raise StopTraining(f"no validation improvement for {h.patience} epochs")

        reason, done = run_lbfgs(fun, theta, h.epochs, on_epoch, memory=h.memory, start_epoch=start)
        bar.close()
        self.theta = best["theta"]
        self.best_epoch = best["epoch"]
        self.stop_reason = reason
        self.epochs_done = done
        self.train_time_s = time.perf_counter() - t0 - monitor_s[0]
        self.comm_time_s = c.comm_time - comm_t0
        if h.checkpoint:
            self._write_checkpoint(h.checkpoint, self.theta, done, best, train, c)
        self._fitted = True
        if reason == "interrupted" and c.is_root:
            warnings.warn(f"training interrupted after {done} epochs; the best networks so far (epoch "
                          f"{self.best_epoch}) are kept" + (f" and checkpointed in {h.checkpoint}" if h.checkpoint else ""))
        return self

    def _rmse(self, info, prefix):
        out = {}
        if info["energy_count"] > 0:
            out[f"{prefix}_energy_rmse_meV_per_atom"] = 1000.0 * np.sqrt(info["energy_sse"] / info["energy_count"]) / self.scale
        if info["force_count"] > 0:
            out[f"{prefix}_forces_rmse_eV_per_A"] = np.sqrt(info["force_sse"] / info["force_count"]) / self.scale
        return out

    def _initial_weights(self, rng):
        """Uniform in +-sqrt(3 / (n_in + 1)) per layer (std 1/sqrt(n_in + 1)), as aenet, but seeded."""
        parts = []
        for nodes in self._nodes:
            for l in range(1, len(nodes)):
                a = np.sqrt(3.0 / (nodes[l - 1] + 1))
                parts.append(rng.uniform(-a, a, nodes[l] * (nodes[l - 1] + 1)))
        return np.concatenate(parts)

    def _trainer(self, data, G, spi, rng, force_fraction=1.0, comm=None, bounds=None):
        """The C++ trainer of this rank's frames; the loss is normalised by the totals over all ranks, and the
        force frames (force_fraction < 1) are drawn from all frames, so the draw does not depend on the ranks."""
        from ..parallel import SERIAL, gather_concat
        c = comm if comm is not None else SERIAL
        h = self.hyper
        if G is None:
            G = self.descriptor.compute(data) if len(data) else np.zeros((0, self.descriptor.size))
            spi = self._species_index(data)
        x = np.ascontiguousarray(self._normalise(G, spi))
        ok = np.isfinite(data.energy)
        e = np.where(ok, self.scale * (np.nan_to_num(data.energy) - data.reference_energy(self.reference_energies)
                                       - data.natoms * self.shift), 0.0)
        kw = {"energy_weight_total": float(sum(c.allgather(int(ok.sum()))))}
        if bounds is not None:
            kw["chunk_bounds"] = [int(b) for b in bounds]
        use_forces = h.force_weight > 0 and any(c.allgather(bool(np.isfinite(data.forces).any())))
        if use_forces:
            has_f = np.array([np.isfinite(data.forces[data.offsets[f]:data.offsets[f + 1]]).any()
                              for f in range(len(data))], dtype=bool)
            frames = has_f.copy()
            if force_fraction < 1:
                all_f = gather_concat(has_f, c)  # the draw is made on the whole set, the same on every rank
                first = int(sum(c.allgather(len(data))[:c.rank]))
                pick = np.flatnonzero(all_f)
                keep = rng.choice(pick, max(1, int(round(force_fraction * len(pick)))), replace=False)
                chosen = np.zeros(len(all_f), bool)
                chosen[keep] = True
                frames = chosen[first:first + len(data)]
            n_comp = sum(int(np.isfinite(data.forces[data.offsets[f]:data.offsets[f + 1]]).sum())
                         for f in np.flatnonzero(frames))
            kw["force_components_total"] = int(sum(c.allgather(n_comp)))
            kw.update(force_weight=h.force_weight, descriptor=self.descriptor._impl, batch=data.batch(),
                      inv_sigma=np.ascontiguousarray(self._inv_sigma), forces=self.scale * data.forces,
                      force_frames=frames.astype(np.uint8),
                      cache_neighbours=self._neighbour_bytes(data) < h.neighbour_cache_gb * 1e9)
        if len(data) == 0:  # this rank holds none of these frames (more ranks than chunks)
            return None
        return _core.ANNTrainer(self.networks, x, spi, data.offsets, e, ok.astype(float), **kw)

    def _neighbour_bytes(self, data):
        """Estimated size of the cached neighbour lists (36 bytes a pair)."""
        return neighbour_list_bytes(data, self.descriptor.cutoff)

    # ------------------------------------------------------------------ checkpoints
    def _fingerprint(self, data, comm=None):
        f = np.array([len(data), data.n_atoms, float(np.nansum(data.energy)), float(np.sum(data.positions))])
        return f if comm is None or comm.size == 1 else np.sum(comm.allgather(f), axis=0)

    def _write_checkpoint(self, path, theta, epoch, best, data, comm=None):
        import json
        fingerprint = self._fingerprint(data, comm)
        if comm is not None and not comm.is_root:
            return
        arrays = dict(theta=theta, best_theta=best["theta"], epoch=np.array(epoch), best_loss=np.array(best["loss"]),
                      best_epoch=np.array(best["epoch"]), fingerprint=fingerprint,
                      history=np.array(json.dumps(self.history, default=float)))
        atomic_write(path, lambda f: np.savez(f, **arrays))

    def _read_checkpoint(self, path, data, n_params, comm=None):
        import json
        z = read_npz(path, "checkpoint")
        with model_file_errors(path, "checkpoint"):
            fp = self._fingerprint(data, comm)
            if z["fingerprint"].shape != fp.shape or not np.allclose(z["fingerprint"], fp):
                raise ModelFileError(f"{path}: checkpoint was written for another training set")
            if z["theta"].shape != (n_params,) or z["best_theta"].shape != (n_params,):
                raise ModelFileError(f"{path}: checkpoint is for networks of another shape")
            history = json.loads(str(z["history"]))
            best = {"loss": float(z["best_loss"]), "theta": z["best_theta"].copy(), "epoch": int(z["best_epoch"])}
            epoch = int(z["epoch"])
            if not isinstance(history, list) or epoch < 0:
                raise ModelFileError(f"{path}: invalid checkpoint history")
            self.history = history
            return z["theta"].copy(), epoch, best

    # ------------------------------------------------------------------ prediction
    def atomic_energies(self, frames):
        """Per-atom energies (eV), [n_atoms]; they sum to the predicted total energies."""
        data = as_dataset(frames)
        self._require_fitted()
        self.check_species(data)
        spi = self._species_index(data)
        out, _ = self.networks.evaluate(self.theta, self._normalise(self.descriptor.compute(data), spi), spi, False)
        return out / self.scale + self.shift + self._ref_table()[spi]

    def _predict(self, data: Dataset, forces: bool, stress: bool) -> Prediction:
        """One C++ pass: per atom, the descriptor, the network and (with forces or stress) its adjoint,
        from a single neighbourhood expansion."""
        self._check_distances(data)
        e_atom, F, W = _core.ann_energy_forces(self.descriptor._impl, self.networks, self.theta, self.species,
                                               self.feature_mean, np.ascontiguousarray(self._inv_sigma),
                                               self.scale, self.shift, self._ref_table(), data.batch(),
                                               forces or stress)
        return prediction_from_atoms(data, e_atom, F, W, forces, stress)

    # ------------------------------------------------------------------ persistence
    def _state(self):
        meta = {"hyper": dataclasses.asdict(self.hyper), "typespin": getattr(self.descriptor, "weights", None),
                "nodes": self._nodes, "activations": self._acts, "scale": self.scale, "shift": self.shift,
                "reference_energies": {str(z): v for z, v in self.reference_energies.items()},
                "best_epoch": getattr(self, "best_epoch", None), "history": self.history}
        return meta, {"theta": self.theta, "feature_mean": self.feature_mean, "feature_std": self.feature_std}

    @classmethod
    def _from_state(cls, meta, arrays):
        hyper = dict(meta["hyper"])
        hyper["hidden"] = tuple(hyper["hidden"])
        m = cls(**hyper)
        m._build(meta["species"], meta["typespin"])
        m._nodes, m._acts = meta["nodes"], meta["activations"]
        m._make_networks()
        m.theta = np.asarray(arrays["theta"], float)
        if m.theta.shape != (m.networks.n_params,):
            raise ModelFileError("network weights do not match the layer sizes")
        m.feature_mean, m.feature_std = arrays["feature_mean"], arrays["feature_std"]
        m.scale, m.shift = float(meta["scale"]), float(meta["shift"])
        m.reference_energies = {int(z): float(v) for z, v in meta["reference_energies"].items()}
        m.best_epoch = meta.get("best_epoch")
        m.history = meta.get("history", [])
        return m

    # ------------------------------------------------------------------ aenet interoperability
    @classmethod
    def from_aenet(cls, files: dict):
        """Load aenet ``.nn`` networks, one per species: ``ANN.from_aenet({"Ti": "Ti.nn", "O": "O.nn"})``.
        All files must share the descriptor setup (ENV order, Chebyshev parameters) and the energy
        normalisation, as aenet's training writes them."""
        from ..io.aenet import read_nn
        nets = {str(k): read_nn(v) for k, v in files.items()}
        with model_file_errors(", ".join(str(v) for v in files.values()), "aenet network file"):
            return cls._from_aenet_records(files, nets)

    @classmethod
    def _from_aenet_records(cls, files, nets):
        first = next(iter(nets.values()))
        env = first["env"]
        if "chebyshev" not in first:
            raise ModelFileError(f"{next(iter(files.values()))}: only Chebyshev descriptors are supported, "
                                 f"found '{first['sftype']}'")
        for sym, d in nets.items():
            if d["atomtype"] != sym:
                raise ModelFileError(f"{files[sym]}: network is for {d['atomtype']}, given as {sym}")
            if d["env"] != env or d.get("chebyshev") != first["chebyshev"]:
                raise ModelFileError(f"{files[sym]}: descriptor setup differs from the other networks")
            if abs(d["scale"] - first["scale"]) > 1e-12 * abs(first["scale"]) or d["shift"] != first["shift"]:
                raise ModelFileError(f"{files[sym]}: energy normalisation differs from the other networks")
        if set(nets) != set(env):
            raise ModelFileError(f"networks given for {sorted(nets)}, but the descriptor's species are {env}")
        acts = {a for d in nets.values() for a in d["activations"][:-1]}
        hidden = tuple(first["nodes"][1:-1])
        m = cls(hidden=hidden, activation=_ACT_NAMES[acts.pop()] if len(acts) == 1 else "tanh",
                r_min=first["rc_min"], species=tuple(env), **first["chebyshev"])
        m._build(env)
        m._nodes = [nets[s]["nodes"] for s in env]
        m._acts = [nets[s]["activations"] for s in env]
        m._make_networks()
        m.theta = np.concatenate([nets[s]["weights"] for s in env])
        m.feature_mean = np.array([nets[s]["sf_avg"] for s in env])
        m.feature_std = np.sqrt(np.maximum(np.array([nets[s]["sf_cov"] for s in env]) - m.feature_mean ** 2, 0.0))
        m.scale, m.shift = first["scale"], first["shift"]
        e_atom = dict(zip(first["types"], first["e_atom"]))
        m.reference_energies = {atomic_numbers[s]: float(e_atom[s]) for s in env}
        m._fitted = True
        return m

    def to_aenet(self, directory) -> dict:
        """Write one aenet ``.nn`` file per species into `directory` (named like aenet's examples,
        e.g. ``Ti.15t-15t.nn``); returns {symbol: path}. The ZBL baseline (``repulsion``) is not part of
        aenet's format and is not written: it is zero wherever atoms are no closer than in the training set."""
        from ..io.aenet import write_nn
        self._require_fitted()
        if self.hyper.descriptor != "chebyshev":
            raise ValueError(f"aenet files hold Chebyshev networks; this ANN sits on the {self.hyper.descriptor} descriptor")
        os.makedirs(directory, exist_ok=True)
        syms = [chemical_symbols[z] for z in self.species]
        if self.descriptor.weights != list(_core.aenet_typespin(len(syms))):
            raise ValueError("aenet files imply aenet's default typespin weights; this model uses others")
        params = {k: getattr(self.hyper, k) for k in ("radial_cutoff", "radial_order", "angular_cutoff", "angular_order")}
        out = {}
        for s, sym in enumerate(syms):
            nodes, acts = self._nodes[s], self._acts[s]
            tag = "-".join(f"{n}{_ACT_NAMES[a][0]}" for n, a in zip(nodes[1:-1], acts[:-1]))
            path = os.path.join(directory, f"{sym}.{tag}.nn")
            off = self.networks.offset(s)
            n = int(np.sum([nodes[l] * (nodes[l - 1] + 1) for l in range(1, len(nodes))]))
            write_nn(path, nodes, acts, self.theta[off:off + n], sym, syms, params, self.feature_mean[s],
                     self.feature_std[s] ** 2 + self.feature_mean[s] ** 2, self.scale, self.shift, syms,
                     [self.reference_energies[z] for z in self.species], rc_min=self.hyper.r_min)
            out[sym] = path
        return out
