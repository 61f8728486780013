"""Penalized weighted least squares with re-weighting: the inner step of PIRLS.

For fixed θ, working weights W and a working response z, solve

    min over u, β of  ‖W^{1/2}(z − X β − Z Λ_θ u)‖² + ‖u‖²

(``p = 0`` columns of X: u only, β held in the offset). With the terms in
lme4's order, term 1 first and R = [Z_2 … Z_K  X  z] the rest, this is the
blocked Cholesky of :mod:`mixedmodels.linalg` applied to the weighted
cross-products

    A11 = Z_1'WZ_1 (per level), A21 = R'WZ_1, A22 = R'WR.

Unlike the lmer engine, the weights change at every PIRLS iteration, so the
grouping structure (which level pairs meet, where each row lands) is
precomputed once and each re-weighting is a few ``bincount``/sparse
products over the rows. The solution and

    log|L_Z|² = log det(Λ'Z'WZΛ + I)

are returned; the Schur complement of term 1 is formed densely (r × r with
r = Σ_{k≥2} q_k + p + 1). For two crossed intercept terms every product is
a sum over the cells (l₁, l₂) of the two factors: one ``bincount`` per
column of [1 X z] over the cell index gives A21, and A11 and the diagonal
of A22 are its margins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.linalg import blas, lapack

from ..linalg import batched
from ..linalg.threads import blas_threads, in_force, threads_for
from .pwls_arrow import ArrowPWLS, nested_parent

__all__ = ["PWLSTerm", "PWLS", "PWLSFailure", "Products"]


_SHORT_ROWS = 4096  # rows below which one GEMM beats the loop of row dot products


class PWLSFailure(ArithmeticError):
    """Λ'Z'WZΛ + I (or the Schur complement) is not numerically positive definite."""


@dataclass(frozen=True)
class Products:
    """Weighted cross-products of one (w, z): A11 (nl1, S1, S1), A21 (nl1, r, S1),
    A22 (r, r) and, for two scalar intercept terms, the cell sums; for the designs
    of :mod:`mixedmodels.glmm.pwls_arrow`, its (T, Mᵀ, G) in their place."""

    A11: np.ndarray
    A21: np.ndarray
    A22: np.ndarray
    cells: np.ndarray | None


@dataclass(frozen=True)
class PWLSTerm:
    """One random-effect term: level ``codes`` (n,), raw model matrix ``Z`` (n, S),
    ``nl`` levels and the positions ``tri`` of θ in the lower triangle of T."""

    codes: np.ndarray
    Z: np.ndarray
    nl: int
    tri: tuple[np.ndarray, np.ndarray]

    @property
    def S(self) -> int:
        return int(self.Z.shape[1])

    @property
    def q(self) -> int:
        return self.nl * self.S


def _indicator_t(codes: np.ndarray, Z: np.ndarray, nl: int) -> sp.csr_matrix:
    """(nl·S) × n sparse matrix with column i holding Z[i] at level codes[i]."""
    n, S = Z.shape
    rows = (codes[:, None] * S + np.arange(S)[None, :]).ravel()
    cols = np.repeat(np.arange(n), S)
    return sp.csr_matrix((Z.ravel(), (rows, cols)), shape=(nl * S, n))


def _gram(D: np.ndarray, E: np.ndarray) -> np.ndarray:
    """D E' for two (k × n) row-major arrays with small k and large n, as k(k+1)/2
    dot products of rows (symmetric: E = D·diag(w)) for long rows, where
    OpenBLAS's threaded GEMM is slow on this shape (tiny output, long inner
    dimension); one GEMM for short rows, where the Python loop costs more."""
    k = D.shape[0]
    if D.shape[1] <= _SHORT_ROWS:
        return D @ E.T
    G = np.empty((k, k))
    for i in range(k):
        for j in range(i + 1):
            G[i, j] = G[j, i] = float(D[i] @ E[j])
    return G


def _cell_pairs(cell_pos: np.ndarray, nl1: int, nl2: int, k: int
                ) -> tuple[np.ndarray, ...] | None:
    """Ordered pairs (c, c') of occupied cells (l1, l2) sharing their level l1, for
    :meth:`PWLS._schur_pair`: (c, c', l1, l2·nl2 + l2', cell_l1, and the places
    l2·k + j of a cell's k columns in an nl2 × k table), or None
    when the pairs cost more than the dense rank-k update (nl1·nl2² flops; a pair
    costs ~64 flops' time in indexed numpy operations)."""
    cell_l1, cell_l2 = cell_pos // nl2, cell_pos % nl2
    counts = np.bincount(cell_l1, minlength=nl1)
    npairs = int(np.sum(counts.astype(np.int64) ** 2))
    if 64 * npairs >= nl1 * nl2 * nl2:
        return None
    start = np.cumsum(counts) - counts
    gs = counts[cell_l1]
    a = np.repeat(np.arange(cell_pos.size), gs)
    within = np.arange(a.size) - np.repeat(np.cumsum(gs) - gs, gs)
    b = start[cell_l1[a]] + within
    dz_at = (cell_l2[:, None] * k + np.arange(k)[None, :]).ravel()
    return a, b, cell_l1[a], cell_l2[a] * nl2 + cell_l2[b], cell_l1, dz_at


class PWLS:
    """Re-weightable penalized least squares for one design (terms in lme4's order);
    ``arrow=False`` keeps the general blocked elimination where the arrow solve of
    :mod:`mixedmodels.glmm.pwls_arrow` would apply."""

    def __init__(self, terms: list[PWLSTerm], X: np.ndarray, arrow: bool = True):
        self.terms = terms
        self.X = np.ascontiguousarray(X, dtype=float)
        self.n, self.p = self.X.shape
        self.ntheta = [len(t.tri[0]) for t in terms]
        self.theta_off = np.cumsum([0] + self.ntheta)
        t1 = terms[0]
        self.nl1, self.S1 = t1.nl, t1.S
        self.scalar1 = self.S1 == 1
        self.rest_off = np.cumsum([0] + [t.q for t in terms[1:]])
        self.rz = int(self.rest_off[-1])
        self.r = self.rz + self.p + 1
        self.q = t1.q + self.rz
        n, r, S1 = self.n, self.r, self.S1
        self.logdet = np.nan
        self._factor = np.zeros((r, r))
        # BLAS threads by problem size: the Schur complement (order r) and its
        # rank update V'V (nl1·S1·r² flops) are the dense work of a solve
        self.blas_threads = threads_for(r, float(self.nl1 * S1) * r * r)
        # scalar terms: Z columns of ones need no products
        self.all_scalar = all(t.S == 1 for t in terms)
        self._ones = [t.S == 1 and bool(np.all(t.Z[:, 0] == 1.0)) for t in terms]
        # the columns of each Z_k, contiguous (None for a column of ones), for zb
        self._zcols = [[None if np.all(t.Z[:, s] == 1.0) else np.ascontiguousarray(t.Z[:, s])
                        for s in range(t.S)] for t in terms]
        # two scalar intercept terms: every product is a sum over the (l1, l2)
        # cells of the two factors, A11 and the diagonal of A22 the margins
        self.pair = len(terms) == 2 and all(self._ones)
        # all scalar intercept terms: level codes offset into u, and the θ of each u
        self._ones_all = None
        if all(self._ones):
            offs = np.cumsum([0] + [t.nl for t in terms])
            self._ones_all = np.stack([t.codes.astype(np.intp) + o for t, o in zip(terms, offs)])
            self._theta_of_u = np.repeat(self.theta_off[:-1], [t.nl for t in terms])
        self._arrow = self._arrow_kernel() if arrow else None
        if self._arrow is not None:
            return  # the arrow solve needs none of the general kernel's structures
        # A11 products Z1[:, s] Z1[:, t]
        self._a11_pairs = [(s, t) for s in range(S1) for t in range(s, S1)]
        self._a11_vals = [t1.Z[:, s] * t1.Z[:, t] for s, t in self._a11_pairs]
        # A21: rest-sparse × term 1, scattered into (nl1, r, S1)
        idx, val, row = [], [], []
        for k, tk in enumerate(terms[1:]):
            for s2 in range(tk.S):
                col = self.rest_off[k] + tk.codes * tk.S + s2
                for s in range(S1):
                    idx.append((t1.codes * r + col) * S1 + s)
                    val.append(tk.Z[:, s2] * t1.Z[:, s])
                    row.append(np.arange(n))
        self._a21_idx = np.concatenate(idx) if idx else np.zeros(0, np.intp)
        self._a21_val = np.concatenate(val) if val else np.zeros(0)
        self._a21_row = np.concatenate(row) if row else np.zeros(0, np.intp)
        # A22: rest-sparse × rest-sparse (both orders: symmetric by construction)
        idx, val, row = [], [], []
        for k, tk in enumerate(terms[1:]):
            for m, tm in enumerate(terms[1:]):
                for s in range(tk.S):
                    a = self.rest_off[k] + tk.codes * tk.S + s
                    for t in range(tm.S):
                        b = self.rest_off[m] + tm.codes * tm.S + t
                        idx.append(a * r + b)
                        val.append(tk.Z[:, s] * tm.Z[:, t])
                        row.append(np.arange(n))
        self._a22_idx = np.concatenate(idx) if idx else np.zeros(0, np.intp)
        self._a22_val = np.concatenate(val) if val else np.zeros(0)
        self._a22_row = np.concatenate(row) if row else np.zeros(0, np.intp)
        self._J1 = _indicator_t(t1.codes, t1.Z, t1.nl)
        self._Jrest = [_indicator_t(t.codes, t.Z, t.nl) for t in terms[1:]]
        self._wDT = np.empty((self.p + 1, n))
        self._DT = np.empty((self.p + 1, n))
        self._DT[: self.p] = self.X.T
        if self.pair:
            t2 = terms[1]
            pair_idx = t1.codes.astype(np.intp) * t2.nl + t2.codes
            # the cells that occur, numbered once: row i is in cell _cell[i],
            # at position _cell_pos[c] of the nl1 × nl2 table
            self._cell_pos, self._cell = np.unique(pair_idx, return_inverse=True)
            self._cell = self._cell.astype(np.intp).ravel()
            self._cell_at = (self._cell_pos // t2.nl) * (self.r) + self._cell_pos % t2.nl
            self._A21_pair = np.zeros((t1.nl, self.r, 1))
            # the margins of W[1 X z] over both factors are one sparse product with
            # the stacked indicators [J1; J2] (column-compressed: the rows of W[1 D]
            # are read in order); [1 X z] is kept row-major, z its last column
            ncell, k = self._cell_pos.size, self.p + 2
            self._J12 = sp.csc_matrix(
                (np.ones(2 * n), (np.concatenate([t1.codes, t1.nl + t2.codes]),
                                  np.tile(np.arange(n), 2))),
                shape=(t1.nl + t2.nl, n))
            self._D1 = np.empty((n, k))
            self._D1[:, 0] = 1.0
            self._D1[:, 1:k - 1] = self.X
            self._wD1 = np.empty((n, k))
            self._diag2 = np.arange(t2.nl) * (self.r + 1)
            self._cells = np.zeros(ncell)
            self._sparse_pairs = _cell_pairs(self._cell_pos, t1.nl, t2.nl, self.p + 1)
        self.A11 = np.empty((self.nl1, S1, S1))
        self.A22 = np.empty((r, r))
        self._diag_rz = np.arange(self.rz)
        # with scalar rest terms Λ_r is diagonal and only the lower triangle of
        # the Schur complement is read; else its upper triangle is mirrored
        rest_scalar = all(t.S == 1 for t in terms[1:])
        self._mirror = None if rest_scalar else np.triu_indices(r, 1)

    def _arrow_kernel(self) -> ArrowPWLS | None:
        """The O(levels) solve of :mod:`mixedmodels.glmm.pwls_arrow` where it applies:
        one scalar term, or two scalar intercept terms with term 1 nested in term 2."""
        t1 = self.terms[0]
        if not self.scalar1:
            return None
        if len(self.terms) == 1:
            return ArrowPWLS(t1.codes, t1.nl, t1.Z[:, 0], self.X)
        if not self.pair:
            return None
        t2 = self.terms[1]
        parent = nested_parent(t1.codes, t1.nl, t2.codes, t2.nl)
        if parent is None:
            return None
        return ArrowPWLS(t1.codes, t1.nl, None, self.X, parent, t2.nl)

    # -- cross-products -------------------------------------------------------
    def _crossprod_pair(self, w: np.ndarray, z: np.ndarray) -> np.ndarray:
        """:meth:`_crossprod` for two scalar intercept terms, from the cell sums

        T_{l1 l2} = Σ_{i in cell} wᵢ:  A11 = T 1,  A21 = [T | Σ_{i∈l1} wᵢ Dᵢ],
        A22 = [[diag(1'T), Σ_{i∈l2} wᵢ Dᵢ], [·, D'WD]],  D = [X z].

        The cells that occur are numbered once (``_cell``); each re-weighting is
        one ``bincount`` over the cells, one sparse product [J1; J2]' W[1 D] for
        the margins on both factors and D'WD.
        """
        nl1, nl2 = self.nl1, self.terms[1].nl
        D1 = self._D1
        D1[:, -1] = z
        wD1 = np.multiply(D1, w[:, None], out=self._wD1)
        marg = self._J12 @ wD1  # (nl1 + nl2, p + 2)
        cells = self._cells
        cells[:] = np.bincount(self._cell, weights=w, minlength=cells.size)
        # the cells' places in A21 never change: the buffer's other entries stay 0
        A21 = self._A21_pair
        A21.reshape(-1)[self._cell_at] = cells
        A21[:, nl2:, 0] = marg[:nl1, 1:]
        self.A11[:, 0, 0] = marg[:nl1, 0]
        A22 = self.A22
        A22[:nl2, :nl2] = 0.0
        A22.reshape(-1)[self._diag2] = marg[nl1:, 0]
        A22[:nl2, nl2:] = marg[nl1:, 1:]
        A22[nl2:, :nl2] = marg[nl1:, 1:].T
        A22[nl2:, nl2:] = (wD1.T @ D1)[1:, 1:]
        return A21

    def _crossprod(self, w: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Fill A11, A22 and return A21 in level layout (nl1, r, S1)."""
        if self.pair:
            return self._crossprod_pair(w, z)
        t1 = self.terms[0]
        nl1, S1, r, rz, p = self.nl1, self.S1, self.r, self.rz, self.p
        for (s, t), v in zip(self._a11_pairs, self._a11_vals):
            a = np.bincount(t1.codes, weights=w * v, minlength=nl1)
            self.A11[:, s, t] = a
            self.A11[:, t, s] = a
        self._DT[p] = z
        wDT = np.multiply(self._DT, w, out=self._wDT)
        wD = wDT.T  # (n, p + 1), Fortran order
        if self._a21_idx.size:
            A21 = np.bincount(
                self._a21_idx, weights=self._a21_val * w[self._a21_row], minlength=nl1 * r * S1
            ).reshape(nl1, r, S1)
        else:
            A21 = np.zeros((nl1, r, S1))
        if self._ones[0] and p + 1 <= 16:
            # a scalar intercept term: one bincount per column of W D is cheaper
            # than the sparse product for the few columns of [X z]
            for j in range(p + 1):
                A21[:, rz + j, 0] = np.bincount(t1.codes, weights=wDT[j], minlength=nl1)
        else:
            A21[:, rz:, :] = np.asarray(self._J1 @ wD).reshape(nl1, S1, p + 1).transpose(0, 2, 1)
        A22 = self.A22
        if self._a22_idx.size:
            A22[:] = np.bincount(
                self._a22_idx, weights=self._a22_val * w[self._a22_row], minlength=r * r
            ).reshape(r, r)
        for k, J in enumerate(self._Jrest):
            blk = np.asarray(J @ wD)
            A22[self.rest_off[k] : self.rest_off[k + 1], rz:] = blk
            A22[rz:, self.rest_off[k] : self.rest_off[k + 1]] = blk.T
        A22[rz:, rz:] = _gram(self._DT, wDT)
        return A21

    def T(self, theta: np.ndarray, k: int) -> np.ndarray:
        """Lower-triangular T_k (S_k × S_k) with Λ_k = I_{nl} ⊗ T_k."""
        S = self.terms[k].S
        T = np.zeros((S, S))
        T[self.terms[k].tri] = theta[self.theta_off[k] : self.theta_off[k + 1]]
        return T

    def _scale_rest(self, S: np.ndarray, theta: np.ndarray, left: bool = True) -> None:
        """S ← Λ_r' S Λ_r in place (Λ_r = blockdiag(Λ_2 … Λ_K, I))."""
        for k, tk in enumerate(self.terms[1:], start=1):
            a, b = self.rest_off[k - 1], self.rest_off[k]
            if tk.S == 1:
                th = theta[self.theta_off[k]]
                S[a:b, :] *= th
                S[:, a:b] *= th
            else:
                T = self.T(theta, k)
                blk = S[a:b, :].reshape(tk.nl, tk.S, -1)
                S[a:b, :] = np.einsum("st,lsr->ltr", T, blk).reshape(b - a, -1)
                blk = S[:, a:b].reshape(-1, tk.nl, tk.S)
                S[:, a:b] = (blk @ T).reshape(-1, b - a)

    # -- solve -----------------------------------------------------------------
    def solve(
        self, theta: np.ndarray, w: np.ndarray, z: np.ndarray,
        products: Products | None = None,
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """Minimiser (u, β) and log|L_Z|² for weights w and working response z, or for
        the cross-products ``products`` of (w, z) computed before (:meth:`products`).

        ``u`` is flat (term-major, level-major within a term: level l,
        effect s at l·S + s). Raises :class:`PWLSFailure` when a factor fails.
        """
        if in_force(self.blas_threads):  # inside a fit: the limit is already set
            return self._solve(theta, w, z, products)
        with blas_threads(self.blas_threads):
            return self._solve(theta, w, z, products)

    def products(self, w: np.ndarray, z: np.ndarray) -> Products:
        """The cross-products (A11, A21, A22, cell sums) of weights w and response z,
        kept for later solves at other θ with the same (w, z)."""
        if self._arrow is not None:
            return Products(*self._arrow.products(w, z), None)
        A21 = self._crossprod(w, z).copy()
        cells = self._cells.copy() if self.pair else None
        return Products(self.A11.copy(), A21, self.A22.copy(), cells)

    def without_x(self, prod: Products, beta: np.ndarray) -> Products:
        """Products of (w, z − Xβ) for the system without X (``p = 0``), from this
        system's products of (w, z): the columns [X z] of A21 and A22 collapse to
        [X z] g with g = (−β, 1)."""
        if self._arrow is not None:
            return Products(*ArrowPWLS.without_x((prod.A11, prod.A21, prod.A22), beta), None)
        rz = self.rz
        g = np.append(-np.asarray(beta, float), 1.0)
        A21 = np.empty(prod.A21.shape[:1] + (rz + 1,) + prod.A21.shape[2:])
        A21[:, :rz] = prod.A21[:, :rz]
        A21[:, rz] = np.einsum("lrs,r->ls", prod.A21[:, rz:], g)
        A22 = np.empty((rz + 1, rz + 1))
        A22[:rz, :rz] = prod.A22[:rz, :rz]
        col = prod.A22[:, rz:] @ g
        A22[:rz, rz] = col[:rz]
        A22[rz, :rz] = col[:rz]
        A22[rz, rz] = g @ col[rz:]
        return Products(prod.A11, A21, A22, prod.cells)

    def _solve(
        self, theta: np.ndarray, w: np.ndarray, z: np.ndarray,
        products: Products | None = None,
    ) -> tuple[np.ndarray, np.ndarray, float]:
        if self._arrow is not None:
            out = self._arrow.solve(theta, self._arrow.products(w, z) if products is None
                                    else (products.A11, products.A21, products.A22))
            if out is None:
                raise PWLSFailure("Cholesky factor of the penalized system failed")
            self.logdet = out[2]
            return out
        if products is None:
            A21 = self._crossprod(w, z)
        else:  # the solve overwrites A22 and reads the cell sums: restore both
            A21 = products.A21
            self.A11[:] = products.A11
            self.A22[:] = products.A22
            if products.cells is not None:
                self._cells[:] = products.cells
        S1, r, rz, p = self.S1, self.r, self.rz, self.p
        if self.scalar1:
            th = theta[0]
            m = th * th * self.A11[:, 0, 0] + 1.0
            logdet1 = float(np.add.reduce(np.log(m)))
            sv = th / np.sqrt(m)
            if self.pair and self._sparse_pairs is not None:
                S = self._schur_pair(sv * sv, A21[:, :, 0])
            else:
                S = self._schur(A21[:, :, 0] * sv[:, None])
        else:
            T1 = self.T(theta, 0)
            # M_l = T₁'A11_l T₁ and A21_l T₁ as GEMMs over the stacked blocks
            # ((A_l T₁)'T₁, A_l symmetric), not nl1 small products
            AT = (self.A11.reshape(-1, S1) @ T1).reshape(-1, S1, S1)
            M = (AT.transpose(0, 2, 1).reshape(-1, S1) @ T1).reshape(-1, S1, S1)
            M[:, np.arange(S1), np.arange(S1)] += 1.0
            Lm = self._term1_chol(M)
            logdet1 = 2.0 * float(np.sum(np.log(np.diagonal(Lm, axis1=1, axis2=2))))
            W = (A21.reshape(-1, S1) @ T1).reshape(-1, r, S1)
            V = self._lower_solve(Lm, W.transpose(0, 2, 1)).reshape(-1, r)
            S = self._schur(V)
        self._scale_rest(S, theta)
        if rz:
            S[self._diag_rz, self._diag_rz] += 1.0
        L, info = lapack.dpotrf(S, lower=1, clean=0, overwrite_a=1)
        if info != 0:
            raise PWLSFailure(f"Cholesky factor of the penalized system failed (info={info})")
        self._factor = L
        diag = np.diagonal(L)
        if r > 1 and diag[:-1].min() <= 0:
            raise PWLSFailure("penalized system is singular")
        logdet = logdet1 + 2.0 * float(np.add.reduce(np.log(diag[:rz])))
        v = np.empty(r)
        v[-1] = -1.0
        if r > 1:
            v[:-1], info = lapack.dtrtrs(L[:-1, :-1], L[-1, :-1], lower=1, trans=1)
            if info != 0:
                raise PWLSFailure(f"triangular solve failed (info={info})")
        x = v[:-1].copy()
        beta = x[rz : rz + p]
        self._scale_vec(v, theta)
        if self.scalar1:
            u1 = (A21[:, :, 0] @ v) * (-theta[0] / m)
        else:
            h = np.einsum("lrs,r->ls", A21, v)
            rhs = (h @ T1)[:, :, None]
            if S1 <= batched.SMALL_S:
                u1 = -batched.solve_upper(Lm, batched.solve_lower(Lm, rhs))[:, :, 0]
            else:
                u1 = -np.linalg.solve(Lm.transpose(0, 2, 1), np.linalg.solve(Lm, rhs))[:, :, 0]
            u1 = u1.ravel()
        u = np.concatenate([u1, x[:rz]])
        self.logdet = logdet
        return u, beta, logdet

    def rx(self) -> np.ndarray:
        """R_X of the last solve (p × p, upper triangular), the fixed-effects block of
        its factor: R_X'R_X = X'WX − X'WZΛ(Λ'Z'WZΛ + I)⁻¹Λ'Z'WX at that solve's weights."""
        if self._arrow is not None:
            return self._arrow.rx()
        rz, p = self.rz, self.p
        return np.triu(self._factor[rz : rz + p, rz : rz + p].T)

    def _term1_chol(self, M: np.ndarray) -> np.ndarray:
        """Cholesky factors of the per-level blocks M_l = T₁'A11_l T₁ + I (small S₁:
        the entry loops of :mod:`mixedmodels.linalg.batched`)."""
        Lm = batched.factor_blocks(M)
        if Lm is None:
            raise PWLSFailure("a level's block of the first term is not positive definite")
        return Lm

    def _lower_solve(self, Lm: np.ndarray, B: np.ndarray) -> np.ndarray:
        """L_l⁻¹ B_l for every level (B (nl1, S1, m))."""
        if self.S1 <= batched.SMALL_S:
            return batched.solve_lower(Lm, B)
        return np.linalg.solve(Lm, B)

    def _schur(self, V: np.ndarray) -> np.ndarray:
        """A22 − V'V (symmetric, Fortran order), by a rank-k update of the lower
        triangle (``dsyrk``, half the flops of a product) mirrored to the upper."""
        if self.rz == 0:  # one term: S is (p + 1) × (p + 1)
            return self.A22 - V.T @ V
        S = blas.dsyrk(-1.0, V.T, beta=1.0, c=self.A22.T, trans=0, lower=1, overwrite_c=1)
        if self._mirror is not None:  # Λ_r has lower-triangular blocks: S is used whole
            S[self._mirror] = S.T[self._mirror]
        return S

    def _schur_pair(self, s2: np.ndarray, A21: np.ndarray) -> np.ndarray:
        """A22 − V'V for two scalar intercept terms whose cell table T is sparse,
        V = diag(s) A21, A21 = [T | M] (M the factor-1 margins of W[X z]):

            (V'V)_{l2 l2'} = Σ_{cells c, c' of one level l1} s²_{l1} T_c T_c',
            (V'V)_{D l2} = Σ_{cells c at l2} s²_{l1(c)} T_c M_{l1(c)},
            (V'V)_{DD} = M' diag(s²) M,

        over the precomputed same-level cell pairs (symmetric, C order; its
        transpose is the Fortran-ordered matrix itself)."""
        nl2 = self.terms[1].nl
        a, b, l1, pos, cell_l1, dz_at = self._sparse_pairs
        t = self._cells
        S = self.A22
        zz = np.bincount(pos, weights=s2[l1] * t[a] * t[b], minlength=nl2 * nl2)
        S[:nl2, :nl2] -= zz.reshape(nl2, nl2)
        M = A21[:, nl2:]
        sM = M * s2[:, None]
        tc = sM[cell_l1] * t[:, None]  # (ncell, p + 1)
        dz = np.bincount(dz_at, weights=tc.ravel(), minlength=tc.size and nl2 * M.shape[1])
        dz = dz.reshape(nl2, M.shape[1])
        S[:nl2, nl2:] -= dz
        S[nl2:, :nl2] -= dz.T
        S[nl2:, nl2:] -= M.T @ sM
        return S.T

    def _scale_vec(self, v: np.ndarray, theta: np.ndarray) -> None:
        """v ← Λ_r v in place."""
        for k, tk in enumerate(self.terms[1:], start=1):
            a, b = self.rest_off[k - 1], self.rest_off[k]
            if tk.S == 1:
                v[a:b] *= theta[self.theta_off[k]]
            else:
                v[a:b] = (v[a:b].reshape(tk.nl, tk.S) @ self.T(theta, k).T).ravel()

    # -- linear predictor -------------------------------------------------------
    def b_of(self, theta: np.ndarray, u: np.ndarray) -> list[np.ndarray]:
        """b_k = Λ_k u_k per term, as (nl, S) arrays."""
        out = []
        off = 0
        for k, t in enumerate(self.terms):
            uk = u[off : off + t.q].reshape(t.nl, t.S)
            out.append(uk * theta[self.theta_off[k]] if t.S == 1 else uk @ self.T(theta, k).T)
            off += t.q
        return out

    def zb(self, theta: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Z Λ u (n,)."""
        if self._ones_all is not None:
            # every term a scalar intercept: b = θ[term of uⱼ] uⱼ, η = Σ_k b[offset_k + codes_k]
            b = u * theta[self._theta_of_u]
            if len(self.terms) == 1:
                return b.take(self._ones_all[0])
            return np.add.reduce(b.take(self._ones_all), axis=0)
        if self.all_scalar:
            eta = np.zeros(self.n)
            off = 0
            for k, t in enumerate(self.terms):
                v = np.take(u[off : off + t.nl] * theta[self.theta_off[k]], t.codes)
                if not self._ones[k]:
                    v *= t.Z[:, 0]
                eta += v
                off += t.nl
            return eta
        # one gather per column of b_k = Λ_k u_k: Σ_k Σ_s Z_k[:, s] b_k[codes_k, s]
        eta = np.zeros(self.n)
        for t, b, cols in zip(self.terms, self.b_of(theta, u), self._zcols):
            for s, zs in enumerate(cols):
                v = np.take(np.ascontiguousarray(b[:, s]), t.codes)
                if zs is not None:
                    v *= zs
                eta += v
        return eta
