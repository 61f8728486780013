"""Well-conditioned coordinates for the random-effect columns.

A correlated term (1 + x + … | g) is unchanged as a model by a shift and
scale of its numeric columns: with z_j = c_j + s_j z̃_j (column 0 the
intercept, c_0 = 0, s_0 = 1),

    Z_k = Z̃_k A_k,   A_k = [[1, c'], [0, diag(s)]]   (upper triangular, per level),
    Z_k b = Z̃_k b̃,   b̃ = A_k b,   Σ̃ = A_k Σ A_k',

so the (RE)ML criterion of Z̃ at Λ̃ equals that of Z at any Λ with ΛΛ' =
A⁻¹Λ̃Λ̃'A⁻ᵀ; θ is read off as the lower Cholesky factor of that product
(lme4's parametrization). A far-off shift (x ≈ 1e4 with spread 1) makes the
optimum in the raw coordinates a ridge (intercept variance ~c², correlation
→ −1) that no optimizer follows; in the Z̃ coordinates it is a round bowl.

A term without an intercept column, or of one column (a diagonal
covariance, e.g. the parts of (x || g)), is invariant only to scaling:
there c = 0 and only s applies. Indicator (0/1) columns are left alone.

c_j is the weighted mean of the column over the rows of the fit, s_j the
power of two near the RMS of z_j − c_j (scaling adds no rounding). A column
is transformed only where |c_j|/s_j > :data:`SHIFT_MIN` or s_j lies outside
[1/:data:`SCALE_MAX`, :data:`SCALE_MAX`]: the raw coordinates are then
already well conditioned and the fit stays the one lme4 computes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import scipy.sparse as sp

from .blocks import CrossProducts
from .centering import _column_means, _column_rms, _pow2

__all__ = [
    "SCALE_MAX",
    "SHIFT_MIN",
    "b_from_tilde",
    "cond_var_from_tilde",
    "cp_shifts",
    "term_shifts",
    "theta_from_tilde",
    "theta_to_tilde",
    "transform_cp",
]

SHIFT_MIN = 16.0
"""|c_j|/s_j above which a column of a correlated term is centred."""

SCALE_MAX = 16.0
"""s_j above this (or below its inverse) makes a column rescaled."""


def _shift_matrix(
    S: int, cols: list[int], c: np.ndarray, rms: list[float], has_intercept: bool
) -> np.ndarray | None:
    """A = [[1, c'], [0, diag(s)]] on the columns ``cols`` (s = powers of two near
    ``rms``), or None when no column is far off (see :data:`SHIFT_MIN`)."""
    s = np.array([_pow2(r) for r in rms])
    far = (np.abs(c) > SHIFT_MIN * s) | (s > SCALE_MAX) | (s < 1.0 / SCALE_MAX)
    if not np.any(far):
        return None
    A = np.eye(S)
    for j, cj, sj in zip(cols, c, s):
        if has_intercept:
            A[0, j] = cj
        A[j, j] = sj
    return A


def _term_shift(Z: np.ndarray, w: np.ndarray | None) -> np.ndarray | None:
    """A (S × S, upper triangular) with Z = Z̃A for one term, or None (identity)."""
    S = Z.shape[1]
    if Z.shape[0] == 0:
        return None
    const = np.all(Z == Z[:1], axis=0)
    has_intercept = S > 1 and bool(const[0]) and Z[0, 0] == 1.0
    indicator = np.all((Z == 0.0) | (Z == 1.0), axis=0)
    cols = [j for j in range(S) if not const[j] and not indicator[j]]
    if not cols:
        return None
    V = np.asfortranarray(Z[:, cols])
    c = _column_means(V, w) if has_intercept else np.zeros(len(cols))
    return _shift_matrix(S, cols, c, _column_rms(V - c, w), has_intercept)


def _gram_shift(G: np.ndarray, n: int, has_intercept: bool) -> np.ndarray | None:
    """A of one term from its total Gram matrix G = Σ_l Z_l'WZ_l (no rows at hand):
    c_j = G_0j/G_00, s_j near √(G_jj/G_00 − c_j²) (only a choice of coordinates:
    any c and s give the same model)."""
    S = G.shape[0]
    has_intercept = has_intercept and S > 1 and G[0, 0] > 0.0
    cols = list(range(1, S)) if has_intercept else list(range(S))
    if not cols or not np.all(np.isfinite(G)):
        return None
    diag = np.diag(G)[cols]
    if has_intercept:
        c = G[0, cols] / G[0, 0]
        var = diag / G[0, 0] - c * c
    else:
        c = np.zeros(len(cols))
        var = diag / max(n, 1)
    rms = [float(np.sqrt(v)) if v > 0.0 else 0.0 for v in var]
    return _shift_matrix(S, cols, c, rms, has_intercept)


def _level_block_sum(block: Any, S: int) -> np.ndarray:
    """Σ_l of the S × S diagonal blocks of a level-major (nl·S)² block."""
    coo = sp.coo_matrix(block)
    same = coo.row // S == coo.col // S
    G = np.zeros((S, S))
    np.add.at(G, (coo.row[same] % S, coo.col[same] % S), coo.data[same])
    return G


def cp_shifts(cp: CrossProducts, intercepts: list[bool]) -> list[np.ndarray] | None:
    """Per term A_k chosen from the cross-products alone (fits without rows)."""
    Gs = [cp.A11.sum(axis=0)]
    o = 0
    for d in cp.dims[1:]:
        Gs.append(_level_block_sum(cp.A22[o : o + d.q, o : o + d.q], d.S))
        o += d.q
    As = [_gram_shift(G, cp.n, icpt) for G, icpt in zip(Gs, intercepts)]
    if all(A is None for A in As):
        return None
    return [np.eye(d.S) if A is None else A for d, A in zip(cp.dims, As)]


def transform_cp(cp: CrossProducts, As: list[np.ndarray], rest: str = "auto") -> CrossProducts:
    """The cross-products of [Z̃ X̃ ỹ] from those of [Z X̃ ỹ]: Z̃ = Z D, D =
    blockdiag(I_nl ⊗ A_k⁻¹), so A11̃_l = B'A11_l B, A21̃ = D_r'A21 D_1, A22̃ = D_r'A22 D_r.

    For fits without rows: the raw Z sums carry the cancellation of a far-off
    column (relative error ~ (c/s)²·ε in Z̃'Z̃), against none for Z̃ summed directly."""
    Bs = [np.linalg.inv(A) for A in As]
    A11 = np.einsum("ji,ljk,km->lim", Bs[0], cp.A11, Bs[0])
    D1 = sp.kron(sp.identity(cp.dims[0].nl), Bs[0], format="csc")
    Dr = sp.block_diag(
        [sp.kron(sp.identity(d.nl), B) for d, B in zip(cp.dims[1:], Bs[1:])]
        + [sp.identity(cp.p + 1)], format="csc",
    )
    if sp.issparse(cp.A21):
        A21: Any = sp.csc_matrix(Dr.T @ cp.A21 @ D1)
    else:
        A21 = np.asarray(Dr.T @ (np.asarray(cp.A21) @ D1.toarray()))
    if sp.issparse(cp.A22):
        out = dataclasses.replace(cp, A11=A11, A21=A21,
                                  A22=sp.csc_matrix(Dr.T @ cp.A22 @ Dr), rest_plan=None)
        from .rest import plan_crossproducts

        return plan_crossproducts(out, rest)
    A22 = np.asarray(Dr.T @ (Dr.T @ np.asarray(cp.A22)).T)
    return dataclasses.replace(cp, A11=A11, A21=A21, A22=A22)


def term_shifts(Zs: list[np.ndarray], w: np.ndarray | None) -> list[np.ndarray] | None:
    """Per term the A_k of Z_k = Z̃_k A_k (identity where nothing is far off);
    None when every term is already well conditioned."""
    As = [_term_shift(Z, w) for Z in Zs]
    if all(A is None for A in As):
        return None
    return [np.eye(Z.shape[1]) if A is None else A for Z, A in zip(Zs, As)]


def tilde_columns(Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Z̃ = Z A⁻¹: column j is (z_j − c_j)/s_j, the intercept column unchanged."""
    Zt = Z.copy()
    for j in range(Z.shape[1]):
        c = A[0, j] if j > 0 else 0.0  # no intercept: A is diagonal
        if c != 0.0 or A[j, j] != 1.0:
            Zt[:, j] = (Z[:, j] - c) / A[j, j]
    return Zt


def _lower(theta: np.ndarray, tri: tuple[np.ndarray, np.ndarray], S: int) -> np.ndarray:
    T = np.zeros((S, S))
    T[tri] = theta
    return T


def _lower_root(F: np.ndarray) -> np.ndarray:
    """The lower-triangular L with LL' = FF' and a non-negative diagonal, from the QR
    factorization F' = QR (L = R'): backward stable, FF' is never formed, so a
    nearly singular Σ keeps its small pivots' digits."""
    R = np.linalg.qr(F.T, mode="r")
    L = R.T.copy()
    sign = np.where(np.diag(L) < 0.0, -1.0, 1.0)
    return L * sign[None, :]


def _map_theta(
    theta: np.ndarray, As: list[np.ndarray], tris: list[tuple[np.ndarray, np.ndarray]],
    inverse: bool,
) -> np.ndarray:
    out = np.empty_like(np.asarray(theta, dtype=float))
    pos = 0
    for A, tri in zip(As, tris):
        S = A.shape[0]
        k = len(tri[0])
        T = _lower(theta[pos : pos + k], tri, S)
        if not np.array_equal(A, np.eye(S)):
            B = A if inverse else np.linalg.inv(A)
            T = _lower_root(B @ T)
        out[pos : pos + k] = T[tri]
        pos += k
    return out


def theta_from_tilde(
    theta_t: np.ndarray, As: list[np.ndarray], tris: list[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """θ: per term the lower Cholesky factor of A⁻¹Λ̃Λ̃'A⁻ᵀ."""
    return _map_theta(theta_t, As, tris, inverse=False)


def theta_to_tilde(
    theta: np.ndarray, As: list[np.ndarray], tris: list[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """θ̃: per term the lower Cholesky factor of AΛΛ'A'."""
    return _map_theta(theta, As, tris, inverse=True)


def b_from_tilde(b_t: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Rows b_l = A⁻¹ b̃_l of an (nl × S) array of random effects."""
    return np.linalg.solve(A, b_t.T).T


def cond_var_from_tilde(V_t: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Per level A⁻¹ Ṽ_l A⁻ᵀ of an (nl, S, S) array of conditional covariances."""
    Ai = np.linalg.inv(A)
    return np.einsum("ij,ljk,mk->lim", Ai, V_t, Ai)
