"""Stage 5 of the pipeline: minimise the profiled deviance over θ with BOBYQA.

lme4's default optimizer for ``lmer`` is nloptwrap (NLopt's LN_BOBYQA) with
``xtol_abs = 1e-8, ftol_abs = 1e-8`` and NLopt's relative tolerances
``xtol_rel = 1e-4``; θ's diagonal entries are bounded below by 0. We use
the same algorithm through the same C library. After the run, parameters
within ``boundary_tol`` of a bound are tried on it (lme4's
``boundary.tol``) and kept when the criterion is no worse.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import nlopt
import numpy as np

__all__ = ["OptimizerControl", "OptResult", "bobyqa", "bobyqa_profiled"]

_RESULT_NAMES = {
    nlopt.SUCCESS: "NLOPT_SUCCESS",
    nlopt.STOPVAL_REACHED: "NLOPT_STOPVAL_REACHED",
    nlopt.FTOL_REACHED: "NLOPT_FTOL_REACHED",
    nlopt.XTOL_REACHED: "NLOPT_XTOL_REACHED",
    nlopt.MAXEVAL_REACHED: "NLOPT_MAXEVAL_REACHED",
    nlopt.MAXTIME_REACHED: "NLOPT_MAXTIME_REACHED",
    nlopt.ROUNDOFF_LIMITED: "NLOPT_ROUNDOFF_LIMITED",
}


@dataclass
class OptimizerControl:
    """Optimizer settings (lme4's ``lmerControl(optCtrl=...)`` defaults)."""

    xtol_abs: float = 1e-8
    ftol_abs: float = 1e-8
    xtol_rel: float = 1e-4
    ftol_rel: float = 0.0
    maxeval: int = 100_000
    boundary_tol: float = 1e-5
    initial_step: float | None = None
    polish: bool = True
    polish_xtol_rel: float = 1e-7
    polish_ftol_abs: float = 1e-11
    polish_keep_abs: float = 1e-7
    polish_step: float = 1e-3
    profile_tail: bool = True
    """Optimize the θ of small trailing terms in an inner loop that reuses the
    large factorization (see :mod:`mixedmodels.linalg.tail`) where that pays."""
    start: str = "auto"
    """Starting θ: ``"lme4"`` (1 on diagonals, 0 below), ``"moments"`` (one-way
    method-of-moments estimates for scalar terms) or ``"auto"`` (moments for
    large models with scalar terms only, where evaluations are expensive)."""


@dataclass
class OptResult:
    """Outcome of one optimization."""

    x: np.ndarray
    fun: float
    feval: int
    message: str
    code: int
    seconds: float
    history: list[float] = field(default_factory=list)
    predicted_decrease: float | None = None  # from the convergence check at lme4's stop
    polished: bool = False  # whether the tight restart replaced lme4's stopping point
    inner_feval: int = 0  # evaluations of the profiled-out parameters (bobyqa_profiled)

    @property
    def ok(self) -> bool:
        """Converged: a tolerance was met, or rounding stopped progress at the best point."""
        if self.code == nlopt.ROUNDOFF_LIMITED:
            return True
        return self.code > 0 and self.code != nlopt.MAXEVAL_REACHED


def bobyqa(
    fn: Callable[[np.ndarray], float],
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray | None = None,
    control: OptimizerControl | None = None,
    initial_step: np.ndarray | None = None,
) -> OptResult:
    """Minimise ``fn`` from ``x0`` within bounds with NLopt's BOBYQA.

    ``initial_step`` sets BOBYQA's first trust-region radius per coordinate
    (NLopt's default when ``None``, as lme4 runs it).
    """
    control = control or OptimizerControl()
    start = time.perf_counter()
    res = _run(fn, x0, lower, upper, control, initial_step=initial_step)
    if control.polish and res.ok:
        # lme4's tolerances stop BOBYQA where its trust region is ~1e-4 relative.
        # On flat ridges that point is path dependent: if a quadratic model from
        # central differences predicts a decrease above polish_keep_abs, restart
        # from there with tight tolerances and keep the better answer.
        gain, nf = predicted_decrease(fn, res.x, res.fun, np.asarray(lower, dtype=float))
        res.feval += nf
        if gain > control.polish_keep_abs:
            tight = OptimizerControl(
                xtol_abs=control.xtol_abs,
                ftol_abs=control.polish_ftol_abs,
                xtol_rel=control.polish_xtol_rel,
                maxeval=control.maxeval,
                boundary_tol=control.boundary_tol,
                polish=False,
            )
            step = np.maximum(control.polish_step * np.abs(res.x), control.polish_step)
            tight_res = _run(fn, res.x, lower, upper, tight, initial_step=step)
            tight_res.feval += res.feval
            if tight_res.fun < res.fun:
                tight_res.polished = True
                res = tight_res
            else:
                res.feval = tight_res.feval
        res.predicted_decrease = float(gain)
    res.seconds = time.perf_counter() - start
    return res


def bobyqa_profiled(
    set_head: Callable[[np.ndarray], bool],
    tail_fn: Callable[[np.ndarray], float],
    x0: np.ndarray,
    lower: np.ndarray,
    n_head: int,
    control: OptimizerControl | None = None,
    initial_step: np.ndarray | None = None,
    infeasible: float = 1e100,
) -> OptResult:
    """Minimise f(x_h, x_t) as BOBYQA over x_h of the profile min over x_t of f.

    ``set_head(x_h)`` prepares the cheap function ``tail_fn(x_t) = f(x_h, x_t)``
    (returning False where x_h is infeasible). Each outer evaluation runs an
    inner BOBYQA with tight tolerances from the previous inner optimum, so the
    outer optimizer (with ``control``'s settings, polish included) sees a
    smooth function of the head parameters alone. Returns the full x.
    """
    control = control or OptimizerControl()
    x0 = np.asarray(x0, dtype=float)
    lower = np.asarray(lower, dtype=float)
    inner = OptimizerControl(
        xtol_abs=1e-10, ftol_abs=1e-11, xtol_rel=1e-8, boundary_tol=control.boundary_tol
    )
    tails: dict[bytes, np.ndarray] = {}
    last_tail = [x0[n_head:].copy()]
    inner_evals = [0]

    def outer(x_head: np.ndarray) -> float:
        if not set_head(x_head):
            return infeasible
        start = last_tail[0]
        step = np.maximum(0.1 * np.abs(start), 1e-3)
        res = _run(tail_fn, start, lower[n_head:], None, inner, initial_step=step)
        inner_evals[0] += res.feval
        tails[x_head.tobytes()] = res.x
        if res.fun < infeasible:
            last_tail[0] = res.x
        return res.fun

    head_step = None if initial_step is None else np.asarray(initial_step)[:n_head]
    res = bobyqa(outer, x0[:n_head], lower[:n_head], control=control, initial_step=head_step)
    key = res.x.tobytes()
    if key not in tails:
        outer(res.x)
    res.x = np.concatenate([res.x, tails[key]])
    res.inner_feval = inner_evals[0]
    return res


def predicted_decrease(
    fn: Callable[[np.ndarray], float], x: np.ndarray, fx: float, lower: np.ndarray
) -> tuple[float, int]:
    """Decrease of ``fn`` a diagonal quadratic model predicts from ``x``.

    Central differences (one-sided at a bound) give the gradient g and
    curvature h per coordinate; the prediction is Σ g²/(2h) over coordinates
    free to move (at a bound only where the gradient points inside), and
    infinite where the curvature is not positive. Returns (decrease, evals).
    """
    total = 0.0
    nf = 0
    for i in range(x.size):
        h = 1e-4 * max(abs(x[i]), 1e-2)
        xp = x.copy()
        xp[i] += h
        fp = fn(xp)
        nf += 1
        if x[i] - h >= lower[i]:
            xm = x.copy()
            xm[i] -= h
            fm = fn(xm)
            nf += 1
            g = (fp - fm) / (2 * h)
            curv = (fp - 2 * fx + fm) / (h * h)
        else:
            g = (fp - fx) / h
            if g >= 0:
                continue  # on the bound and the slope points outside
            curv = 0.0
        if curv <= 0:
            return (np.inf if abs(g) * h > 1e-10 else 0.0), nf
        total += g * g / (2 * curv)
    return total, nf


def _run(
    fn: Callable[[np.ndarray], float],
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray | None,
    control: OptimizerControl,
    initial_step: np.ndarray | None = None,
) -> OptResult:
    """One BOBYQA run followed by lme4's boundary check."""
    x0 = np.asarray(x0, dtype=float)
    n = x0.size
    count = [0]
    best: list[Any] = [np.inf, x0.copy()]  # the lowest value seen and its x
    start = time.perf_counter()

    def objective(x: np.ndarray, grad: np.ndarray) -> float:
        count[0] += 1
        value = fn(x)
        if value < best[0]:
            best[0], best[1] = value, x.copy()
        return value

    if n == 1:
        # BOBYQA needs n >= 2 in NLopt; lme4 also switches for 1-D problems
        # only in name: nloptwrap handles n = 1 through NLopt's BOBYQA fallback.
        opt = nlopt.opt(nlopt.LN_BOBYQA, 1)
    else:
        opt = nlopt.opt(nlopt.LN_BOBYQA, n)
    opt.set_min_objective(objective)
    opt.set_lower_bounds(np.asarray(lower, dtype=float))
    if upper is not None:
        opt.set_upper_bounds(np.asarray(upper, dtype=float))
    opt.set_xtol_abs(control.xtol_abs)
    opt.set_ftol_abs(control.ftol_abs)
    opt.set_xtol_rel(control.xtol_rel)
    if control.ftol_rel:
        opt.set_ftol_rel(control.ftol_rel)
    opt.set_maxeval(control.maxeval)
    if initial_step is not None:
        opt.set_initial_step(initial_step)
    elif control.initial_step is not None:
        opt.set_initial_step(control.initial_step)
    try:
        x = opt.optimize(x0)
        code = opt.last_optimize_result()
        fun = opt.last_optimum_value()
    except nlopt.RoundoffLimited:
        # NLopt stops without returning x: keep the best point it evaluated
        if np.isfinite(best[0]):
            x, fun = best[1], float(best[0])
        else:
            x, fun = x0, fn(x0)
        code = nlopt.ROUNDOFF_LIMITED
    x = np.asarray(x, dtype=float)
    # lme4's boundary check: parameters near a finite lower bound are tried on it
    if control.boundary_tol > 0:
        lower = np.asarray(lower, dtype=float)
        near = np.isfinite(lower) & (x - lower < control.boundary_tol) & (x != lower)
        if near.any():
            x_b = x.copy()
            x_b[near] = lower[near]
            f_b = fn(x_b)
            count[0] += 1
            if f_b <= fun:
                x, fun = x_b, f_b
    message = _RESULT_NAMES.get(code, f"NLOPT code {code}")
    return OptResult(x, float(fun), count[0], message, int(code), time.perf_counter() - start)
