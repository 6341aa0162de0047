"""GAP: sparse Gaussian-process regression on the SOAP power spectrum, as gap_fit does it.

Model (Bartok et al., PRL 104, 136403, 2010; Bartok, Kondor, Csanyi, PRB 87, 184115, 2013; Deringer et al.,
Chem. Rev. 121, 10073, 2021). One SOAP descriptor per centre species (every neighbour species seen, the
species channels optionally grouped by ``compression``), normalised, q = p / |p|, and

    E(A) = sum_i e0(Z_i) + sum_{i in A} sum_{m: Z_m = Z_i} alpha_m delta^2 (q_i . x_m)^zeta,

x_m the M sparse (representative) environments, chosen per species at random or by CUR leverage scores
(Mahoney and Drineas, PNAS 106, 697, 2009) from a seeded random pool of training environments.

Fit (subset of regressors, "projected process"). Observations y: total energies minus the reference
energies e0 (noise sigma_energy sqrt(N_at), gap_fit's per-atom convention), optionally force components
(observed as dE/dr = -F, noise sigma_force) and virials (sigma_virial sqrt(N_at)). With Lambda the diagonal
noise and K_NM the covariance of the observations with the sparse points,

    alpha = argmin || [Lambda^-1/2 K_NM; U] alpha - [Lambda^-1/2 y; 0] ||,   K_MM + jitter I = U^T U,

solved by Householder QR, as gap_fit built with QR does, but streamed: the rows of K_NM are produced a
block of frames at a time and folded into the (M+1) x (M+1) triangular factor of [A | b] (TSQR:
R <- qr([R; A_block b_block])), so memory is O(M^2 + block rows x M) whatever the data size.

Force rows ("GAP-EF"): see :func:`soap_kernel_rows` and cpp/models/gap.hpp: per centre the neighbourhood
is expanded once and the SOAP adjoint is run for each of the M_s sparse points of its species; no
descriptor Jacobian is stored. "GAP-E" (sigma_force=None) is the LDR paper's energies-only setting.

Bad input: n_max / l_max out of range and unknown species raise ValueError; sparse points are taken from
the distinct environments only (identical descriptors, e.g. symmetry-equivalent atoms, are merged
before selection, so no duplicate sparse point can make K_MM singular); asking for more sparse points
than distinct environments warns and uses all of them; K_MM gets ``sparse_jitter * delta^2`` on its
diagonal and a K_MM that is still not positive definite raises.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from ase.data import chemical_symbols

from .. import _core
from ..data import Dataset
from ..descriptors.soap import SOAP
from ..errors import DataError, ModelFileError
from .base import (Model, Prediction, fit_reference_energies, hyper_from_kwargs, prediction_from_atoms,
                   species_index, training_data)

__all__ = ["GAP", "GAPHyper", "soap_kernel_rows"]


# descriptor length above which prediction takes the blocked numpy path (see GAP.atomic_energies)
CPP_PREDICT_MAX_SIZE = 10_000


@dataclass
class GAPHyper:
    """Hyper-parameters (gap_fit's names in brackets).

    n_max, l_max, r_cut, atom_sigma, cutoff_width   SOAP (n_max, l_max, cutoff, atom_sigma,
                   cutoff_transition_width).
    radial_basis   "gto" (featomic's GTO basis) or "equispaced" (QUIP's equispaced Gaussians, gap_fit's default
                   soap: with it and the same sparse points the fit agrees with gap_fit, see bench/quip_gap_check.py).
    compression    {element: channel} element grouping of the SOAP species channels, or None.
    nu_R, nu_S     power-spectrum compression of Darby, Kermode, Csanyi (npj Comput. Mater. 8, 166, 2022) as QUIP's
                   soap nu_R / nu_S (radial / species indices kept by the two density factors, 0-2); (2, 2): the full
                   spectrum, (1, 1): "mu1nu1", length n_channels n_max (l_max+1). Combinable with ``compression``.
    zeta           kernel exponent (zeta); delta: kernel scale in eV (delta).
    n_sparse       sparse points per centre species (n_sparse).
    sparse_method  "cur" (leverage scores of a random pool, sampled with those probabilities) or "random".
    sparse_atoms   explicit sparse points: indices (0-based) of training atoms whose environments are the sparse
                   points (gap_fit's sparse_method=INDEX_FILE); overrides n_sparse / sparse_method.
    pool           environments per species in the candidate pool (None: 5 n_sparse).
    sigma_energy   eV/atom; sigma_force eV/Å (None: energies only, "GAP-E"); sigma_virial eV/atom
                   (None: virials not fitted)  (default_sigma). For GAP-EF (sigma_force 0.1) on the LDR sample,
                   grouped 5-fold CV favours sigma_energy 0.01-0.02: 73-74 meV/atom, as GAP-E, against 85-89
                   at 0.001-0.002 (mu1nu1 SOAP; ``bench/bench_gap.py --cv``, README *SOAP compression*).
    sparse_jitter  added to the K_MM diagonal, times delta^2 (sparse_jitter).
    reference_energies  {element: eV}; None: least squares on the training compositions (e0).
    chunk_frames   frames per block of covariance rows (None: chosen so a block holds about 2 M rows).
    """
    n_max: int = 8
    l_max: int = 6
    r_cut: float = 5.0
    atom_sigma: float = 0.5
    cutoff_width: float = 0.5
    radial_basis: str = "gto"
    compression: dict | None = None
    nu_R: int = 2
    nu_S: int = 2
    zeta: float = 4.0
    delta: float = 1.0
    n_sparse: int = 200
    sparse_method: str = "cur"
    pool: int | None = None
    sparse_atoms: list | None = None
    sigma_energy: float = 0.002
    sigma_force: float | None = None
    sigma_virial: float | None = None
    sparse_jitter: float = 1e-8
    reference_energies: dict | None = None
    chunk_frames: int | None = None
    progress: bool | None = None
    seed: int = 0

    def __post_init__(self):
        for name in ("r_cut", "atom_sigma", "zeta", "delta", "sigma_energy"):
            v = float(getattr(self, name))
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be positive and finite, got {getattr(self, name)!r}")
            setattr(self, name, v)
        for name in ("sigma_force", "sigma_virial"):
            v = getattr(self, name)
            if v is not None:
                v = float(v)
                if not (np.isfinite(v) and v > 0):
                    raise ValueError(f"{name} must be positive (or None to leave them out), got {getattr(self, name)!r}")
                setattr(self, name, v)
        if isinstance(self.n_sparse, bool) or int(self.n_sparse) != self.n_sparse or self.n_sparse < 1:
            raise ValueError(f"n_sparse must be a positive integer, got {self.n_sparse!r}")
        self.n_sparse = int(self.n_sparse)
        if self.sparse_method not in ("cur", "random"):
            raise ValueError(f"sparse_method must be 'cur' or 'random', got {self.sparse_method!r}")
        if self.radial_basis not in ("gto", "equispaced"):
            raise ValueError(f"radial_basis must be 'gto' or 'equispaced', got {self.radial_basis!r}")
        for name in ("nu_R", "nu_S"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v not in (0, 1, 2):
                raise ValueError(f"{name} must be 0, 1 or 2 (indices kept by the two SOAP density factors; 2, 2: the "
                                 f"full power spectrum), got {v!r}")
            setattr(self, name, int(v))
        if self.sparse_atoms is not None:
            idx = np.asarray(self.sparse_atoms)
            if idx.ndim != 1 or len(idx) == 0 or not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0:
                raise ValueError("sparse_atoms must be a non-empty list of atom indices >= 0")
            if len(np.unique(idx)) != len(idx):
                raise ValueError("sparse_atoms holds duplicate indices (K_MM would be singular)")
            self.sparse_atoms = [int(i) for i in idx]
        if not (float(self.sparse_jitter) >= 0):
            raise ValueError("sparse_jitter must be >= 0")
        self.sparse_jitter = float(self.sparse_jitter)


def soap_kernel_rows(descriptor: SOAP, data: Dataset, X, m_offsets, zeta, forces: bool):
    """Covariance rows (without delta^2) of a block of frames against the sparse points X (sorted by
    species, ``m_offsets``): KE [n_frames, M], and with `forces` KF [3 n_atoms, M] = dKE/dr and KV
    [6 n_frames, M] (virials). The single entry point of GAP's force rows: swap it for a shared
    Jacobian-rows path without touching the fit."""
    return _core.gap_soap_rows(descriptor._impl, data.batch(), X, m_offsets, float(zeta), bool(forces))


class GAP(Model):
    """Sparse GP on SOAP: ``GAP(**hyper).fit(train)``; hyper-parameters: :class:`GAPHyper`."""

    family: ClassVar[str] = "gap"
    format_version: ClassVar[int] = 1

    def __init__(self, **hyper):
        self.hyper = hyper_from_kwargs(GAPHyper, hyper, "GAP")
        self.species: list[int] = []
        self.info: dict = {}

    # ------------------------------------------------------------------ descriptor
    def _make_descriptor(self):
        h = self.hyper
        self.descriptor = SOAP(self.species, r_cut=h.r_cut, n_max=h.n_max, l_max=h.l_max, atom_sigma=h.atom_sigma,
                               cutoff_width=h.cutoff_width, radial_basis=h.radial_basis, normalize=True,
                               compression=h.compression, nu_R=h.nu_R, nu_S=h.nu_S)

    def _chunk(self, data: Dataset, rows_per_frame: float, target_rows: int) -> int:
        if self.hyper.chunk_frames:
            return max(1, int(self.hyper.chunk_frames))
        return max(1, int(target_rows / max(rows_per_frame, 1.0)))

    # ------------------------------------------------------------------ sparse points
    def _given_sparse(self, train: Dataset):
        idx = np.asarray(self.hyper.sparse_atoms, dtype=np.int64)
        if idx.max() >= train.n_atoms:
            raise ValueError(f"sparse_atoms index {idx.max()} is out of range: the training set has {train.n_atoms} atoms")
        X, counts = [], []
        fr = np.searchsorted(train.offsets, idx, side="right") - 1
        feats = {}
        for f in np.unique(fr):
            q = self.descriptor.compute(train[int(f):int(f) + 1])
            for a in idx[fr == f]:
                feats[int(a)] = q[a - train.offsets[f]].copy()
        for z in self.species:
            mine = [int(a) for a in idx if train.numbers[a] == z]   # in the given order
            X.extend(feats[a] for a in mine)
            counts.append(len(mine))
        self.sparse_points = np.ascontiguousarray(np.array(X).reshape(-1, self.descriptor.size))
        self.m_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def _select_sparse(self, train: Dataset):
        h = self.hyper
        if h.sparse_atoms is not None:
            return self._given_sparse(train)
        rng = np.random.default_rng(h.seed)
        d = self.descriptor.size
        pool_size = h.pool or 5 * h.n_sparse
        pools = {}
        for z in self.species:
            idx = np.flatnonzero(train.numbers == z)
            pools[z] = np.sort(rng.choice(idx, min(len(idx), pool_size), replace=False))
        wanted = np.concatenate(list(pools.values()))
        rows = np.zeros((train.n_atoms,), bool)
        rows[wanted] = True
        feats = {}
        step = max(1, int(2e8 / (8 * d * max(train.natoms.mean(), 1))))   # about 200 MB of descriptors a block
        for f0 in range(0, len(train), step):
            f1 = min(f0 + step, len(train))
            a0, a1 = train.offsets[f0], train.offsets[f1]
            sel = np.flatnonzero(rows[a0:a1])
            if len(sel) == 0:
                continue
            q = self.descriptor.compute(train[f0:f1])
            for k in sel:
                feats[a0 + k] = q[k].copy()   # a view would keep the whole block alive
        X, counts = [], []
        for z in self.species:
            Q = np.array([feats[a] for a in pools[z]]).reshape(-1, d)
            # distinct environments only (symmetry-equivalent atoms have equal descriptors)
            _, first = np.unique(np.round(Q, 10), axis=0, return_index=True)
            Q = Q[np.sort(first)]
            m = h.n_sparse
            if len(Q) < m:
                warnings.warn(f"{chemical_symbols[z]}: only {len(Q)} distinct environments in the candidate pool, "
                              f"fewer than n_sparse={m}; using all of them", stacklevel=3)
                m = len(Q)
            if h.sparse_method == "random" or m == len(Q):
                pick = np.sort(rng.choice(len(Q), m, replace=False))
            else:
                U, S, _ = np.linalg.svd(Q, full_matrices=False)
                rank = int((S > S[0] * 1e-10).sum())
                k = max(1, min(m, rank))
                lev = (U[:, :k] ** 2).sum(axis=1) / k
                p = lev / lev.sum()
                nz = int((p > 0).sum())
                if nz < m:
                    p = (p + 1e-12) / (p + 1e-12).sum()
                pick = np.sort(rng.choice(len(Q), m, replace=False, p=p))
            X.append(Q[pick])
            counts.append(m)
        self.sparse_points = np.ascontiguousarray(np.vstack(X))
        self.m_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def _kmm(self):
        h = self.hyper
        M = len(self.sparse_points)
        K = np.zeros((M, M))
        for s in range(len(self.species)):
            a, b = self.m_offsets[s], self.m_offsets[s + 1]
            Xs = self.sparse_points[a:b]
            K[a:b, a:b] = h.delta ** 2 * (Xs @ Xs.T) ** h.zeta
        return K

    # ------------------------------------------------------------------ fitting
    def fit(self, train, valid=None):
        """Fit to energies (and forces, virials if their sigmas are given)."""
        import scipy.linalg
        from tqdm.auto import tqdm
        t0 = time.perf_counter()
        h = self.hyper
        train, valid = training_data(train, valid)
        use_f = h.sigma_force is not None and train.has_forces()
        use_v = h.sigma_virial is not None and train.stress is not None and np.isfinite(train.stress).any()
        if not np.isfinite(train.energy).any() and not use_f:
            raise DataError("the training data hold no energies (and forces are not fitted)")
        self.species = list(train.species)
        self._make_descriptor()
        self.learn_domain(train)
        self.reference_energies = fit_reference_energies(train, self.species, h.reference_energies)
        self._select_sparse(train)
        M = len(self.sparse_points)
        Kmm = self._kmm()
        Kmm[np.diag_indices(M)] += h.sparse_jitter * h.delta ** 2
        try:
            U = scipy.linalg.cholesky(Kmm, lower=False)
        except np.linalg.LinAlgError as exc:
            raise ValueError(f"K_MM ({M} sparse points) is not positive definite even with sparse_jitter="
                             f"{h.sparse_jitter:g}; raise sparse_jitter or lower n_sparse") from exc
        R = np.zeros((M + 1, M + 1))
        R[:M, :M] = U
        energy = train.energy - train.reference_energy(self.reference_energies)
        rows_per_frame = 1 + (3 * train.natoms.mean() if use_f else 0) + (6 if use_v else 0)
        step = self._chunk(train, rows_per_frame, max(2 * M, 256))
        n_rows = 0
        with tqdm(total=len(train), desc="GAP covariance rows", unit="frame",
                  disable=(not h.progress) if h.progress is not None else None, leave=False) as bar:
            for f0 in range(0, len(train), step):
                f1 = min(f0 + step, len(train))
                part = train[f0:f1]
                KE, KF, KV = soap_kernel_rows(self.descriptor, part, self.sparse_points, self.m_offsets, h.zeta,
                                              use_f or use_v)
                blocks, targets = [], []
                se = h.sigma_energy * np.sqrt(part.natoms)
                ok = np.isfinite(energy[f0:f1])
                blocks.append(h.delta ** 2 * KE[ok] / se[ok, None])
                targets.append(energy[f0:f1][ok] / se[ok])
                if use_f:
                    y = -part.forces.reshape(-1)
                    ok = np.isfinite(y)
                    blocks.append(h.delta ** 2 * KF[ok] / h.sigma_force)
                    targets.append(y[ok] / h.sigma_force)
                if use_v:
                    vol = np.abs(np.linalg.det(part.cells))
                    W = -part.stress * vol[:, None]
                    sv = h.sigma_virial * np.sqrt(part.natoms)
                    y = (W / sv[:, None]).reshape(-1)
                    ok = np.isfinite(y)
                    blocks.append((h.delta ** 2 * KV / np.repeat(sv, 6)[:, None])[ok])
                    targets.append(y[ok])
                A = np.vstack(blocks)
                b = np.concatenate(targets)
                n_rows += len(b)
                R = np.linalg.qr(np.vstack([R, np.hstack([A, b[:, None]])]), mode="r")
                del A, KE, KF, KV
                bar.update(f1 - f0)
        diag = np.abs(np.diag(R[:M, :M]))
        if diag.min() <= 1e-14 * diag.max():
            raise ValueError("the GAP least-squares system is singular; raise sparse_jitter")
        self.alpha = scipy.linalg.solve_triangular(R[:M, :M], R[:M, M])
        self._fitted = True
        self.info = {"fit_seconds": time.perf_counter() - t0, "rows": int(n_rows), "sparse_points": int(M),
                     "descriptor_size": int(self.descriptor.size), "forces_fitted": bool(use_f),
                     "virials_fitted": bool(use_v), "residual_norm": float(abs(R[M, M]))}
        if valid is not None:
            from ..evaluate import errors
            self.info["valid_metrics"] = errors(self.predict(valid, stress=False), valid)
        return self

    # ------------------------------------------------------------------ prediction
    def atomic_energies(self, data: Dataset, forces: bool):
        """(per-atom GP energies + e0 [n_atoms], forces [n_atoms, 3] or None, virial [n_frames, 6] or None), in one
        C++ forward+backward pass per atom (cpp/models/gap.hpp, gap_soap_predict). For long descriptors the
        blocked numpy path is taken instead: its kernel is one matrix product over all atoms of a block, where
        the per-atom pass is memory bound (bench/bench_gap_rows.py, 1 thread: C++ 1.25x faster at d 2,100,
        numpy 2x faster at d 27,412; the switch at CPP_PREDICT_MAX_SIZE lies between, not tuned further)."""
        if self.descriptor.size > CPP_PREDICT_MAX_SIZE:
            return self._atomic_energies_reference(data, forces)
        h = self.hyper
        w = np.ascontiguousarray(h.delta ** 2 * self.alpha)
        e, F, W = _core.gap_soap_predict(self.descriptor._impl, data.batch(), self.sparse_points, self.m_offsets, w,
                                         float(h.zeta), bool(forces))
        return e + self._e0(data), F, W

    def _e0(self, data: Dataset):
        e0 = np.array([self.reference_energies.get(z, 0.0) for z in self.species])
        return e0[species_index(self.species, data.numbers)]

    def _atomic_energies_reference(self, data: Dataset, forces: bool):
        """The blocked Python path (descriptors, kernel in numpy, then the descriptor's backward): used for long
        descriptors (see atomic_energies), and by the equality test and bench/bench_gap_rows.py."""
        h = self.hyper
        e = self._e0(data)
        F = np.zeros((data.n_atoms, 3)) if forces else None
        W = np.zeros((len(data), 6)) if forces else None
        d = self.descriptor.size
        step = max(1, int(2e8 / (16 * d * max(data.natoms.mean(), 1))))
        for f0 in range(0, len(data), step):
            f1 = min(f0 + step, len(data))
            part = data[f0:f1]
            a0 = data.offsets[f0]
            q = self.descriptor.compute(part)
            g = np.zeros_like(q) if forces else None
            for s, z in enumerate(self.species):
                idx = np.flatnonzero(part.numbers == z)
                a, b = self.m_offsets[s], self.m_offsets[s + 1]
                if len(idx) == 0 or a == b:
                    continue
                Xs = self.sparse_points[a:b]
                T = q[idx] @ Xs.T
                al = self.alpha[a:b]
                e[a0 + idx] += h.delta ** 2 * (T ** h.zeta) @ al
                if forces:
                    g[idx] = h.delta ** 2 * h.zeta * ((T ** (h.zeta - 1)) * al) @ Xs
            if forces:
                Fp, Wp = self.descriptor.backward(part, g)
                F[a0:data.offsets[f1]] = Fp
                W[f0:f1] = Wp
        return e, F, W

    def _predict(self, data: Dataset, forces: bool, stress: bool) -> Prediction:
        e, F, W = self.atomic_energies(data, forces or stress)
        return prediction_from_atoms(data, e, F, W, want_forces=forces, want_stress=stress)

    # ------------------------------------------------------------------ model files
    def _state(self):
        meta = {"hyper": dataclasses.asdict(self.hyper),
                "reference_energies": {str(z): v for z, v in self.reference_energies.items()},
                "info": {k: v for k, v in self.info.items()}}
        return meta, {"sparse_points": self.sparse_points, "m_offsets": self.m_offsets, "alpha": self.alpha}

    @classmethod
    def _from_state(cls, meta, arrays):
        m = cls(**meta["hyper"])
        m.species = [int(z) for z in meta["species"]]
        m.reference_energies = {int(z): float(v) for z, v in meta["reference_energies"].items()}
        m.info = meta.get("info", {})
        m._make_descriptor()
        m.sparse_points = np.ascontiguousarray(arrays["sparse_points"], dtype=float)
        m.m_offsets = np.asarray(arrays["m_offsets"], dtype=np.int64)
        m.alpha = np.asarray(arrays["alpha"], dtype=float)
        M = len(m.alpha)
        if (m.sparse_points.shape != (M, m.descriptor.size) or len(m.m_offsets) != len(m.species) + 1
                or m.m_offsets[-1] != M):
            raise ModelFileError(f"GAP arrays do not fit together: sparse points {m.sparse_points.shape}, "
                                 f"alpha {M}, descriptor size {m.descriptor.size}")
        return m
