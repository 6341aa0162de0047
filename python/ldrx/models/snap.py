"""SNAP and quadratic SNAP (qSNAP) potentials, fitted by weighted linear least squares.

Energy of an atom i of species s with bispectrum B_i (LAMMPS ML-SNAP's components, see
:class:`ldrx.descriptors.Bispectrum`):

    E_i = beta0_s + beta_s . B_i                       (SNAP; Thompson et al., J. Comput. Phys. 285, 316, 2015)
        + 0.5 B_i^T alpha_s B_i                         (qSNAP; Wood and Thompson, J. Chem. Phys. 148, 241721, 2018)

exactly as LAMMPS ``pair_style snap`` evaluates it (``quadraticflag 1`` for qSNAP), so
:meth:`SNAP.to_lammps` files reproduce ldrx's energies and forces. Prediction is one pass over the atoms
in C++ (``_core.snap_energy_forces``): per atom U and Z once, B, E_i, then forces by the adjoint Y
formulation with beta_eff = dE_i/dB_i = beta + alpha B_i.

Fit. Loss = sum_frames [ w_E ((E_pred - E) / N)^2 + w_F sum_{atoms, xyz} (F_pred - F)^2
+ w_S sum_v ((W_pred - W)_v / N)^2 ] + ridge * sum_c p_c (x_c / d_c)^2, where w_E, w_F, w_S are
`energy_weight`, `force_weight`, `stress_weight` (times the frame's group multipliers), weights multiply
squared residuals (FitSNAP's eweight/fweight are square roots of these), W = -stress * volume is the
virial, d the Jacobi column scaling of :mod:`ldrx.train.linear` and p_c = `quadratic_penalty` for the
quadratic columns, 1 for the others. Energies are fitted per atom, like FitSNAP
and maml. The rows are streamed through C++ into the normal equations (memory n_columns^2: 2.5 MB for
SNAP 2J=8 with 11 elements, 240 MB for qSNAP 2J=6), never into a design matrix; ``solver="svd"`` builds
the weighted rows instead and solves by SVD, for small problems.

Conditioning. Before the columns are formed, each species' bispectrum is standardised,
Bt = (B - mean) / std over the training atoms of that species, and the quadratic columns are products
of Bt. This is only a change of basis (the model space is the same, the constant and linear columns
absorb the shift), but it makes the quadratic columns far less collinear with the linear ones: with raw
B the products B_k B_l are dominated by mean_k B_l + mean_l B_k. On the LDR sample (qSNAP 2J=6, 11
elements) it lowers the condition number of the column-scaled normal matrix from 7e12 to 7e10 and the
number of its eigenvalues below 1e-8 of the largest from 2008 to 299 (of 5456): a likely cause of the
convergence trouble reported for qSNAP on the LDR set, removed. After the solve, the standardisation
and the column scaling are folded back into beta0, beta and alpha, which are what the model stores.

Reference energies. Per-species reference energies (a least-squares fit of the total energies on the
composition, or `reference_energies`) are subtracted from the targets before fitting, and the constant
columns beta0 (always fitted: they are needed to undo the standardisation) take up what remains; the
reference energies are then added to beta0, so the stored and exported beta0 hold everything.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
from ase.data import atomic_numbers, chemical_symbols

from .. import _core
from ..data import Dataset, atomic_write
from ..descriptors.bispectrum import Bispectrum, check_twojmax
from ..elements import element_values
from ..errors import DataError, ModelFileError
from .base import Model, Prediction, as_dataset, fit_reference_energies, virial_to_stress

__all__ = ["SNAP", "SNAPHyper"]

#: the largest dense design matrix solver="svd" builds
SVD_MAX_BYTES = 2 * 1024 ** 3


def _element_dict(d, name):
    """{symbol: float}, or None."""
    return None if d is None else {chemical_symbols[z]: v for z, v in element_values(d, name).items()}


@dataclass
class SNAPHyper:
    """Hyper-parameters of SNAP / qSNAP (LAMMPS / FitSNAP names where they exist). The defaults were
    chosen by 5-fold cross-validation on the training part of the bundled LDR sample (90:10 split, seed 0;
    ``python bench/bench_snap_fit.py tune [--quadratic]`` reproduces the search), scoring E_rmse / 50 meV/atom + F_rmse / 0.5 eV/Å,
    i.e. relative to FitSNAP's SNAP on the LDR benchmark.

    twojmax        2J, even; None: 8 for SNAP, 6 for qSNAP (the LDR benchmark's choices; 55 components, or
                   30 components and 496 columns per element for qSNAP).
    rcutfac        pair cut-off rcutfac * (R_i + R_k); with the default radelem 0.5 it is rcutfac itself (Å).
                   4.2 Å (the fourth neighbour shell of a rocksalt) beat 3.8-6 Å in cross-validation.
    quadratic      qSNAP: add 0.5 B_k^2 and B_k B_l (LAMMPS quadraticflag).
    energy_weight  weight of the squared per-atom energy residual of a frame, (eV/atom)^-2.
    force_weight   weight of each squared force-component residual, (eV/Å)^-2; 0: energies only; None: 1e-4
                   for SNAP, 2e-4 for qSNAP. Energies and forces compete: on the LDR sample, SNAP with 1e-4
                   gives about 51 meV/atom and 0.49 eV/Å in cross-validation, with 1e-3 about 75 meV/atom
                   and 0.37 eV/Å. Raise it for MD.
    stress_weight  weight of the squared per-atom virial residual, (eV/atom)^-2 (frames with stress only).
    ridge          penalty on the column-scaled coefficients (each column has unit norm before the penalty).
    quadratic_penalty  multiplier of the ridge for the quadratic columns of qSNAP (the linear and constant
                   columns get 1): 5456 coefficients on a few hundred structures overfit unless the quadratic
                   part is held back more than the linear one.
    radelem, wj    {element: value}; None: 0.5 and 1.0 for every element (FitSNAP's defaults; distinct wj per
                   element were not better in cross-validation).
    rfac0, rmin0, bzeroflag, switchflag   as in LAMMPS.
    solver         "ridge": normal equations streamed in C++, Cholesky (any data size);
                   "svd": dense weighted rows, SVD (small problems only).
    reference_energies  {element: eV}; None: least squares on the training compositions.
    group_weights  {group: {"energy": m, "force": m, "stress": m}}: multipliers of the weights for the frames
                   whose info["group"] is that group.
    chunk_frames   frames per C++ call when accumulating (progress bar granularity).
    progress       show a progress bar (None: when the output is a terminal).
    seed           accepted for API uniformity; the fit is deterministic.
    """
    twojmax: int | None = None
    rcutfac: float = 4.2
    quadratic: bool = False
    energy_weight: float = 1.0
    force_weight: float | None = None
    stress_weight: float = 1e-2
    ridge: float = 1e-4
    quadratic_penalty: float = 1e4
    radelem: dict | None = None
    wj: dict | None = None
    rfac0: float = 0.99363
    rmin0: float = 0.0
    bzeroflag: bool = True
    switchflag: bool = True
    solver: str = "ridge"
    reference_energies: dict | None = None
    group_weights: dict | None = None
    chunk_frames: int = 2000
    progress: bool | None = None
    seed: int = 0

    def __post_init__(self):
        if self.twojmax is None:
            self.twojmax = 6 if self.quadratic else 8
        self.twojmax = check_twojmax(self.twojmax)
        self.quadratic = bool(self.quadratic)
        if self.force_weight is None:
            self.force_weight = 2e-4 if self.quadratic else 1e-4
        for name in ("rcutfac", "energy_weight", "force_weight", "stress_weight", "ridge", "quadratic_penalty",
                     "rfac0", "rmin0"):
            v = float(getattr(self, name))
            if not np.isfinite(v) or v < 0 or (name == "rcutfac" and v == 0):
                raise ValueError(f"{name} must be {'positive' if name == 'rcutfac' else 'non-negative'} and finite, "
                                 f"got {getattr(self, name)!r}")
            setattr(self, name, v)
        if self.energy_weight == 0 and self.force_weight == 0 and self.stress_weight == 0:
            raise ValueError("energy_weight, force_weight and stress_weight are all 0: nothing to fit")
        self.radelem = _element_dict(self.radelem, "radelem")
        self.wj = _element_dict(self.wj, "wj")
        self.reference_energies = _element_dict(self.reference_energies, "reference_energies")
        if self.solver not in ("ridge", "svd"):
            raise ValueError(f"solver must be 'ridge' or 'svd', got {self.solver!r}")
        if self.group_weights is not None:
            gw = {}
            for g, m in dict(self.group_weights).items():
                bad = set(m) - {"energy", "force", "stress"}
                if bad:
                    raise ValueError(f"group_weights[{g!r}] has unknown keys {sorted(bad)}")
                gw[str(g)] = {k: float(v) for k, v in m.items()}
                if any(not (v >= 0 and np.isfinite(v)) for v in gw[str(g)].values()):
                    raise ValueError(f"group_weights[{g!r}] must be non-negative and finite")
            self.group_weights = gw
        self.bzeroflag, self.switchflag = bool(self.bzeroflag), bool(self.switchflag)
        self.chunk_frames = max(1, int(self.chunk_frames))


def _hyper_from_kwargs(kwargs) -> SNAPHyper:
    names = {f.name for f in dataclasses.fields(SNAPHyper)}
    unknown = set(kwargs) - names
    if unknown:
        raise TypeError(f"unknown SNAP hyper-parameter(s) {sorted(unknown)}; valid: {sorted(names)}")
    return SNAPHyper(**kwargs)


def n_columns(ncoeff, quadratic) -> int:
    """Coefficients per element: beta0, ncoeff betas and, for qSNAP, ncoeff (ncoeff + 1) / 2 alphas."""
    return 1 + ncoeff + (ncoeff * (ncoeff + 1) // 2 if quadratic else 0)


class _NormalEquations:
    """A^T A, A^T b and b^T b of some rows: a leaf or node of the fixed-order sum (ldrx.parallel)."""

    __slots__ = ("ata", "atb", "btb")

    def __init__(self, ata, atb, btb):
        self.ata, self.atb, self.btb = ata, atb, float(btb)

    def __add__(self, other):
        self.ata += other.ata  # in place: the left operand is a partial sum nobody else holds
        self.atb += other.atb
        return _NormalEquations(self.ata, self.atb, self.btb + other.btb)


def _reduce_stack(stack, comm):
    """The total of every rank's unfinished tree nodes on rank 0, received one rank at a time in rank order (so
    rank 0 holds its stack plus one other rank's: O(log n_chunks) matrices), None on the other ranks."""
    if comm.size == 1:
        return stack.total()
    if comm.is_root:
        for r in range(1, comm.size):
            for level, index, value in comm.recv(source=r):
                stack.push(level, index, value)
        return stack.total()
    comm.send(stack.stack, dest=0)
    return None


def _alpha_matrix(alpha_upper, nc):
    """Symmetric alpha from the upper-triangle vector (k outer, l = k..nc-1 inner): the quadratic energy
    0.5 sum_k a_kk B_k^2 + sum_{k<l} a_kl B_k B_l is 0.5 B^T A B."""
    A = np.zeros((nc, nc))
    iu = np.triu_indices(nc)
    A[iu] = alpha_upper
    return A + np.triu(A, 1).T


class SNAP(Model):
    """Linear (SNAP) or quadratic (qSNAP, ``quadratic=True``) bispectrum potential: ``SNAP(**hyper).fit(train)``.
    Hyper-parameters: :class:`SNAPHyper`."""

    family: ClassVar[str] = "snap"
    format_version: ClassVar[int] = 1

    def __init__(self, **hyper):
        self.hyper = _hyper_from_kwargs(hyper)
        self.species: list[int] = []
        self.info: dict = {}

    # ------------------------------------------------------------------ descriptor and parameters
    def _resolve_elements(self, species):
        h = self.hyper
        sym = [chemical_symbols[z] for z in species]
        rad = {s: 0.5 for s in sym} if h.radelem is None else h.radelem
        wj = {s: 1.0 for s in sym} if h.wj is None else h.wj
        for name, d in (("radelem", rad), ("wj", wj)):
            missing = [s for s in sym if s not in d]
            if missing:
                raise ValueError(f"{name} has no value for {missing}, which the training data hold")
        return [rad[s] for s in sym], [wj[s] for s in sym]

    def _make_descriptor(self):
        h = self.hyper
        sym = [chemical_symbols[z] for z in self.species]
        self.descriptor = Bispectrum(h.twojmax, h.rcutfac, h.rfac0, h.rmin0, radelem=dict(zip(sym, self.radelem)),
                                     wj=dict(zip(sym, self.wj)), bzeroflag=h.bzeroflag, switchflag=h.switchflag)

    @property
    def ncoeff(self) -> int:
        return _core.bispectrum_ncoeff(self.hyper.twojmax)

    @property
    def beta0(self):
        return self.coefficients[:, 0]

    @property
    def beta(self):
        return self.coefficients[:, 1:1 + self.ncoeff]

    def alpha(self, s: int):
        """Symmetric quadratic matrix of species index s (qSNAP)."""
        return _alpha_matrix(self.coefficients[s, 1 + self.ncoeff:], self.ncoeff)

    # ------------------------------------------------------------------ fitting
    def _frame_weights(self, data: Dataset):
        h = self.hyper
        w = np.empty((3, len(data)))
        w[0], w[1], w[2] = h.energy_weight, h.force_weight, h.stress_weight
        if h.group_weights:
            for f, info in enumerate(data.info):
                m = h.group_weights.get(str(info.get("group", "")))
                if m:
                    w[0, f] *= m.get("energy", 1.0)
                    w[1, f] *= m.get("force", 1.0)
                    w[2, f] *= m.get("stress", 1.0)
        return w

    def _targets(self, data: Dataset):
        """(energy per atom minus references, forces, virial per atom or None), with NaN where unknown."""
        energy = (data.energy - data.reference_energy(self.reference_energies)) / data.natoms
        virial = None
        if data.stress is not None and self.hyper.stress_weight > 0:
            vol = np.abs(np.linalg.det(data.cells))
            ok = data.pbc.all(axis=1) & (vol > 0)
            virial = np.full((len(data), 6), np.nan)
            virial[ok] = -data.stress[ok] * (vol[ok] / data.natoms[ok])[:, None]
        return energy, data.forces, virial

    def _standardisation(self, data: Dataset, bounds, k0, comm):
        """Per-species mean and standard deviation of the bispectrum over the training atoms (of all ranks:
        per-chunk sums added in the fixed chunk order, see ldrx.parallel)."""
        from ..parallel import ordered_sum
        ns, nc = len(self.species), self.ncoeff
        index = {z: k for k, z in enumerate(self.species)}

        def chunk_sums():
            parts = []
            for k in range(len(bounds) - 1):
                part = data[bounds[k]:bounds[k + 1]]
                s1, s2, cnt = np.zeros((ns, nc)), np.zeros((ns, nc)), np.zeros((ns, 1))
                B = self.descriptor.compute(part)
                sp = np.array([index[z] for z in part.numbers])
                np.add.at(s1, sp, B)
                np.add.at(s2, sp, B * B)
                cnt[:, 0] = np.bincount(sp, minlength=ns)
                parts.append(np.hstack([s1, s2, cnt]))
            return parts
        tot = ordered_sum(comm.check(chunk_sums), k0, comm)
        s1, s2, cnt = tot[:, :nc], tot[:, nc:2 * nc], tot[:, 2 * nc]
        n = np.maximum(cnt, 1)[:, None]
        mean = s1 / n
        var = np.maximum(s2 / n - mean ** 2, 0.0)
        std = np.sqrt(var)
        tiny = std <= 1e-8 * (1.0 + np.abs(mean))
        std[tiny] = 1.0   # a constant component (or a species with one atom): leave it unscaled
        return mean, std

    def fit(self, train, valid=None, comm=None):
        """Fit to a Dataset (or Atoms / list of Atoms) with energies and/or forces (and stress).

        comm: an mpi4py communicator for a data-parallel fit (see :mod:`ldrx.parallel`): `train` and `valid` are
        this rank's shards; the normal equations of chunks of `chunk_frames` frames are summed over the ranks in
        a fixed order and solved on rank 0, which broadcasts the coefficients: every rank gets, bit for bit,
        the coefficients of a serial fit on the whole set."""
        from ..parallel import as_comm, chunk_bounds, global_counts, redistribute
        t0 = time.perf_counter()
        h = self.hyper
        c = as_comm(comm)
        comm_t0 = c.comm_time
        train = as_dataset(train)
        frames, _ = global_counts(train, c)
        if frames.sum() == 0:
            raise DataError("no training frames")
        train, k0, bounds = redistribute(train, c, chunk_bounds(frames.sum(), frames_per_chunk=h.chunk_frames))
        flags = np.array(c.allgather([np.isfinite(train.energy).any(), np.isfinite(train.forces).any(),
                                      train.stress is not None and np.isfinite(train.stress).any()])).any(axis=0)
        has_e = flags[0] and h.energy_weight > 0
        has_f = flags[1] and h.force_weight > 0
        has_s = flags[2] and h.stress_weight > 0
        if not (has_e or has_f or has_s):
            raise DataError("the training data hold no energies, forces or stresses with a non-zero weight")
        self.species = sorted(set().union(*c.allgather(train.species)))
        self.radelem, self.wj = self._resolve_elements(self.species)
        self._make_descriptor()
        self.learn_domain(train, comm=c)
        if has_e or h.reference_energies is not None:
            self.reference_energies = fit_reference_energies(train, self.species, h.reference_energies, comm=c)
        else:
            self.reference_energies = {z: 0.0 for z in self.species}
        mean, std = self._standardisation(train, bounds, k0, c)
        scale = 1.0 / std
        energy, forces, virial = self._targets(train)
        w = self._frame_weights(train)
        nc, ns = self.ncoeff, len(self.species)
        P = n_columns(nc, h.quadratic)
        from ..train import linear
        penalty = np.ones(P)
        penalty[1 + nc:] = h.quadratic_penalty
        penalty = np.tile(penalty, ns)
        if h.solver == "svd":
            if c.size > 1:
                raise ValueError("solver='svd' builds the whole design matrix on one process; over MPI use solver='ridge'")
            n_rows = (int(np.isfinite(energy).sum()) * (h.energy_weight > 0)
                      + int(np.isfinite(forces).sum()) * (h.force_weight > 0)
                      + (0 if virial is None else int(np.isfinite(virial).sum())))
            if n_rows * ns * P * 8 > SVD_MAX_BYTES:
                raise ValueError(f"solver='svd' would hold a {n_rows} x {ns * P} design matrix "
                                 f"({n_rows * ns * P * 8 / 1e9:.1f} GB); use solver='ridge', which streams")
            A, b = _core.snap_design_matrix(self.descriptor._impl, train.batch(), mean, scale, h.quadratic, energy,
                                            forces, w[0], w[1], virial, None if virial is None else w[2])
            sol = linear.lstsq(A, b, ridge=h.ridge, penalty=penalty)
            n_rows, btb = len(b), float(b @ b)
            del A
        else:
            # one chunk (chunk_frames frames) at a time, each from zero; the chunks are the leaves of the fixed-order
            # sum over chunks and ranks (ldrx.parallel.ordered_sum), which keeps O(log n_chunks) partial matrices
            from ..parallel import _TreeStack
            from tqdm.auto import tqdm

            def accumulate():
                stack, n_rows = _TreeStack(), 0
                with tqdm(total=len(train), desc=f"{'q' if h.quadratic else ''}SNAP normal equations", unit="frame",
                          disable=((not h.progress) if h.progress is not None else None) or not c.is_root,
                          leave=False) as bar:
                    for k in range(len(bounds) - 1):
                        sl = slice(int(bounds[k]), int(bounds[k + 1]))
                        part = train[sl]
                        a0, a1 = train.offsets[sl.start], train.offsets[sl.stop]
                        ata, atb = np.zeros((ns * P, ns * P)), np.zeros(ns * P)
                        out = _core.snap_normal_equations(
                            self.descriptor._impl, part.batch(), mean, scale, h.quadratic, energy[sl], forces[a0:a1],
                            w[0, sl], w[1, sl], None if virial is None else virial[sl],
                            None if virial is None else w[2, sl], ata, atb)
                        stack.push(0, k0 + k, _NormalEquations(ata, atb, out[0]))
                        n_rows += out[1]
                        bar.update(sl.stop - sl.start)
                return stack, n_rows
            stack, n_rows = c.check(accumulate)
            n_rows = sum(c.allgather(n_rows))
            ne = _reduce_stack(stack, c)
            sol = None
            if c.is_root:
                btb = ne.btb
                sol = linear.solve_normal_equations(ne.ata, ne.atb, ridge=h.ridge, penalty=penalty, overwrite=True)
            del ne
            sol, btb = c.bcast((sol, btb if c.is_root else None))
        x = sol.x.reshape(ns, P)
        self.coefficients = self._fold(x, mean, scale)
        self._fitted = True
        self.info = {"fit_seconds": time.perf_counter() - t0, "rows": int(n_rows), "columns": int(ns * P),
                     "condition": float(sol.condition), "solver": sol.method, "rank": int(sol.rank),
                     "weighted_target_norm2": float(btb)}
        if c.size > 1:
            self.info.update(ranks=c.size, comm_seconds=c.comm_time - comm_t0)
        if valid is not None:
            from ..evaluate import errors
            valid = as_dataset(valid)
            self.info["valid_metrics"] = errors(c.check(self.predict, valid, stress=False), valid, comm=c)
        return self

    def _fold(self, x, mean, scale):
        """LAMMPS coefficients (beta0 with the reference energy, beta, alpha upper triangle) per species
        from the fitted ones in the standardised basis Bt = scale (B - mean)."""
        nc = self.ncoeff
        coef = np.zeros_like(x)
        for s, z in enumerate(self.species):
            c0, b = x[s, 0], x[s, 1:1 + nc]
            S, mu = scale[s], mean[s]
            lin = S * b
            beta0 = c0 - lin @ mu + self.reference_energies[z]
            if self.hyper.quadratic:
                A = S[:, None] * _alpha_matrix(x[s, 1 + nc:], nc) * S[None, :]
                Amu = A @ mu
                lin = lin - Amu
                beta0 += 0.5 * mu @ Amu
                coef[s, 1 + nc:] = A[np.triu_indices(nc)]
            coef[s, 0] = beta0
            coef[s, 1:1 + nc] = lin
        return coef

    # ------------------------------------------------------------------ prediction
    def atomic_energies(self, frames):
        """(per-atom energies [n_atoms], beta_eff [n_atoms, ncoeff] = dE_i/dB_i), from the bispectrum
        (``descriptor.backward(frames, beta_eff)`` then gives the forces and virial)."""
        self._require_fitted()
        data = as_dataset(frames)
        self.check_species(data)
        B = self.descriptor.compute(data)
        index = np.full(max(self.species) + 1, -1)
        index[self.species] = np.arange(len(self.species))
        sp = index[data.numbers]
        nc = self.ncoeff
        e = self.coefficients[sp, 0] + np.einsum("ik,ik->i", B, self.coefficients[sp, 1:1 + nc])
        beta = self.coefficients[sp, 1:1 + nc].copy()
        if self.hyper.quadratic:
            for s in np.unique(sp):
                idx = sp == s
                BA = B[idx] @ self.alpha(s)
                e[idx] += 0.5 * np.einsum("ik,ik->i", BA, B[idx])
                beta[idx] += BA
        return e, beta

    def _predict(self, data: Dataset, forces: bool, stress: bool) -> Prediction:
        e, F, W = _core.snap_energy_forces(self.descriptor._impl, data.batch(), self.coefficients,
                                           self.hyper.quadratic, forces or stress)
        energy = np.bincount(data.frame_index, weights=e, minlength=len(data))
        if not (forces or stress):
            return Prediction(energy)
        return Prediction(energy, F if forces else None, virial_to_stress(W, data) if stress else None)

    # ------------------------------------------------------------------ model files
    def _state(self):
        meta = {"hyper": dataclasses.asdict(self.hyper), "radelem": self.radelem, "wj": self.wj,
                "reference_energies": {str(z): v for z, v in self.reference_energies.items()},
                "info": {k: v for k, v in self.info.items()}}
        return meta, {"coefficients": self.coefficients}

    @classmethod
    def _from_state(cls, meta, arrays):
        m = cls(**meta["hyper"])
        m.species = [int(z) for z in meta["species"]]
        m.radelem, m.wj = [float(v) for v in meta["radelem"]], [float(v) for v in meta["wj"]]
        m.reference_energies = {int(z): float(v) for z, v in meta["reference_energies"].items()}
        m.info = meta.get("info", {})
        m.coefficients = np.asarray(arrays["coefficients"], dtype=float)
        if m.coefficients.shape != (len(m.species), n_columns(m.ncoeff, m.hyper.quadratic)):
            raise ModelFileError(f"SNAP coefficients have shape {m.coefficients.shape}, expected "
                                 f"{(len(m.species), n_columns(m.ncoeff, m.hyper.quadratic))}")
        m._make_descriptor()
        return m

    # ------------------------------------------------------------------ LAMMPS files
    def to_lammps(self, prefix):
        """Write ``prefix.snapcoeff`` and ``prefix.snapparam`` for LAMMPS ``pair_style snap``:
        ``pair_coeff * * prefix.snapcoeff prefix.snapparam <elements in LAMMPS type order>``.
        They hold everything (reference energies are in beta0), so LAMMPS gives ldrx's energies and forces.
        Returns the two paths."""
        self._require_fitted()
        h = self.hyper
        prefix = str(prefix)
        sym = [chemical_symbols[z] for z in self.species]
        coeff = [f"# ldrx {'qSNAP' if h.quadratic else 'SNAP'}: pair_style snap",
                 f"# pair_coeff * * {Path(prefix).name}.snapcoeff {Path(prefix).name}.snapparam {' '.join(sym)}",
                 f"{len(sym)} {self.coefficients.shape[1]}"]
        for s, el in enumerate(sym):
            coeff.append(f"{el} {self.radelem[s]!r} {self.wj[s]!r}")
            coeff.extend(repr(float(c)) for c in self.coefficients[s])
        param = ["# ldrx SNAP parameters", f"rcutfac {h.rcutfac!r}", f"twojmax {h.twojmax}", f"rfac0 {h.rfac0!r}",
                 f"rmin0 {h.rmin0!r}", f"switchflag {int(h.switchflag)}", f"bzeroflag {int(h.bzeroflag)}",
                 f"quadraticflag {int(h.quadratic)}", "chemflag 0", "bnormflag 0", "wselfallflag 0",
                 "switchinnerflag 0"]
        paths = (prefix + ".snapcoeff", prefix + ".snapparam")
        for path, lines in zip(paths, (coeff, param)):
            atomic_write(path, lambda f, text="\n".join(lines) + "\n": f.write(text.encode()))
        return paths

    @classmethod
    def from_lammps(cls, prefix, snapparam=None):
        """A fitted model from LAMMPS ``prefix.snapcoeff`` and ``prefix.snapparam`` (or the two paths:
        ``from_lammps(coeff_path, param_path)``). chemflag, bnormflag, wselfallflag and switchinnerflag
        must be 0."""
        coeff_path = Path(str(prefix) + ".snapcoeff") if snapparam is None else Path(prefix)
        param_path = Path(str(prefix) + ".snapparam") if snapparam is None else Path(snapparam)

        def lines(path):
            try:
                text = Path(path).read_text()
            except OSError as exc:
                raise ModelFileError(f"{path}: cannot read ({exc})") from exc
            out = []
            for no, line in enumerate(text.splitlines(), 1):
                words = line.split("#", 1)[0].replace('"', " ").replace("'", " ").split()
                if words:
                    out.append((no, words))
            return out

        params = {}
        for no, words in lines(param_path):
            if len(words) != 2:
                raise ModelFileError(f"{param_path}, line {no}: expected 'keyword value'")
            params[words[0]] = words[1]
        for key in ("rcutfac", "twojmax"):
            if key not in params:
                raise ModelFileError(f"{param_path}: '{key}' is missing")
        for key in ("chemflag", "bnormflag", "wselfallflag", "switchinnerflag"):
            if int(params.get(key, 0)):
                raise ModelFileError(f"{param_path}: {key} 1 is not supported by ldrx")
        try:
            hyper = dict(twojmax=int(params["twojmax"]), rcutfac=float(params["rcutfac"]),
                         rfac0=float(params.get("rfac0", 0.99363)), rmin0=float(params.get("rmin0", 0.0)),
                         switchflag=bool(int(params.get("switchflag", 1))),
                         bzeroflag=bool(int(params.get("bzeroflag", 1))),
                         quadratic=bool(int(params.get("quadraticflag", 0))))
        except ValueError as exc:
            raise ModelFileError(f"{param_path}: {exc}") from exc
        rows = lines(coeff_path)
        try:
            nelem, ncoeff_all = int(rows[0][1][0]), int(rows[0][1][1])
            species, rad, wj, coef = [], [], [], []
            k = 1
            for _ in range(nelem):
                no, words = rows[k]
                species.append(atomic_numbers[words[0]])
                rad.append(float(words[1]))
                wj.append(float(words[2]))
                coef.append([float(rows[k + 1 + c][1][0]) for c in range(ncoeff_all)])
                k += 1 + ncoeff_all
        except (IndexError, KeyError, ValueError) as exc:
            raise ModelFileError(f"{coeff_path}: malformed SNAP coefficient file ({exc!r})") from exc
        sym = [chemical_symbols[z] for z in species]
        m = cls(radelem=dict(zip(sym, rad)), wj=dict(zip(sym, wj)), **hyper)
        expected = n_columns(m.ncoeff, m.hyper.quadratic)
        if ncoeff_all != expected:
            raise ModelFileError(f"{coeff_path}: {ncoeff_all} coefficients per element, but twojmax "
                                 f"{m.hyper.twojmax} {'with' if m.hyper.quadratic else 'without'} quadratic terms "
                                 f"needs {expected}")
        order = np.argsort(species)
        m.species = [species[i] for i in order]
        m.radelem, m.wj = [rad[i] for i in order], [wj[i] for i in order]
        m.coefficients = np.array(coef)[order]
        m.reference_energies = {z: 0.0 for z in m.species}
        m.info = {"source": str(coeff_path)}
        m._make_descriptor()
        m._fitted = True
        return m
