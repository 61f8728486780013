"""The profiled criterion and its gradient from per-level factors and one Schur complement.

The same d(θ) and ∇d(θ) as :mod:`mixedmodels.linalg.dense`, for the
same small systems, without forming the N × N matrix Ω. The first term's
block of Ω is block diagonal, so with its T (S × S), per level l

    Ω_l = T'A11_l T + I = L_l L_l',   C_l = Λ₂'A21_l T L_l⁻ᵀ   (m × S),

and the m trailing rows (terms 2..K, X̃, ỹ; Λ₂ their relative factor, the
identity on X̃ and ỹ, E₂ the identity on the random-effect rows) leave the
Schur complement

    Ω₂₂ − Σ_l C_l C_l' = R R',   Ω₂₂ = Λ₂'A22 Λ₂ + E₂.

The criterion reads off the diagonals of L_l and R. Everything per level is
one batched numpy operation over a (levels × S × S) or (levels × m × S)
stack (closed-form Cholesky and inverse for S ≤ 3), so an evaluation is a
few dozen numpy calls whatever the number of levels, and O(levels · m² + m³)
flops instead of O(N³).

The gradient is the dense module's formula, ∂d/∂θ_j = 2 tr(M Λ_j) +
(2k/r²)(AΛv)'(Λ_j v) with M = Ω_B⁻¹Λ_B'A_{B,Z}, written in these blocks.
With R_B the leading b₂ rows of R that B covers (terms 2..K, and X̃ for REML),
X¹ = R_B⁻¹C_B, X² = R_B⁻ᵀX¹, W_l = X¹_l L_l⁻¹ and Q_l = X²_l L_l⁻¹,

    (Ω_B⁻¹)_{ll} = Ω_l⁻¹ + W_l'W_l,   (Ω_B⁻¹)_{l,2} = −Q_l',

so the first term's diagonal blocks of M are
M_l = (Ω_l⁻¹ + W_l'W_l) T'A11_l − Q_l' (Λ₂'A21_l)_B, and its trace terms
are the entries of Σ_l M_l; the trailing terms' block of M is
−Q F' + S_B⁻¹ (Λ₂'A22)_{B,·} with F = A21 Λ₁ and S_B = R_B R_B'. With
v = [v₁, v₂], R'v₂ = r e_m and v₁_l = −L_l⁻ᵀ C_l'v₂ (v = [−ũ, −β̃, 1]),
AΛv is A11_l T v₁_l + A21_l'Λ₂v₂ on the first term's rows and
A21 Λ₁v₁ + A22 Λ₂v₂ on the trailing ones.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from ..crossprod import CrossProducts
from .blocked import FactorizationError

__all__ = ["SchurCriterion", "SCHUR_MAX_S", "SCHUR_MIN_N", "prefers_schur"]

SCHUR_MAX_S = 3
"""Largest first-term block size S handled here (closed-form Cholesky factors)."""

SCHUR_MIN_N = 64
"""Smallest N = q + p + 1 for which the Schur form is chosen: below it the dense
factor's few BLAS calls cost less than the Schur form's batched numpy calls (measured:
equal near N = 45, the Schur form 8× faster at N = 160 and 70× at N = 300)."""


def prefers_schur(cp: CrossProducts) -> bool:
    """Whether the Schur form beats the dense factor for these cross-products: a first
    term of at most ``SCHUR_MAX_S`` effects, N ≥ ``SCHUR_MIN_N`` and the trailing block
    at most half of N (else its m³ work is most of the dense factor's)."""
    d1 = cp.dims[0]
    N = d1.q + cp.r
    return d1.S <= SCHUR_MAX_S and N >= SCHUR_MIN_N and 2 * cp.r <= N


@dataclass
class SchurFactor:
    """The factor at one θ. Per-level arrays keep the level last: an S × S block of
    level l is ``X[:, :, l]``, an m × S one ``Y[:, :, l]``."""

    T: np.ndarray  # (S, S)
    lam2: np.ndarray | None  # (m, m) Λ₂, None where there are no trailing terms
    L: np.ndarray  # (S, S, nl)
    Linv: np.ndarray  # (S, S, nl)
    G: np.ndarray  # (m, S, nl) Λ₂'A21_l
    Ccat: np.ndarray  # (m, S·nl) the C_l side by side, columns (effect, level)
    R: np.ndarray  # (m, m) lower


def _chol_inv(O: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """L_l = chol(O_l) and L_l⁻¹ of a stack (S, S, nl) of SPD blocks, in closed form."""
    S = O.shape[0]
    L = np.zeros_like(O)
    Li = np.zeros_like(O)
    if S == 1:
        np.sqrt(O, out=L)
        np.divide(1.0, L, out=Li)
        return L, Li
    l00, l10, l11 = L[0, 0], L[1, 0], L[1, 1]
    np.sqrt(O[0, 0], out=l00)
    np.divide(O[1, 0], l00, out=l10)
    i00, i11 = Li[0, 0], Li[1, 1]
    np.divide(1.0, l00, out=i00)
    if S == 2:
        np.sqrt(O[1, 1] - l10 * l10, out=l11)
        np.divide(1.0, l11, out=i11)
        np.multiply(-l10 * i00, i11, out=Li[1, 0])
        return L, Li
    l20, l21, l22 = L[2, 0], L[2, 1], L[2, 2]
    np.divide(O[2, 0], l00, out=l20)
    np.sqrt(O[1, 1] - l10 * l10, out=l11)
    np.divide(O[2, 1] - l20 * l10, l11, out=l21)
    np.sqrt(O[2, 2] - l20 * l20 - l21 * l21, out=l22)
    np.divide(1.0, l11, out=i11)
    i22 = np.divide(1.0, l22, out=Li[2, 2])
    i10 = np.multiply(-l10 * i00, i11, out=Li[1, 0])
    np.multiply(-l21 * i11, i22, out=Li[2, 1])
    np.multiply(-(l20 * i00 + l21 * i10), i22, out=Li[2, 0])
    return L, Li


class SchurCriterion:
    """d(θ) and ∇d(θ) as :class:`~mixedmodels.linalg.dense.DenseCriterion`, from the
    first term's per-level factors and the Schur complement of the trailing rows."""

    def __init__(
        self,
        cp: CrossProducts,
        tri_index: list[tuple[np.ndarray, np.ndarray]],
        reml: bool,
    ):
        d1 = cp.dims[0]
        nl, S = d1.nl, d1.S
        if S > SCHUR_MAX_S:
            raise ValueError(f"first term has {S} effects; at most {SCHUR_MAX_S} here")
        m = cp.r
        q2 = cp.rz
        self.nl, self.S, self.m, self.q2 = nl, S, m, q2
        self.q, self.p, self.N = d1.q + q2, cp.p, d1.q + m
        self.A11 = np.ascontiguousarray(np.asarray(cp.A11, dtype=float).transpose(1, 2, 0))
        self._A11f = self.A11.reshape(S * S, nl)
        a21 = cp.A21.toarray() if sp.issparse(cp.A21) else np.asarray(cp.A21, dtype=float)
        # (m, S, nl): A21_l's column s for level l at [:, s, l]
        self.A21 = np.ascontiguousarray(a21.reshape(m, nl, S).transpose(0, 2, 1))
        self.A22 = np.array(cp.A22, dtype=float)
        ri, ci = (np.asarray(a, dtype=np.intp) for a in tri_index[0])
        self.n1 = ri.size
        self._t_flat = ri * S + ci
        self._t_rows, self._t_cols = ri, ci
        self._eye_col = np.eye(S).reshape(S * S, 1)
        self._diag_rows = np.arange(S) * (S + 1)
        # the trailing terms' Λ₂ pattern (as the dense criterion's Λ, without the first term)
        rows, cols, src = [], [], []
        off, base = 0, self.n1
        for d, (r_i, c_i) in zip(cp.dims[1:], tri_index[1:]):
            r_i, c_i = np.asarray(r_i, dtype=np.intp), np.asarray(c_i, dtype=np.intp)
            starts = off + d.S * np.arange(d.nl)
            rows.append((starts[:, None] + r_i[None, :]).ravel())
            cols.append((starts[:, None] + c_i[None, :]).ravel())
            src.append(np.tile(base + np.arange(r_i.size), d.nl))
            off += d.q
            base += r_i.size
        self.ntheta = base
        if q2:
            self.lam_rows = np.concatenate(rows)
            self.lam_cols = np.concatenate(cols)
            self.lam_src = np.concatenate(src) - self.n1
            self._lam_flat = self.lam_rows * m + self.lam_cols
            self._lam2 = np.zeros((m, m))
            self._lam2.reshape(-1)[np.arange(q2, m) * (m + 1)] = 1.0
            self._diag_q2 = np.arange(q2) * (m + 1)
            self._trace2_flat = self.lam_cols * q2 + self.lam_rows  # M₂₂[col, row]
        self.reml = bool(reml)
        self.b2 = q2 + cp.p if reml else q2  # trailing rows inside the log-determinant
        self.k = float(cp.n - cp.p if reml else cp.n)
        shift = cp.shift
        self._ld_x_shift = 2.0 * shift.log_det_M
        self._log_s2 = 2.0 * shift.log_s

    def with_response(self, cp: CrossProducts) -> SchurCriterion:
        """The criterion of the same design with ``cp`` from a new response: only the ỹ
        row of A21 and A22 and the shift's s change; everything else is shared."""
        new = copy.copy(self)
        m, S, nl = self.m, self.S, self.nl
        a21_last = (cp.A21.getrow(m - 1).toarray()[0] if sp.issparse(cp.A21)
                    else np.asarray(cp.A21[-1], dtype=float))
        new.A21 = self.A21.copy()
        new.A21[-1] = a21_last.reshape(nl, S).T
        new.A22 = self.A22.copy()
        last = np.asarray(cp.A22[-1], dtype=float)
        new.A22[-1, :] = last
        new.A22[:, -1] = last
        if self.q2:
            new._lam2 = self._lam2.copy()
        new._log_s2 = 2.0 * cp.shift.log_s
        return new

    # -- the factor ----------------------------------------------------------------
    def factor(self, theta: np.ndarray) -> tuple[SchurFactor, None]:
        """The factor at θ (and ``None`` where the dense criterion returns Λ); raises
        :class:`FactorizationError` where Ω is not positive definite."""
        S, m = self.S, self.m
        T = np.zeros((S, S))
        T.reshape(-1)[self._t_flat] = theta[: self.n1]
        Tt = T.T
        # vec(T'A11_l T) = K vec(A11_l), K[(i,k),(j,l)] = T[j,i] T[l,k]
        K = np.multiply.outer(Tt, Tt).transpose(0, 2, 1, 3).reshape(S * S, S * S)
        O = K @ self._A11f
        O += self._eye_col
        L, Linv = _chol_inv(O.reshape(S, S, self.nl))
        if self.q2:
            lam2 = self._lam2.copy()
            lam2.reshape(-1)[self._lam_flat] = theta[self.n1 :][self.lam_src]
            G = (lam2.T @ self.A21.reshape(m, -1)).reshape(self.A21.shape)
            omega22 = lam2.T @ self.A22 @ lam2
            omega22.reshape(-1)[self._diag_q2] += 1.0
        else:
            lam2 = None
            G = self.A21
            omega22 = self.A22
        F = np.matmul(Tt, G)  # Λ₂'A21_l T
        C = (F[:, None, :, :] * Linv[None, :, :, :]).sum(axis=2)  # F_l L_l⁻ᵀ
        Ccat = C.reshape(m, -1)
        R, info = lapack.dpotrf(omega22 - Ccat @ Ccat.T, lower=1, clean=0, overwrite_a=1)
        if info != 0:
            raise FactorizationError(f"dpotrf info={info}")
        return SchurFactor(T, lam2, L, Linv, G, Ccat, R), None

    def pieces(self, f: SchurFactor) -> tuple[float, float, float]:
        """(log|L_Z|², log|R_X|², log pwrss) in the original units."""
        dR = f.R.diagonal()
        logR = np.log(dR[:-1])
        q2, p = self.q2, self.p
        ld_l = float(np.log(f.L.reshape(self.S * self.S, -1)[self._diag_rows]).sum())
        ld_z = 2.0 * (ld_l + float(logR[:q2].sum()))
        ld_x = 2.0 * float(logR[q2 : q2 + p].sum()) + self._ld_x_shift
        r = float(dR[-1])
        pw_t = r * r
        log_pw = (math.log(pw_t) if pw_t > 0.0 else -math.inf) + self._log_s2
        return ld_z, ld_x, log_pw

    def _v_parts(self, f: SchurFactor) -> tuple[np.ndarray, np.ndarray]:
        """u = −v₁ (S, nl) and v₂ (m): R'v₂ = r e_m, u_l = L_l⁻ᵀ C_l'v₂."""
        e = np.zeros(self.m)
        e[-1] = f.R[-1, -1]
        v2, _ = lapack.dtrtrs(f.R, e, lower=1, trans=1)
        Cv = (v2 @ f.Ccat).reshape(self.S, -1)  # C_l'v₂
        u = (f.Linv * Cv[:, None, :]).sum(axis=0)
        return u, v2

    def solution(self, f: SchurFactor) -> np.ndarray:
        """v = [−ũ, −β̃, 1] as :meth:`DenseCriterion.solution` (Ω v = r² e_N)."""
        u, v2 = self._v_parts(f)
        return np.concatenate([-u.T.reshape(-1), v2])

    def gradient(self, f: SchurFactor, _lam: None = None) -> np.ndarray:
        """∇d(θ) at the θ of ``f`` (the formula of the module docstring)."""
        S, nl, m = self.S, self.nl, self.m
        u, v2 = self._v_parts(f)
        T, lam2, Linv = f.T, f.lam2, f.Linv
        z = v2 if lam2 is None else lam2 @ v2
        Tu = T @ u  # −T v₁_l
        A11 = self.A11
        # a_l = A11_l T v₁_l + A21_l'Λ₂v₂; pw = Σ_l a_l v₁_l'
        a = (z @ self.A21.reshape(m, -1)).reshape(S, nl) - (A11 * Tu[None, :, :]).sum(axis=1)
        pw = -(a @ u.T)
        r = f.R[-1, -1]
        coef = 2.0 * self.k / (r * r)
        TtA11 = (T.T @ A11.reshape(S, -1)).reshape(S, S, nl)
        Oinv = (Linv[:, :, None, :] * Linv[:, None, :, :]).sum(axis=0)  # Ω_l⁻¹
        b2 = self.b2
        if b2:
            RB = f.R[:b2, :b2]
            X1, _ = lapack.dtrtrs(RB, f.Ccat[:b2], lower=1)
            X2, _ = lapack.dtrtrs(RB, X1, lower=1, trans=1)
            W = (X1.reshape(b2, S, 1, nl) * Linv[None]).sum(axis=1)  # X¹_l L_l⁻¹
            Q = (X2.reshape(b2, S, 1, nl) * Linv[None]).sum(axis=1)
            P = Oinv + (W[:, :, None, :] * W[:, None, :, :]).sum(axis=0)
            Msum = ((P[:, :, None, :] * TtA11[None]).sum(axis=(1, 3))
                    - (Q[:, :, None, :] * f.G[:b2, None, :, :]).sum(axis=(0, 3)))
        else:
            Msum = (Oinv[:, :, None, :] * TtA11[None]).sum(axis=(1, 3))
        ri, ci = self._t_rows, self._t_cols
        g1 = 2.0 * Msum[ci, ri] + coef * pw[ri, ci]
        if not self.q2:
            return g1
        q2 = self.q2
        A21q = self.A21[:q2]
        # AΛv on the trailing terms' rows: A21 Λ₁v₁ + A22 Λ₂v₂
        h = self.A22[:q2] @ z - A21q.reshape(q2, -1) @ Tu.reshape(-1)
        g_r = h[self.lam_rows] * v2[self.lam_cols]
        RB = f.R[:b2, :b2]
        Fq = np.matmul(T.T, A21q).reshape(q2, -1)  # (A21 Λ₁) on those rows
        rhs = lam2[:, :b2].T @ self.A22[:, :q2]  # (Λ₂'A22)_{B, trailing terms}
        Y, _ = lapack.dpotrs(RB, rhs, lower=1)
        M22 = Y[:q2] - Q[:q2].reshape(q2, -1) @ Fq.T
        g_t = M22.reshape(-1)[self._trace2_flat]
        g2 = np.bincount(self.lam_src, weights=2.0 * g_t + coef * g_r,
                         minlength=self.ntheta - self.n1)
        return np.concatenate([g1, g2])
