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
quadratic columns, 1 for the others. That is ``scaling="standardise"``; ``scaling="none"`` (the default) is FitSNAP's
plain ridge on the raw columns instead, ridge * sum_c p_c x_c^2 (x in LAMMPS's units; solved in the
column-scaled variables with penalty ridge p_c d_c^2, the same solution in fewer lost digits): FitSNAP's
``eweight`` e, ``fweight`` f and ridge ``alpha`` a are energy_weight e^2, force_weight f^2, ridge a,
quadratic_penalty 1 (FitSNAP penalises beta0 too, ldrx fits reference energies first). Energies are fitted per atom, like FitSNAP
and maml. The rows are streamed through C++ into the normal equations (memory n_columns^2: 2.5 MB for
SNAP 2J=8 with 11 elements, 240 MB for qSNAP 2J=6), never into a design matrix; ``solver="svd"`` builds
the weighted rows instead and solves by SVD, for small problems.

Conditioning (scaling="standardise"). Before the columns are formed, each species' bispectrum is standardised,
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
from .._files import atomic_write
from ..data import Dataset, as_dataset
from ..descriptors.bispectrum import Bispectrum, check_twojmax
from ..elements import element_values
from ..errors import DataError, ModelFileError
from .base import (Model, Prediction, fit_reference_energies, hyper_from_kwargs, model_file_errors,
                   prediction_from_atoms, training_data)

__all__ = ["SNAP", "SNAPHyper", "element_weights", "element_radii"]

#: the largest dense design matrix solver="svd" builds
SVD_MAX_BYTES = 2 * 1024 ** 3


def _element_dict(d, name):
    """{symbol: float}, or None."""
    return None if d is None else {chemical_symbols[z]: v for z, v in element_values(d, name).items()}


@dataclass
class SNAPHyper:
    """Hyper-parameters of SNAP / qSNAP (LAMMPS / FitSNAP names where they exist).

    How the defaults were chosen (issue 13; ``python bench/bench_select.py snap | snap-refine | qsnap``
    prints the tables): :func:`ldrx.select.search` on the bundled LDR sample (the 329 frames ``ldrx.read``
    keeps), 5 folds grouped by reduced composition (a fold leaves out whole
    compositions, a proxy for unseen structures), seed 0, score "paper" = E_rmse / 50 meV/atom +
    F_rmse / 0.5 eV/Å. SNAP: over rcutfac {4.2, 5.0, 5.5} x wj {uniform, rank:0.2/0.4/0.6, z, FitSNAP's LDR
    list} x scaling x force_weight x ridge (276 settings), the best with forces no worse than FitSNAP's
    own settings in the same CV (64.4 ± 28.2 meV/atom, 0.511 ± 0.098 eV/Å): rcutfac 5.0, wj "rank" (0.2),
    plain ridge 0.1, force_weight 1e-4: 55.2 ± 26.5 meV/atom, 0.506 ± 0.107 eV/Å (the old defaults,
    rcutfac 4.2 and wj 1.0: 74.7 ± 29.4, 0.497). qSNAP (rcutfac 5.0; 13 settings): wj "rank" (0.2) gained
    15 meV/atom over rank:0.4; FitSNAP's plain ridge (ridge 10, force_weight 1e-4: 54.7 ± 32.1 meV/atom,
    0.488 ± 0.122 eV/Å) and the standardised ridge (ridge 1e-4: 53.3 ± 28.1, 0.458 ± 0.118) are tied
    within the spreads; the tie was broken by the seed-0 90:10 split (32 test frames), where the plain
    ridge is better on both, 34.5 vs 46.0 meV/atom and 0.323 vs 0.356 eV/Å (FitSNAP's exact recipe: 33.8,
    0.373), as FitSNAP's was on the issue's held-out frames (FitSNAP's alpha 1e4 at eweight 100 is ridge 1,
    which scored worse than 10 in the CV). Fold spreads are large (one or two compositions dominate):
    differences below ~10 meV/atom are noise.

    twojmax        2J, even; None: 8 for SNAP, 6 for qSNAP (the LDR benchmark's choices; 55 components, or
                   30 components and 496 columns per element for qSNAP).
    rcutfac        pair cut-off rcutfac * (R_i + R_k); with the default radelem 0.5 it is rcutfac itself (Å).
                   5.0 beat 4.2 and 5.5 (FitSNAP's LDR fits also use 5.0).
    quadratic      qSNAP: add 0.5 B_k^2 and B_k B_l (LAMMPS quadraticflag).
    energy_weight  weight of the squared per-atom energy residual of a frame, (eV/atom)^-2.
    force_weight   weight of each squared force-component residual, (eV/Å)^-2; 0: energies only; None: 1e-4.
                   Energies and forces compete: SNAP with 3e-5 gives about 49 meV/atom and 0.56 eV/Å in the CV above, with 3e-4 about 64 and
                   0.47. Raise it for MD.
    stress_weight  weight of the squared per-atom virial residual, (eV/atom)^-2 (frames with stress only).
    scaling        "none" (the default): FitSNAP's plain ridge, ridge * sum x_c^2 on the raw LAMMPS
                   coefficients; FitSNAP's eweight e, fweight f, alpha a are energy_weight e^2,
                   force_weight f^2, ridge a. "standardise" (the default before issue 13): columns
                   standardised per species and scaled to unit norm before the penalty (module docstring).
    ridge          the penalty; None: 0.1 (SNAP, "none": FitSNAP's alpha 1e3 at eweight 100, fweight 1),
                   1e-4 ("standardise"), 10 (qSNAP, "none").
    quadratic_penalty  multiplier of the ridge for the quadratic columns of qSNAP (the linear and constant
                   columns get 1); None: 1e4 with "standardise" (5456 coefficients on a few hundred
                   structures overfit unless the quadratic part is held back more), 1 with "none" (FitSNAP).
    radelem        {element: value} or a rule of :func:`element_radii` ("uniform", "covalent[:P]");
                   None: 0.5 for every element (FitSNAP's). In the grouped CV above (bench_chem.py radelem,
                   rcutfac 5, wj "rank") "covalent:0.25" was the best rule, 50.5 ± 23.6 meV/atom and 0.496 ±
                   0.106 eV/Å against 55.2 ± 26.5 and 0.506 ± 0.107 for uniform 0.5: paired over the same folds
                   -4.7 ± 4.2 meV/atom (better on 5 of 5 folds), forces -0.010 ± 0.017 eV/Å; P = 0.5 and 1 did
                   not gain on energies. A gain smaller than the fold spread, by the best of four rules picked on
                   the same folds, is not a clear win, so the default stays 0.5 for every element.
    wj             {element: value} or a rule of :func:`element_weights`; None: "rank", weights 1.0 down to
                   0.2 by atomic number (Li 1.0, O 0.92, Sc 0.84, ..., Cu 0.2 for the LDR elements): distinct
                   weights let the non-chem bispectrum tell the neighbours' elements apart. In the CV above it
                   beat wj 1.0 for all by about 20 meV/atom, FitSNAP's list by 8, and "z" (linear in Z).
    chem           the explicit multi-element bispectrum (LAMMPS chemflag; Cusentino et al. 2020, see
                   :class:`ldrx.descriptors.Bispectrum`): False (default); True, one density per element;
                   {element: group} or a list of element groups, one density per group. Components per element
                   n_groups^3 x ncount(2J): with 11 elements only groupings are affordable for a fit, e.g.
                   chem={"Li": "Li", "O": "O", <the 9 TMs>: "TM"} at twojmax=4: 378 components, 4169 columns
                   (chem=True at 2J=4 would be 18634 components, 205k columns). Not with quadratic (the
                   quadratic columns grow as the square). In the grouped CV above that Li / O / TM grouping
                   at 2J=4 gave 41.6 ± 15.3 meV/atom, 0.380 ± 0.106 eV/Å against 55.2 ± 26.5, 0.506 ± 0.107
                   for the plain 2J=8 default (forces better in 5 of 5 folds, energies in 4 of 5), at about 4x the
                   CV time (bench/bench_chem.py cv); it stays
                   opt-in because its size depends on the grouping, which the user chooses.
    bnormflag      divide B_{j1 j2 j} by j + 1 (LAMMPS bnormflag; usually with chem).
    rfac0, rmin0, bzeroflag, switchflag   as in LAMMPS.
    solver         "ridge": normal equations streamed in C++, Cholesky (any data size);
                   "svd": dense weighted rows, SVD (small problems only).
    reference_energies  {element: eV}; None: least squares on the training compositions.
    group_weights  {group: {"energy": m, "force": m, "stress": m}}: multipliers of the weights for the frames
                   whose info["group"] is that group.
    chunk_frames   frames per C++ call when accumulating (progress bar granularity).
    progress       show a progress bar (None: when the output is a terminal).
    repulsion      "wall" (default): a steep pair wall below the training set's shortest distance of each
                   species pair, zero on the training data (:mod:`ldrx.models.repulsion`); "zbl": ZBL
                   repulsion switched off there; None: off.
    seed           accepted for API uniformity; the fit is deterministic.
    """
    twojmax: int | None = None
    rcutfac: float = 5.0
    quadratic: bool = False
    energy_weight: float = 1.0
    force_weight: float | None = None
    stress_weight: float = 1e-2
    ridge: float | None = None
    quadratic_penalty: float | None = None
    scaling: str | None = None
    radelem: dict | str | None = None
    wj: dict | str | None = None
    rfac0: float = 0.99363
    rmin0: float = 0.0
    bzeroflag: bool = True
    switchflag: bool = True
    chem: bool | dict | list | None = False
    bnormflag: bool = False
    solver: str = "ridge"
    reference_energies: dict | None = None
    group_weights: dict | None = None
    chunk_frames: int = 2000
    progress: bool | None = None
    repulsion: str | None = "wall"
    seed: int = 0

    def __post_init__(self):
        if self.twojmax is None:
            self.twojmax = 6 if self.quadratic else 8
        self.twojmax = check_twojmax(self.twojmax)
        self.quadratic = bool(self.quadratic)
        if self.scaling is None:
            self.scaling = DEFAULT_SCALING[self.quadratic]
        if self.scaling not in ("standardise", "none"):
            raise ValueError(f"scaling must be 'standardise' or 'none', got {self.scaling!r}")
        fw, ridge = DEFAULT_WEIGHTS[self.quadratic, self.scaling]
        if self.force_weight is None:
            self.force_weight = fw
        if self.ridge is None:
            self.ridge = ridge
        if self.quadratic_penalty is None:
            self.quadratic_penalty = 1e4 if self.scaling == "standardise" else 1.0
        for name in ("rcutfac", "energy_weight", "force_weight", "stress_weight", "ridge", "quadratic_penalty",
                     "rfac0", "rmin0"):
            v = float(getattr(self, name))
            if not np.isfinite(v) or v < 0 or (name == "rcutfac" and v == 0):
                raise ValueError(f"{name} must be {'positive' if name == 'rcutfac' else 'non-negative'} and finite, "
                                 f"got {getattr(self, name)!r}")
            setattr(self, name, v)
        if self.energy_weight == 0 and self.force_weight == 0 and self.stress_weight == 0:
            raise ValueError("energy_weight, force_weight and stress_weight are all 0: nothing to fit")
        if isinstance(self.radelem, str):
            element_radii([3], self.radelem)   # validates the rule
        else:
            self.radelem = _element_dict(self.radelem, "radelem")
        if self.wj is None:
            self.wj = DEFAULT_WJ
        if isinstance(self.wj, str):
            element_weights([3], self.wj)   # validates the rule
        else:
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
        self.bnormflag = bool(self.bnormflag)
        self.chem = _chem_labels(self.chem)
        if self.chem and self.quadratic:
            raise ValueError("chem with quadratic=True is not supported: the quadratic columns grow as the square of "
                             "n_groups^3 x ncount (use the linear SNAP, or no chem)")
        self.chunk_frames = max(1, int(self.chunk_frames))
        from .repulsion import check_kind
        self.repulsion = check_kind(self.repulsion)


#: the defaults chosen by grouped cross-validation (SNAPHyper; bench/bench_select.py)
DEFAULT_WJ = "rank"                                    # see element_weights
DEFAULT_SCALING = {False: "none", True: "none"}         # by `quadratic`
DEFAULT_WEIGHTS = {                                    # (quadratic, scaling) -> (force_weight, ridge)
    (False, "none"): (1e-4, 0.1), (False, "standardise"): (1e-4, 1e-4),
    (True, "none"): (1e-4, 10.0), (True, "standardise"): (1e-4, 1e-4)}


def _chem_labels(chem):
    """SNAPHyper.chem as False, True or {symbol: group label} (a list of element groups becomes labels)."""
    if chem is None or chem is False:
        return False
    if chem is True:
        return True
    if isinstance(chem, dict):
        if not chem:
            raise ValueError("chem must not be an empty dict")
        from ..elements import species_numbers
        return {chemical_symbols[z]: str(v) for z, v in zip(species_numbers(list(chem)), chem.values())}
    if isinstance(chem, (list, tuple)):
        from ..descriptors.bispectrum import chem_groups
        from ..elements import species_numbers
        members = [[m] if isinstance(m, (str, int, np.integer)) else list(m) for m in chem]
        zs = [z for m in members for z in species_numbers(m)]
        groups, names = chem_groups(members, zs)
        return {chemical_symbols[z]: names[g] for z, g in zip(zs, groups)}
    raise ValueError(f"chem must be False, True, a dict {{element: group}} or a list of element groups, got {chem!r}")


def element_radii(species, rule) -> dict:
    """{symbol: radelem} for the elements `species` (atomic numbers) by a rule that holds for any set of elements:

    "uniform"        0.5 for every element (FitSNAP's; the pair cut-off is rcutfac for every pair).
    "covalent[:P]"   0.5 (r_e / r_mean)^P, r_e the covalent radius of element e (Cordero et al., Dalton Trans.
                     2008, 2832, as ``ase.data.covalent_radii``), r_mean the mean over `species`; P in [0, 1]
                     (default 0.5; P = 0 is "uniform"). Pairs of larger atoms get longer cut-offs, rcutfac keeps
                     its meaning of a typical cut-off (Å), and P softens the contrast (LDR: O 0.66 Å, Sc 1.70 Å:
                     with P = 1 an O-O pair would be cut at 0.49 rcutfac, below the O-O distance of a rocksalt
                     at rcutfac 5). Chosen by grouped cross-validation: see SNAPHyper.
    """
    from ase.data import covalent_radii
    if not isinstance(rule, str):
        raise ValueError(f"radelem must be a dict {{element: radius}} or a rule name, got {rule!r}")
    name, _, arg = rule.partition(":")
    if name not in ("uniform", "covalent") or (name == "uniform" and arg):
        raise ValueError(f"unknown radelem rule {rule!r}: use 'uniform', 'covalent[:P]' or a dict {{element: radius}}")
    try:
        power = float(arg) if arg else 0.5
    except ValueError:
        raise ValueError(f"radelem rule {rule!r}: {arg!r} is not a number") from None
    if not 0 <= power <= 1:
        raise ValueError(f"radelem rule {rule!r}: the power must be in [0, 1]")
    zs = sorted(int(z) for z in species)
    if name == "uniform":
        return {chemical_symbols[z]: 0.5 for z in zs}
    r = np.array([covalent_radii[z] for z in zs])
    return {chemical_symbols[z]: float(0.5 * (v / r.mean()) ** power) for z, v in zip(zs, r)}


def element_weights(species, rule) -> dict:
    """{symbol: wj} for the elements `species` (atomic numbers) by a rule that holds for any set of elements:

    "uniform"        1.0 for every element (FitSNAP's and LAMMPS's examples' default). A neighbour's element
                     then changes the bispectrum only through radelem, so the (non-chem) descriptor cannot tell
                     a Mn neighbour from a Ni one.
    "rank[:W]"       the elements sorted by atomic number get weights evenly spaced from 1.0 (lightest) down
                     to W (heaviest; default 0.2): Li, O, Sc ... Cu -> 1.0, 0.92, 0.84, ..., 0.2. Distinct,
                     evenly spread weights let the density tell the neighbours' elements apart as far as one
                     weight per element can; the order by Z follows FitSNAP's LDR settings (Li 1.0, O 0.9,
                     Sc 0.8 ... Cu 0.4). W = 0.2 beat 0.4 and 0.6 in cross-validation (bench_select.py).
    "z[:W]"          linear in the atomic number Z, 1.0 at Z = 1 and W at Z = 30 (default 0.4), clipped to
                     [0.05, 1]: the same weight for an element whatever the other elements are.
    """
    if not isinstance(rule, str):
        raise ValueError(f"wj must be a dict {{element: weight}} or a rule name, got {rule!r}")
    name, _, arg = rule.partition(":")
    if name not in ("uniform", "rank", "z") or (name == "uniform" and arg):
        raise ValueError(f"unknown wj rule {rule!r}: use 'uniform', 'rank[:W]', 'z[:W]' or a dict {{element: weight}}")
    try:
        low = float(arg) if arg else (0.2 if name == "rank" else 0.4)
    except ValueError:
        raise ValueError(f"wj rule {rule!r}: {arg!r} is not a number") from None
    if not 0 < low <= 1:
        raise ValueError(f"wj rule {rule!r}: the smallest weight must be in (0, 1]")
    zs = sorted(int(z) for z in species)
    if name == "uniform":
        w = {z: 1.0 for z in zs}
    elif name == "rank":
        n = len(zs)
        w = {z: 1.0 - (1.0 - low) * (r / (n - 1) if n > 1 else 0.0) for r, z in enumerate(zs)}
    else:
        w = {z: float(np.clip(1.0 - (1.0 - low) * (z - 1) / 29.0, 0.05, 1.0)) for z in zs}
    return {chemical_symbols[z]: v for z, v in w.items()}


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
        self.hyper = hyper_from_kwargs(SNAPHyper, hyper, "SNAP")
        self.species: list[int] = []
        self.info: dict = {}

    def _describe(self):
        h = self.hyper
        chem = "" if not h.chem else (" chem" if h.chem is True else f" chem ({len(set(h.chem.values()))} groups)")
        return (f"{'quadratic ' if h.quadratic else ''}SNAP, bispectrum 2J={h.twojmax}{chem} "
                f"({self.ncoeff} components), rcutfac {h.rcutfac:g} Å")

    @property
    def n_parameters(self):
        return int(self.coefficients.size) if hasattr(self, "coefficients") else None

    # ------------------------------------------------------------------ descriptor and parameters
    def _resolve_elements(self, species):
        h = self.hyper
        sym = [chemical_symbols[z] for z in species]
        rad = {s: 0.5 for s in sym} if h.radelem is None else (
            element_radii(species, h.radelem) if isinstance(h.radelem, str) else h.radelem)
        wj = element_weights(species, h.wj) if isinstance(h.wj, str) else h.wj
        for name, d in (("radelem", rad), ("wj", wj)):
            missing = [s for s in sym if s not in d]
            if missing:
                raise ValueError(f"{name} has no value for {missing}, which the training data hold")
        return [rad[s] for s in sym], [wj[s] for s in sym]

    def _make_descriptor(self):
        h = self.hyper
        sym = [chemical_symbols[z] for z in self.species]
        chem = h.chem
        if isinstance(chem, dict):   # the groups of the elements the model has
            missing = [s for s in sym if s not in chem]
            if missing:
                raise ValueError(f"chem has no group for {missing}, which the training data hold")
            chem = {s: chem[s] for s in sym}
        self.descriptor = Bispectrum(h.twojmax, h.rcutfac, h.rfac0, h.rmin0, radelem=dict(zip(sym, self.radelem)),
                                     wj=dict(zip(sym, self.wj)), bzeroflag=h.bzeroflag, switchflag=h.switchflag,
                                     chem=chem, bnormflag=h.bnormflag)

    @property
    def ncoeff(self) -> int:
        if getattr(self, "descriptor", None) is not None:
            return self.descriptor.size
        h = self.hyper
        if h.chem is True:
            return _core.bispectrum_ncoeff(h.twojmax, len(self.species))
        if h.chem:
            sym = [chemical_symbols[z] for z in self.species] or list(h.chem)
            return _core.bispectrum_ncoeff(h.twojmax, len({h.chem[s] for s in sym if s in h.chem}))
        return _core.bispectrum_ncoeff(h.twojmax)

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

    def _bispectrum_moments(self, data: Dataset, whole=False):
        """Per-species sums of B and B^2 and atom counts over `data` (for the standardisation), computed
        chunk_frames frames at a time (`whole`: all of `data` at once, e.g. for one chunk of the fit)."""
        ns, nc = len(self.species), self.ncoeff
        s1, s2, cnt = np.zeros((ns, nc)), np.zeros((ns, nc)), np.zeros(ns)
        step = max(len(data), 1) if whole else self.hyper.chunk_frames
        for f0 in range(0, len(data), step):
            part = data[f0:f0 + step]
            B = self.descriptor.compute(part)
            sp = self._species_index(part)
            np.add.at(s1, sp, B)
            np.add.at(s2, sp, B * B)
            cnt += np.bincount(sp, minlength=ns)
        return s1, s2, cnt

    @staticmethod
    def _mean_std(s1, s2, cnt):
        """Standardisation (mean, std) from the moments of :meth:`_bispectrum_moments`."""
        n = np.maximum(cnt, 1)[:, None]
        mean = s1 / n
        var = np.maximum(s2 / n - mean ** 2, 0.0)
        std = np.sqrt(var)
        tiny = std <= 1e-8 * (1.0 + np.abs(mean))
        std[tiny] = 1.0   # a constant component (or a species with one atom): leave it unscaled
        return mean, std

    def _standardisation(self, data: Dataset, bounds=None, k0=0, comm=None):
        """Per-species (shift, 1 / scale) of the columns: mean and standard deviation of the bispectrum over
        the training atoms for scaling="standardise", (0, 1) for scaling="none". With chunk `bounds` (local
        frame indices; the first chunk is global chunk `k0`), the per-chunk sums are added in the fixed chunk
        order over all ranks of `comm` (see ldrx.parallel): the same bits for any number of ranks."""
        if self.hyper.scaling == "none":
            shape = (len(self.species), self.ncoeff)
            return np.zeros(shape), np.ones(shape)
        if bounds is None:
            return self._mean_std(*self._bispectrum_moments(data))
        from ..parallel import SERIAL, ordered_sum
        c = comm if comm is not None else SERIAL
        nc = self.ncoeff

        def chunk_sums():
            parts = []
            for k in range(len(bounds) - 1):
                s1, s2, cnt = self._bispectrum_moments(data[int(bounds[k]):int(bounds[k + 1])], whole=True)
                parts.append(np.hstack([s1, s2, cnt[:, None]]))
            return parts
        tot = ordered_sum(c.check(chunk_sums), k0, c)
        return self._mean_std(tot[:, :nc], tot[:, nc:2 * nc], tot[:, 2 * nc])

    def _prepare(self, train: Dataset, comm=None):
        """Species, element parameters, descriptor, domain and reference energies from the training set (with
        an MPI `comm`: this rank's shard, the quantities of all shards); returns the training set less the
        repulsive baseline (the targets the linear model fits)."""
        from ..parallel import SERIAL
        c = comm if comm is not None else SERIAL
        h = self.hyper
        self.species = sorted(set().union(*c.allgather(list(train.species))))
        self.radelem, self.wj = self._resolve_elements(self.species)
        self._make_descriptor()
        self.learn_domain(train, comm=c)
        train = self.subtract_baseline(train, h.repulsion, comm=c)
        has_e = any(c.allgather(bool(np.isfinite(train.energy).any())))
        if (has_e and h.energy_weight > 0) or h.reference_energies is not None:
            self.reference_energies = fit_reference_energies(train, self.species, h.reference_energies, comm=c)
        else:
            self.reference_energies = {z: 0.0 for z in self.species}
        return train

    def _penalty(self):
        """Ridge multipliers of all columns: quadratic_penalty for the quadratic ones, 1 for the others."""
        nc = self.ncoeff
        penalty = np.ones(n_columns(nc, self.hyper.quadratic))
        penalty[1 + nc:] = self.hyper.quadratic_penalty
        return np.tile(penalty, len(self.species))

    def _accumulate(self, data: Dataset, mean, scale, energy, forces, virial, w, ata, atb, bar=None):
        """Add the weighted rows of `data` (targets `energy`, `forces`, `virial` as from :meth:`_targets`,
        weights w [3, n_frames]) to the normal equations ata, atb in place, streaming frames through C++;
        returns (b^T W b, rows). `bar`: a progress bar to advance (else one of its own)."""
        import contextlib

        from tqdm.auto import tqdm
        h = self.hyper
        btb, n_rows = 0.0, 0
        step = h.chunk_frames
        own = bar is None
        if own:
            bar = tqdm(total=len(data), desc=f"{'q' if h.quadratic else ''}SNAP normal equations", unit="frame",
                       disable=(not h.progress) if h.progress is not None else None, leave=False)
        with bar if own else contextlib.nullcontext():
            for f0 in range(0, len(data), step):
                sl = slice(f0, min(f0 + step, len(data)))
                part = data[sl]
                a0, a1 = data.offsets[sl.start], data.offsets[sl.stop]
                out = _core.snap_normal_equations(
                    self.descriptor._impl, part.batch(), mean, scale, h.quadratic, energy[sl], forces[a0:a1],
                    w[0, sl], w[1, sl], None if virial is None else virial[sl], None if virial is None else w[2, sl],
                    ata, atb)
                btb += out[0]
                n_rows += out[1]
                bar.update(sl.stop - sl.start)
        return btb, n_rows

    def _solve(self, ata, atb, overwrite=False):
        """The ridge solution of the normal equations. scaling="standardise": penalty on the column-scaled
        coefficients; "none": FitSNAP's plain ridge, ridge * sum_c p_c x_c^2 on the raw coefficients, solved
        (identically, but in far fewer lost digits) in the column-scaled variables y = x / d with the
        penalty ridge p_c d_c^2."""
        from ..train import linear
        penalty = self._penalty()
        if self.hyper.scaling == "none":
            penalty = penalty * linear.column_scaling(np.diag(ata)) ** 2
        return linear.solve_normal_equations(ata, atb, ridge=self.hyper.ridge, penalty=penalty, overwrite=overwrite)

    def fit(self, train, valid=None, comm=None):
        """Fit to a Dataset (or Atoms / list of Atoms) with energies and/or forces (and stress).

        comm: an mpi4py communicator for a data-parallel fit (see :mod:`ldrx.parallel`): `train` and `valid` are
        this rank's shards; the normal equations of chunks of `chunk_frames` frames (:meth:`_accumulate`) are
        summed over the ranks in a fixed order and solved on rank 0 (:meth:`_solve`), which broadcasts the
        coefficients: every rank gets, bit for bit, the coefficients of a serial fit on the whole set."""
        from ..parallel import as_comm, chunk_bounds, global_counts, redistribute
        t0 = time.perf_counter()
        h = self.hyper
        c = as_comm(comm)
        comm_t0 = c.comm_time
        if c.size > 1:   # a rank's shard may be empty; the global set is checked below
            train = as_dataset(train)
            valid = None if valid is None else as_dataset(valid)
        else:
            train, valid = training_data(train, valid)
        frames, _ = global_counts(train, c)
        if frames.sum() == 0:
            raise DataError("the training set is empty")
        train, k0, bounds = redistribute(train, c, chunk_bounds(frames.sum(), frames_per_chunk=h.chunk_frames))
        flags = np.array(c.allgather([np.isfinite(train.energy).any(), np.isfinite(train.forces).any(),
                                      train.stress is not None and np.isfinite(train.stress).any()])).any(axis=0)
        has_e = flags[0] and h.energy_weight > 0
        has_f = flags[1] and h.force_weight > 0
        has_s = flags[2] and h.stress_weight > 0
        if not (has_e or has_f or has_s):
            raise DataError("the training data hold no energies, forces or stresses with a non-zero weight")
        train = self._prepare(train, comm=c)
        mean, std = self._standardisation(train, bounds, k0, c)
        scale = 1.0 / std
        energy, forces, virial = self._targets(train)
        w = self._frame_weights(train)
        nc, ns = self.ncoeff, len(self.species)
        P = n_columns(nc, h.quadratic)
        from ..train import linear
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
            penalty = self._penalty()
            if h.scaling == "none":
                penalty = penalty * linear.column_scaling(np.einsum("ij,ij->j", A, A)) ** 2
            sol = linear.lstsq(A, b, ridge=h.ridge, penalty=penalty)
            n_rows, btb = len(b), float(b @ b)
            del A
        else:
            # one chunk (chunk_frames frames) at a time, each from zero (_accumulate); the chunks are the leaves
            # of the fixed-order sum over chunks and ranks (ldrx.parallel.ordered_sum), which keeps
            # O(log n_chunks) partial matrices; rank 0 solves and broadcasts
            from ..parallel import _TreeStack
            from tqdm.auto import tqdm

            def accumulate():
                stack, n_rows = _TreeStack(), 0
                with tqdm(total=len(train), desc=f"{'q' if h.quadratic else ''}SNAP normal equations", unit="frame",
                          disable=((not h.progress) if h.progress is not None else None) or not c.is_root,
                          leave=False) as bar:
                    for k in range(len(bounds) - 1):
                        sl = slice(int(bounds[k]), int(bounds[k + 1]))
                        a0, a1 = train.offsets[sl.start], train.offsets[sl.stop]
                        ata, atb = np.zeros((ns * P, ns * P)), np.zeros(ns * P)
                        btb_k, rows_k = self._accumulate(train[sl], mean, scale, energy[sl], forces[a0:a1],
                                                         None if virial is None else virial[sl], w[:, sl], ata, atb,
                                                         bar=bar)
                        stack.push(0, k0 + k, _NormalEquations(ata, atb, btb_k))
                        n_rows += rows_k
                return stack, n_rows
            stack, n_rows = c.check(accumulate)
            n_rows = sum(c.allgather(n_rows))
            ne = _reduce_stack(stack, c)
            sol = btb = None
            if c.is_root:
                btb = ne.btb
                sol = self._solve(ne.ata, ne.atb, overwrite=True)
            del ne
            sol, btb = c.bcast((sol, btb))
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
        sp = self._species_index(data)
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
        return prediction_from_atoms(data, e, F, W, forces, stress)

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
        m._make_descriptor()
        if m.coefficients.shape != (len(m.species), n_columns(m.ncoeff, m.hyper.quadratic)):
            raise ModelFileError(f"SNAP coefficients have shape {m.coefficients.shape}, expected "
                                 f"{(len(m.species), n_columns(m.ncoeff, m.hyper.quadratic))}")
        m._make_descriptor()
        return m

    # ------------------------------------------------------------------ LAMMPS files
    def to_lammps(self, prefix):
        """Write ``prefix.snapcoeff`` and ``prefix.snapparam`` for LAMMPS ``pair_style snap``:
        ``pair_coeff * * prefix.snapcoeff prefix.snapparam <elements in LAMMPS type order>``.
        They hold everything (reference energies are in beta0), so LAMMPS gives ldrx's energies and forces,
        except for the ZBL baseline (``repulsion``), which is not exported: it is zero wherever atoms are no
        closer than in the training set. Returns the two paths."""
        self._require_fitted()
        h = self.hyper
        if self.descriptor.chem is not None and len(self.descriptor.groups) != len(self.species):
            raise ValueError("LAMMPS pair_style snap's chemflag has one group per element: a model with grouped "
                             "elements (chem={element: group}) cannot be exported; use chem=True")
        prefix = str(prefix)
        sym = [chemical_symbols[z] for z in self.species]
        coeff = [f"# ldrx {'qSNAP' if h.quadratic else 'SNAP'}: pair_style snap",
                 f"# pair_coeff * * {Path(prefix).name}.snapcoeff {Path(prefix).name}.snapparam {' '.join(sym)}",
                 f"{len(sym)} {self.coefficients.shape[1]}"]
        coefficients = self._symmetric_chem_coefficients() if self.descriptor.chem is not None else self.coefficients
        for s, el in enumerate(sym):
            coeff.append(f"{el} {self.radelem[s]!r} {self.wj[s]!r}")
            coeff.extend(repr(float(c)) for c in coefficients[s])
        param = ["# ldrx SNAP parameters", f"rcutfac {h.rcutfac!r}", f"twojmax {h.twojmax}", f"rfac0 {h.rfac0!r}",
                 f"rmin0 {h.rmin0!r}", f"switchflag {int(h.switchflag)}", f"bzeroflag {int(h.bzeroflag)}",
                 f"quadraticflag {int(h.quadratic)}", f"chemflag {int(bool(h.chem))}", f"bnormflag {int(h.bnormflag)}",
                 "wselfallflag 0", "switchinnerflag 0"]
        paths = (prefix + ".snapcoeff", prefix + ".snapparam")
        for path, lines in zip(paths, (coeff, param)):
            atomic_write(path, lambda f, text="\n".join(lines) + "\n": f.write(text.encode()))
        return paths

    def _symmetric_chem_coefficients(self):
        """The coefficients with those of identical chem components averaged: B^{abc}_{j1 j2 j} = B^{cba} when
        j1 = j, = B^{bac} when j1 = j2 (= B^{acb} when j2 = j). The energy is the same; LAMMPS pair_style snap
        (chemflag 1) folds beta^{abc} and beta^{cba} into 2 beta^{abc} in its adjoint, which is the gradient
        only for coefficients symmetric under these swaps."""
        n = len(self.descriptor.groups)
        trip = self.descriptor.triples
        nb = len(trip)
        out = self.coefficients.copy()
        lin = out[:, 1:1 + n ** 3 * nb].reshape(len(self.species), n, n, n, nb)
        sym = lin.copy()
        for k, (j1, j2, j) in enumerate(trip):
            swaps = [p for p, ok in (((2, 1, 0), j1 == j), ((1, 0, 2), j1 == j2), ((0, 2, 1), j2 == j)) if ok]
            perms = {(0, 1, 2)}
            while True:   # the group the swaps generate
                new = {tuple(q[i] for i in p) for q in perms for p in swaps} | perms
                if new == perms:
                    break
                perms = new
            sym[..., k] = sum(lin[..., k].transpose([0] + [1 + i for i in p]) for p in perms) / len(perms)
        out[:, 1:1 + n ** 3 * nb] = sym.reshape(len(self.species), -1)
        return out

    @classmethod
    def from_lammps(cls, prefix, snapparam=None):
        """A fitted model from LAMMPS ``prefix.snapcoeff`` and ``prefix.snapparam`` (or the two paths:
        ``from_lammps(coeff_path, param_path)``). wselfallflag and switchinnerflag must be 0; with chemflag 1
        the elements of the file are the chem groups (chem=True)."""
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
        for key in ("wselfallflag", "switchinnerflag"):
            if int(params.get(key, 0)):
                raise ModelFileError(f"{param_path}: {key} 1 is not supported by ldrx")
        try:
            hyper = dict(twojmax=int(params["twojmax"]), rcutfac=float(params["rcutfac"]),
                         rfac0=float(params.get("rfac0", 0.99363)), rmin0=float(params.get("rmin0", 0.0)),
                         switchflag=bool(int(params.get("switchflag", 1))),
                         bzeroflag=bool(int(params.get("bzeroflag", 1))),
                         quadratic=bool(int(params.get("quadraticflag", 0))),
                         chem=bool(int(params.get("chemflag", 0))), bnormflag=bool(int(params.get("bnormflag", 0))))
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
        with model_file_errors(f"{coeff_path}, {param_path}", "LAMMPS SNAP file"):
            m = cls(radelem=dict(zip(sym, rad)), wj=dict(zip(sym, wj)), **hyper)
        m.species = sorted(species)
        expected = n_columns(m.ncoeff, m.hyper.quadratic)
        if ncoeff_all != expected:
            raise ModelFileError(f"{coeff_path}: {ncoeff_all} coefficients per element, but twojmax "
                                 f"{m.hyper.twojmax} {'with' if m.hyper.quadratic else 'without'} quadratic terms "
                                 f"needs {expected}")
        order = np.argsort(species)
        m.species = [species[i] for i in order]
        m.radelem, m.wj = [rad[i] for i in order], [wj[i] for i in order]
        m.coefficients = np.array(coef)[order]
        if m.hyper.chem and list(order) != sorted(order):   # chem columns follow the file's element order
            n, nb = len(species), _core.bispectrum_ncoeff(m.hyper.twojmax)
            lin = m.coefficients[:, 1:1 + n ** 3 * nb].reshape(n, n, n, n, nb)
            m.coefficients[:, 1:1 + n ** 3 * nb] = lin[:, order][:, :, order][:, :, :, order].reshape(n, -1)
        m.reference_energies = {z: 0.0 for z in m.species}
        m.info = {"source": str(coeff_path)}
        with model_file_errors(f"{coeff_path}, {param_path}", "LAMMPS SNAP file"):
            m._make_descriptor()
        m._fitted = True
        return m
