"""Profile-likelihood intervals for generalized linear mixed models (lme4's ``confint(g)``).

With d(θ, β) the fit's Laplace (or adaptive Gauss–Hermite) deviance — the
objective of the fit's second stage — and d̂ its minimum, a parameter ψ (the
standard deviation θ_k of a scalar random-effect term, σ = 1, or a fixed
effect β_j) held at v has the profile

    d_ψ(v) = min { d(θ, β) : ψ = v },   ζ(v) = sign(v − ψ̂) √(d_ψ(v) − d̂),

minimized over the other parameters by BOBYQA (warm-started along the
profile). The interval ends are the roots of ζ(v) = ±z_{(1+level)/2},
located exactly (bracketing, then Brent's method, as :mod:`.profile`)
instead of through lme4's spline of ζ, so they agree with lme4's to its
interpolation error (~1e-3). An sd whose profile does not reach −z before 0
has lower end 0, as lme4. Terms with several effects (correlations) and
families with a dispersion parameter are not profiled here: they raise an
error that names the alternative (``method="Wald"`` or ``"boot"``).
"""

from __future__ import annotations

import math
from typing import Any

import nlopt
import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ModelSpecificationError
from .profile import ProfileParameter, _crossing

__all__ = ["glmer_profile_confint"]


class _GlmerTrace:
    """ζ(v) of one parameter, each minimization starting from the nearest one done."""

    def __init__(self, model: Any, par: ProfileParameter, x_hat: np.ndarray, dmin: float,
                 lower: np.ndarray, scale: np.ndarray):
        self.model, self.par, self.dmin = model, par, dmin
        self.x_hat, self.lower, self.scale = x_hat, lower, scale
        self.other = np.flatnonzero(np.arange(x_hat.size) != par.j)
        self.done: dict[float, np.ndarray] = {par.estimate: x_hat[self.other]}

    def deviance(self, v: float) -> float:
        j, other = self.par.j, self.other
        start = self.done[min(self.done, key=lambda w: abs(w - v))]
        x = self.x_hat.copy()
        x[j] = v

        def f(y: np.ndarray, grad: np.ndarray) -> float:
            x[other] = y
            return float(self.model.objective(x))

        lo = self.lower[other]
        y0 = np.maximum(start, lo)
        opt = nlopt.opt(nlopt.LN_BOBYQA, other.size)
        opt.set_min_objective(f)
        opt.set_lower_bounds(lo)
        opt.set_ftol_abs(1e-9)
        opt.set_xtol_rel(1e-8)
        opt.set_maxeval(5000)
        opt.set_initial_step(np.maximum(0.2 * self.scale[other], 1e-3))
        try:
            y = np.asarray(opt.optimize(y0))
            fy = opt.last_optimum_value()
        except nlopt.RoundoffLimited:
            y, fy = y0, f(y0, np.empty(0))
        self.done[v] = y
        return float(fy)

    def zeta(self, v: float) -> float:
        dd = self.deviance(v) - self.dmin
        return math.copysign(math.sqrt(max(dd, 0.0)), v - self.par.estimate)


def _parameters(model: Any) -> list[ProfileParameter]:
    d = model.design
    if model.family.has_dispersion:
        raise ModelSpecificationError(
            f"profile intervals of a {model.family.family} GLMM (with a dispersion parameter) "
            "are not available: use method='Wald' or 'boot'"
        )
    out = []
    for k, t in enumerate(d.terms):
        if t.S != 1:
            raise ModelSpecificationError(
                f"profile intervals of a GLMM are available for scalar random-effect terms; "
                f"{t.bar.text} has {t.S} effects: use method='Wald' or 'boot'"
            )
        out.append(ProfileParameter(f"sd_{t.names[0]}|{t.group}", "sd",
                                    float(model._theta[k]), term=k, j=k))
    nt = len(d.terms)
    for i, nm in enumerate(d.x_names):
        out.append(ProfileParameter(nm, "beta", float(model._beta[i]), j=nt + i))
    return out


def glmer_profile_confint(model: Any, level: float = 0.95, parm: list[str] | None = None
                          ) -> pd.DataFrame:
    """Rows ``sd_<effect>|<group>`` and the fixed effects, columns lower and upper."""
    params = _parameters(model)
    if parm is not None:
        unknown = [p for p in parm if p not in {q.name for q in params}]
        if unknown:
            raise ModelSpecificationError(f"parm names {unknown}, not parameters of the model "
                                          f"({[q.name for q in params]})")
        params = [q for q in params if q.name in parm]
    nt = model.ntheta
    x_hat = np.concatenate([model._theta, model._beta])
    lower = np.concatenate([model.lower, np.full(model.design.p, -np.inf)])
    se_beta = np.sqrt(np.diag(model._vcov_unscaled)) * model._sigma
    scale = np.concatenate([np.maximum(np.abs(model._theta), 0.05), se_beta])
    z = float(stats.norm.ppf(0.5 + level / 2))
    dmin = float(model.objective(x_hat))
    rows = {}
    try:
        for par in params:
            trace = _GlmerTrace(model, par, x_hat, dmin, lower, scale)
            step = z * (se_beta[par.j - nt] if par.kind == "beta" else 0.5 * scale[par.j])
            rows[par.name] = (_crossing(trace, -1, z, step), _crossing(trace, 1, z, step))
    finally:
        model.objective(x_hat)  # leave the PIRLS state at the optimum
    a = (1 - level) / 2
    return pd.DataFrame.from_dict(rows, orient="index",
                                  columns=[f"{100 * a:.3g} %", f"{100 * (1 - a):.3g} %"])
