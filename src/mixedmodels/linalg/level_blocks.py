"""Closed-form factors of term 1's per-level blocks for S = 2 or 3 effects.

For every level l of the first term (S ∈ {2, 3} effects, nl levels)

    M_l = T'A_l T + I,   C_l = T M_l⁻¹ T',   log|L_11|² = Σ_l log det M_l,

and the rank update A21 C A21' = Σ_l A21_l C_l A21_l' of the rest block
(:mod:`mixedmodels.linalg.blocked`). The S(S+1)/2 distinct entries of each
symmetric block are the rows of an (nc, nl) array, so every step is one
vector operation over the levels, into work arrays allocated once:

* m = K(θ)' a + vech(I): one small GEMM, K(θ)[k, ·] = vech(T'E_k T) for the
  symmetric unit matrices E_k;
* the leading principal minors of M_l, D_1 = m00, D_2 = m00 m11 − m10²
  (and D_3 = det M_l for S = 3): M_l is positive definite iff all are
  positive, as its Cholesky pivots are D_1, D_2/D_1, D_3/D_2;
* with few rest rows r, the adjugate (S = 2: (m11, −m10, m00); S = 3: the
  six cofactors) gives c = J(θ)' adj(M_l) / det M_l with
  J(θ)[k, ·] = vech(T E_k T'), and A21 C A21' = F c with the precomputed
  F[(i, j), (k, l)] = vech-weighted products of level l's columns of A21
  (lower triangle: r(r+1)/2 rows);
* with many rest rows, the Cholesky factor of M_l in closed form,
  L00 = √m00, L10 = m10/L00, L11 = √(m11 − L10²) (S = 3: L20 = m20/L00,
  L21 = (m21 − L20 L10)/L11, L22 = √(m22 − L20² − L21²)), then
  V_l = L_l⁻¹ T' A21_l' by forward substitution over all levels at once and
  A21 C A21' = Σ_s V_s V_s' (S SYRKs).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["LevelBlocks", "SMALL_LEVEL_S"]

SMALL_LEVEL_S = (2, 3)
"""Orders of term 1's blocks handled here."""

# F holds r(r+1)/2 · S(S+1)/2 numbers per level: the matrix-vector product with it
# beats the forward substitution and SYRKs while that is at most this many times
# r·S, the size of A21 (measured at 10⁴ and 10⁵ levels, one thread: S = 2 up to
# r = 7, S = 3 up to r = 5)
_F_PER_A21 = 6.0
# and never more than this many bytes
_F_MAX_BYTES = 512e6


def packed_index(S: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the lower triangle of an S × S block, row by row."""
    rows, cols = np.tril_indices(S)
    return rows, cols


class LevelBlocks:
    """The per-level work of term 1 (S = 2 or 3) for one set of cross-products.

    ``A11`` (nl, S, S), ``A21`` (r, nl·S) dense with level l's columns at
    l·S + s. :meth:`update` returns (A21 C A21' as an r × r array whose lower
    triangle is valid, log|L_11|²), or None when some M_l is not positive
    definite.
    """

    def __init__(self, A11: np.ndarray, A21: np.ndarray | None, use_f: bool | None = None):
        nl, S, _ = A11.shape
        if S not in SMALL_LEVEL_S:
            raise ValueError(f"LevelBlocks handles blocks of order 2 or 3, not {S}")
        r = 0 if A21 is None else A21.shape[0]
        self.nl, self.S, self.r = nl, S, r
        rows, cols = packed_index(S)
        nc = rows.size
        self.nc = nc
        self._rows, self._cols = rows, cols
        E = np.zeros((nc, S, S))
        E[np.arange(nc), rows, cols] = 1.0
        E[np.arange(nc), cols, rows] = 1.0
        self._E = E
        self._diag = [k for k in range(nc) if rows[k] == cols[k]]
        self.a = np.ascontiguousarray(A11[:, rows, cols].T)  # (nc, nl)
        self.m = np.empty((nc, nl))
        self.det = np.empty(nl)
        self._tmp = np.empty(nl)
        if A21 is None:  # C_l only (term_blocks): the rank update is done elsewhere
            self.use_f = False
            self._allocate_c()
            return
        self.use_f = self.prefers_f(r, S, nl) if use_f is None else use_f
        P = A21.reshape(r, nl, S)
        if self.use_f:
            self._prepare_f(P)
            self._allocate_c()
        else:
            self.P = np.ascontiguousarray(P.transpose(2, 0, 1))  # (S, r, nl)
            self.V = np.empty_like(self.P)
            self._work = np.empty((r, nl))
            self.lower = np.empty((nc, nl))  # L_l packed
            self.inv_diag = np.empty((S, nl))  # 1 / L_ss

    def _allocate_c(self) -> None:
        self.adj = np.empty((self.nc, self.nl))
        self.c = np.empty((self.nc, self.nl))

    @staticmethod
    def prefers_f(r: int, S: int, nl: int) -> bool:
        """F c (one matrix-vector product) rather than forward substitution and SYRKs."""
        entries = r * (r + 1) / 2 * (S * (S + 1) / 2)
        return entries <= _F_PER_A21 * r * S and 8.0 * entries * nl <= _F_MAX_BYTES

    def _prepare_f(self, P: np.ndarray) -> None:
        """F (r(r+1)/2, nc·nl): row (i, j) of the lower triangle, column k·nl + l holds
        p_si p_tj + p_ti p_sj (s ≠ t) or p_si p_sj (s = t) for packed entry k = (s, t)."""
        r, nl = self.r, self.nl
        ii, jj = np.tril_indices(r)
        self._pairs = (ii, jj)
        F = np.empty((ii.size, self.nc, nl))
        for k, (s, t) in enumerate(zip(self._rows, self._cols)):
            np.multiply(P[ii, :, s], P[jj, :, t], out=F[:, k, :])
            if s != t:
                F[:, k, :] += P[ii, :, t] * P[jj, :, s]
        self.F = F.reshape(ii.size, self.nc * nl)

    def _linear_map(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """(nc, nc) matrix whose row k is vech(left E_k right)."""
        return (left @ self._E @ right)[:, self._rows, self._cols]

    def _set_m(self, T: np.ndarray) -> None:
        """m = vech(T'A_l T + I) for every level."""
        m = self.m
        np.matmul(self._linear_map(T.T, T).T, self.a, out=m)
        for k in self._diag:
            m[k] += 1.0

    def update(self, T: np.ndarray) -> tuple[np.ndarray, float] | None:
        """(A21 C A21', Σ_l log det M_l) at T = T₁(θ), or None (not positive definite)."""
        if self.r == 0:
            raise ValueError("LevelBlocks built without A21 has no rank update: use term_blocks")
        self._set_m(T)
        if self.use_f:
            return self._update_f(T)
        return self._update_v(T)

    def term_blocks(self, T: np.ndarray) -> tuple[np.ndarray, float] | None:
        """(C (nl, S, S) with C_l = T M_l⁻¹ T', Σ_l log det M_l) at T = T₁(θ), or None
        (not positive definite)."""
        self._set_m(T)
        logdet = self._packed_c(T)
        if logdet is None:
            return None
        C = np.empty((self.nl, self.S, self.S))
        C[:, self._rows, self._cols] = self.c.T
        C[:, self._cols, self._rows] = self.c.T
        return C, logdet

    # -- few rest rows: adjugate and F c ------------------------------------------
    def _adjugate(self) -> bool:
        """adj(M_l) into ``self.adj`` and det M_l into ``self.det``; False unless every
        leading principal minor is positive."""
        m, adj, det, tmp = self.m, self.adj, self.det, self._tmp
        if self.S == 2:
            m00, m10, m11 = m
            np.multiply(m00, m11, out=det)
            np.multiply(m10, m10, out=tmp)
            det -= tmp
            adj[0] = m11
            np.negative(m10, out=adj[1])
            adj[2] = m00
            return bool(np.minimum.reduce(m00) > 0.0 and np.minimum.reduce(det) > 0.0)
        m00, m10, m11, m20, m21, m22 = m
        c00, c10, c11, c20, c21, c22 = adj
        _cofactor(m11, m22, m21, m21, c00, tmp)  # m11 m22 − m21²
        _cofactor(m21, m20, m10, m22, c10, tmp)  # m21 m20 − m10 m22
        _cofactor(m00, m22, m20, m20, c11, tmp)  # m00 m22 − m20²
        _cofactor(m10, m21, m11, m20, c20, tmp)  # m10 m21 − m11 m20
        _cofactor(m10, m20, m00, m21, c21, tmp)  # m10 m20 − m00 m21
        _cofactor(m00, m11, m10, m10, c22, tmp)  # m00 m11 − m10²
        np.multiply(m00, c00, out=det)
        np.multiply(m10, c10, out=tmp)
        det += tmp
        np.multiply(m20, c20, out=tmp)
        det += tmp
        mn = np.minimum.reduce
        return bool(mn(m00) > 0.0 and mn(c22) > 0.0 and mn(det) > 0.0)

    def _packed_c(self, T: np.ndarray) -> float | None:
        """vech(C_l) = J(θ)' adj(M_l) / det M_l into ``self.c``; Σ_l log det M_l, or
        None (not positive definite)."""
        if not self._adjugate():
            return None
        logdet = _sum_log(self.det, self._tmp)
        if logdet is None:
            return None
        np.matmul(self._linear_map(T, T.T).T, self.adj, out=self.c)
        self.c /= self.det
        return logdet

    def _update_f(self, T: np.ndarray) -> tuple[np.ndarray, float] | None:
        logdet = self._packed_c(T)
        if logdet is None:
            return None
        vals = self.F @ self.c.reshape(-1)
        out = np.zeros((self.r, self.r))
        ii, jj = self._pairs
        out[ii, jj] = vals
        out[jj, ii] = vals
        return out, logdet

    def cholesky_factors(self) -> np.ndarray | None:
        """L_l (nl, S, S) with L_l L_l' = M_l at the last :meth:`update`, in closed
        form; None when some M_l is not positive definite."""
        if "lower" not in self.__dict__:  # work arrays of the F route, made on first use
            self.lower = np.empty((self.nc, self.nl))
            self.inv_diag = np.empty((self.S, self.nl))
        if not self._cholesky():
            return None
        L = np.zeros((self.nl, self.S, self.S))
        L[:, self._rows, self._cols] = self.lower.T
        return L

    # -- many rest rows: closed-form Cholesky, forward substitution, SYRK ---------
    def _cholesky(self) -> bool:
        """L_l packed into ``self.lower``, 1/L_ss into ``self.inv_diag``, det M_l into
        ``self.det``; False unless every pivot is positive."""
        m, L, inv, det, tmp = self.m, self.lower, self.inv_diag, self.det, self._tmp
        mn = np.minimum.reduce
        if not mn(m[0]) > 0.0:
            return False
        np.sqrt(m[0], out=L[0])
        np.reciprocal(L[0], out=inv[0])
        np.multiply(m[1], inv[0], out=L[1])  # L10
        d1 = L[2]
        np.multiply(L[1], L[1], out=tmp)
        np.subtract(m[2], tmp, out=d1)  # m11 − L10²
        if not mn(d1) > 0.0:
            return False
        np.multiply(m[0], d1, out=det)
        np.sqrt(d1, out=L[2])
        np.reciprocal(L[2], out=inv[1])
        if self.S == 2:
            return True
        np.multiply(m[3], inv[0], out=L[3])  # L20
        np.multiply(L[3], L[1], out=tmp)
        np.subtract(m[4], tmp, out=L[4])
        L[4] *= inv[1]  # L21 = (m21 − L20 L10)/L11
        d2 = L[5]
        np.multiply(L[3], L[3], out=tmp)
        np.subtract(m[5], tmp, out=d2)
        np.multiply(L[4], L[4], out=tmp)
        d2 -= tmp  # m22 − L20² − L21²
        if not mn(d2) > 0.0:
            return False
        det *= d2
        np.sqrt(d2, out=L[5])
        np.reciprocal(L[5], out=inv[2])
        return True

    def _update_v(self, T: np.ndarray) -> tuple[np.ndarray, float] | None:
        if not self._cholesky():
            return None
        logdet = _sum_log(self.det, self._tmp)
        if logdet is None:
            return None
        S, r, nl = self.S, self.r, self.nl
        V, L, inv, work = self.V, self.lower, self.inv_diag, self._work
        # T'A21_l' for every level at once, then V_l = L_l⁻¹ (T'A21_l') row by row
        np.matmul(T.T, self.P.reshape(S, r * nl), out=V.reshape(S, r * nl))
        V[0] *= inv[0]
        np.multiply(V[0], L[1], out=work)
        V[1] -= work
        V[1] *= inv[1]
        if S == 3:
            np.multiply(V[0], L[3], out=work)
            V[2] -= work
            np.multiply(V[1], L[4], out=work)
            V[2] -= work
            V[2] *= inv[2]
        out = V[0] @ V[0].T
        for s in range(1, S):
            out += V[s] @ V[s].T
        return out, logdet


def _cofactor(
    a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray, out: np.ndarray,
    tmp: np.ndarray,
) -> None:
    """out = a b − c d."""
    np.multiply(a, b, out=out)
    np.multiply(c, d, out=tmp)
    out -= tmp


def _sum_log(det: np.ndarray, tmp: np.ndarray) -> float | None:
    """Σ_l log det_l (det_l > 0), or None where some det_l overflowed."""
    np.log(det, out=tmp)
    total = float(np.add.reduce(tmp))
    return total if math.isfinite(total) else None
