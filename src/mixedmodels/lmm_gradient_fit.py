"""Small linear mixed models fitted by BFGS on the analytic gradient of the profiled criterion.

Where the whole system is small (N = q + p + 1 ≤ ``DENSE_MAX_SIZE``) the
criterion and its gradient come from one dense factor of Ω(θ)
(:mod:`mixedmodels.linalg.dense`) or from per-level factors and a Schur
complement (:mod:`mixedmodels.linalg.schur`), and θ̂ is the first-order
optimum of a bound-constrained BFGS (:mod:`mixedmodels.quasi_newton`) from
the method-of-moments start (:mod:`mixedmodels.start`); lme4's BOBYQA path
is run as well where BFGS ends on the boundary. Refits start from the new
response's moment start or θ̂, with the inverse Hessian at θ̂ from differences
of the analytic gradient. :class:`GradientFit` holds these steps for
:class:`mixedmodels.lmm.LinearMixedModel`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .linalg import FactorizationError
from .linalg.dense import DENSE_MAX_SIZE, DenseCriterion
from .linalg.schur import SchurCriterion, prefers_schur
from .optimize import OptResult, bobyqa, boundary_check, default_maxeval
from .progress import FitWatch
from .quasi_newton import GTOL, bfgs_bounded
from .start import MomentStart
from .start_anova import anova_start

__all__ = ["BAD", "GradientFit"]

BAD = 1e100  # finite "infeasible" value for the optimizer (the criterion's too)
_FIRST_STEP_MOMENTS = 0.1  # first BFGS step from the moment start, relative to max(1, ‖θ₀‖∞)
_SINGULAR_TOL = 1e-4  # a diagonal of T_k this close to 0: a boundary fit (lme4's isSingular)


def _stationary(fg: tuple[float, np.ndarray | None], x: np.ndarray, lower: np.ndarray) -> bool:
    """Whether (f, ∇f) at x is a first-order optimum to BFGS's tolerance (projected ∇f)."""
    g = fg[1]
    if g is None:
        return False
    free = (x > lower) | (g < 0.0)
    return not bool(np.any(np.abs(g[free]) > GTOL))


class GradientFit:
    """The BFGS fit of small models and their refits' starts (the module docstring); a
    mixin of :class:`~mixedmodels.lmm.LinearMixedModel`, whose attributes it reads."""

    REML: bool
    cp: Any
    design: Any
    control: Any
    lower: np.ndarray
    y: np.ndarray
    _theta: np.ndarray
    _refit_inv_hessian: np.ndarray | None

    def _dense_criterion(self) -> DenseCriterion | SchurCriterion | None:
        """The criterion with its gradient where BFGS is chosen and the system is small:
        one dense factor of Ω, or per-level factors and a Schur complement where that is
        cheaper (:func:`mixedmodels.linalg.schur.prefers_schur`)."""
        plan = getattr(self.cp, "rest_plan", None)
        if self.control.optimizer == "bobyqa" or (plan is not None and plan.sparse):
            return None
        if self.cp.dims[0].q + self.cp.r > DENSE_MAX_SIZE:
            return None
        dense = getattr(self, "_dense", None)
        if dense is None or dense.reml != self.REML:
            kind = SchurCriterion if prefers_schur(self.cp) else DenseCriterion
            dense = kind(self.cp, [t.tri_index for t in self.design.terms], self.REML)
            self._dense = dense
        return dense

    def _fit_bfgs(
        self, dense: DenseCriterion | SchurCriterion, x0: np.ndarray, step: np.ndarray | None,
        watch: FitWatch, lme4_start: np.ndarray | None = None, moments: bool = False,
        alternative: np.ndarray | None = None,
    ) -> OptResult:
        """BFGS on the analytic gradient from x0; on the boundary, lme4's BOBYQA path too.

        A non-singular first-order optimum is the answer. Where BFGS ends on the
        boundary (a diagonal of some T_k at 0) the criterion is often not convex
        and a different face may hold a lower minimum; then BOBYQA from lme4's
        start (``lme4_start``, else x0: lme4's path, at lme4's tolerances) is finished
        by BFGS as well and the lower of the two kept, so the fit is never worse than
        lme4's basin.

        ``moments``: x0 is the moment start (a short first step). ``alternative``: a
        second start (a refit's: the fitted θ̂), taken instead of x0 where x0 is not
        an optimum already and the criterion is lower there (one more evaluation).
        """
        reml = self.REML
        lower = self.lower

        def fg(theta: np.ndarray) -> tuple[float, np.ndarray | None]:
            try:
                L, lam = dense.factor(theta)
            except FactorizationError:
                return math.inf, None
            self._last_dense_factor = (theta.copy(), L)  # reused at θ̂ by _dense_optimum
            crit = self._criterion(*dense.pieces(L), reml)
            if not crit < BAD:  # also NaN
                return math.inf, None
            return crit, dense.gradient(L, lam)

        control = self.control
        maxeval = control.maxeval if control.maxeval is not None else default_maxeval(x0.size)
        h0 = self._refit_inv_hessian
        if h0 is not None and h0.shape != (x0.size, x0.size):
            h0 = None
        wfg = watch.wrap(fg)
        first = extra = None
        if alternative is not None:
            first = wfg(x0)
            if not _stationary(first, x0, lower):
                other = wfg(alternative)
                extra = 1
                if other[0] < first[0]:
                    x0, first, moments = alternative, other, False
        if moments and h0 is None:
            # a start near the optimum: its curvature (forward differences of the analytic
            # gradient, nθ evaluations) makes the first steps Newton's (sleep_missing 11 -> 8
            # evaluations, sleepstudy (Days || Subject) 12 -> 8)
            first = wfg(x0) if first is None else first
            if not _stationary(first, x0, lower) and first[1] is not None:
                H = _fd_hessian(lambda th: wfg(th)[1], x0, first[1])
                extra = (extra or 0) + x0.size
                h0 = _inverse_if_definite(H)
        step0 = _FIRST_STEP_MOMENTS * max(1.0, float(np.abs(x0).max())) if moments else 0.5
        res = bfgs_bounded(wfg, x0, lower, maxeval=maxeval, inv_hessian=h0, first_step=step0,
                           first=first)
        if extra:
            res.feval += extra
        diag = np.isfinite(lower)

        def singular(x: np.ndarray) -> bool:
            return bool(np.any(x[diag] - lower[diag] < _SINGULAR_TOL))

        if res.ok and (not singular(res.x) or self._proven_optimum(res.x)):
            return self._bfgs_result(res, res.feval)
        path = bobyqa(watch.wrap(self.objective), x0 if lme4_start is None else lme4_start, lower,
                      control=dataclasses.replace(control, polish=False), initial_step=step)
        finish = bfgs_bounded(wfg, path.x, lower, maxeval=maxeval) if path.ok else path
        total = res.feval + path.feval + (finish.feval if finish is not path else 0)
        # equal to rounding (a ridge of optima, as in over-parameterized models): the
        # non-singular answer, as lme4 reports such a fit
        tie = abs(finish.fun - res.fun) <= 1e-12 * abs(res.fun)
        if not res.ok or (finish.fun < res.fun and not tie) or (tie and not singular(finish.x)):
            res = finish
        return self._bfgs_result(res, total)

    def _bfgs_result(self, res: OptResult, feval: int) -> OptResult:
        """``res`` after lme4's boundary check, with the evaluations of every run."""
        x, fun, nf = boundary_check(
            self.objective, res.x, res.fun, self.lower, self.control.boundary_tol
        )
        res.x, res.fun, res.feval = x, fun, feval + nf
        return res

    def _proven_optimum(self, x: np.ndarray) -> bool:
        """Whether x is the balanced design's ANOVA solution (:mod:`mixedmodels.start_anova`),
        which is the global optimum where the criterion is convex in the strata's
        precisions: then no other face needs to be searched (lme4's BOBYQA path)."""
        start = self.__dict__.get("_anova_start")
        if start is None or not start.optimal(self.REML):
            return False
        theta = start(self._start_response(), self.REML)
        return theta is not None and bool(np.array_equal(np.maximum(theta, self.lower), x))

    def _start_response(self) -> np.ndarray | None:
        """The response the starts are computed for: y less the offset (a fit of
        sufficient statistics: None, its starts read it from the blocks)."""
        return self.y - self.design.offset

    def _small_moment_start(
        self, fallback: np.ndarray, owner: GradientFit | None = None
    ) -> np.ndarray:
        """The ANOVA start of a balanced design (:mod:`mixedmodels.start_anova`), else
        the moment start
        (:class:`mixedmodels.start.MomentStart`) inside the bounds, or ``fallback`` where
        that is not finite. Both are formed once per design and kept on ``owner``, the fit
        whose refits share them."""
        owner = self if owner is None else owner
        if "_anova_start" not in owner.__dict__:
            try:
                owner._anova_start = anova_start(self.design)
            except AttributeError:  # a design of sufficient statistics only (no rows)
                owner._anova_start = None
        if owner._anova_start is not None:
            x0 = owner._anova_start(self._start_response(), self.REML)
            if x0 is not None and x0.shape == fallback.shape and np.all(np.isfinite(x0)):
                return x0  # the optimum itself, or for crossed ML close to it
        try:
            ms = owner.__dict__.get("_moment_start")
            if ms is None:
                with np.errstate(all="ignore"):
                    ms = owner._moment_start = MomentStart(self.design)
            with np.errstate(all="ignore"):  # extreme scales: a non-finite start, not a warning
                x0 = ms(self._start_response(), self.REML)
        except np.linalg.LinAlgError:
            return fallback
        except AttributeError:  # a design of sufficient statistics only (RowsNotAvailableError)
            return fallback
        if x0.shape != fallback.shape or not np.all(np.isfinite(x0)):
            return fallback
        return np.maximum(x0, self.lower)

    def _dense_optimum(
        self, dense: DenseCriterion | SchurCriterion, theta: np.ndarray
    ) -> tuple[tuple[float, float, float], list[np.ndarray], np.ndarray] | None:
        """(criterion pieces, u per term, β̂) from the dense factor at θ; ``None`` where
        Ω(θ) does not factor (the blocked factor then decides)."""
        last = self.__dict__.pop("_last_dense_factor", None)
        if last is not None and np.array_equal(last[0], theta):
            L = last[1]  # the optimizer's last evaluation was at θ̂: the same factor
        else:
            try:
                L, _ = dense.factor(theta)
            except FactorizationError:
                return None
        pieces = dense.pieces(L)
        shift = self.cp.shift
        v = dense.solution(L)  # [−ũ, −β̃, 1]
        if not np.all(np.isfinite(v)):
            return None
        s = shift.s
        us = []
        off = 0
        for d in self.cp.dims:
            us.append(-s * v[off : off + d.q].reshape(d.nl, d.S))
            off += d.q
        beta = shift.beta(-v[dense.q : dense.q + dense.p])
        return pieces, us, beta

    def _inverse_hessian(self) -> np.ndarray | None:
        """H⁻¹ of the criterion at θ̂, the refits' starting BFGS matrix: forward differences
        of the analytic gradient (nθ + 1 evaluations, once per fit; steps into the region,
        so θ̂ on a bound is fine), else BFGS's last approximation."""
        if "_inv_hessian_at_optimum" in self.__dict__:
            return self._inv_hessian_at_optimum
        out = getattr(getattr(self, "opt", None), "inv_hessian", None)
        dense = self.__dict__.get("_dense")
        if dense is not None and dense.reml == self.REML:
            theta = self._theta

            def grad(th: np.ndarray) -> np.ndarray | None:
                try:
                    return dense.gradient(*dense.factor(th))
                except FactorizationError:
                    return None

            g0 = grad(theta)
            inv = _inverse_if_definite(_fd_hessian(grad, theta, g0) if g0 is not None else None)
            out = inv if inv is not None else out  # positive definite, else keep BFGS's
        self._inv_hessian_at_optimum = out
        return out


def _fd_hessian(
    grad: Callable[[np.ndarray], np.ndarray | None], theta: np.ndarray, g0: np.ndarray
) -> np.ndarray | None:
    """The Hessian at θ by forward differences of the analytic gradient,
    H_ij ≈ (∂_i f(θ + h_j e_j) − ∂_i f(θ))/h_j with h_j = 10⁻⁵ max(1, |θ_j|), symmetrized
    (steps into the region: θ on a lower bound is fine); ``None`` where a gradient fails."""
    cols = []
    for h, e in zip(1e-5 * np.maximum(1.0, np.abs(theta)), np.eye(theta.size)):
        g = grad(theta + h * e)
        if g is None:
            return None
        cols.append((g - g0) / h)
    H = np.array(cols)
    return 0.5 * (H + H.T)


def _inverse_if_definite(H: np.ndarray | None) -> np.ndarray | None:
    """H⁻¹ where H is positive definite and finite, else ``None``."""
    if H is None or not np.all(np.isfinite(H)):
        return None
    try:
        np.linalg.cholesky(H)
        return np.linalg.inv(H)
    except np.linalg.LinAlgError:
        return None

