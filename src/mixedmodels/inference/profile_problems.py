"""The ML deviance with one parameter held: the sub-problems of likelihood profiles.

For a focal parameter ψ held at v the other parameters are optimized,
d_ψ(v) = min { d(θ, σ, β) : ψ = v }, on the scale of lme4's profiles (the
standard deviations, correlations, σ and β). With ℓ(θ) = log|L_θ|²,
r²(θ) the penalized residual sum of squares and n the observations, the
objectives over the free vector (θ, or the reparameterized θ of a
correlation) are

* σ = s:        ℓ(θ) + n log(2πs²) + r²(θ)/s²;
* sd_i = s:     the same with σ = s/g_i(θ), g_i(θ) = ‖row i of T_k(θ)‖
  (T_k the relative Cholesky factor of the term, Σ_k = σ² T_k T_k');
  at s = 0 row i of T_k is held at 0 and σ is profiled out;
* cor_ij = ρ:   ℓ(θ) + n(1 + log(2π r²(θ)/n)) with the term's relative
  covariance D C C' D (D = diag of relative sds, C the Cholesky factor of
  the correlation matrix ordered (i, j, …): its second row is
  (ρ, √(1−ρ²)), later rows unit vectors in spherical angles);
* β_j = b:      ℓ(θ) + n(1 + log(2π r²_b(θ)/n)), with r²_b the penalized
  residual sum of squares of the model with β_j = b (β_{−j} optimized).

(The constant −Σ log wᵢ of prior weights is added throughout.)

Each is a restriction of the fitted model's own criterion, so it is
evaluated from the fit's cross-products without re-forming anything. Where
the system is small (:data:`~mixedmodels.linalg.dense.DENSE_MAX_SIZE`) the
dense factor gives ∇ℓ and ∇log r² analytically
(:meth:`~mixedmodels.linalg.dense.DenseCriterion.gradient_parts`), and the
objectives' gradients follow by the chain rule:

* σ:   ∇ℓ + (r²/s²) ∇log r²;
* sd:  ∇ℓ − n ∇g²/g² + (g² r²/s²) ∇log r² + (r²/s²) ∇g²,  ∇g² = 2θ on row i;
* cor: J'(∇ℓ + n ∇log r²), J = ∂θ/∂x by central differences of the
  (cheap, smooth) map from sds and angles to T_k;
* β:   β̃ = c + Tγ (the original β_j = b is one linear restriction of the
  shifted β̃), whose criterion is that of the model [X̃T, ỹ − X̃c]
  (:meth:`~mixedmodels.linalg.dense.DenseCriterion.restricted`), gradient
  ∇ℓ + n ∇log r²_b.

Larger systems use the blocked factor without gradients, and β_j's
r²_b = r²(θ) + (b − β̂_j(θ))²/V_jj(θ), V = (R_X'R_X)⁻¹.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._triangular import solve_triangular
from ..linalg import BlockedCholesky, FactorizationError
from ..linalg.dense import DENSE_MAX_SIZE, DenseCriterion

__all__ = ["ProfileParameter", "ProfiledDeviance", "SubProblem"]

_LOG2PI = math.log(2.0 * math.pi)
BAD = 1e100  # the value of an infeasible point for the derivative-free path

Gradient = np.ndarray | None
FG = Callable[[np.ndarray], tuple[float, Gradient]]


@dataclass
class ProfileParameter:
    """One profiled parameter: its name, kind and where it lives in θ / β."""

    name: str
    kind: str  # "sd", "cor", "sigma" or "beta"
    estimate: float
    term: int = -1
    i: int = -1  # effect index (sd) or row (cor) inside the term
    j: int = -1  # column (cor) inside the term; coefficient index (beta)


@dataclass
class SubProblem:
    """min f over {x ≥ lower}: ``fg(x)`` is (f, ∇f) (∇f None without gradients, f = inf
    where undefined); ``to_theta`` maps the free vector to θ."""

    fg: FG
    x0: np.ndarray
    lower: np.ndarray
    to_theta: Callable[[np.ndarray], np.ndarray]

    def f(self, x: np.ndarray) -> float:
        """f alone, finite (for BOBYQA)."""
        val = self.fg(x)[0]
        return val if val < BAD else BAD


def _chol_psd(S: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    """Lower Cholesky factor of a positive semi-definite matrix (zero pivots give zero columns)."""
    m = S.shape[0]
    scale = max(float(np.max(np.abs(np.diag(S)))), 1e-300)
    if float(np.min(np.diag(S))) > 1e-6 * scale:
        try:  # well inside the cone: LAPACK's factor (the loop below gives the same)
            return np.linalg.cholesky(S)
        except np.linalg.LinAlgError:
            pass
    L = np.zeros_like(S)
    for c in range(m):
        d = S[c, c] - float(L[c, :c] @ L[c, :c])
        if d <= tol * scale:
            continue
        L[c, c] = math.sqrt(d)
        L[c + 1 :, c] = (S[c + 1 :, c] - L[c + 1 :, :c] @ L[c, :c]) / L[c, c]
    return L


def _unit_from_angles(phi: np.ndarray) -> np.ndarray:
    """u = (cos φ₁, sin φ₁ cos φ₂, …, sin φ₁ ⋯ sin φ_{m−1}), a unit vector in R^m."""
    u = np.empty(phi.size + 1)
    s = 1.0
    for a, ph in enumerate(phi):
        u[a] = s * math.cos(ph)
        s *= math.sin(ph)
    u[-1] = s
    return u


def _angles_from_unit(u: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_unit_from_angles` (u normalized first)."""
    u = u / max(float(np.linalg.norm(u)), 1e-300)
    m = u.size
    phi = np.empty(m - 1)
    for a in range(m - 1):
        if a == m - 2:
            phi[a] = math.atan2(u[a + 1], u[a])
        else:
            phi[a] = math.atan2(float(np.linalg.norm(u[a + 1 :])), u[a])
    return phi


def _dense_for(cp: Any, tri: list[tuple[np.ndarray, np.ndarray]]) -> DenseCriterion | None:
    """The ML criterion with gradients where the whole system is small, else None."""
    plan = getattr(cp, "rest_plan", None)
    if (plan is not None and plan.sparse) or cp.dims[0].q + cp.r > DENSE_MAX_SIZE:
        return None
    return DenseCriterion(cp, tri, reml=False)


class ProfiledDeviance:
    """The ML deviance of a fit as a function of its parameters (the module docstring),
    from the fit's cross-products: a dense factor with gradients, or a private blocked one."""

    def __init__(self, ml: Any):
        d = ml.design
        self.model = ml
        self.tri = [t.tri_index for t in d.terms]
        self.sizes = [t.S for t in d.terms]
        self.off = np.cumsum([0] + [len(t[0]) for t in self.tri])
        self.lower = np.asarray(ml.lower, dtype=float)
        self.n = ml.cp.n
        self.slw = ml.cp.sum_log_w
        self.theta_hat = np.asarray(ml._theta, dtype=float)
        self.sigma_hat = float(ml._sigma)
        self.dense = _dense_for(ml.cp, self.tri)
        self.blocked = BlockedCholesky(ml.cp, self.tri) if self.dense is None else None
        self.gradients = self.dense is not None
        self.nfev = 0
        self.dmin = self.ml_deviance(self.theta_hat)[0]

    # -- pieces at θ ---------------------------------------------------------------
    def pieces(
        self, theta: np.ndarray, crit: DenseCriterion | None = None
    ) -> tuple[float, float, Gradient, Gradient] | None:
        """(ℓ(θ), r²(θ), ∇ℓ, ∇log r²) (gradients None on the blocked path), or None where
        Ω(θ) is not positive definite. ``crit``: a restricted dense criterion instead."""
        self.nfev += 1
        crit = self.dense if crit is None else crit
        try:
            if crit is None:
                ld, _, pw = self.blocked.update(theta)
                g_ld = g_lr = None
            else:
                L, AL = crit.factor(theta)
                ld, _, log_pw = crit.pieces(L)
                pw = math.exp(log_pw)
                g_ld, g_lr = crit.gradient_parts(L, AL)
        except FactorizationError:
            return None
        if not (pw > 0 and math.isfinite(pw)):
            return None
        return ld, pw, g_ld, g_lr

    def _deviance(self, got: tuple[float, float, Gradient, Gradient] | None,
                  ) -> tuple[float, Gradient]:
        """ℓ + n(1 + log(2π r²/n)) − Σ log w and its gradient from ``pieces``."""
        if got is None:
            return math.inf, None
        ld, pw, g_ld, g_lr = got
        val = ld + self.n * (1.0 + _LOG2PI + math.log(pw / self.n)) - self.slw
        return val, (None if g_ld is None else g_ld + self.n * g_lr)

    def ml_deviance(self, theta: np.ndarray) -> tuple[float, Gradient]:
        """The ML deviance with σ and β profiled out, and its gradient."""
        return self._deviance(self.pieces(theta))

    def T(self, theta: np.ndarray, k: int) -> np.ndarray:
        T = np.zeros((self.sizes[k], self.sizes[k]))
        T[self.tri[k]] = theta[self.off[k] : self.off[k + 1]]
        return T

    # -- the parameters ------------------------------------------------------------
    def parameters(self) -> list[ProfileParameter]:
        """lme4's profiled parameters in its order: sds and correlations, σ, β."""
        out: list[ProfileParameter] = []
        th, s = self.theta_hat, self.sigma_hat
        for k, t in enumerate(self.model.design.terms):
            T = self.T(th, k)
            cov = s * s * (T @ T.T)
            sd = np.sqrt(np.clip(np.diag(cov), 0, None))
            rows, cols = self.tri[k]
            for i, j in zip(rows, cols):
                if i == j:
                    out.append(ProfileParameter(f"sd_{t.names[i]}|{t.group}", "sd", sd[i], k, i))
                else:
                    den = sd[i] * sd[j]
                    rho = cov[i, j] / den if den > 0 else 0.0
                    out.append(ProfileParameter(
                        f"cor_{t.names[i]}.{t.names[j]}|{t.group}", "cor", rho, k, i, j))
        out.append(ProfileParameter("sigma", "sigma", s))
        beta = np.asarray(self.model._beta, dtype=float)
        for j, nm in enumerate(self.model.design.x_names):
            out.append(ProfileParameter(nm, "beta", float(beta[j]), j=j))
        return out

    # -- profiled deviance at one value --------------------------------------------
    def problem(self, par: ProfileParameter, v: float, start: np.ndarray | None) -> SubProblem:
        """The sub-problem of ``par`` held at v, from ``start`` (None: from the estimates)."""
        if par.kind == "sigma":
            return self._sigma_problem(v, start)
        if par.kind == "beta":
            return self._beta_problem(par.j, v, start)
        if par.kind == "sd":
            return self._sd_problem(par, v, start)
        return self._cor_problem(par, v, start)

    def _sigma_problem(self, v: float, start: np.ndarray | None) -> SubProblem:
        s2, n, slw = v * v, self.n, self.slw
        const = n * (_LOG2PI + math.log(s2)) - slw

        def fg(theta: np.ndarray) -> tuple[float, Gradient]:
            got = self.pieces(theta)
            if got is None:
                return math.inf, None
            ld, pw, g_ld, g_lr = got
            grad = None if g_ld is None else g_ld + (pw / s2) * g_lr
            return ld + const + pw / s2, grad

        x0 = self.theta_hat * (self.sigma_hat / v) if start is None else start
        return SubProblem(fg, x0, self.lower, _identity)

    def _beta_problem(self, j: int, v: float, start: np.ndarray | None) -> SubProblem:
        x0 = self.theta_hat.copy() if start is None else start
        if self.dense is None:
            return SubProblem(self._beta_blocked(j, v), x0, self.lower, _identity)
        crit = self.dense.restricted(*self._beta_restriction(j, v))
        return SubProblem(lambda th: self._deviance(self.pieces(th, crit)), x0, self.lower,
                          _identity)

    def _beta_restriction(self, j: int, b: float) -> tuple[np.ndarray, np.ndarray]:
        """(T, c) with {β̃ : β_j = b} = {c + Tγ}: β = M⁻¹(sβ̃ + c₀e₀) makes β_j = a'β̃ + β_j(0),
        a = s M⁻ᵀe_j, so c = a (b − β_j(0))/‖a‖² and T an orthonormal basis of a⊥."""
        shift = self.model.cp.shift
        p = self.model.cp.p
        minv = solve_triangular(shift.M, np.eye(p), lower=False)
        a = shift.s * minv[j]
        at0 = shift.c * minv[j, 0] if shift.intercept else 0.0
        c = a * ((b - at0) / float(a @ a))
        q, _ = np.linalg.qr(a[:, None], mode="complete")
        return q[:, 1:], c

    def _beta_blocked(self, j: int, v: float) -> FG:
        """r²_b = r²(θ) + (b − β̂_j(θ))²/V_jj(θ) from the blocked factor."""
        n, slw, fac = self.n, self.slw, self.blocked

        def fg(theta: np.ndarray) -> tuple[float, Gradient]:
            got = self.pieces(theta)
            if got is None:
                return math.inf, None
            row = fac.rx_inverse()[j]  # V = R_X⁻¹R_X⁻ᵀ, so V_jj = |row j of R_X⁻¹|²
            r2 = got[1] + (v - float(fac.beta()[j])) ** 2 / float(row @ row)
            return got[0] + n * (1.0 + _LOG2PI + math.log(r2 / n)) - slw, None

        return fg

    def row_index(self, k: int, i: int) -> np.ndarray:
        """Positions in θ of row i of T_k."""
        rows, _ = self.tri[k]
        return self.off[k] + np.flatnonzero(rows == i)

    def _diag_pos(self, k: int, i: int) -> int:
        rows, cols = self.tri[k]
        return int(self.off[k] + np.flatnonzero((rows == i) & (cols == i))[0])

    def _sd_problem(self, par: ProfileParameter, v: float, start: np.ndarray | None) -> SubProblem:
        idx = self.row_index(par.term, par.i)
        if v <= 0.0:
            keep = np.setdiff1d(np.arange(self.theta_hat.size), idx)

            def to_theta0(x: np.ndarray) -> np.ndarray:
                th = np.zeros(self.theta_hat.size)
                th[keep] = x
                return th

            def fg0(x: np.ndarray) -> tuple[float, Gradient]:
                val, grad = self.ml_deviance(to_theta0(x))
                return val, (None if grad is None else grad[keep])

            x0 = (self.theta_hat if start is None else start)[keep]
            return SubProblem(fg0, x0, self.lower[keep], to_theta0)
        s2, n, slw = v * v, self.n, self.slw

        def fg(theta: np.ndarray) -> tuple[float, Gradient]:
            g2 = float(theta[idx] @ theta[idx])
            got = self.pieces(theta) if g2 > 0.0 else None
            if got is None:
                return math.inf, None
            ld, pw, g_ld, g_lr = got
            val = ld + n * (_LOG2PI + math.log(s2 / g2)) + pw * g2 / s2 - slw
            if g_ld is None:
                return val, None
            grad = g_ld + (g2 * pw / s2) * g_lr
            grad[idx] += (2.0 * pw / s2 - 2.0 * n / g2) * theta[idx]
            return val, grad

        x0 = (self.theta_hat if start is None else start).copy()
        g = float(np.linalg.norm(x0[idx]))
        if start is None and g > 0:
            x0[idx] *= (v / self.sigma_hat) / g
        elif g <= 0:  # singular fit: start the row on its diagonal
            x0[self._diag_pos(par.term, par.i)] = v / self.sigma_hat
        return SubProblem(fg, x0, self.lower, _identity)

    def _cor_problem(self, par: ProfileParameter, v: float, start: np.ndarray | None
                     ) -> SubProblem:
        """Free vector: other terms' θ, the term's relative sds, then the angles."""
        k, S = par.term, self.sizes[par.term]
        perm = [par.i, par.j] + [a for a in range(S) if a not in (par.i, par.j)]
        sl = slice(self.off[k], self.off[k + 1])
        other = np.setdiff1d(np.arange(self.theta_hat.size), np.arange(sl.start, sl.stop))
        rho = float(np.clip(v, -1.0, 1.0))
        nang = S * (S - 1) // 2 - 1
        no, tri = other.size, self.tri[k]
        back = np.ix_(perm, perm)

        def term_theta(y: np.ndarray) -> np.ndarray:
            """θ_k from the term's sds and angles y."""
            d, ang = y[:S], y[S:]
            C = np.zeros((S, S))
            C[0, 0] = 1.0
            C[1, 0], C[1, 1] = rho, math.sqrt(max(0.0, 1.0 - rho * rho))
            pos = 0
            for r in range(2, S):
                C[r, : r + 1] = _unit_from_angles(ang[pos : pos + r])
                pos += r
            Sig = np.empty((S, S))
            Sig[back] = (C @ C.T) * np.outer(d, d)
            return _chol_psd(Sig)[tri]

        def to_theta(x: np.ndarray) -> np.ndarray:
            th = np.zeros(self.theta_hat.size)
            th[other] = x[:no]
            th[sl] = term_theta(x[no:])
            return th

        def fg(x: np.ndarray) -> tuple[float, Gradient]:
            val, g = self.ml_deviance(to_theta(x))
            if g is None:
                return val, None
            return val, np.concatenate([g[other], _jacobian(term_theta, x[no:], S).T @ g[sl]])

        if start is None:
            T = self.T(self.theta_hat, k)
            Sig = T @ T.T
            d_rel = np.sqrt(np.clip(np.diag(Sig), 0, None))
            dp = d_rel[perm]
            dd = np.where(dp > 0, dp, 1)
            R = Sig[np.ix_(perm, perm)] / np.outer(dd, dd)
            np.fill_diagonal(R, 1.0)
            C = _chol_psd(R)
            ang = [_angles_from_unit(C[r, : r + 1]) for r in range(2, S)]
            x0 = np.concatenate([self.theta_hat[other], dp, *ang])
        else:
            x0 = start
        lower = np.concatenate([self.lower[other], np.zeros(S), np.full(nang, -np.inf)])
        return SubProblem(fg, x0, lower, to_theta)


def _identity(x: np.ndarray) -> np.ndarray:
    return x


def _jacobian(fn: Callable[[np.ndarray], np.ndarray], y: np.ndarray, nsd: int) -> np.ndarray:
    """∂fn/∂y by central differences (forward ones for an sd, the first ``nsd`` entries of
    y, within a step of its bound 0, where the Cholesky factor is not smooth)."""
    f0 = None
    cols = []
    for a in range(y.size):
        h = 1e-6 * max(1.0, abs(float(y[a])))
        up = y.copy()
        up[a] += h
        if a < nsd and y[a] < h:
            f0 = fn(y) if f0 is None else f0
            cols.append((fn(up) - f0) / h)
            continue
        dn = y.copy()
        dn[a] -= h
        cols.append((fn(up) - fn(dn)) / (2.0 * h))
    return np.array(cols).T
