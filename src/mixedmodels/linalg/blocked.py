"""Stage 4 of the pipeline: the blocked Cholesky factor L(θ).

With term 1 first and R = [Z_2 … Z_K X y] the rest (see
:mod:`mixedmodels.crossprod`), the lower Cholesky factor of

    Ω(θ) = Λ'A Λ + diag(I_q, 0_{p+1}),   Λ = blockdiag(Λ_1, Λ_r, I_{p+1})

is computed block by block:

* ``L11``: per level l of term 1, ``M_l = T₁' A11_l T₁ + I = L11_l L11_l'``
  (scalar terms: ``m_l = θ² a_l + 1``);
* ``L21 = Λ_r' A21 Λ_1 L11⁻ᵀ`` is never formed during the optimization; only
  the rank update ``L21 L21' = Λ_r' (A21 C A21') Λ_r`` with
  ``C = blockdiag_l(T₁ M_l⁻¹ T₁')`` enters
* ``L22 L22' = Λ_r'(A22 − A21 C A21')Λ_r + diag(I_{rz}, 0)`` (dense LAPACK
  Cholesky). Its trailing (p+1) block holds R_X' and r = √pwrss.

``A21 C A21'`` is computed either densely (few rest rows: a batched small
solve and one GEMM; for 2 or 3 effects the closed forms of
:mod:`mixedmodels.linalg.level_blocks`, vectorised over the levels) or, for
large crossed designs, as one sparse
matrix-vector product ``G c`` whose operator G (fixed pattern of level
pairs) is precomputed once — the same work MixedModels.jl does in its
sparse rank-k update, but vectorized.

The blocks hold the shifted and scaled X̃, ỹ of ``cp.shift``
(:mod:`mixedmodels.crossprod.centering`); so does L22. Everything the
factor reports — ``update``'s log|R_X|² and pwrss, ``log_pwrss``,
``solve``, ``beta``, ``rx`` and ``rx_inverse`` — is mapped back to the
original units here, in one place.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from .._triangular import solve_triangular
from ..crossprod import CrossProducts
from ..memory import check_dense_rest
from . import batched
from .level_blocks import SMALL_LEVEL_S, LevelBlocks
from .symbolic import level_pairs
from .threads import blas_threads, in_force, threads_for

__all__ = ["BlockedCholesky", "FactorizationError"]

_DENSE_FLOP_LIMIT = 3e7

class FactorizationError(ArithmeticError):
    """Ω(θ) is not numerically positive definite at this θ."""


class BlockedCholesky:
    """L(θ) for one set of cross-products; ``update(θ)`` refactors in place."""

    def __new__(
        cls, cp: CrossProducts | None = None, *args: object, **kwargs: object
    ) -> BlockedCholesky:
        """A sparse rest block (``cp.A22`` sparse) is factored by
        :class:`~mixedmodels.linalg.sparse_rest.SparseRestCholesky`
        (``cp`` is None when unpickling: the class is already chosen)."""
        if cls is BlockedCholesky and cp is not None and sp.issparse(cp.A22):
            from .sparse_rest import SparseRestCholesky

            cls = SparseRestCholesky
        return super().__new__(cls)

    def __init__(
        self,
        cp: CrossProducts,
        tri_index: list[tuple[np.ndarray, np.ndarray]],
        dense: bool | None = None,
    ):
        check_dense_rest(cp.r, [(d.nl, d.S) for d in cp.dims], cp.p)
        self._init_common(cp, tri_index)
        d1 = cp.dims[0]
        self.dense_update = self._choose_dense(cp) if dense is None else dense
        dense_flops = float(self.r) ** 2 * d1.q if self.dense_update else 0.0
        # BLAS threads by problem size (mixedmodels.linalg.threads)
        self.blas_threads = threads_for(self.r, dense_flops)
        self.level_blocks: LevelBlocks | None = None
        if self.dense_update:
            a21 = cp.A21.toarray() if sp.issparse(cp.A21) else np.asarray(cp.A21)
            if self.S1 in SMALL_LEVEL_S:
                # closed-form per-level factors (mixedmodels.linalg.level_blocks)
                self.level_blocks = LevelBlocks(cp.A11, a21)
            else:
                self.A21_levels = np.ascontiguousarray(
                    a21.reshape(self.r, self.nl1, self.S1).transpose(1, 0, 2)
                )  # (nl1, r, S1)
                if self.scalar1:
                    self.A21_levels = np.ascontiguousarray(self.A21_levels[:, :, 0])
                else:
                    self.A21_levels_t = np.ascontiguousarray(self.A21_levels.transpose(0, 2, 1))
        else:
            self._prepare_sparse_update()
            if self.S1 in SMALL_LEVEL_S:  # C_l in closed form for G c
                self.level_blocks = LevelBlocks(cp.A11, None)
        self.L22 = np.empty((self.r, self.r), order="F")

    # -- set-up ---------------------------------------------------------------
    def _init_common(
        self, cp: CrossProducts, tri_index: list[tuple[np.ndarray, np.ndarray]]
    ) -> None:
        """Sizes, θ layout and Λ_r maps shared by the dense and sparse rest blocks."""
        self.cp = cp
        self.shift = cp.shift
        self._ld_x_shift = 2.0 * self.shift.log_det_M
        self._log_s2 = 2.0 * self.shift.log_s
        self._s2 = self.shift.s * self.shift.s
        self.log_pwrss = float("nan")
        self.tri = tri_index
        self.ntheta = [len(t[0]) for t in tri_index]
        self.theta_offsets = np.cumsum([0] + self.ntheta)
        d1 = cp.dims[0]
        self.nl1, self.S1 = d1.nl, d1.S
        self.r = cp.r
        self.rz = cp.rz
        self.p = cp.p
        self.scalar1 = self.S1 == 1
        self.a11 = cp.A11[:, 0, 0].copy() if self.scalar1 else None
        self.rest_scalar = all(d.S == 1 for d in cp.dims[1:])
        self._prepare_rest_lambda()
        self.theta = np.full(int(self.theta_offsets[-1]), np.nan)

    def _choose_dense(self, cp: CrossProducts) -> bool:
        """Dense (GEMM) or sparse (G c) rank update, by their per-evaluation cost.

        Dense costs r²·q₁ flops; sparse about Σ_l (entries of level l in A21)²
        (the nonzeros of G, halved for the lower triangle). Dense wins when
        levels of term 1 meet most rest rows (fully crossed designs), sparse
        when they meet few of them (InstEval).
        """
        dense_flops = float(self.r) ** 2 * cp.dims[0].q
        if dense_flops <= _DENSE_FLOP_LIMIT or self.r <= 64:
            return True
        A21 = cp.A21
        if not sp.issparse(A21):
            return True
        per_col = np.diff(sp.csc_matrix(A21).indptr).astype(float)
        per_level = per_col.reshape(self.nl1, self.S1).sum(axis=1)
        sparse_nnz = float(np.sum(per_level**2)) * (self.S1 if self.S1 > 1 else 0.5)
        dense_bytes = 8.0 * self.r * cp.dims[0].q
        if dense_bytes > 2e9:
            return False
        # seconds over a typical fit of ~50 evaluations (measured on one core):
        # building G costs ~350 ns per nonzero once, a product with it ~2 ns per
        # nonzero; the dense update's GEMM runs at ~2e10 flop/s.
        evals = 50
        sparse_cost = sparse_nnz * (350e-9 + evals * 2e-9)
        dense_cost = evals * dense_flops / 2e10
        return dense_cost <= sparse_cost

    def _prepare_rest_lambda(self) -> None:
        """Index maps that build Λ_r (block diagonal) from θ."""
        cp = self.cp
        self.rest_diag_map = np.zeros(self.r, dtype=np.intp)  # into [θ, 1]
        nth = int(self.theta_offsets[-1])
        self.rest_diag_map[:] = nth  # points at the trailing 1.0
        rows, cols, src = [], [], []
        off = 0
        for k, d in enumerate(cp.dims[1:], start=1):
            ri, ci = self.tri[k]
            base = self.theta_offsets[k]
            starts = off + d.S * np.arange(d.nl)[:, None]  # level-major, as Λ_r is laid out
            rows.append((starts + ri).ravel())
            cols.append((starts + ci).ravel())
            src.append(np.tile(base + np.arange(len(ri)), d.nl))
            if d.S == 1:
                self.rest_diag_map[off : off + d.q] = base
            off += d.q
        tail = np.arange(off, self.r)
        rows.append(tail)
        cols.append(tail)
        src.append(np.full(tail.size, nth))
        self.lam_rows = np.concatenate(rows).astype(np.intp)
        self.lam_cols = np.concatenate(cols).astype(np.intp)
        self.lam_src = np.concatenate(src).astype(np.intp)

    def _prepare_sparse_update(self) -> None:
        """Precompute G with (A21 C A21')[i, j] = Σ G[(i,j), (l,s,t)] C_l[s, t].

        With scalar rest terms only the lower triangle is kept, merged with
        the nonzero pattern of A22, so that an evaluation writes just the
        structurally nonzero entries of the Schur complement.
        """
        S1, r = self.S1, self.r
        ri, rj, cidx, vals = level_pairs(self.cp.A21, self.nl1, S1, lower=self.rest_scalar)
        pair = ri.astype(np.int64) * r + rj
        used = np.zeros(r * r, dtype=bool)
        used[pair] = True
        if self.rest_scalar:
            used |= np.tril(self.cp.A22).reshape(-1) != 0
        pattern = np.flatnonzero(used)
        compressed = np.empty(r * r, dtype=np.int32 if pattern.size < 2**31 else np.int64)
        compressed[pattern] = np.arange(pattern.size)
        # G by columns (level, s, t): entries come in level order already
        rows_g = compressed[pair]
        if S1 > 1:
            order = np.argsort(cidx, kind="stable")
            cidx, rows_g, vals = cidx[order], rows_g[order], vals[order]
        ncol = self.nl1 * S1 * S1
        indptr = np.zeros(ncol + 1, dtype=rows_g.dtype)
        np.cumsum(np.bincount(cidx, minlength=ncol), out=indptr[1:])
        self.G = sp.csc_matrix((vals, rows_g, indptr), shape=(pattern.size, ncol))
        self.pair_index = pattern
        self.pair_rows = (pattern // r).astype(np.intp)
        self.pair_cols = (pattern % r).astype(np.intp)
        self.pair_a22 = self.cp.A22.reshape(-1)[pattern]
        self._buffer = np.zeros((r, r))

    # -- per evaluation -------------------------------------------------------
    def lambda_rest(self, theta: np.ndarray) -> sp.csr_matrix:
        ext = np.append(theta, 1.0)
        return sp.csr_matrix(
            (ext[self.lam_src], (self.lam_rows, self.lam_cols)), shape=(self.r, self.r)
        )

    def T(self, theta: np.ndarray, k: int) -> np.ndarray:
        S = self.cp.dims[k].S
        T = np.zeros((S, S))
        T[self.tri[k]] = theta[self.theta_offsets[k] : self.theta_offsets[k + 1]]
        return T

    def update(self, theta: np.ndarray) -> tuple[float, float, float]:
        """Refactor at θ. Returns (log|L_Z|², log|R_X|², pwrss) in the original units.

        pwrss = s² p̃ overflows to inf for a response near 1e154 and beyond;
        ``log_pwrss`` (set here too) is always finite where p̃ > 0.
        Raises :class:`FactorizationError` when Ω(θ) is not positive definite.
        """
        if in_force(self.blas_threads):  # inside a fit: the limit is already set
            return self._update(theta)
        with blas_threads(self.blas_threads):
            return self._update(theta)

    def _update(self, theta: np.ndarray) -> tuple[float, float, float]:
        theta = np.array(theta, dtype=float)
        self.theta = theta
        cp = self.cp
        if self.scalar1:
            t1 = theta[0]
            m = t1 * t1 * self.a11 + 1.0
            self.m1 = m
            logdet1 = float(np.log(m).sum())
            if self.dense_update:
                V = self.A21_levels * (t1 / np.sqrt(m))[:, None]
                S = cp.A22 - V.T @ V
            else:
                S = self._sparse_update(t1 * t1 / m)
        elif self.level_blocks is not None:
            # closed-form per-level work (mixedmodels.linalg.level_blocks)
            T1 = self.T(theta, 0)
            lb = self.level_blocks
            done = lb.update(T1) if self.dense_update else lb.term_blocks(T1)
            if done is None:
                raise FactorizationError("a level's block of term 1 is not positive definite")
            self.Lm1 = None  # built on demand by solve() / cond_var_spherical()
            if self.dense_update:
                S = cp.A22 - done[0]
            else:
                S = self._sparse_update(done[0].reshape(-1))
            logdet1 = done[1]
        else:
            T1 = self.T(theta, 0)
            Lm = self._term1_chol(T1)
            self.Lm1 = Lm
            logdet1 = 2.0 * float(np.log(Lm.reshape(self.nl1, -1)[:, :: self.S1 + 1]).sum())
            if self.dense_update:
                # V_l = L_l⁻¹ T₁' A21_l' and A21 C A21' = Σ_l V_l'V_l
                V = np.linalg.inv(Lm) @ (T1.T @ self.A21_levels_t)  # (nl1, S1, r)
                U = V.reshape(-1, self.r)
                S = cp.A22 - U.T @ U
            else:
                Linv = np.linalg.inv(Lm)
                C = T1 @ (Linv.transpose(0, 2, 1) @ Linv) @ T1.T  # T₁ M_l⁻¹ T₁
                S = self._sparse_update(C.ravel())
        rz = self.rz
        if rz:
            if self.dense_update or not self.rest_scalar:
                S = self._scale_rest(S, theta)
            S.reshape(-1)[: rz * (self.r + 1) : self.r + 1] += 1.0
        # S (C order) holds at least the lower triangle; S.T is its Fortran-order
        # upper view, factorized in place without a copy: S.T = U'U, so L = U'.
        U, info = lapack.dpotrf(S.T, lower=0, clean=0, overwrite_a=1)
        if info != 0:
            raise FactorizationError(f"dpotrf info={info}")
        L = U.T
        self.L22 = L
        logd = np.log(L.diagonal())
        add = np.add.reduce
        logdet_z = logdet1 + 2.0 * float(add(logd[:rz])) if rz else logdet1
        logdet_x = 2.0 * float(add(logd[rz : rz + self.p]))
        logdet_x, pwrss, self.log_pwrss = self.original_units(logdet_x, float(L[-1, -1]))
        return logdet_z, logdet_x, pwrss

    def original_units(self, ld_x_t: float, l_last: float) -> tuple[float, float, float]:
        """(log|R_X|², pwrss, log pwrss) from log|R̃_X|² and L's last diagonal entry √p̃.

        log|R_X|² = log|R̃_X|² + 2 Σ log d_j, pwrss = s² p̃, log pwrss = log p̃ + 2 log s.
        """
        pw_t = l_last * l_last
        log_pw = (math.log(pw_t) if pw_t > 0.0 else -math.inf) + self._log_s2
        return ld_x_t + self._ld_x_shift, pw_t * self._s2, log_pw

    def _term1_chol(self, T1: np.ndarray) -> np.ndarray:
        """Cholesky factors of M_l = T₁'A11_l T₁ + I for every level of term 1."""
        M = T1.T @ (self.cp.A11 @ T1)
        M.reshape(self.nl1, -1)[:, :: self.S1 + 1] += 1.0
        L = batched.factor_blocks(M)
        if L is None:
            raise FactorizationError("a level's block of term 1 is not positive definite")
        return L

    def _lm1(self) -> np.ndarray:
        if getattr(self, "Lm1", None) is None and getattr(self, "level_blocks", None) is not None:
            self.Lm1 = self.level_blocks.cholesky_factors()  # of the M_l of the last update
            if self.Lm1 is None:
                raise FactorizationError("a level's block of term 1 is not positive definite")
        if getattr(self, "Lm1", None) is None:
            self.Lm1 = self._term1_chol(self.T(self.theta, 0))
        return self.Lm1

    def _sparse_update(self, c: np.ndarray) -> np.ndarray:
        if self.rest_scalar:
            return self._sparse_update_lower(c)
        S = self.cp.A22.copy()
        flat = S.reshape(-1)
        flat[self.pair_index] -= self.G @ c
        return S

    def _sparse_update_lower(self, c: np.ndarray) -> np.ndarray:
        """Lower triangle of Λ_r'(A22 − A21 C A21')Λ_r on its nonzero pattern."""
        vals = self.pair_a22 - self.G @ c
        d = np.append(self.theta, 1.0)[self.rest_diag_map]
        vals *= d[self.pair_rows]
        vals *= d[self.pair_cols]
        buf = self._buffer
        buf.fill(0.0)
        buf.reshape(-1)[self.pair_index] = vals
        return buf

    def _scale_rest(self, S: np.ndarray, theta: np.ndarray) -> np.ndarray:
        if self.rz == 0:
            return S
        if self.rest_scalar:
            d = np.append(theta, 1.0)[self.rest_diag_map]
            S *= d[:, None]
            S *= d[None, :]
            return S
        lam = self.lambda_rest(theta)
        tmp = lam.T @ S
        return np.asarray(lam.T @ tmp.T)

    # -- after convergence ----------------------------------------------------
    def solve(self) -> tuple[list[np.ndarray], np.ndarray]:
        """Spherical random effects u (per term, (nl, S)) and β at the last θ (original units)."""
        us, beta_t = self._solve_shifted()
        s = self.shift.s
        return [s * u for u in us], self.shift.beta(beta_t)

    def _tail_factor(self) -> np.ndarray:
        """The trailing (p+1) × (p+1) block of L22 (lower): R̃_X' above ỹ's row."""
        return np.tril(self.L22[self.rz :, self.rz :])

    def beta(self) -> np.ndarray:
        """β̂(θ) at the last θ (original units), from the X̃ and ỹ rows of L22 alone."""
        p = self.p
        if not p:
            return np.zeros(0)
        Lt = self._tail_factor()
        beta_t = solve_triangular(Lt[:p, :p], Lt[-1, :p], lower=True, trans=True)
        return self.shift.beta(beta_t)

    def _rest_solution(self) -> np.ndarray:
        """w = [ũ_rest; β̃] = S_rr⁻¹ S_ry from L22 (rest rows without ỹ)."""
        L = self.L22
        if self.r == 1:
            return np.zeros(0)
        return solve_triangular(L[:-1, :-1], L[-1, :-1], lower=True, trans=True)

    def _solve_shifted(self) -> tuple[list[np.ndarray], np.ndarray]:
        """ũ and β̃ of the shifted model (see :mod:`mixedmodels.crossprod.centering`)."""
        rz, p = self.rz, self.p
        w = self._rest_solution()
        beta = w[rz : rz + p]
        v = np.append(w, -1.0)
        if rz:
            v = self.lambda_rest(self.theta) @ v
        h = (self.cp.A21.T @ v).reshape(self.nl1, self.S1)
        if self.scalar1:
            u1 = -(self.theta[0] * h[:, 0] / self.m1)[:, None]
        else:
            T1 = self.T(self.theta, 0)
            rhs = (h @ T1)[:, :, None]  # T1' h_l
            Lm = self._lm1()
            if self.S1 <= batched.SMALL_S:
                u1 = -batched.solve_upper(Lm, batched.solve_lower(Lm, rhs))[:, :, 0]
            else:
                u1 = -np.linalg.solve(Lm.transpose(0, 2, 1), np.linalg.solve(Lm, rhs))[:, :, 0]
        us = [u1]
        off = 0
        for d in self.cp.dims[1:]:
            us.append(w[off : off + d.q].reshape(d.nl, d.S))
            off += d.q
        return us, beta

    def rx(self) -> np.ndarray:
        """R_X (upper triangular p × p) with R_X'R_X = X'V⁻¹X / σ² structure: R̃_X M."""
        return self.shift.rx(self._rx_shifted())

    def rx_inverse(self) -> np.ndarray:
        """R_X⁻¹ = M⁻¹ R̃_X⁻¹ (so (R_X'R_X)⁻¹ = R_X⁻¹R_X⁻ᵀ) without forming R_X."""
        return self.shift.rx_inverse(self._rx_shifted())

    def rx_inverse_scaled(self) -> np.ndarray:
        """D R_X⁻¹ = (M D⁻¹)⁻¹ R̃_X⁻¹ (D = diag of X's column scales): O(1) entries
        at any scale of X, with (R_X'R_X)⁻¹ = D⁻¹ (D R_X⁻¹)(D R_X⁻¹)' D⁻¹."""
        return self.shift.rx_inverse_scaled(self._rx_shifted())

    def _rx_shifted(self) -> np.ndarray:
        p = self.p
        return self._tail_factor()[:p, :p].T

    def cond_var_spherical(self) -> list[np.ndarray]:
        """Per term, per level: the S×S blocks of (L_Z L_Z')⁻¹ (u-scale)."""
        cp, rz = self.cp, self.rz
        out: list[np.ndarray] = []
        if self.scalar1:
            Minv = (1.0 / self.m1)[:, None, None]
        else:
            Lm = self._lm1()
            Minv = np.linalg.inv(Lm @ Lm.transpose(0, 2, 1))
        if rz == 0:
            out.append(Minv)
            return out
        Lz = np.tril(self.L22[:rz, :rz])
        lam = self.lambda_rest(self.theta)[:rz, :rz]
        A21z = sp.csr_matrix(cp.A21[:rz, :])
        T1 = self.T(self.theta, 0)
        # B = Λ_rz' A21z Λ1 M⁻¹ (rz × q1), computed level-blockwise
        B = np.asarray((lam.T @ A21z).todense()).reshape(rz, self.nl1, self.S1)
        B = np.einsum("rls,st,ltu->rlu", B, T1, Minv)
        Y = solve_triangular(Lz, B.reshape(rz, -1), lower=True).reshape(rz, self.nl1, self.S1)
        out.append(Minv + np.einsum("rls,rlt->lst", Y, Y))
        Linv = solve_triangular(Lz, np.eye(rz), lower=True)
        off = 0
        for d in cp.dims[1:]:
            blk = Linv[:, off : off + d.q].reshape(rz, d.nl, d.S)
            out.append(np.einsum("rls,rlt->lst", blk, blk))
            off += d.q
        return out
