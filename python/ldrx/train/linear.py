"""Weighted linear least squares for the families that are linear in their parameters (SNAP, qSNAP, and
the linear re-solves of others).

Problem: minimise  sum_rows w_r (a_r . x - b_r)^2 + ridge * sum_c p_c (x_c / d_c)^2,
where the weights w multiply squared residuals (sklearn's ``sample_weight`` convention; FitSNAP's
weights are their square roots) and d_c = 1 / sqrt((A^T W A)_cc) is the Jacobi column scaling: in the
scaled variables y = x / d every column has unit norm, so one `ridge` means the same for columns whose
natural sizes differ by orders of magnitude (B_000 vs the quadratic products of qSNAP). p_c (default 1)
lets a caller penalise some columns less.

Two routes:
- :func:`solve_normal_equations` takes A^T W A and A^T W b, which the C++ side accumulates while
  streaming frames (memory n_columns^2 whatever the data size), and solves by Cholesky; if the
  scaled, regularised matrix is not positive definite it falls back to an eigen-decomposition with
  small eigenvalues cut off (a pseudo-inverse).
- :func:`lstsq` takes the weighted rows themselves (small problems) and solves by SVD, which loses
  only half as many digits as the normal equations.
Both report the condition number of the matrix actually solved and warn (IllConditionedWarning) above
`warn_condition`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg

__all__ = ["IllConditionedWarning", "LinearSolution", "column_scaling", "solve_normal_equations", "lstsq"]

#: condition number above which a fit warns: beyond it a double-precision solve keeps fewer than about
#: four significant digits of the coefficients.
WARN_CONDITION = 1e12


class IllConditionedWarning(UserWarning):
    """The least-squares system is close to singular: coefficients are poorly determined."""


@dataclass
class LinearSolution:
    x: np.ndarray        # coefficients in the original (unscaled) variables
    condition: float     # condition number of the scaled, regularised normal matrix that was solved
    method: str          # "cholesky", "eigh" or "svd"
    rank: int            # numerical rank used
    scale: np.ndarray    # the column scaling d


def column_scaling(diag) -> np.ndarray:
    """d_c = 1 / sqrt(diag_c) for positive entries, 1 for empty columns (which then stay at 0)."""
    diag = np.asarray(diag, dtype=float)
    d = np.ones_like(diag)
    ok = diag > 0
    d[ok] = 1.0 / np.sqrt(diag[ok])
    return d


def _penalty(n, penalty):
    if penalty is None:
        return np.ones(n)
    p = np.asarray(penalty, dtype=float)
    if p.shape != (n,) or np.any(p < 0) or not np.all(np.isfinite(p)):
        raise ValueError(f"penalty must hold {n} non-negative finite values")
    return p


def _warn(condition, warn_condition, what):
    if warn_condition is not None and not condition < warn_condition:
        warnings.warn(f"ill-conditioned least-squares fit: condition number {condition:.3g} of {what} "
                      f"(above {warn_condition:.0e}); coefficients are poorly determined - increase the ridge "
                      f"parameter, reduce the number of columns or add data", IllConditionedWarning, stacklevel=3)


def solve_normal_equations(ata, atb, ridge=0.0, penalty=None, scale=True, overwrite=False,
                           warn_condition=WARN_CONDITION) -> LinearSolution:
    """Solve (D A^T W A D + ridge diag(p)) y = D A^T W b, x = D y (D the Jacobi scaling, or I with
    scale=False). `ata` must be symmetric; with overwrite=True it is used as workspace (saves a copy of
    an n x n matrix: 240 MB for qSNAP with 11 elements)."""
    ata = np.asarray(ata, dtype=float)
    n = ata.shape[0]
    if ata.shape != (n, n) or np.shape(atb) != (n,):
        raise ValueError("ata must be [n, n] and atb [n]")
    if not np.all(np.isfinite(np.diag(ata))) or not np.all(np.isfinite(atb)):
        raise ValueError("the normal equations hold non-finite values")
    ridge = float(ridge)
    if not ridge >= 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    p = _penalty(n, penalty)
    d = column_scaling(np.diag(ata)) if scale else np.ones(n)
    M = ata if overwrite else ata.copy()
    M *= d[:, None]
    M *= d[None, :]
    M[np.diag_indices(n)] += ridge * p
    rhs = d * np.asarray(atb, dtype=float)
    anorm = np.abs(M).sum(axis=0).max()
    try:
        c, lower = scipy.linalg.cho_factor(M, lower=False, overwrite_a=True, check_finite=False)
        rcond, info = scipy.linalg.lapack.dpocon(c, anorm, uplo="U")
        condition = 1.0 / rcond if info == 0 and rcond > 0 else np.inf
        if not condition < 1.0 / np.finfo(float).eps:
            raise np.linalg.LinAlgError("numerically singular")
        y = scipy.linalg.cho_solve((c, lower), rhs, check_finite=False)
        method, rank = "cholesky", n
    except np.linalg.LinAlgError:
        # not positive definite to working precision: pseudo-inverse on the well-determined eigenspace
        M = ata * d[:, None] * d[None, :]
        M[np.diag_indices(n)] += ridge * p
        w, V = scipy.linalg.eigh(M, overwrite_a=True, check_finite=False)
        keep = w > n * np.finfo(float).eps * max(w.max(), 0.0)
        rank = int(keep.sum())
        y = V[:, keep] @ ((V[:, keep].T @ rhs) / w[keep])
        condition = float(w.max() / w.min()) if w.min() > 0 else np.inf
        _warn(condition, warn_condition, f"the scaled normal matrix (ridge {ridge:g}; solved on its "
                                         f"{rank} of {n} best-determined directions)")
        return LinearSolution(d * y, condition, "eigh", rank, d)
    _warn(condition, warn_condition, f"the scaled normal matrix (ridge {ridge:g})")
    return LinearSolution(d * y, float(condition), method, rank, d)


def lstsq(A, b, ridge=0.0, penalty=None, scale=True, warn_condition=WARN_CONDITION, rcond=1e-13) -> LinearSolution:
    """SVD least squares on the (already weighted) rows A x ~ b with column scaling and, for ridge > 0,
    the penalty as extra rows sqrt(ridge p_c) y_c ~ 0. The condition number reported is that of the
    equivalent normal matrix (cond(A)^2), comparable with :func:`solve_normal_equations`'s."""
    A = np.asarray(A, dtype=float)
    b = np.asarray(b, dtype=float)
    m, n = A.shape
    if b.shape != (m,):
        raise ValueError("b must hold one value per row of A")
    p = _penalty(n, penalty)
    d = column_scaling(np.einsum("ij,ij->j", A, A)) if scale else np.ones(n)
    As = A * d[None, :]
    if ridge > 0:
        As = np.vstack([As, np.diag(np.sqrt(float(ridge) * p))])
        b = np.concatenate([b, np.zeros(n)])
    y, _, rank, sv = scipy.linalg.lstsq(As, b, cond=rcond, lapack_driver="gelsd", check_finite=False)
    condition = float((sv[0] / sv[-1]) ** 2) if As.shape[0] >= n and sv.size and sv[-1] > 0 else np.inf
    _warn(condition, warn_condition, f"the scaled normal matrix (ridge {ridge:g}; SVD kept rank {rank} of {n})")
    return LinearSolution(d * y, condition, "svd", int(rank), d)
