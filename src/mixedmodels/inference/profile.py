"""Profile-likelihood intervals for linear mixed models (lme4's ``confint(m, "profile")``).

As lme4, the ML deviance is profiled (a REML fit is refitted by ML first),
on the scale of the standard deviations, correlations, σ and β. For a focal
parameter ψ held at v, the other parameters are optimized
(:mod:`.profile_problems` states each restricted objective),

    d_ψ(v) = min { d(θ, σ, β) : ψ = v },   ζ(v) = sign(v − ψ̂) √(d_ψ(v) − d̂),

and the interval ends are the roots of ζ(v) = ±z_{(1+level)/2}; they are
located exactly (bracketing, then Brent's method) instead of through lme4's
spline of ζ over a grid. Each d_ψ(v) is minimized from the optimum at the
nearest value already profiled (its argument and, with gradients, its BFGS
inverse Hessian): by bound-constrained BFGS on the analytic gradient where
the system is small, else by BOBYQA. A bound of an sd (0) or a correlation
(±1) where ζ does not reach ±z is reported as that bound, as lme4 does.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import nlopt
import numpy as np
import pandas as pd
from scipy import optimize, stats

from ..linalg.threads import model_limited
from ..progress import progress_bar
from ..quasi_newton import bfgs_bounded
from .profile_problems import ProfiledDeviance, ProfileParameter, SubProblem

__all__ = ["profile_confint", "ProfileParameter"]

_BOUNDARY_TOL = 1e-5  # a free parameter this close to its bound is tried on it (lme4's)
_SINGULAR_TOL = 1e-4  # a parameter this close to its bound: BFGS ended on a face


def _minimize(prob: SubProblem, inv_hessian: np.ndarray | None
              ) -> tuple[float, np.ndarray, np.ndarray | None]:
    """(minimum, argmin, BFGS's inverse Hessian or None): BFGS on the gradient where
    there is one (BOBYQA where it fails), else BOBYQA with tight tolerances; a parameter
    that converged next to its bound is tried on it (lme4's boundary.tol)."""
    lower = prob.lower
    x0 = np.maximum(np.asarray(prob.x0, dtype=float), lower)
    if x0.size == 0:
        return prob.f(x0), x0, None
    H = None
    first = prob.fg(x0)
    if first[1] is not None:
        if inv_hessian is not None and inv_hessian.shape != (x0.size, x0.size):
            inv_hessian = None
        res = bfgs_bounded(prob.fg, x0, lower, maxeval=2000, inv_hessian=inv_hessian,
                           first=first)
        x, fx, H = res.x, res.fun, res.inv_hessian
        ok = res.ok and math.isfinite(fx)
        if ok and bool(np.any((x - lower < _SINGULAR_TOL) & (x0 - lower < _SINGULAR_TOL))):
            # BFGS stayed on the face of the bounds it started on, where the criterion
            # need not be convex (a singular fit): BOBYQA's path from there too, whose
            # first steps leave the face, and the lower end kept
            fb, xb = _bobyqa(prob.f, x0, lower)
            if fb < fx:
                x, fx = xb, fb
    else:
        ok = False
    if not ok:
        fx, x = _bobyqa(prob.f, x0, lower)
    near = np.isfinite(lower) & (x - lower < _BOUNDARY_TOL) & (x != lower)
    if near.any():
        xb = x.copy()
        xb[near] = lower[near]
        fb = prob.f(xb)
        if fb <= fx:
            x, fx = xb, fb
    return float(fx), x, H


def _bobyqa(f: Any, x0: np.ndarray, lower: np.ndarray) -> tuple[float, np.ndarray]:
    """BOBYQA with tight tolerances from x0: (minimum, argmin)."""
    opt = nlopt.opt(nlopt.LN_BOBYQA, x0.size)
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
    return float(fx), x


class _Trace:
    """ζ(v) for one parameter, each minimization warm-started from the nearest value done."""

    def __init__(self, prof: ProfiledDeviance, par: ProfileParameter):
        self.prof, self.par = prof, par
        # v -> (d_ψ(v), argmin, inverse Hessian, whether an sd is held at 0)
        self.points: dict[float, tuple[float, np.ndarray, np.ndarray | None, bool]] = {}

    def deviance(self, v: float) -> float:
        if v in self.points:
            return self.points[v][0]
        par = self.par
        at_zero = par.kind == "sd" and v <= 0.0
        start = H = None
        cands = [(abs(u - v), u) for u, pt in self.points.items() if pt[3] == at_zero]
        if cands:
            u = min(cands)[1]
            start, H = self._rescale(self.points[u][1], u, v), self.points[u][2]
        prob = self.prof.problem(par, v, start)
        dev, x, H = _minimize(prob, H)
        if par.kind == "cor" and start is not None and self.prof.sizes[par.term] > 2:
            # the angles have local minima: also start from the estimates' shape
            dev1, x1, H1 = _minimize(self.prof.problem(par, v, None), None)
            if dev1 < dev:
                dev, x, H = dev1, x1, H1
        self.points[v] = (dev, x, H, at_zero)
        return dev

    def _rescale(self, x: np.ndarray, u: float, v: float) -> np.ndarray:
        """Map the optimum at u to a start at v (sd: rescale its row; σ: keep the sds)."""
        x = x.copy()
        par, prof = self.par, self.prof
        if par.kind == "sigma":
            return x * (u / v)
        if par.kind == "sd" and u > 0 and v > 0:
            x[prof.row_index(par.term, par.i)] *= v / u
        return x

    def zeta(self, v: float) -> float:
        dd = self.deviance(v) - self.prof.dmin
        return math.copysign(math.sqrt(max(dd, 0.0)), v - self.par.estimate)

    def slope(self, v: float, h: float) -> float | None:
        """dζ/dv = d_ψ'(v)/(2ζ(v)), with d_ψ'(v) = ∂f_v/∂v at the minimizer x*(v) (the
        envelope theorem) by central differences of step h in v at fixed x* (one-sided
        at a closed bound); None at an sd held at 0 (another free vector)."""
        zv = self.zeta(v)
        dev, x, _, at_zero = self.points[v]
        if at_zero or zv == 0.0:
            return None
        lo, hi, _ = _bounds(self.par)
        up = v + h if v + h < hi else v
        dn = v - h if v - h > lo else v
        if up == dn:
            return None

        def f_at(u: float) -> float:
            return dev if u == v else self.prof.problem(self.par, u, x).f(x)

        return (f_at(up) - f_at(dn)) / (up - dn) / (2.0 * zv)


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


def _newton_crossing(trace: _Trace, side: int, z: float, step: float) -> float:
    """The value on ``side`` (±1) of the estimate where ζ = side·z (or the attainable bound),
    by Newton's method on ζ(v) − side·z with :meth:`_Trace.slope`, safeguarded: steps of at
    most four times the distance from the estimate until the root is bracketed, then
    bisection wherever a Newton step would leave the bracket. Converged when the step is
    below 10⁻⁸ of max(|v|, step/100); ζ is then within rounding of ±z."""
    par = trace.par
    lo, hi, closed = _bounds(par)
    bound = lo if side < 0 else hi
    vhat, target = par.estimate, side * z
    inside, outside = vhat, None  # the bracket: side·(ζ − target) < 0 at inside, ≥ 0 outside
    v = vhat + side * step
    h = 1e-5 * step
    for _ in range(100):
        if outside is None and (v - bound) * side >= 0:
            v = bound if closed else 0.5 * (inside + bound)
        g = trace.zeta(v) - target
        if side * g >= 0:
            outside = v
        elif v == bound:
            return float(bound)
        else:
            inside = v
        dz = trace.slope(v, h)
        new = v - g / dz if dz is not None and dz > 0 else None  # ζ increases with v
        if outside is None:
            dist = abs(v - vhat)
            far = v + side * 4.0 * dist
            new = v + side * 2.0 * dist if new is None else (min(new, far) if side > 0
                                                             else max(new, far))
        elif new is None or not min(inside, outside) < new < max(inside, outside):
            new = 0.5 * (inside + outside)
        if abs(new - v) <= 1e-8 * max(abs(v), 1e-2 * step):
            return float(new)
        if outside is not None and abs(outside - inside) <= 1e-8 * max(abs(v), 1e-2 * step):
            return float(0.5 * (inside + outside))
        v = new
    raise RuntimeError(f"the profile of {par.name} does not reach ζ = {target:.3g}")


def _initial_step(prof: ProfiledDeviance, par: ProfileParameter, z: float) -> float:
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
    # a fit in centred coordinates (:mod:`mixedmodels.lmm_reparam`) is profiled there
    shadow = getattr(ml, "_reparam_shadow", None)
    shifts = ml._z_shifts() if shadow is not None else None
    prof = ProfiledDeviance(ml if shadow is None else shadow)
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
    unmapped = []
    with progress_bar(progress, len(pars), "profile", unit="par") as bar:
        for par in pars:
            bar.set_postfix_str(par.name)
            div = 1.0 if shifts is None else _centred_divisor(par, shifts)
            if div is None:
                unmapped.append(par.name)
                out[par.name] = [math.nan, math.nan]
            else:
                trace = _Trace(prof, par)
                step = _initial_step(prof, par, z)
                out[par.name] = [_newton_crossing(trace, s, z, step) / div for s in (-1, 1)]
            bar.update()
    if unmapped:
        warnings.warn(
            f"profile intervals of {', '.join(unmapped)} are not computed (NaN): the model "
            "was fitted with its random-slope columns centred (they are far from 0 relative "
            "to their spread), and these parameters are not functions of one centred "
            "parameter; centre the columns in the data (the same model) or use "
            "method='boot'", stacklevel=2)
    return pd.DataFrame.from_dict(out, orient="index", columns=cols)


def _centred_divisor(par: ProfileParameter, shifts: list[np.ndarray]) -> float | None:
    """How a parameter of the centred fit (z̃_j = (z_j − c_j)/s_j, b̃ = A b) maps back:
    σ, β and correlations among slopes unchanged (1), a slope's sd divided by s_j; None
    for the intercept's sd and its correlations in a shifted term (no such map)."""
    if par.kind in ("sigma", "beta"):
        return 1.0
    A = shifts[par.term]
    shifted = bool(np.any(A[0, 1:] != 0.0))
    if par.kind == "sd":
        return None if shifted and par.i == 0 else float(A[par.i, par.i])
    return None if shifted and 0 in (par.i, par.j) else 1.0
