"""Cholesky factors and triangular solves of many small S × S blocks at once.

For a stack M (nl, S, S) of symmetric positive-definite blocks with small S
(random slopes: S = 2 or 3) and many levels, numpy's batched LAPACK calls
(``np.linalg.cholesky``, ``np.linalg.solve``) pay per block; here the loops
run over the S(S+1)/2 entries instead, each step one vector operation over
the nl blocks:

    L_jj = √(M_jj − Σ_{k<j} L_jk²),   L_ij = (M_ij − Σ_{k<j} L_ik L_jk) / L_jj  (i > j),

forward substitution  x_i = (b_i − Σ_{j<i} L_ij x_j) / L_ii  for L x = b,
back substitution     x_i = (b_i − Σ_{j>i} L_ji x_j) / L_ii  for L' x = b.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SMALL_S", "cholesky", "factor_blocks", "solve_lower", "solve_upper"]

SMALL_S = 4
"""Largest block order for which the entry loops beat numpy's batched LAPACK calls."""


def cholesky(M: np.ndarray) -> np.ndarray | None:
    """Lower Cholesky factors L (nl, S, S) of the blocks M (nl, S, S), or None when
    some block is not numerically positive definite."""
    S = M.shape[1]
    L = np.zeros_like(M)
    for j in range(S):
        d = M[:, j, j] - np.einsum("lk,lk->l", L[:, j, :j], L[:, j, :j]) if j else M[:, j, j]
        if not np.minimum.reduce(d) > 0.0:
            return None
        ljj = np.sqrt(d)
        L[:, j, j] = ljj
        for i in range(j + 1, S):
            s = M[:, i, j]
            if j:
                s = s - np.einsum("lk,lk->l", L[:, i, :j], L[:, j, :j])
            L[:, i, j] = s / ljj
    return L


def factor_blocks(M: np.ndarray) -> np.ndarray | None:
    """Lower Cholesky factors of the blocks M (nl, S, S): the entry loops of
    :func:`cholesky` for S ≤ :data:`SMALL_S`, numpy's batched LAPACK above; None when
    some block is not numerically positive definite."""
    if M.shape[1] <= SMALL_S:
        return cholesky(M)
    try:
        return np.linalg.cholesky(M)
    except np.linalg.LinAlgError:
        return None


def solve_lower(L: np.ndarray, B: np.ndarray) -> np.ndarray:
    """X with L_l X_l = B_l for every block (L (nl, S, S) lower, B (nl, S, m))."""
    S = L.shape[1]
    X = np.empty_like(B)
    for i in range(S):
        b = B[:, i]
        for j in range(i):
            b = b - L[:, i, j, None] * X[:, j]
        X[:, i] = b / L[:, i, i, None]
    return X


def solve_upper(L: np.ndarray, B: np.ndarray) -> np.ndarray:
    """X with L_l' X_l = B_l for every block (L (nl, S, S) lower, B (nl, S, m))."""
    S = L.shape[1]
    X = np.empty_like(B)
    for i in range(S - 1, -1, -1):
        b = B[:, i]
        for j in range(i + 1, S):
            b = b - L[:, j, i, None] * X[:, j]
        X[:, i] = b / L[:, i, i, None]
    return X
