"""Rank of the fixed-effects model matrix: which columns lme4 keeps.

A column is dropped when it is, to a relative tolerance of 1e-7, a
combination of the columns before it (R's ``qr(X, tol = 1e-7)`` limited
pivoting, as lme4 uses it). One X'X product and its normalized Cholesky
pivots settle the common, clearly full-rank case; a QR decides the rest.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

__all__ = ["drop_dependent_columns", "normalized_pivots"]


def drop_dependent_columns(X: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """Indices of columns to keep: drop each column that depends on earlier ones.

    Mirrors R's ``qr(X, tol = 1e-7)`` limited pivoting used by lme4: a column
    whose residual norm, after projecting on the kept columns before it, is
    below ``tol`` times its own norm is dropped. The test is scale-free:
    columns are first scaled by the power of two nearest their largest
    entry (exactly, so 1e±200 neither overflows nor underflows the norms).
    """
    n, p = X.shape
    if p == 0:
        return np.arange(0)
    if p <= n and _clearly_full_rank(X):
        return np.arange(p)
    with np.errstate(divide="ignore"):
        _, expo = np.frexp(np.max(np.abs(X), axis=0) if n else np.zeros(p))
    X = np.ldexp(X, -expo[None, :])
    norms = np.linalg.norm(X, axis=0)
    if p <= n and np.all(norms > 0):
        # full rank (the common case) in one QR: |R_jj| is column j's residual norm
        # after projecting on the columns before it
        r = np.abs(np.diag(np.linalg.qr(X, mode="r")))
        if np.all(r > 10 * tol * norms):
            return np.arange(p)
    keep: list[int] = []
    Q = np.zeros((n, 0))
    for j in range(p):
        x = X[:, j]
        nx = np.linalg.norm(x)
        if nx == 0.0:
            continue
        r = x - Q @ (Q.T @ x)
        r = r - Q @ (Q.T @ r)  # re-orthogonalise once
        nr = np.linalg.norm(r)
        if nr <= tol * nx:
            continue
        keep.append(j)
        Q = np.column_stack([Q, r / nr])
    return np.array(keep, dtype=np.intp)


def _clearly_full_rank(X: np.ndarray, margin: float = 1e-8) -> bool:
    """True when X'X (one BLAS product) shows every column far from the span of the
    columns before it: with C = D⁻¹X'XD⁻¹ (unit diagonal) and C = R'R, R_jj² is
    column j's squared residual norm relative to its own, computed to about
    p·ε; ``margin`` = 1e-8 (a relative residual of 1e-4) is far above the
    1e-6 at which :func:`drop_dependent_columns` drops a column, so the answer
    is the QR's. Inconclusive (near dependence, extreme scales whose squares
    leave the double range, non-finite values): False, and the QR decides."""
    n = X.shape[0]
    with np.errstate(all="ignore"):
        G = X.T @ X
    pivots = normalized_pivots(G, 1e-100 * n, 1e100 * n)
    return pivots is not None and bool(np.all(pivots > margin))


def normalized_pivots(G: np.ndarray, low: float, high: float) -> np.ndarray | None:
    """R_jj² of C = R'R with C = D⁻¹GD⁻¹ (D² = diag G, so C has a unit diagonal): the
    relative squared residual norm of each column given the ones before it. None
    when G is not finite, a diagonal entry lies outside (``low``, ``high``), or C is
    not numerically positive definite."""
    diag = G.diagonal()
    with np.errstate(all="ignore"):
        if not (np.isfinite(G).all() and (diag > low).all() and (diag < high).all()):
            return None
        scale = 1.0 / np.sqrt(diag)
        C = G * scale[:, None] * scale[None, :]
    R, info = lapack.dpotrf(C, lower=0, clean=0, overwrite_a=1)
    return R.diagonal() ** 2 if info == 0 else None
