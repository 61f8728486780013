"""The profiled criterion and its analytic gradient from one dense factor of Ω(θ).

For small models (a few hundred random effects at most) the whole system

    Ω(θ) = Λ'AΛ + E,   A = [Z X̃ ỹ]'W[Z X̃ ỹ],   Λ = blockdiag(Λ_Z, I_{p+1}),
    E = diag(I_q, 0_{p+1}),   Ω = L L'

is one N × N matrix (N = q + p + 1) and a dense Cholesky factor costs a
few microseconds. Its diagonal gives every piece of the criterion
(:mod:`mixedmodels.lmm`): log|L_Z|² and log|R_X|² from the leading q and p
entries, r² = pwrss = L_NN². With B the leading block of Ω that the
criterion's log-determinant covers (the q random effects for ML, the
q + p random and fixed effects for REML), k the weight of log r²
(n for ML, n − p for REML) and Λ_j = ∂Λ/∂θ_j (a 0/1 pattern)

    d(θ) = log|Ω_B| + k log r² + const,
    ∂d/∂θ_j = 2 tr(Ω_B⁻¹ Λ_B'A_{B,Z} Λ_j) + (2k/r²) (A Λ v)'(Λ_j v),

with v = L_NN L⁻ᵀ e_N (so v = [−u, −β̃, 1]: the conditional modes and
fixed effects of the shifted model), because ∂Ω = Λ_j'AΛ + Λ'AΛ_j,
∂ log|Ω_B| = tr(Ω_B⁻¹ ∂Ω_B) and ∂r² = r⁴ (Ω⁻¹e_N)'∂Ω(Ω⁻¹e_N). Each
Λ_j has a 1 at (l·S + i, l·S + c) for every level l of θ_j's term (θ_j the
(i, c) entry of that term's T), so both traces are gathered sums over those
index pairs. Nothing here needs Λ to be invertible: the gradient holds on
the boundary (θ_j = 0) too.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from ..crossprod import CrossProducts
from .blocked import FactorizationError

__all__ = ["DenseCriterion", "DENSE_MAX_SIZE"]

DENSE_MAX_SIZE = 400
"""Largest N = q + p + 1 for which the dense factor (O(N³) per evaluation) is used."""


def _last_row(a21: np.ndarray | sp.spmatrix) -> np.ndarray:
    """A21's ỹ row as a dense vector; from a CSC matrix whose every column stores it
    last (as :func:`mixedmodels.crossprod.crossprod` lays it out) without a row slice."""
    if not sp.issparse(a21):
        return np.asarray(a21[-1])
    if a21.format == "csc":
        last = a21.indptr[1:] - 1
        if np.all(np.diff(a21.indptr) > 0) and np.all(a21.indices[last] == a21.shape[0] - 1):
            return a21.data[last]
    return a21.getrow(a21.shape[0] - 1).toarray()[0]


class DenseCriterion:
    """d(θ) and ∇d(θ) of the profiled ML or REML criterion (see the module docstring).

    ``criterion(log|L_Z|², log|R_X|², log pwrss)`` maps the pieces, in the
    original units, to d(θ); the gradient needs only n, p and ML/REML.
    """

    def __init__(
        self,
        cp: CrossProducts,
        tri_index: list[tuple[np.ndarray, np.ndarray]],
        reml: bool,
    ):
        q1 = cp.dims[0].q
        q = q1 + cp.rz
        N = q1 + cp.r
        self.q, self.p, self.N = q, cp.p, N
        A = np.empty((N, N))
        A[:q1, :q1] = 0.0
        d1 = cp.dims[0]
        first = d1.S * np.arange(d1.nl)[:, None, None]
        s_idx = np.arange(d1.S)
        A[first + s_idx[:, None], first + s_idx[None, :]] = cp.A11  # blockdiag(A11_l)
        a21 = cp.A21.toarray() if sp.issparse(cp.A21) else np.asarray(cp.A21)
        A[q1:, :q1] = a21
        A[:q1, q1:] = a21.T
        A[q1:, q1:] = cp.A22
        self.A = A
        rows, cols, src = [], [], []
        off = 0
        for k, (d, (ri, ci)) in enumerate(zip(cp.dims, tri_index)):
            base = sum(len(t[0]) for t in tri_index[:k])
            starts = off + d.S * np.arange(d.nl)
            rows.append((starts[:, None] + np.asarray(ri)[None, :]).ravel())
            cols.append((starts[:, None] + np.asarray(ci)[None, :]).ravel())
            src.append(np.tile(base + np.arange(len(ri)), d.nl))
            off += d.q
        self.ntheta = sum(len(t[0]) for t in tri_index)
        self.lam_rows = np.concatenate(rows).astype(np.intp)
        self.lam_cols = np.concatenate(cols).astype(np.intp)
        self.lam_src = np.concatenate(src).astype(np.intp)
        self.lam_flat = self.lam_rows * N + self.lam_cols
        self._lam = np.zeros((N, N))
        self._lam.reshape(-1)[np.arange(q, N) * (N + 1)] = 1.0
        self.reml = bool(reml)
        self.b = q + cp.p if reml else q  # the leading block of the log-determinant
        self.k = float(cp.n - cp.p if reml else cp.n)
        self.n = float(cp.n)
        # M = Ω_B⁻¹Λ_B'A_{B,Z} is b × q; tr(M Λ_j) gathers M[col, row] of Λ_j's pairs
        self._trace_flat = self.lam_cols * q + self.lam_rows
        self._diag_q = np.arange(q) * (N + 1)
        shift = cp.shift
        self._ld_x_shift = 2.0 * shift.log_det_M
        self._log_s2 = 2.0 * shift.log_s
        self.n_evals = 0

    def with_response(self, cp: CrossProducts) -> DenseCriterion:
        """The criterion of the same design with ``cp`` from a new response
        (:func:`mixedmodels.crossprod.with_response`): only A's ỹ row and column
        and the shift's s change; the index maps are shared."""
        new = copy.copy(self)
        A = self.A.copy()
        row = np.concatenate([_last_row(cp.A21), cp.A22[-1]])
        A[-1, :] = row
        A[:, -1] = row
        new.A = A
        new._lam = self._lam.copy()
        new._log_s2 = 2.0 * cp.shift.log_s
        return new

    def lambda_(self, theta: np.ndarray) -> np.ndarray:
        """Λ(θ) as a dense N × N matrix (identity on the X̃ and ỹ rows)."""
        lam = self._lam
        lam.reshape(-1)[self.lam_flat] = theta[self.lam_src]
        return lam

    def factor(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(L, AΛ) at θ; raises :class:`FactorizationError` where Ω is not positive definite.
        AΛ is kept for the gradient: (AΛv) and Λ_B'A_{B,Z} = ((AΛ)_{Z,B})' are read off it."""
        lam = self.lambda_(theta)
        AL = self.A @ lam
        omega = lam.T @ AL
        omega.reshape(-1)[self._diag_q] += 1.0
        L, info = lapack.dpotrf(omega, lower=1, clean=0, overwrite_a=1)
        if info != 0:
            raise FactorizationError(f"dpotrf info={info}")
        return L, AL

    def pieces(self, L: np.ndarray) -> tuple[float, float, float]:
        """(log|L_Z|², log|R_X|², log pwrss) in the original units from L's diagonal."""
        diag = L.diagonal()
        logd = np.log(diag[:-1])
        add = np.add.reduce
        q, p = self.q, self.p
        ld_z = 2.0 * float(add(logd[:q]))
        ld_x = 2.0 * float(add(logd[q : q + p])) + self._ld_x_shift
        l_last = float(diag[-1])
        pw_t = l_last * l_last
        log_pw = (math.log(pw_t) if pw_t > 0.0 else -math.inf) + self._log_s2
        return ld_z, ld_x, log_pw

    def solution(self, L: np.ndarray) -> np.ndarray:
        """v = L_NN L⁻ᵀ e_N = [−ũ, −β̃, 1]: the spherical modes and fixed effects of the
        shifted model (Ω v = L_NN² e_N)."""
        e = np.zeros(self.N)
        e[-1] = L[-1, -1]
        v, info = lapack.dtrtrs(L, e, lower=1, trans=1)
        return v

    def gradient(self, L: np.ndarray, AL: np.ndarray) -> np.ndarray:
        """∇d(θ) at the θ of ``L`` and ``AL`` = AΛ (the formula of the module docstring)."""
        g_ld, g_lr = self.gradient_parts(L, AL)
        return g_ld + self.k * g_lr

    def gradient_parts(self, L: np.ndarray, AL: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(∇ log|Ω_B|, ∇ log r²) at the θ of ``L`` and ``AL``: the two terms of ∇d,
        for criteria that weigh them otherwise (profiles with σ held fixed)."""
        b, q = self.b, self.q
        l_nn = L[-1, -1]
        v = self.solution(L)
        Aa = AL[:q] @ v  # (AΛv) on the random-effect rows (A symmetric)
        g_r = Aa[self.lam_rows] * v[self.lam_cols]
        rhs = AL[:q, :b].T  # Λ_B'A_{B,Z}
        M, info = lapack.dpotrs(L[:b, :b], rhs, lower=1)  # Ω_B⁻¹ rhs: L_B⁻ᵀ(L_B⁻¹ rhs)
        g_t = M.reshape(-1)[self._trace_flat]
        bc = np.bincount
        g_ld = bc(self.lam_src, weights=2.0 * g_t, minlength=self.ntheta)
        g_lr = bc(self.lam_src, weights=(2.0 / (l_nn * l_nn)) * g_r, minlength=self.ntheta)
        return g_ld, g_lr

    def restricted(self, T: np.ndarray, c: np.ndarray) -> DenseCriterion:
        """The ML criterion of the same random effects with the fixed-effect columns and
        response [X̃ ỹ] replaced by [X̃T, ỹ − X̃c] (T: p × p', c: p): the model with
        β̃ = c + Tγ, so a linear restriction of β̃ (one fixed effect held at a value,
        as a profile does) is the criterion of a smaller model of the same form."""
        q, p = self.q, self.p
        p2 = T.shape[1]
        R = np.zeros((p + 1, p2 + 1))
        R[:p, :p2] = T
        R[:p, p2] = -c
        R[p, p2] = 1.0
        N = q + p2 + 1
        A = np.empty((N, N))
        A[:q, :q] = self.A[:q, :q]
        A[q:, :q] = R.T @ self.A[q:, :q]
        A[:q, q:] = A[q:, :q].T
        A[q:, q:] = R.T @ self.A[q:, q:] @ R
        new = copy.copy(self)
        new.A, new.p, new.N = A, p2, N
        new.lam_flat = self.lam_rows * N + self.lam_cols
        new._lam = np.zeros((N, N))
        new._lam.reshape(-1)[np.arange(q, N) * (N + 1)] = 1.0
        new._diag_q = np.arange(q) * (N + 1)
        new.reml, new.b, new.k = False, q, self.n
        new._ld_x_shift = 0.0
        return new
