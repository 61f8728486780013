"""Stage 5 of the pipeline: minimise the profiled deviance over θ with BOBYQA.

lme4's default optimizer for ``lmer`` is nloptwrap (NLopt's LN_BOBYQA) with
``xtol_abs = 1e-8, ftol_abs = 1e-8`` and NLopt's relative tolerances
``xtol_rel = 1e-4``; θ's diagonal entries are bounded below by 0. We use
the same algorithm through the same C library. After the run, parameters
within ``boundary_tol`` of a bound are tried on it (lme4's
``boundary.tol``) and kept when the criterion is no worse.

Budgets: lme4 allows ``maxeval = 1e5`` evaluations whatever the number m
of parameters; BOBYQA needs O(m²) evaluations to build its quadratic
model, so the default here is ``100 (m + 1)²`` (at least 1000, at most
lme4's 1e5), and the restart that polishes lme4's stopping point gets
``max(2 × evaluations so far, min(20 (m + 1)², 4000))`` more: on a long flat ridge
(over-parameterized models) it improves lme4's answer at a bounded cost,
and the gradient check below says when it is still not at an optimum. An explicit ``maxeval``
below ``10 m²`` draws minqa's warning ("maxfun < 10 * length(par)^2 is not
recommended"). At the end, central differences give each coordinate's
gradient gᵢ and curvature hᵢ; lme4's convergence check compares
max min(|gᵢ/√hᵢ|, |gᵢ|) with ``GRAD_TOL`` = 0.002 (one-sided slopes into
the feasible region count for parameters on a bound).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import nlopt
import numpy as np

from .errors import ArgumentError, ConvergenceWarning

__all__ = [
    "GRAD_TOL",
    "OptimizerControl",
    "OptResult",
    "bobyqa",
    "bobyqa_profiled",
    "convergence_messages",
    "default_maxeval",
]

GRAD_TOL = 0.002
"""lme4's ``check.conv.grad`` tolerance on the scaled gradient."""

_MAXEVAL_CAP = 100_000  # lme4's nloptwrap maxeval
_OPTIMIZERS = ("auto", "bfgs", "bobyqa")


def default_maxeval(m: int) -> int:
    """Evaluation budget for m parameters: 100 (m + 1)², within [1000, 1e5]."""
    return int(min(_MAXEVAL_CAP, max(1_000, 100 * (m + 1) ** 2)))

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
    maxeval: int | None = None
    """Evaluation budget; ``None``: :func:`default_maxeval` of the number of parameters."""
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
    optimizer: str = "auto"
    """``"bobyqa"``: lme4's derivative-free path (with the polish above);
    ``"bfgs"`` or ``"auto"``: bound-constrained BFGS on the analytic gradient
    (:mod:`mixedmodels.quasi_newton`) where the whole system is small enough
    for one dense factor (:mod:`mixedmodels.linalg.dense`), BOBYQA otherwise."""
    start: str = "auto"
    """Starting θ: ``"lme4"`` (1 on diagonals, 0 below), ``"moments"`` (one-way
    method-of-moments estimates for scalar terms) or ``"auto"`` (moments for
    large models with scalar terms only, where evaluations are expensive)."""
    rest: str = "auto"
    """The block of the terms after the first: ``"dense"`` (LAPACK), ``"sparse"``
    (CHOLMOD with a fill-reducing ordering; scalar terms; needs CVXOPT) or ``"auto"``
    (the faster that fits, by the predicted fill and flops; see
    :mod:`mixedmodels.linalg.rest_plan`)."""

    def __post_init__(self) -> None:
        if self.optimizer not in _OPTIMIZERS:
            raise ArgumentError(
                "optimizer", self.optimizer, " or ".join(repr(o) for o in _OPTIMIZERS)
            )


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
    maxeval: int = 0  # the budget of the main run
    max_grad: float | None = None  # lme4's max|grad| at the returned point (see the module doc)
    grad_component: int = 0  # 1-based coordinate of max_grad
    boundary_grad: float = 0.0  # largest slope into the region of a parameter on its bound
    polish_stopped_by_budget: bool = False
    optimizer: str = "bobyqa (NLopt LN_BOBYQA)"
    inv_hessian: np.ndarray | None = None  # BFGS's approximation at the end (bfgs_bounded)

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
    lower = np.asarray(lower, dtype=float)
    m = np.asarray(x0).size
    if control.maxeval is not None and control.maxeval < 10 * m * m:
        warnings.warn(
            f"maxeval = {control.maxeval} for {m} parameters: maxfun < 10 * length(par)^2 "
            "is not recommended",
            ConvergenceWarning,
            stacklevel=3,
        )
    res = _run(fn, x0, lower, upper, control, initial_step=initial_step)
    if control.polish and res.ok:
        # lme4's tolerances stop BOBYQA where its trust region is ~1e-4 relative.
        # On flat ridges that point is path dependent: if a quadratic model from
        # central differences predicts a decrease above polish_keep_abs, restart
        # from there with tight tolerances and keep the better answer.
        g, curv, nf = diagonal_derivatives(fn, res.x, res.fun, lower)
        res.feval += nf
        gain = _decrease(g, curv)
        if gain > control.polish_keep_abs:
            budget = min(res.maxeval, max(2 * res.feval, min(20 * (m + 1) ** 2, 4000)))
            tight = OptimizerControl(
                xtol_abs=control.xtol_abs,
                ftol_abs=control.polish_ftol_abs,
                xtol_rel=control.polish_xtol_rel,
                maxeval=budget,
                boundary_tol=control.boundary_tol,
                polish=False,
            )
            step = np.maximum(control.polish_step * np.abs(res.x), control.polish_step)
            tight_res = _run(fn, res.x, lower, upper, tight, initial_step=step)
            tight_res.feval += res.feval
            if tight_res.fun < res.fun:
                # lme4's run converged; a polish cut short by its budget still improved it
                tight_res.polish_stopped_by_budget = tight_res.code == nlopt.MAXEVAL_REACHED
                if tight_res.polish_stopped_by_budget:
                    tight_res.code, tight_res.message = res.code, res.message
                tight_res.polished = True
                tight_res.maxeval = res.maxeval
                res = tight_res
                g, curv, nf = diagonal_derivatives(fn, res.x, res.fun, lower)
                res.feval += nf
            else:
                res.feval = tight_res.feval
        res.predicted_decrease = float(gain)
        res.max_grad, res.grad_component = max_scaled_gradient(g, curv)
        on_bound = np.isnan(curv)
        res.boundary_grad = float(np.abs(g[on_bound]).max()) if on_bound.any() else 0.0
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


def diagonal_derivatives(
    fn: Callable[[np.ndarray], float], x: np.ndarray, fx: float, lower: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-coordinate gradient g and curvature h of ``fn`` at ``x`` (2 evaluations each).

    Central differences with step 1e-4·max(|xᵢ|, 0.01); where the step would
    cross the lower bound, a one-sided slope (into the feasible region) with
    h = NaN, and g = 0 when that slope points outside (the bound is active).
    Returns (g, h, evaluations).
    """
    m = x.size
    g = np.zeros(m)
    curv = np.zeros(m)
    nf = 0
    for i in range(m):
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
            g[i] = (fp - fm) / (2 * h)
            curv[i] = (fp - 2 * fx + fm) / (h * h)
            if abs(g[i]) * h <= 1e-10 and curv[i] <= 0:
                g[i] = 0.0  # flat to rounding: nothing to gain along this coordinate
        else:
            slope = (fp - fx) / h
            g[i] = slope if slope < 0 and -slope * h > 1e-10 else 0.0
            curv[i] = np.nan
    return g, curv, nf


def _decrease(g: np.ndarray, curv: np.ndarray) -> float:
    """Σ gᵢ²/(2hᵢ) over coordinates that can move; infinite where a slope meets
    non-positive (or one-sided, unknown) curvature."""
    total = 0.0
    for gi, hi in zip(g, curv):
        if gi == 0.0:
            continue
        if not hi > 0:
            return np.inf
        total += gi * gi / (2 * hi)
    return total


def max_scaled_gradient(g: np.ndarray, curv: np.ndarray) -> tuple[float, int]:
    """lme4's convergence measure max_i min(|gᵢ/√hᵢ|, |gᵢ|) (the Hessian's diagonal
    standing for its Cholesky factor) and its 1-based coordinate."""
    if g.size == 0:
        return 0.0, 0
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = np.where(curv > 0, np.abs(g) / np.sqrt(np.where(curv > 0, curv, 1.0)), np.inf)
    mingrad = np.minimum(scaled, np.abs(g))
    k = int(np.argmax(mingrad))
    return float(mingrad[k]), k + 1


def predicted_decrease(
    fn: Callable[[np.ndarray], float], x: np.ndarray, fx: float, lower: np.ndarray
) -> tuple[float, int]:
    """Decrease of ``fn`` a diagonal quadratic model predicts from ``x``.

    Central differences (one-sided at a bound) give the gradient g and
    curvature h per coordinate; the prediction is Σ g²/(2h) over coordinates
    free to move (at a bound only where the gradient points inside), and
    infinite where the curvature is not positive. Returns (decrease, evals).
    """
    g, curv, nf = diagonal_derivatives(fn, x, fx, lower)
    return _decrease(g, curv), nf


_ADVICE = (
    "the estimates may not be at the optimum: refit from this point with start=m.theta, "
    "center and scale the predictors, or simplify the random effects (uncorrelated terms "
    "with ||, or drop terms whose variance is near zero)"
)


def convergence_messages(res: OptResult, singular: bool) -> list[str]:
    """lme4's convergence warnings for an optimization result, each with what to do.

    * the budget ran out: lme4's "convergence code 5 from ...: NLOPT_MAXEVAL_REACHED";
    * a non-singular fit whose scaled gradient exceeds ``GRAD_TOL``: lme4's
      "Model failed to converge with max|grad| = ..." (lme4 skips singular fits);
    * a singular fit stopped on a bound although the criterion decreases into
      the parameter space (``boundary_grad`` above ``GRAD_TOL``).
    """
    out = []
    if not res.ok:
        detail = (
            "Optimization stopped because maxeval (above) was reached"
            if res.code == nlopt.MAXEVAL_REACHED
            else "the optimizer stopped early"
        )
        more = (
            ", or allow more evaluations with control=mm.OptimizerControl(maxeval=...)"
            if res.code == nlopt.MAXEVAL_REACHED
            else ""
        )
        out.append(
            f"convergence code {res.code} from bobyqa (NLopt): {res.message}: {detail} "
            f"({res.feval} evaluations, maxeval = {res.maxeval}); {_ADVICE}{more}"
        )
    if res.max_grad is None:
        return out
    if not singular and res.max_grad > GRAD_TOL:
        out.append(
            f"Model failed to converge with max|grad| = {res.max_grad:g} (tol = {GRAD_TOL:g}, "
            f"component {res.grad_component}); {_ADVICE}"
        )
    elif singular and res.boundary_grad > GRAD_TOL:
        out.append(
            "the optimizer stopped with a variance parameter on its bound (zero) although the "
            f"criterion still decreases into the parameter space (slope {res.boundary_grad:g}, "
            f"tol = {GRAD_TOL:g}); {_ADVICE}"
        )
    return out


def boundary_check(
    fn: Callable[[np.ndarray], float], x: np.ndarray, fx: float, lower: np.ndarray, tol: float
) -> tuple[np.ndarray, float, int]:
    """lme4's boundary check: parameters within ``tol`` of a finite lower bound are
    tried on it, kept there when f is no worse. Returns (x, f(x), evaluations)."""
    if not tol > 0:
        return x, fx, 0
    lower = np.asarray(lower, dtype=float)
    near = np.isfinite(lower) & (x - lower < tol) & (x != lower)
    if not near.any():
        return x, fx, 0
    x_b = x.copy()
    x_b[near] = lower[near]
    f_b = fn(x_b)
    if f_b <= fx:
        return x_b, float(f_b), 1
    return x, fx, 1


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
    maxeval = control.maxeval if control.maxeval is not None else default_maxeval(n)
    opt.set_maxeval(int(maxeval))
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
    x, fun, nf = boundary_check(fn, x, float(fun), lower, control.boundary_tol)
    count[0] += nf
    message = _RESULT_NAMES.get(code, f"NLOPT code {code}")
    out = OptResult(x, float(fun), count[0], message, int(code), time.perf_counter() - start)
    out.maxeval = int(maxeval)
    return out
