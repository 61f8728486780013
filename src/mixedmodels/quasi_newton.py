"""Bound-constrained BFGS on θ with an analytic gradient (small models).

Minimises f over {x ≥ l} (l may be −∞) by projected quasi-Newton steps:
at x with gradient g, the *active* coordinates are those on their bound
with gᵢ > 0 (the criterion rises into the region); the projected gradient
is g with those entries zeroed. The step is d_F = −H_FF g_F on the free
coordinates F, with H the BFGS approximation of the inverse Hessian
(updated by s = Δx, y = Δg when s'y > 0, scaled by s'y / y'y after the
first step), and the trial points P(x + αd) = max(x + αd, l) are accepted
by Armijo's rule f(P) ≤ f(x) + 10⁻⁴ g'(P − x), backtracking by quadratic
interpolation; near the optimum, where f changes by no more than its
rounding, a trial point is also accepted when it halves the projected
gradient (the analytic gradient resolves the optimum below f's rounding).

It stops when max |projected gradient| ≤ ``gtol``: a first-order optimum,
so the end point is the optimum to the accuracy of the gradient, not a
point that depends on the path (as a derivative-free method's stopping
point on a flat ridge does). Where rounding stops progress first
(a rejected step that changed f by no more than 10⁻¹⁴ |f|, or three steps
in a row that decrease f by no more than that and do not halve the
gradient), the last point is returned with NLopt's ROUNDOFF_LIMITED code;
a run that exhausts ``maxeval`` returns MAXEVAL_REACHED, so the caller can fall back to BOBYQA.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import nlopt
import numpy as np

from .optimize import OptResult

__all__ = ["GTOL", "bfgs_bounded"]

GTOL = 1e-8  # max |projected gradient| of a first-order optimum
_ARMIJO = 1e-4
_NOISE = 1e-14  # changes of f within this share of |f| are rounding
_STALLS = 3  # steps in a row that gain no more than rounding: stop
_FIRST_STEP = 0.5  # largest coordinate change of the first (steepest-descent) step
_MAX_STEP = 1.0  # largest coordinate change of a step, relative to max(1, ‖x‖∞)


def _projected_max(x: np.ndarray, g: np.ndarray | None, lower: np.ndarray) -> float:
    """max |gᵢ| over the coordinates free at x (inf where there is no gradient)."""
    if g is None or not g.size:
        return math.inf if g is None else 0.0
    free = (x > lower) | (g < 0.0)
    return float(np.abs(np.where(free, g, 0.0)).max())


def bfgs_bounded(
    fg: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0: np.ndarray,
    lower: np.ndarray,
    gtol: float = GTOL,
    maxeval: int = 1000,
    inv_hessian: np.ndarray | None = None,
    first_step: float = _FIRST_STEP,
    first: tuple[float, np.ndarray] | None = None,
) -> OptResult:
    """Minimise f (``fg(x)`` returns f(x) and ∇f(x), or f = inf where undefined).

    Returns an :class:`~mixedmodels.optimize.OptResult` whose ``max_grad``
    is max |gᵢ| over the free coordinates and ``boundary_grad`` the largest
    slope −gᵢ into the region of a coordinate on its bound (0 at an optimum),
    and whose ``inv_hessian`` is the final H. ``inv_hessian`` given here is the
    starting H (a previous fit's, for a refit of a similar response), else the
    first step is steepest descent (of largest coordinate change ``first_step``).
    ``first``: f and ∇f at x0 where the caller has them (counted as an evaluation).
    """
    start = time.perf_counter()
    lower = np.asarray(lower, dtype=float)
    x = np.maximum(np.asarray(x0, dtype=float), lower)
    f, g = fg(x) if first is None else first
    nfev = 1
    if not math.isfinite(f):
        out = OptResult(x, f, nfev, "infeasible start", nlopt.FAILURE, 0.0)
        out.maxeval = maxeval
        return out
    m = x.size
    H = None if inv_hessian is None else np.array(inv_hessian, dtype=float)
    stalls = 0
    code, message = nlopt.MAXEVAL_REACHED, "NLOPT_MAXEVAL_REACHED"
    bounded = bool(np.isfinite(lower).any())
    small, gmax_prev = False, math.inf
    while True:
        free = (x > lower) | (g < 0.0) if bounded else None
        all_free = free is None or bool(free.all())
        pg = g if all_free else np.where(free, g, 0.0)
        gmax = float(np.abs(pg).max()) if m else 0.0
        if gmax <= gtol:
            code, message = nlopt.SUCCESS, "NLOPT_SUCCESS"
            break
        # a step that gained no more than rounding and did not halve the gradient: a stall
        stalls = stalls + 1 if small and gmax > 0.5 * gmax_prev else 0
        if stalls >= _STALLS:
            code, message = nlopt.ROUNDOFF_LIMITED, "NLOPT_ROUNDOFF_LIMITED"
            break
        gmax_prev = gmax
        if nfev >= maxeval:
            break
        if H is None:
            d = -pg * (first_step / gmax)
        else:
            if all_free:
                d = -(H @ g)
            else:
                d = np.zeros(m)
                idx = np.flatnonzero(free)
                d[idx] = -(H[np.ix_(idx, idx)] @ g[idx])
            if not float(g @ d) < 0.0:  # lost positive definiteness: restart
                H = None
                d = -pg * (first_step / gmax)
        # no coordinate moves by more than MAX_STEP·max(1, ‖x‖∞) in one step: a curvature
        # estimate from a first short step can be far too small along another direction
        big = float(np.abs(d).max()) / (_MAX_STEP * max(1.0, float(np.abs(x).max())))
        if big > 1.0:
            d = d / big
        alpha = 1.0
        accepted = False
        while nfev < maxeval:
            xn = np.maximum(x + alpha * d, lower)
            fn, gn = fg(xn)
            nfev += 1
            slope = float(g @ (xn - x))
            if fn <= f + _ARMIJO * slope and math.isfinite(fn):
                accepted = True
                break
            if abs(fn - f) <= _NOISE * abs(f) and _projected_max(xn, gn, lower) < 0.5 * gmax:
                accepted = True  # f is flat to rounding here, the (exact) gradient still falls
                break
            if alpha < 1e-12 or (0.0 < -slope and abs(fn - f) <= _NOISE * abs(f)):
                break  # below the rounding of f there is no decrease left to find
            if not slope < 0.0:  # the bound cut the step into an ascent: shorten it
                alpha *= 0.5
                continue
            # minimiser of the quadratic through f, slope and fn, kept in [0.1α, 0.5α]
            denom = 2.0 * (fn - f - slope) if math.isfinite(fn) else math.inf
            trial = -slope * alpha / denom if denom > 0.0 else 0.1 * alpha
            alpha = min(max(trial, 0.1 * alpha), 0.5 * alpha)
        if not accepted:
            if nfev < maxeval:
                code, message = nlopt.ROUNDOFF_LIMITED, "NLOPT_ROUNDOFF_LIMITED"
            break
        s = xn - x
        yv = gn - g
        sy = float(s @ yv)
        decrease = f - fn
        x, f, g = xn, fn, gn
        if sy > 1e-12 * float(np.sqrt((s @ s) * (yv @ yv))):
            if H is None:
                H = np.eye(m) * (sy / float(yv @ yv))
            # H ← (I − ρsy')H(I − ρys') + ρss', ρ = 1/s'y
            rho = 1.0 / sy
            Hy = H @ yv
            Hys = Hy[:, None] * s
            H += ((rho * rho * float(yv @ Hy) + rho) * s)[:, None] * s
            H -= rho * (Hys + Hys.T)
        small = decrease <= _NOISE * abs(f)
    free = (x > lower) | (g < 0.0)
    out = OptResult(x, float(f), nfev, message, int(code), time.perf_counter() - start)
    out.maxeval = int(maxeval)
    out.optimizer = "bfgs (analytic gradient)"
    out.inv_hessian = H
    out.max_grad = float(np.abs(np.where(free, g, 0.0)).max()) if m else 0.0
    out.grad_component = int(np.argmax(np.abs(np.where(free, g, 0.0)))) + 1 if m else 0
    on_bound = x <= lower
    out.boundary_grad = float(max(0.0, (-g[on_bound]).max())) if on_bound.any() else 0.0
    return out
