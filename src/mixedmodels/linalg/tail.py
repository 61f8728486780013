"""The criterion as a function of the trailing terms' θ, with the leading terms fixed.

Split the rest rows R = [Z_2 … Z_K X y] of :mod:`mixedmodels.linalg.blocked`
into a head H (terms 2…k−1: the large dense part) and a tail T (terms k…K,
X, y: few rows). With Λ_T = I the factor at θ' = (θ_head, I) has blocks
L_HH, L_TH = P and, below them, chol(K_TT + E_T − PP') where K is the
unscaled Schur complement A22 − A21 C A21' and E_T = diag(I on the tail's
random-effect rows, 0). For any tail θ

    S_TT(θ_tail) = Λ_T' T₀ Λ_T + E_T,   T₀ = L_TT L_TT' − E_T = K_TT − PP',
    log|L|² = log|L_11|² + log|L_HH|² + log|chol S_TT|²,

so one factorization at θ_head gives the criterion for every θ_tail at the
cost of a t×t Cholesky factor (t the tail's row count). Minimising over the
tail θ then profiles those parameters out of the optimization: the outer
optimizer sees only θ_head, which is where every evaluation is expensive.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.linalg import lapack

from .blocked import BlockedCholesky, FactorizationError

__all__ = ["TailProfile", "tail_split"]

# profile the tail out only when the rest block is this large (an evaluation
# costs milliseconds) and the tail is at most a quarter of it
MIN_REST_ROWS = 200


def tail_split(factor: BlockedCholesky) -> int | None:
    """Index k of the first tail term, or ``None`` when profiling does not pay.

    The tail is the longest run of trailing terms (k ≥ 2) holding at most a
    quarter of the rest rows, in a rest block of at least ``MIN_REST_ROWS``.
    A sparse rest block (:mod:`mixedmodels.linalg.sparse_rest`) has no dense
    tail to reuse: ``None``.
    """
    if getattr(factor, "sparse_rest", False):
        return None
    cp = factor.cp
    r = factor.r
    if r < MIN_REST_ROWS:
        return None
    rows_before = np.cumsum([0] + [d.q for d in cp.dims[1:]])  # rest rows before term k+1
    for k in range(2, len(cp.dims)):
        if r - int(rows_before[k - 1]) <= r // 4:
            return k
    return None


class TailProfile:
    """Criterion over the tail θ at a fixed head θ (see the module docstring)."""

    def __init__(
        self,
        factor: BlockedCholesky,
        first_tail_term: int,
        criterion: Callable[[float, float, float], float],
    ):
        """``criterion(log|L_Z|², log|R_X|², log pwrss)`` in the original units."""
        self.factor = factor
        self.criterion = criterion
        cp = factor.cp
        k = first_tail_term
        self.n_head = int(factor.theta_offsets[k])
        ntheta = int(factor.theta_offsets[-1])
        self.head_rows = sum(d.q for d in cp.dims[1:k])
        self.t = factor.r - self.head_rows
        self.tz = factor.rz - self.head_rows  # the tail's random-effect rows
        self.p = factor.p
        # θ of the tail terms at Λ_T = I: 1 on the diagonals of each T_k, 0 below
        ident = np.zeros(ntheta - self.n_head)
        for j in range(k, len(cp.dims)):
            ri, ci = factor.tri[j]
            base = int(factor.theta_offsets[j]) - self.n_head
            ident[base + np.flatnonzero(ri == ci)] = 1.0
        self.identity_tail = ident
        # Λ_T as (rows, cols, θ index) triples restricted to the tail block
        h = self.head_rows
        sel = (factor.lam_rows >= h) & (factor.lam_rows < factor.rz)
        self._lam_rows = factor.lam_rows[sel] - h
        self._lam_cols = factor.lam_cols[sel] - h
        self._lam_src = factor.lam_src[sel] - self.n_head
        self.scalar = all(d.S == 1 for d in cp.dims[k:])
        if self.scalar:
            self._diag_src = factor.rest_diag_map[h : factor.rz] - self.n_head
        self.T0 = np.zeros((self.t, self.t))
        self.ld_head = np.nan

    def set_head(self, theta_head: np.ndarray) -> None:
        """Factor at (θ_head, Λ_T = I) and keep T₀ and log|L_11|² + log|L_HH|².

        Raises :class:`FactorizationError` where Ω is not positive definite.
        """
        f = self.factor
        ld_z, _, _ = f.update(np.concatenate([theta_head, self.identity_tail]))
        L_tt = np.tril(f.L22[self.head_rows :, self.head_rows :])
        T0 = L_tt @ L_tt.T
        tz = self.tz
        T0.reshape(-1)[: tz * (self.t + 1) : self.t + 1] -= 1.0
        self.T0 = T0
        self.ld_head = ld_z - 2.0 * float(np.add.reduce(np.log(L_tt.diagonal()[:tz])))

    def lambda_tail(self, theta_tail: np.ndarray) -> np.ndarray:
        """Λ_T (t × t, identity on the X and y rows) at the tail θ."""
        lam = np.eye(self.t)
        lam[self._lam_rows, self._lam_cols] = theta_tail[self._lam_src]
        return lam

    def objective(self, theta_tail: np.ndarray) -> float:
        """The criterion at (θ_head of the last :meth:`set_head`, θ_tail)."""
        tz, t = self.tz, self.t
        if self.scalar:
            d = np.ones(t)
            d[:tz] = theta_tail[self._diag_src]
            S = self.T0 * d[:, None]
            S *= d
        else:
            lam = self.lambda_tail(theta_tail)
            S = lam.T @ self.T0 @ lam
        S.reshape(-1)[: tz * (t + 1) : t + 1] += 1.0
        U, info = lapack.dpotrf(S.T, lower=0, clean=0, overwrite_a=1)
        if info != 0:
            raise FactorizationError(f"dpotrf info={info} in the tail block")
        logd = np.log(U.diagonal())
        add = np.add.reduce
        ld_z = self.ld_head + 2.0 * float(add(logd[:tz]))
        ld_x_t = 2.0 * float(add(logd[tz : tz + self.p]))
        ld_x, _, log_pwrss = self.factor.original_units(ld_x_t, float(U[-1, -1]))
        return self.criterion(ld_z, ld_x, log_pwrss)
