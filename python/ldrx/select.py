"""Model selection for every family: grouped K-fold cross-validation, grid and random search.

    import ldrx, ldrx.select as sel
    data = ldrx.read(ldrx.io.example_data_path(), on_error="skip")
    cv = sel.cross_validate(data, model="snap", groups="composition", rcutfac=5.0)
    print(cv["mean"]["energy_rmse_meV_per_atom"], cv["std"]["energy_rmse_meV_per_atom"])
    res = sel.search(data, model="snap", grid={"rcutfac": [4.2, 5.0], "ridge": [1e-6, 1e-4, 1e-2]},
                     folds=5, groups="composition", score="paper", seed=0)
    print(res.markdown()); res.best_model.save("best.ldrx")

Folds. Frames are dealt into K folds by group: every frame its own group by default, or a label per
frame (``groups="composition"``: the reduced formula, ``"elements"``: the set of elements, ``"tm"``: the
transition metals present, lithiated and delithiated cells together, a key of the frames' ``info``, or a
list of labels), so that a fold leaves out whole groups. Groups are shuffled with the seed, then each is
given to the fold that holds the fewest frames so far (fold sizes differ by at most one group's size): the
same seed gives the same folds.

Scores (lower is better), from the mean over the folds of the held-out RMSEs:
``"energy"`` (meV/atom), ``"force"`` (eV/Å), ``"paper"`` = E / 50 meV/atom + F / 0.5 eV/Å (energies and
forces weighed equally, relative to the LDR benchmark's SNAP errors, Choyal et al., JCTC 2024, and
FitSNAP's on that data), or a dict ``{"energy": w_E, "force": w_F}`` giving w_E E + w_F F.

Re-use. Any family is cross-validated by refitting it on each fold. SNAP and qSNAP take a faster, exact
route: the settings that share a descriptor (twojmax, rcutfac, radelem, wj, quadratic, ...) share one pass
over the data, which accumulates per fold the normal equations of the energy rows and of the force rows
(unit weights, in a basis standardised over all frames) and the bispectrum moments. For every weight,
ridge, scaling and quadratic penalty, each fold's training system is then a weighted sum of the other
folds' blocks, moved exactly to the fold's own standardisation by a sparse change of basis and to its own
reference energies by a shift of the right-hand side; the held-out errors come from the held-out folds'
rows (computed once per fold) times all the settings' coefficients at once. The scores equal those of
refitting (tests/test_select.py checks it).
"""

from __future__ import annotations

import csv
import itertools
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .data import Dataset
from .models.base import as_dataset

__all__ = ["group_labels", "kfold", "cross_validate", "search", "SearchResult", "score_value", "METRICS"]

METRICS = ("energy_rmse_meV_per_atom", "energy_mae_meV_per_atom", "forces_rmse_eV_per_A", "forces_mae_eV_per_A")
#: "paper" score: E / PAPER_ENERGY + F / PAPER_FORCE
PAPER_ENERGY, PAPER_FORCE = 50.0, 0.5
_LIGHT = {"Li", "O"}


# ---------------------------------------------------------------------------------------------- folds
def group_labels(data: Dataset, by="composition") -> list[str]:
    """One label per frame: "composition" (reduced formula, elements by atomic number, e.g. "LiMn4Ni3O16"
    -> gcd-reduced counts), "elements" (e.g. "Li-Mn-Ni-O"), "tm" (the elements other than Li and O,
    e.g. "Mn-Ni": a LiTMO2 cell and its delithiated TMO2 fall in one group), "frame" (each frame its own),
    or the name of a key that every frame's info holds."""
    data = as_dataset(data)
    if by == "frame":
        return [str(f) for f in range(len(data))]
    if by in ("composition", "elements", "tm"):
        comp = data.composition().astype(np.int64)
        sym = data.symbols
        out = []
        for row in comp:
            present = [(s, int(n)) for s, n in zip(sym, row) if n > 0]
            if by == "composition":
                g = math.gcd(*[n for _, n in present]) if present else 1
                out.append("".join(f"{s}{n // g if n // g > 1 else ''}" for s, n in present))
            elif by == "elements":
                out.append("-".join(s for s, _ in present))
            else:
                out.append("-".join(s for s, _ in present if s not in _LIGHT) or "-".join(s for s, _ in present))
        return out
    if isinstance(by, str):
        missing = [f for f, info in enumerate(data.info) if by not in info]
        if missing:
            raise ValueError(f"unknown grouping {by!r}: not one of 'frame', 'composition', 'elements', 'tm', "
                             f"and {len(missing)} frame(s) (first: {data.ids[missing[0]]}) have no info[{by!r}]")
        return [str(info[by]) for info in data.info]
    raise ValueError(f"groups must be a rule name, an info key or one label per frame, got {by!r}")


def kfold(data, folds: int = 5, groups=None, seed: int = 0) -> list[np.ndarray]:
    """Held-out frame indices (sorted) of each of `folds` folds. `data` is a Dataset or a frame count;
    `groups`: None (each frame its own group), a rule or info key (see :func:`group_labels`) or one label
    per frame. No group is ever split between folds; the same seed gives the same folds."""
    n = len(data) if not isinstance(data, (int, np.integer)) else int(data)
    folds = int(folds)
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    if groups is None:
        labels = np.arange(n)
    elif isinstance(groups, str):
        if isinstance(data, (int, np.integer)):
            raise ValueError("grouping by a rule needs the Dataset, not a frame count")
        labels = np.asarray(group_labels(data, groups))
    else:
        labels = np.asarray(list(groups))
        if len(labels) != n:
            raise ValueError(f"groups holds {len(labels)} labels for {n} frames")
    uniq, inverse = np.unique(labels, return_inverse=True)
    if len(uniq) < folds:
        raise ValueError(f"{len(uniq)} group(s) cannot fill {folds} folds: use fewer folds or finer groups")
    sizes = np.bincount(inverse)
    order = np.random.default_rng(seed).permutation(len(uniq))
    fold_of_group = np.empty(len(uniq), dtype=np.int64)
    load = np.zeros(folds, dtype=np.int64)
    for g in order:
        k = int(np.argmin(load))
        fold_of_group[g] = k
        load[k] += sizes[g]
    fold_of_frame = fold_of_group[inverse]
    return [np.flatnonzero(fold_of_frame == k) for k in range(folds)]


def _check_folds(data: Dataset, test_folds):
    """Every fold's training frames must hold every element of its held-out frames."""
    from ase.data import chemical_symbols
    n = len(data)
    per_frame = [set(data.numbers[data.offsets[f]:data.offsets[f + 1]].tolist()) for f in range(n)]
    for k, idx in enumerate(test_folds):
        mask = np.ones(n, bool)
        mask[idx] = False
        have = set().union(*[per_frame[f] for f in np.flatnonzero(mask)]) if mask.any() else set()
        need = set().union(*[per_frame[f] for f in idx]) if len(idx) else set()
        if need - have:
            raise ValueError(f"fold {k}: its held-out frames hold {[chemical_symbols[z] for z in sorted(need - have)]},"
                             " which none of its training frames do; use fewer folds or other groups")


# ---------------------------------------------------------------------------------------------- scores
def score_value(summary_mean: dict, score) -> float:
    """The score (lower is better) of mean fold metrics."""
    e, f = summary_mean["energy_rmse_meV_per_atom"], summary_mean["forces_rmse_eV_per_A"]
    if score == "energy":
        return float(e)
    if score in ("force", "forces"):
        return float(f)
    if score == "paper":
        return float(e / PAPER_ENERGY + f / PAPER_FORCE)
    if isinstance(score, dict):
        bad = set(score) - {"energy", "force"}
        if bad or not score:
            raise ValueError(f"score dict takes the keys 'energy' and 'force', got {sorted(score)}")
        return float(score.get("energy", 0.0) * e + score.get("force", 0.0) * f)
    raise ValueError(f"score must be 'energy', 'force', 'paper' or {{'energy': w_E, 'force': w_F}}, got {score!r}")


def _summary(per_fold: list[dict]) -> tuple[dict, dict]:
    mean, std = {}, {}
    for key in METRICS:
        v = np.array([m[key] for m in per_fold], dtype=float)
        mean[key] = float(np.mean(v))
        std[key] = float(np.std(v, ddof=1)) if len(v) > 1 else 0.0
    return mean, std


# ---------------------------------------------------------------------------------------------- settings
def _settings(grid, n_iter, seed) -> list[dict]:
    if isinstance(grid, (list, tuple)):     # several grids: the union of their settings
        if n_iter is not None:
            raise ValueError("random search (n_iter) takes one grid of distributions, not a list of grids")
        return [s for g in grid for s in _settings(g, None, seed)]
    grid = dict(grid or {})
    for k, v in grid.items():
        if not isinstance(k, str):
            raise ValueError(f"hyper-parameter names must be strings, got {k!r}")
    if n_iter is None:
        keys = list(grid)
        values = []
        for k in keys:
            v = grid[k]
            if isinstance(v, (str, bytes, dict)) or not hasattr(v, "__iter__"):
                v = [v]
            v = list(v)
            if not v:
                raise ValueError(f"grid[{k!r}] is empty")
            values.append(v)
        return [dict(zip(keys, combo)) for combo in itertools.product(*values)] if keys else [{}]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(int(n_iter)):
        s = {}
        for k, v in grid.items():
            if hasattr(v, "rvs"):
                x = v.rvs(random_state=rng)
                s[k] = x.item() if isinstance(x, np.generic) else x
            elif callable(v):
                s[k] = v(rng)
            elif isinstance(v, (str, bytes, dict)) or not hasattr(v, "__iter__"):
                s[k] = v
            else:
                v = list(v)
                s[k] = v[int(rng.integers(len(v)))]
        out.append(s)
    return out


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


# ---------------------------------------------------------------------------------------------- results
@dataclass
class SearchResult:
    """Outcome of :func:`search`. `results`: one dict per setting, in the order evaluated (its
    hyper-parameters, "score", "rank", and the mean and spread "<metric>" / "<metric>_std" of each metric
    over the folds); `per_fold`: the folds' metrics of each setting; `best_params`, `best_model` (refitted
    on all data, or None with refit=False)."""
    model: str
    score: Any
    params: list
    results: list
    per_fold: list
    folds: list
    best_index: int
    best_params: dict
    best_model: Any = None
    seconds: float = 0.0
    info: dict = field(default_factory=dict)

    def markdown(self, top: int | None = None) -> str:
        keys = []
        for p in self.params:
            keys += [k for k in p if k not in keys]
        rows = sorted(self.results, key=lambda r: r["rank"])[:top]
        head = (["rank"] + keys + ["score", "E RMSE (meV/atom)", "E MAE (meV/atom)", "F RMSE (eV/Å)", "F MAE (eV/Å)"])
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in rows:
            cells = [str(r["rank"])] + [_fmt(r.get(k, "")) for k in keys] + [f"{r['score']:.4g}"]
            for m, fmt in zip(METRICS, (".1f", ".1f", ".3f", ".3f")):
                cells.append(f"{r[m]:{fmt}} ± {r[m + '_std']:{fmt}}")
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def to_csv(self, path):
        keys = []
        for r in self.results:
            keys += [k for k in r if k not in keys]
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            for r in self.results:
                w.writerow({k: _fmt(v) if isinstance(v, (dict, list)) else v for k, v in r.items()})


def _fmt(v):
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items()) + "}"
    return str(v)


# ---------------------------------------------------------------------------------------------- search
def search(data, model: str = "snap", grid: dict | None = None, n_iter: int | None = None, folds: int = 5,
           groups=None, score="paper", seed: int = 0, refit: bool = True, progress: bool | None = None,
           reuse: bool = True, **fixed) -> SearchResult:
    """Cross-validate every setting of `grid` (all combinations, or of each grid of a list of grids; or
    `n_iter` random draws, each value a
    list to pick from, a scipy.stats distribution or a callable(rng)) of the family `model` (any name of
    ldrx.models' registry), with `fixed` hyper-parameters for all, on `folds` folds grouped by `groups`
    (see :func:`kfold`); choose the lowest `score` and refit it on all of `data` (refit=True).
    SNAP / qSNAP re-use the descriptor work across settings (reuse=False: refit every fold naively)."""
    from tqdm.auto import tqdm
    from .models import _family_class, make_model
    t0 = time.perf_counter()
    data = as_dataset(data)
    score_value({"energy_rmse_meV_per_atom": 0.0, "forces_rmse_eV_per_A": 0.0}, score)  # validate early
    params = _settings(grid, n_iter, seed)
    for p in params:                      # unknown names and bad values: fail before any work
        make_model(model, **{**fixed, **p})
    test_folds = kfold(data, folds, groups, seed)
    _check_folds(data, test_folds)
    cls, family_fixed = _family_class(model)
    per_fold: list = [None] * len(params)
    secs = [0.0] * len(params)
    total = len(params) * len(test_folds)
    with tqdm(total=total, desc=f"cv {model}", unit="fit", disable=(not progress) if progress is not None else None,
              leave=False) as bar:
        from .models.snap import SNAP
        if reuse and cls is SNAP and _snap_reusable(data, [{**family_fixed, **fixed, **p} for p in params]):
            _snap_search(data, [{**family_fixed, **fixed, **p} for p in params], test_folds, per_fold, secs, bar)
        else:
            from .evaluate import metrics
            for i, p in enumerate(params):
                out = []
                for idx in test_folds:
                    t = time.perf_counter()
                    train = data[np.setdiff1d(np.arange(len(data)), idx)]
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        m = make_model(model, **_quiet(model, {**fixed, **p})).fit(train)
                        out.append(metrics(m, data[idx]))
                    secs[i] += time.perf_counter() - t
                    bar.update(1)
                per_fold[i] = out
    results = []
    for i, p in enumerate(params):
        mean, std = _summary(per_fold[i])
        r = {k: _plain(v) for k, v in p.items()}
        r["score"] = score_value(mean, score)
        for key in METRICS:
            r[key], r[key + "_std"] = mean[key], std[key]
        r["seconds"] = secs[i]
        results.append(r)
    order = sorted(range(len(results)), key=lambda i: (not np.isfinite(results[i]["score"]), results[i]["score"]))
    for rank, i in enumerate(order, 1):
        results[i]["rank"] = rank
    best = order[0]
    res = SearchResult(model, score, params, results, per_fold, test_folds, best, dict(params[best]),
                       info={"cv_seconds": time.perf_counter() - t0, "fixed": dict(fixed),
                             "groups": groups if isinstance(groups, str) or groups is None else "custom"})
    if refit:
        t = time.perf_counter()
        res.best_model = make_model(model, **{**fixed, **params[best]}).fit(data)
        res.info["refit_seconds"] = time.perf_counter() - t
    res.seconds = time.perf_counter() - t0
    return res


def cross_validate(data, model: str = "snap", folds: int = 5, groups=None, seed: int = 0,
                   progress: bool | None = None, **hyper) -> dict:
    """K-fold cross-validation of one setting: {"folds": [metrics per fold], "mean": {...}, "std": {...},
    "test_folds": [indices]} (metrics as ldrx.evaluate.metrics: RMSE and MAE of energies in meV/atom and
    of forces in eV/Å; std: the spread over the folds)."""
    res = search(data, model, grid=None, folds=folds, groups=groups, seed=seed, refit=False, progress=progress,
                 **hyper)
    mean, std = _summary(res.per_fold[0])
    return {"folds": res.per_fold[0], "mean": mean, "std": std, "test_folds": res.folds}


def _quiet(model, hyper):
    """Switch off the per-fit progress bars of families that have them."""
    from .models import make_model
    if "progress" in hyper:
        return hyper
    try:
        make_model(model, **hyper, progress=False)
    except TypeError:
        return hyper
    return {**hyper, "progress": False}


# ---------------------------------------------------------------------------------------------- SNAP re-use
#: SNAP hyper-parameters that change only the solve, not the descriptor blocks
_SNAP_SOLVE = ("energy_weight", "force_weight", "ridge", "quadratic_penalty", "scaling", "progress", "chunk_frames",
               "seed", "reference_energies", "stress_weight")


def _snap_reusable(data: Dataset, hypers) -> bool:
    from .models.snap import SNAPHyper
    if data.stress is not None and np.isfinite(data.stress).any():
        return False
    for h in hypers:
        hy = SNAPHyper(**h)
        if hy.solver != "ridge" or hy.group_weights or hy.repulsion == "zbl":
            return False
    return True


def _basis_change(nc: int, quadratic: bool, a, c):
    """Sparse T [n, n] with columns' = T columns when the standardised bispectrum changes as
    Bt' = a Bt + c (a, c [n_species, nc]), for the column layout of cpp/models/snap.hpp."""
    import scipy.sparse
    from .models.snap import n_columns
    ns = a.shape[0]
    P = n_columns(nc, quadratic)
    rows, cols, vals = [], [], []
    for s in range(ns):
        o = s * P
        rows.append(o); cols.append(o); vals.append(1.0)
        for k in range(nc):
            rows += [o + 1 + k, o + 1 + k]; cols += [o + 1 + k, o]; vals += [a[s, k], c[s, k]]
        if quadratic:
            q = o + 1 + nc
            for k in range(nc):
                for l in range(k, nc):
                    if l == k:
                        rows += [q, q, q]; cols += [q, o + 1 + k, o]
                        vals += [a[s, k] ** 2, a[s, k] * c[s, k], 0.5 * c[s, k] ** 2]
                    else:
                        rows += [q, q, q, q]; cols += [q, o + 1 + k, o + 1 + l, o]
                        vals += [a[s, k] * a[s, l], a[s, k] * c[s, l], c[s, k] * a[s, l], c[s, k] * c[s, l]]
                    q += 1
    n = ns * P
    return scipy.sparse.csr_matrix((vals, (rows, cols)), shape=(n, n))


def _fold_wall(data, species, train_frames, part, cache):
    """Energies [n] and forces of the default pair wall of a model fitted on data[train_frames], on `part`."""
    from .models.base import DOMAIN_CUTOFF
    from .models.repulsion import PairWall
    from . import _core
    if "d" not in cache:
        cache["d"] = _core.pair_min_distances(data.batch(), DOMAIN_CUTOFF, [int(z) for z in species])
    d = cache["d"][train_frames]
    wall = PairWall.from_min_distance(species, d.min(axis=0) if len(d) else np.full(d.shape[1:], np.inf),
                                      DOMAIN_CUTOFF)
    e, F, _ = wall(part, forces=True, virial=False)
    return e, F


def _snap_search(data: Dataset, hypers, test_folds, per_fold, secs, bar):
    from .models.snap import SNAP, SNAPHyper, n_columns
    from .models.base import fit_reference_energies
    from . import _core
    groups: dict = {}
    for i, h in enumerate(hypers):
        hy = SNAPHyper(**h)
        key = tuple((k, repr(v)) for k, v in sorted(vars(hy).items()) if k not in _SNAP_SOLVE)
        groups.setdefault(key, []).append(i)
    n = len(data)
    K = len(test_folds)
    fold_of_frame = np.empty(n, dtype=np.int64)
    for k, idx in enumerate(test_folds):
        fold_of_frame[idx] = k
    train_idx = [np.flatnonzero(fold_of_frame != k) for k in range(K)]
    energy0 = data.energy / data.natoms
    pair_min = {}                                      # per-frame shortest pair distances, computed once
    comp = data.composition()                          # [N, n_species] in data.species order
    for members in groups.values():
        t_group = time.perf_counter()
        m0 = SNAP(**{**hypers[members[0]], "progress": False})
        m0.species = list(data.species)
        m0.radelem, m0.wj = m0._resolve_elements(m0.species)
        m0._make_descriptor()
        nc, ns = m0.ncoeff, len(m0.species)
        quadratic = m0.hyper.quadratic
        P = n_columns(nc, quadratic)
        N = ns * P
        # bispectrum moments per fold, and the basis of the blocks: standardised over all frames
        mom = [[np.zeros((ns, nc)), np.zeros((ns, nc)), np.zeros(ns)] for _ in range(K)]
        for k in range(K):
            s1, s2, cnt = m0._bispectrum_moments(data[test_folds[k]])
            mom[k][0] += s1; mom[k][1] += s2; mom[k][2] += cnt
        tot = [sum(m[j] for m in mom) for j in range(3)]
        mean0, std0 = SNAP._mean_std(*tot)
        # per fold: energy-block and force-block normal equations, unit weights, reference energies 0
        blocks = []
        for k in range(K):
            part = data[test_folds[k]]
            nf = len(part)
            eq = {}
            for key, w in (("E", np.array([np.ones(nf), np.zeros(nf), np.zeros(nf)])),
                           ("F", np.array([np.zeros(nf), np.ones(nf), np.zeros(nf)]))):
                ata, atb = np.zeros((N, N)), np.zeros(N)
                btb, rows = m0._accumulate(part, mean0, 1.0 / std0, energy0[test_folds[k]], part.forces, None, w,
                                           ata, atb)
                eq[key] = (ata, atb)
            blocks.append(eq)
        const = np.arange(ns) * P                       # the constant column of each species
        setup = time.perf_counter() - t_group
        # solve every setting on every fold; coefficients in basis 0, and the fold's reference energies
        X = np.zeros((K, len(members), N))
        refs = np.zeros((K, len(members), ns))
        for k in range(K):
            tr = train_idx[k]
            others = [j for j in range(K) if j != k]
            sums = {key: (sum(blocks[j][key][0] for j in others), sum(blocks[j][key][1] for j in others))
                    for key in "EF"}
            mom_k = [sum(mom[j][i] for j in others) for i in range(3)]
            train_k = None
            moved = {}     # scaling -> (T, T ataE T^T, T ataF T^T, T atbF): shared by the settings of this fold
            for col, i in enumerate(members):
                t = time.perf_counter()
                m = SNAP(**{**hypers[i], "progress": False})
                m.species = m0.species
                h = m.hyper
                if train_k is None:
                    train_k = data[tr]
                energy_used = np.isfinite(data.energy[tr]).any() and h.energy_weight > 0
                if energy_used or h.reference_energies is not None:
                    r = fit_reference_energies(train_k, m0.species, h.reference_energies)
                    ref = np.array([r[z] for z in m0.species])
                else:
                    ref = np.zeros(ns)
                if h.scaling not in moved:
                    if h.scaling == "standardise":
                        mean_k, std_k = SNAP._mean_std(*mom_k)
                    else:
                        mean_k, std_k = np.zeros((ns, nc)), np.ones((ns, nc))
                    T = _basis_change(nc, quadratic, std0 / std_k, (mean0 - mean_k) / std_k)
                    mats = []
                    for key in "EF":
                        TM = np.asarray(T @ sums[key][0])
                        TM = np.asarray(T @ TM.T)
                        mats.append(0.5 * (TM + TM.T))
                        del TM
                    moved[h.scaling] = (T, mats[0], mats[1], T @ sums["F"][1])
                T, ME, MF, gF = moved[h.scaling]
                ataE, atbE = sums["E"]
                gE = T @ (atbE - ataE[:, const] @ ref)
                Mk = h.energy_weight * ME
                Mk += h.force_weight * MF
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    sol = m._solve(Mk, h.energy_weight * gE + h.force_weight * gF, overwrite=True)
                del Mk
                X[k, col] = T.T @ sol.x
                refs[k, col] = ref
                secs[i] += time.perf_counter() - t
                bar.update(1)
        # held-out errors of all settings from the held-out folds' rows
        for k in range(K):
            t = time.perf_counter()
            idx = test_folds[k]
            part = data[idx]
            e0_part = energy0[idx]
            if m0.hyper.repulsion == "wall":   # the fold's model adds its pair wall (from its training frames)
                ew, Fw = _fold_wall(data, m0.species, train_idx[k], part, pair_min)
                if ew.any() or Fw.any():       # full-model errors: labels minus the wall, as Model.without_baseline
                    part = part.subset(np.arange(len(part)))
                    part.energy, part.forces = part.energy - ew, part.forces - Fw
                    e0_part = part.energy / part.natoms
            sse = {"E": np.zeros(len(members)), "F": np.zeros(len(members))}
            sae = {"E": np.zeros(len(members)), "F": np.zeros(len(members))}
            cnt = {"E": 0, "F": 0}
            per = max(1, int(2 ** 28 // (8 * N * max(1, 3 * int(part.natoms.max()) + 1))))
            for f0 in range(0, len(part), per):
                sub = part[f0:f0 + per]
                fr = idx[f0:f0 + per]
                nf = len(sub)
                A, b = _core.snap_design_matrix(m0.descriptor._impl, sub.batch(), mean0, 1.0 / std0, quadratic,
                                                e0_part[f0:f0 + per], sub.forces, np.ones(nf), np.ones(nf), None, None)
                kinds = []
                for f in range(nf):
                    if np.isfinite(sub.energy[f]):
                        kinds.append(np.array([True]))
                    fo = sub.forces[sub.offsets[f]:sub.offsets[f + 1]]
                    kinds.append(np.zeros(int(np.isfinite(fo).sum()), bool))
                is_e = np.concatenate(kinds)
                R = A @ X[k].T - b[:, None]                  # [rows, settings]
                e_rows = np.flatnonzero(is_e)
                okf = np.isfinite(sub.energy)
                R[e_rows] += (comp[fr][okf] / sub.natoms[okf, None]) @ refs[k].T
                for key, mask in (("E", is_e), ("F", ~is_e)):
                    r = R[mask] * (1000.0 if key == "E" else 1.0)
                    sse[key] += np.einsum("ij,ij->j", r, r)
                    sae[key] += np.abs(r).sum(axis=0)
                    cnt[key] += int(mask.sum())
            dt = (time.perf_counter() - t + setup / K) / len(members)
            for col, i in enumerate(members):
                nan = float("nan")
                if per_fold[i] is None:
                    per_fold[i] = [None] * K
                per_fold[i][k] = {
                    "energy_rmse_meV_per_atom": float(np.sqrt(sse["E"][col] / cnt["E"])) if cnt["E"] else nan,
                    "energy_mae_meV_per_atom": float(sae["E"][col] / cnt["E"]) if cnt["E"] else nan,
                    "forces_rmse_eV_per_A": float(np.sqrt(sse["F"][col] / cnt["F"])) if cnt["F"] else nan,
                    "forces_mae_eV_per_A": float(sae["F"][col] / cnt["F"]) if cnt["F"] else nan,
                    "n_frames": int(cnt["E"]), "n_force_components": int(cnt["F"])}
                secs[i] += dt
