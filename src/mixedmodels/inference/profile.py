"""Profile-likelihood intervals for linear mixed models (lme4's ``confint(m, "profile")``).

As lme4, the ML deviance is profiled (a REML fit is refitted by ML first),
on the scale of the standard deviations, correlations, σ and β. For a focal
parameter ψ held at v, the other parameters are optimized,

    d_ψ(v) = min { d(θ, σ, β) : ψ = v },   ζ(v) = sign(v − ψ̂) √(d_ψ(v) − d̂),

and the interval ends are the roots of ζ(v) = ±z_{(1+level)/2}; they are
located exactly (bracketing, then Brent's method) instead of through lme4's
spline of ζ over a grid. With r²(θ) the penalized residual sum of squares,
β̂(θ), V(θ) = (R_X'R_X)⁻¹ and log|L_θ|², the objectives, minimized over θ
(by BOBYQA), are

* σ = s:        log|L_θ|² + n log(2πs²) + r²(θ)/s²;
* sd_i = s:     the same with σ = s/g_i(θ), g_i(θ) = ‖row i of T_k(θ)‖
  (T_k the relative Cholesky factor of the term, Σ_k = σ² T_k T_k');
  at s = 0 row i of T_k is held at 0 and σ is profiled out;
* cor_ij = ρ:   log|L_θ|² + n(1 + log(2π r²(θ)/n)) with the term's
  relative covariance D C C' D (D = diag of relative sds, C the Cholesky
  factor of the correlation matrix ordered (i, j, …): its second row is
  (ρ, √(1−ρ²)), later rows unit vectors in spherical angles);
* β_j = b:      log|L_θ|² + n(1 + log(2π r²_b(θ)/n)),
  r²_b = r²(θ) + (b − β̂_j(θ))² / V_jj(θ) (β_{−j} optimized in closed form).

(The constant −Σ log wᵢ of prior weights is added throughout.) A bound of
an sd (0) or a correlation (±1) where ζ does not reach ±z is reported as
that bound, as lme4 does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import nlopt
import numpy as np
import pandas as pd
from scipy import optimize, stats

from ..linalg import BlockedCholesky, FactorizationError
from ..linalg.threads import model_limited
from ..progress import progress_bar

__all__ = ["profile_confint", "ProfileParameter"]

_LOG2PI = math.log(2.0 * math.pi)
_BAD = 1e100


@dataclass
class ProfileParameter:
    """One profiled parameter: its name, kind and where it lives in θ / β."""

    name: str
    kind: str  # "sd", "cor", "sigma" or "beta"
    estimate: float
    term: int = -1
    i: int = -1  # effect index (sd) or row (cor) inside the term
    j: int = -1  # column (cor) inside the term; coefficient index (beta)


def _chol_psd(S: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    """Lower Cholesky factor of a positive semi-definite matrix (zero pivots give zero columns)."""
    m = S.shape[0]
    L = np.zeros_like(S)
    scale = max(float(np.max(np.abs(np.diag(S)))), 1e-300)
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


class _Profiler:
    """The ML deviance of a fit as a function of its parameters, with a private factor."""

    def __init__(self, ml: Any):
        d = ml.design
        self.model = ml
        self.factor = BlockedCholesky(ml.cp, [t.tri_index for t in d.terms])
        self.tri = [t.tri_index for t in d.terms]
        self.sizes = [t.S for t in d.terms]
        self.off = self.factor.theta_offsets
        self.lower = np.asarray(ml.lower, dtype=float)
        self.n = ml.cp.n
        self.slw = ml.cp.sum_log_w
        self.rz, self.p = self.factor.rz, self.factor.p
        self.theta_hat = np.asarray(ml._theta, dtype=float)
        self.sigma_hat = float(ml._sigma)
        self.nfev = 0
        self.dmin = self.ml_deviance(self.theta_hat)

    # -- pieces at θ ---------------------------------------------------------------
    def update(self, theta: np.ndarray) -> tuple[float, float] | None:
        """(log|L_θ|², r²(θ)) after refactoring, or None where Ω(θ) is not PD."""
        self.nfev += 1
        try:
            ld_z, _, pwrss = self.factor.update(theta)
        except FactorizationError:
            return None
        if not (pwrss > 0 and math.isfinite(pwrss)):
            return None
        return ld_z, pwrss

    def ml_deviance(self, theta: np.ndarray) -> float:
        """log|L_θ|² + n(1 + log(2π r²/n)) − Σ log w."""
        got = self.update(theta)
        if got is None:
            return _BAD
        ld, pw = got
        return ld + self.n * (1.0 + _LOG2PI + math.log(pw / self.n)) - self.slw

    def beta_and_var(self, j: int) -> tuple[float, float]:
        """β̂_j(θ) and V_jj(θ) = [(R_X'R_X)⁻¹]_jj at the last factored θ."""
        beta = self.factor.beta()
        row = self.factor.rx_inverse()[j]  # V = R_X⁻¹R_X⁻ᵀ, so V_jj = |row j of R_X⁻¹|²
        return float(beta[j]), float(row @ row)

    def T(self, theta: np.ndarray, k: int) -> np.ndarray:
        T = np.zeros((self.sizes[k], self.sizes[k]))
        T[self.tri[k]] = theta[self.off[k] : self.off[k + 1]]
        return T

    def set_T(self, theta: np.ndarray, k: int, T: np.ndarray) -> None:
        theta[self.off[k] : self.off[k + 1]] = T[self.tri[k]]

    # -- the parameters ------------------------------------------------------------
    def parameters(self) -> list[ProfileParameter]:
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
    def problem(
        self, par: ProfileParameter, v: float, start: np.ndarray | None
    ) -> tuple[Callable[[np.ndarray], float], np.ndarray, np.ndarray, Callable[..., np.ndarray]]:
        """(objective over the free vector, its start, lower bounds, free → θ map)."""
        th0 = self.theta_hat.copy() if start is None else None
        n, slw = self.n, self.slw
        ident: Callable[..., np.ndarray] = lambda x: x  # noqa: E731
        if par.kind == "sigma":
            s2 = v * v

            def f_sigma(theta: np.ndarray) -> float:
                got = self.update(theta)
                if got is None:
                    return _BAD
                return got[0] + n * (_LOG2PI + math.log(s2)) + got[1] / s2 - slw

            x0 = th0 * (self.sigma_hat / v) if start is None else start
            return f_sigma, x0, self.lower, ident
        if par.kind == "beta":
            j = par.j

            def f_beta(theta: np.ndarray) -> float:
                got = self.update(theta)
                if got is None:
                    return _BAD
                bj, vjj = self.beta_and_var(j)
                r2 = got[1] + (v - bj) ** 2 / vjj
                return got[0] + n * (1.0 + _LOG2PI + math.log(r2 / n)) - slw

            return f_beta, (th0 if start is None else start), self.lower, ident
        if par.kind == "sd":
            return self._sd_problem(par, v, start)
        return self._cor_problem(par, v, start)

    def _row_index(self, k: int, i: int) -> np.ndarray:
        rows, _ = self.tri[k]
        return self.off[k] + np.flatnonzero(rows == i)

    def _sd_problem(self, par: ProfileParameter, v: float, start: np.ndarray | None) -> Any:
        k, i, n, slw = par.term, par.i, self.n, self.slw
        idx = self._row_index(k, i)
        if v <= 0.0:
            keep = np.setdiff1d(np.arange(self.theta_hat.size), idx)

            def to_theta0(x: np.ndarray) -> np.ndarray:
                th = np.zeros(self.theta_hat.size)
                th[keep] = x
                return th

            x0 = (self.theta_hat if start is None else start)[keep]
            return (lambda x: self.ml_deviance(to_theta0(x))), x0, self.lower[keep], to_theta0
        s2 = v * v

        def f_sd(theta: np.ndarray) -> float:
            g2 = float(theta[idx] @ theta[idx])
            if g2 <= 0.0:
                return _BAD
            got = self.update(theta)
            if got is None:
                return _BAD
            sig2 = s2 / g2
            return got[0] + n * (_LOG2PI + math.log(sig2)) + got[1] / sig2 - slw

        if start is None:
            x0 = self.theta_hat.copy()
            g = float(np.linalg.norm(x0[idx]))
            if g > 0:
                x0[idx] *= (v / self.sigma_hat) / g
            else:  # singular fit: start the row on its diagonal
                x0[self.off[k] + self._diag_pos(k, i)] = v / self.sigma_hat
        else:
            x0 = start.copy()
            g = float(np.linalg.norm(x0[idx]))
            if g <= 0:
                x0[self.off[k] + self._diag_pos(k, i)] = v / self.sigma_hat
        return f_sd, x0, self.lower, (lambda x: x)

    def _diag_pos(self, k: int, i: int) -> int:
        rows, cols = self.tri[k]
        return int(np.flatnonzero((rows == i) & (cols == i))[0])

    def _cor_problem(self, par: ProfileParameter, v: float, start: np.ndarray | None) -> Any:
        """Free vector: other terms' θ, the term's relative sds, then the angles."""
        k, S = par.term, self.sizes[par.term]
        perm = [par.i, par.j] + [a for a in range(S) if a not in (par.i, par.j)]
        sl = slice(self.off[k], self.off[k + 1])
        other = np.setdiff1d(np.arange(self.theta_hat.size), np.arange(sl.start, sl.stop))
        rho = float(np.clip(v, -1.0, 1.0))
        nang = S * (S - 1) // 2 - 1

        def to_theta(x: np.ndarray) -> np.ndarray:
            th = np.zeros(self.theta_hat.size)
            th[other] = x[: other.size]
            d = x[other.size : other.size + S]
            ang = x[other.size + S :]
            C = np.zeros((S, S))
            C[0, 0] = 1.0
            C[1, 0], C[1, 1] = rho, math.sqrt(max(0.0, 1.0 - rho * rho))
            pos = 0
            for r in range(2, S):
                C[r, : r + 1] = _unit_from_angles(ang[pos : pos + r])
                pos += r
            Sp = (C @ C.T) * np.outer(d, d)
            Sig = np.empty((S, S))
            Sig[np.ix_(perm, perm)] = Sp
            self.set_T(th, k, _chol_psd(Sig))
            return th

        if start is None:
            T = self.T(self.theta_hat, k)
            Sig = T @ T.T
            d_rel = np.sqrt(np.clip(np.diag(Sig), 0, None))
            dp = d_rel[perm]
            R = Sig[np.ix_(perm, perm)] / np.outer(np.where(dp > 0, dp, 1), np.where(dp > 0, dp, 1))
            np.fill_diagonal(R, 1.0)
            C = _chol_psd(R)
            ang = [_angles_from_unit(C[r, : r + 1]) for r in range(2, S)]
            x0 = np.concatenate([self.theta_hat[other], dp, *ang])
        else:
            x0 = start
        lower = np.concatenate([self.lower[other], np.zeros(S), np.full(nang, -np.inf)])
        return (lambda x: self.ml_deviance(to_theta(x))), x0, lower, to_theta

    def minimize(
        self, f: Callable[[np.ndarray], float], x0: np.ndarray, lower: np.ndarray
    ) -> tuple[float, np.ndarray]:
        """BOBYQA with tight tolerances; returns (minimum, argmin)."""
        x0 = np.maximum(np.asarray(x0, dtype=float), lower)
        m = x0.size
        if m == 0:
            return f(x0), x0
        opt = nlopt.opt(nlopt.LN_BOBYQA, m)
        opt.set_min_objective(lambda x, grad: f(x))
        opt.set_lower_bounds(lower)
        opt.set_ftol_abs(1e-11)
        opt.set_xtol_rel(1e-9)
        opt.set_maxeval(20_000)
        opt.set_initial_step(np.maximum(0.05 * np.abs(x0), 0.02))
        try:
            x = np.asarray(opt.optimize(x0))
            fx = opt.last_optimum_value()
        except nlopt.RoundoffLimited:
            x, fx = x0, f(x0)
        # a parameter that converged next to its bound is tried on it (lme4's boundary.tol)
        near = np.isfinite(lower) & (x - lower < 1e-5) & (x != lower)
        if near.any():
            xb = x.copy()
            xb[near] = lower[near]
            fb = f(xb)
            if fb <= fx:
                x, fx = xb, fb
        return float(fx), x


class _Trace:
    """ζ(v) for one parameter, with warm starts from the nearest computed value."""

    def __init__(self, prof: _Profiler, par: ProfileParameter):
        self.prof, self.par = prof, par
        self.points: dict[float, tuple[float, np.ndarray, bool]] = {}

    def deviance(self, v: float) -> float:
        if v in self.points:
            return self.points[v][0]
        par = self.par
        at_zero = par.kind == "sd" and v <= 0.0
        start = None
        if self.points:
            cands = [(abs(u - v), u) for u, (_, _, z0) in self.points.items() if z0 == at_zero]
            if cands:
                u = min(cands)[1]
                start = self._rescale(self.points[u][1], u, v)
        f, x0, lower, _ = self.prof.problem(par, v, start)
        dev, x = self.prof.minimize(f, x0, lower)
        if par.kind == "cor" and start is not None:
            # the angles have local minima: also start from the estimates' shape
            f, x1, lower, _ = self.prof.problem(par, v, None)
            dev1, x1 = self.prof.minimize(f, x1, lower)
            if dev1 < dev:
                dev, x = dev1, x1
        self.points[v] = (dev, x, at_zero)
        return dev

    def _rescale(self, x: np.ndarray, u: float, v: float) -> np.ndarray:
        """Map the optimum at u to a start at v (sd: rescale its row; σ: keep the sds)."""
        x = x.copy()
        par, prof = self.par, self.prof
        if par.kind == "sigma":
            return x * (u / v)
        if par.kind == "sd" and u > 0 and v > 0:
            x[prof._row_index(par.term, par.i)] *= v / u
        return x

    def zeta(self, v: float) -> float:
        dd = self.deviance(v) - self.prof.dmin
        return math.copysign(math.sqrt(max(dd, 0.0)), v - self.par.estimate)


def _bounds(par: ProfileParameter) -> tuple[float, float, bool]:
    """(lower, upper, closed): sds ≥ 0 and correlations in [−1, 1] are attainable."""
    if par.kind == "sd":
        return 0.0, math.inf, True
    if par.kind == "cor":
        return -1.0, 1.0, True
    if par.kind == "sigma":
        return 0.0, math.inf, False
    return -math.inf, math.inf, False


def _crossing(trace: _Trace, side: int, z: float, step: float) -> float:
    """The value on ``side`` (±1) of the estimate where ζ = side·z (or the attainable bound)."""
    par = trace.par
    lo, hi, closed = _bounds(par)
    bound = lo if side < 0 else hi
    vhat = par.estimate
    pv, pz = vhat, 0.0
    v = vhat + side * step
    for _ in range(80):
        if (v - bound) * side >= 0:
            v = bound if closed else 0.5 * (pv + bound)
        zv = trace.zeta(v)
        if side * zv >= z:
            tol = 1e-7 * max(abs(v), abs(pv), 1e-2 * step)
            return float(optimize.brentq(lambda x: trace.zeta(x) - side * z, pv, v,
                                         xtol=tol, rtol=1e-8, maxiter=100))
        if v == bound:
            return float(bound)
        slope = (zv - pz) / (v - pv)
        dist = abs(v - pv)
        if side * slope > 0:
            new = v + 1.05 * (side * z - zv) / slope
            delta = min(max(abs(new - v), 0.25 * dist), 4.0 * dist)
        else:
            delta = 2.0 * dist
        pv, pz = v, zv
        v = v + side * delta
    raise RuntimeError(f"the profile of {par.name} does not reach ζ = {side * z:.3g}")


def _initial_step(prof: _Profiler, par: ProfileParameter, z: float) -> float:
    """A first step of about one interval half-width (Wald-like guesses)."""
    if par.kind == "beta":
        return z * prof.sigma_hat * math.sqrt(prof.model._vcov_unscaled[par.j, par.j])
    if par.kind == "sigma":
        return z * prof.sigma_hat / math.sqrt(2.0 * prof.n)
    if par.kind == "cor":
        return 0.25 * max(1.0 - par.estimate**2, 0.05)
    return 0.3 * par.estimate if par.estimate > 0 else 0.1 * prof.sigma_hat


@model_limited
def profile_confint(model: Any, level: float = 0.95, parm: list[str] | None = None,
                    progress: bool | None = None) -> pd.DataFrame:
    """lme4's ``confint(m, method = "profile")``: rows in lme4's parameter order.

    ``parm`` restricts the result to the named parameters; ``progress``
    shows a bar over the parameters (None: when interactive).
    """
    ml = model.refit(REML=False) if getattr(model, "REML", False) else model
    prof = _Profiler(ml)
    z = float(stats.norm.ppf(0.5 + level / 2))
    a = (1 - level) / 2
    cols = [f"{100 * a:.3g} %", f"{100 * (1 - a):.3g} %"]
    pars = prof.parameters()
    if parm is not None:
        unknown = set(parm) - {p.name for p in pars}
        if unknown:
            raise ValueError(f"unknown parameters {sorted(unknown)}; "
                             f"choose from {[p.name for p in pars]}")
        pars = [p for p in pars if p.name in parm]
    out = {}
    with progress_bar(progress, len(pars), "profile", unit="par") as bar:
        for par in pars:
            bar.set_postfix_str(par.name)
            trace = _Trace(prof, par)
            step = _initial_step(prof, par, z)
            out[par.name] = [_crossing(trace, s, z, step) for s in (-1, 1)]
            bar.update()
    return pd.DataFrame.from_dict(out, orient="index", columns=cols)
