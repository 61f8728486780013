"""Generalized linear mixed models: lme4's ``glmer``.

The deviance of a GLMM is approximated at the conditional modes ũ found by
PIRLS (:mod:`mixedmodels.glmm.pirls`): Laplace (nAGQ = 1),
adaptive Gauss–Hermite for a single scalar random-effect term (nAGQ > 1)
and nAGQ = 0. The fit follows lme4's two stages:

1. θ alone by BOBYQA, with β estimated inside PIRLS (lme4's nAGQ = 0
   objective log|L|² + ‖ũ‖² + aic);
2. (θ, β) together, PIRLS over u only, from the stage-1 estimates, with the
   Laplace or AGQ deviance. lme4 uses Nelder–Mead here; we use a Newton
   iteration with finite-difference derivatives (:mod:`mixedmodels.glmm.optim`)
   and, where it is not safe (a variance parameter near its bound, an
   indefinite Hessian), BOBYQA with tight tolerances. Both reach the same
   optimum as lme4 or a (slightly) lower one.

The deviance is evaluated as lme4 evaluates it (``GlmerControl.lme4_pirls``):
every PIRLS run starts from one fixed linear predictor (stage 1: the mode at
the starting θ; stage 2: the stage-1 optimum), stops on lme4's relative
change of the penalized deviance, and takes log|L|² from the last solve's
weights, one iteration behind the returned modes. That function differs from
the Laplace value at the exact modes by ~1e-3 on cbpp, enough to move the
estimates by 1e-4 and the SEs by 1%; evaluated this way our deviance equals
lme4's to 1e-10 at the same parameters. Where lme4's optimum of that function
is not an optimum of the Laplace deviance at the exact modes (predicted gap
above ``GlmerControl.exact_gap``), stage 2 continues on the exact deviance
and reports its optimum (``optinfo["deviance_kind"]``, named in the summary's
title), so the fit never ends above the Laplace optimum lme4's numbers
approximate. With nAGQ > 1 the quadrature is built as lme4's ``glmerAGQ``:
from its PIRLS state, every evaluation starting at the stage-1 linear predictor.

Everything read off the fit (criteria, standard errors, residuals, printing) is
in :mod:`mixedmodels.glmm.fitted`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import arguments
from ..design import Design
from ..design.scale_check import check_scale_x
from ..errors import DataError, ModelSpecificationError
from ..family import Family
from ..linalg import BlockedCholesky
from ..linalg.threads import blas_threads
from ..optimize import OptimizerControl, OptResult, bobyqa
from ..progress import evaluation_flops, fit_watch
from .fitted import GlmerResults
from .optim import fd_derivatives, fd_gradient_curved, newton_fd, newton_fd_affine
from .pirls import PIRLS, PirlsError, PirlsState, separated_rows
from .pwls import PWLS, PWLSTerm
from .reparam_fit import ShiftedGlmm
from .response import GlmmResponse, glmm_design

__all__ = ["GeneralizedLinearMixedModel", "GlmerControl", "glmer", "deriv12"]

_BAD = 1e100
_ILL_CORR = 100.0


def _ill_conditioned(rxinv: np.ndarray) -> bool:
    """Whether the correlation matrix C of β̂, V = R_X⁻¹R_X⁻ᵀ = D^½ C D^½, has a
    condition number above ``_ILL_CORR``.

    The finite-difference Hessian over the raw (θ, β) carries absolute errors of
    O(δ²) in every entry; its smallest eigenvalue, in relative terms, is then off
    by about cond(C) times that (the scales D are harmless, the correlations are
    not). Above 100 (|corr| ≳ 0.99, as an intercept beside an uncentred predictor
    in the hundreds) the Newton iteration runs in standardized coordinates
    (:func:`~mixedmodels.glmm.optim.newton_fd_affine`) from the start instead of
    discovering the failure of the raw-coordinate steps first.
    """
    if rxinv.shape[0] < 2:
        return False
    V = rxinv @ rxinv.T
    s = np.sqrt(np.diag(V))
    ev = np.linalg.eigvalsh(V / np.outer(s, s))
    return bool(ev[0] <= 0 or ev[-1] > _ILL_CORR * ev[0])


@dataclass
class GlmerControl:
    """Settings of the two optimisation stages, PIRLS and the derivatives.

    ``stage1`` and ``stage2`` are BOBYQA settings; ``tol_pirls`` the largest
    change of the modes at PIRLS convergence; ``calc_derivs`` computes the
    finite-difference Hessian (step ``delta``) used for the standard errors;
    ``newton`` runs stage 2 as a Newton iteration (BOBYQA where it is not safe);
    stage 1 then only provides its starting values (nAGQ ≥ 1) and runs with
    the looser ``stage1_start`` settings (and, without ``lme4_pirls``, PIRLS
    tolerance ``tol_pirls_start``). With ``lme4_pirls`` stage 1 runs with
    ``stage1_lme4`` where its optimum is the result (nAGQ = 0, or stage 2 by
    BOBYQA), else with ``stage1_lme4_start``.
    """

    stage1: OptimizerControl = field(default_factory=OptimizerControl)
    stage2: OptimizerControl = field(
        default_factory=lambda: OptimizerControl(xtol_rel=1e-7, ftol_abs=1e-10, xtol_abs=1e-9)
    )
    tol_pirls: float = 1e-11
    calc_derivs: bool = True
    delta: float = 1e-4
    newton: bool = True
    tol_pirls_start: float = 1e-7
    stage1_start: OptimizerControl = field(
        default_factory=lambda: OptimizerControl(xtol_rel=1e-3, ftol_abs=1e-4, polish=False)
    )
    lme4_pirls: bool = True
    """Evaluate the deviance as lme4 does: PIRLS from a fixed start with lme4's
    stopping rule and log|L|² one iteration behind the returned modes (see
    :meth:`~mixedmodels.glmm.pirls.PIRLS.solve_lme4`), in stage 1 and in the
    Laplace stage 2. It differs from the Laplace value at the exact mode by up
    to ~1e-3 (cbpp: 5.6e-4), which moves the estimates by ~1e-4 and the
    finite-difference SEs by ~1%; ``False`` uses the exact modes."""
    exact_finish: bool = True
    """With ``lme4_pirls``, continue on the exact Laplace deviance when lme4's
    optimum is not an optimum of it to within ``exact_gap`` (deviance units; see
    :meth:`GeneralizedLinearMixedModel._exact_finish`)."""
    exact_gap: float = 1e-4
    stage1_lme4: OptimizerControl = field(
        default_factory=lambda: OptimizerControl(xtol_rel=1e-8, ftol_abs=1e-12, xtol_abs=1e-10)
    )
    stage1_lme4_start: OptimizerControl = field(
        default_factory=lambda: OptimizerControl(xtol_rel=1e-4, ftol_abs=1e-6)
    )


def deriv12(fun: Callable[[np.ndarray], float], x: np.ndarray, delta: float = 1e-4,
            fx: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Central finite-difference gradient and Hessian (lme4's ``deriv12``).

    H_jj = (f(x+δe_j) − 2f(x) + f(x−δe_j))/δ²,
    H_ij = (f(x+δe_i+δe_j) − f(x+δe_i−δe_j) − f(x−δe_i+δe_j) + f(x−δe_i−δe_j))/(4δ²).
    """
    x = np.asarray(x, dtype=float)
    n = x.size
    f0 = fun(x) if fx is None else fx
    H = np.empty((n, n))
    g = np.empty(n)
    E = np.eye(n) * delta
    for j in range(n):
        fa, fs = fun(x + E[j]), fun(x - E[j])
        H[j, j] = (fa - 2.0 * f0 + fs) / delta**2
        g[j] = (fa - fs) / (2.0 * delta)
        for i in range(j):
            H[i, j] = H[j, i] = (
                fun(x + E[i] + E[j]) - fun(x + E[i] - E[j])
                - fun(x - E[i] + E[j]) + fun(x - E[i] - E[j])
            ) / (4.0 * delta**2)
    return g, H


class GeneralizedLinearMixedModel(ShiftedGlmm, GlmerResults):
    """A GLMM fitted by maximum likelihood (Laplace or AGQ), lme4's ``glmerMod``.

    Create with :func:`glmer`. Besides the accessors of a linear mixed
    model: ``family``, ``nAGQ``, ``fitted`` (response scale), ``resid(type)``
    with types deviance/pearson/response/working, ``predict(type=...)``.
    """

    def __init__(self, design: Design, response: GlmmResponse, family: Family, nAGQ: int = 1,
                 control: GlmerControl | None = None, data_name: str | None = None):
        if nAGQ < 0 or nAGQ > 100:
            raise ValueError("nAGQ must be an integer between 0 and 100")
        if nAGQ > 1 and (len(design.terms) != 1 or design.terms[0].S != 1):
            raise ModelSpecificationError(
                "nAGQ > 1 is only available for models with a single, scalar random-effects "
                "term, as in lme4; use nAGQ=1 (Laplace)"
            )
        self.design = design
        self.response = response
        self.family = family
        self.link = family.link.name
        self.nAGQ = int(nAGQ)
        self.control = control or GlmerControl()
        self.data_name = data_name
        self.y = response.y
        self.prior_weights = response.prior_weights
        terms = [PWLSTerm(t.factor.codes, t.Z, t.nl, t.tri_index) for t in design.terms]
        X = design.X
        self.pirls = PIRLS(family, response.y, response.prior_weights, response.trials,
                           design.offset, X, PWLS(terms, X), PWLS(terms, X[:, :0]),
                           tol=self.control.tol_pirls)
        self.lower = np.concatenate([t.theta_lower for t in design.terms])
        self.theta_names = [nm for t in design.terms for nm in t.theta_names]
        self.ntheta = self.lower.size
        self.optinfo: dict[str, Any] = {"warnings": []}
        self._factor: BlockedCholesky | None = None
        self._eta_start: np.ndarray | None = None
        self._eta_stage2: np.ndarray | None = None

    # -- objectives -------------------------------------------------------------
    def objective_stage1(self, theta: np.ndarray, tol: float | None = None) -> float:
        """lme4's nAGQ = 0 deviance at θ: PIRLS over (u, β); log|L|² + ‖ũ‖² + aic."""
        try:
            state = self._stage1_state(theta, tol)
        except PirlsError:
            return _BAD
        return self.pirls.laplace(state)

    def _stage1_state(self, theta: np.ndarray, tol: float | None = None) -> PirlsState:
        if self._eta_start is not None:
            return self.pirls.solve_lme4(theta, None, self._eta_start)
        return self.pirls.solve(theta, tol=tol)

    def _stage2_state(self, par: np.ndarray, u0: np.ndarray | None) -> PirlsState:
        theta, beta = par[: self.ntheta], par[self.ntheta :]
        if self._eta_stage2 is not None:
            return self.pirls.solve_lme4(theta, beta, self._eta_stage2)
        return self.pirls.solve(theta, beta, u0=u0)

    def objective(self, par: np.ndarray, u0: np.ndarray | None = None) -> float:
        """Stage-2 deviance at (θ, β): Laplace (nAGQ = 1) or AGQ (nAGQ > 1)."""
        try:
            state = self._stage2_state(par, u0)
        except PirlsError:
            return _BAD
        return self._deviance_at(state)

    def _objective_mode(self, par: np.ndarray, u0: np.ndarray) -> tuple[float, np.ndarray | None]:
        """Stage-2 deviance at (θ, β) from the start u0, with the mode ũ (None on failure)."""
        try:
            state = self._stage2_state(par, u0)
        except PirlsError:
            return _BAD, None
        return self._deviance_at(state), state.u

    def _deviance_at(self, state: PirlsState) -> float:
        if self.nAGQ <= 1:
            return self.pirls.laplace(state)
        t = self.design.terms[0]
        return self.pirls.agq(state, t.factor.codes, t.Z[:, 0], float(state.theta[0]), self.nAGQ)

    # -- fitting ------------------------------------------------------------------
    def fit(self, start: Any = None, progress: Any = False) -> GeneralizedLinearMixedModel:
        """Run lme4's two stages and compute every result at the optimum
        (BLAS threads set once for the whole fit, by problem size; ``progress``:
        a bar of the deviance evaluations, see :func:`mixedmodels.progress.fit_watch`).
        A random-effect column far off centre or scale is fitted in centred
        coordinates and mapped back (:mod:`mixedmodels.glmm.reparam_fit`)."""
        shifts = self._glmm_shifts()
        if shifts is not None:
            return self._fit_centred(shifts, start, progress)
        pw = self.pirls.joint
        flops = evaluation_flops([(t.nl, t.S) for t in pw.terms], pw.r, pw.n, pirls_steps=5)
        watch = fit_watch(progress, "glmer", self.ntheta + pw.p, flops)
        with blas_threads(pw.blas_threads), watch, \
                watch.watching(self, "objective_stage1", "objective", "_objective_mode"):
            try:
                self._stages(start)
            except PirlsError as exc:
                raise self._explain(exc) from exc
        return self

    def _explain(self, exc: PirlsError) -> PirlsError:
        """A PIRLS failure, with completely separated outcomes named when that is the cause."""
        d = self.design
        rows = separated_rows(self.family, d.X, self.y, self.prior_weights, d.offset)
        if rows.size == 0:
            return PirlsError(
                f"{exc}. The model may be too complex for the data (try fewer random-effect "
                "terms or a simpler covariance), or predictors may need rescaling"
            )
        return PirlsError(
            f"the fixed effects separate the outcomes: a logistic regression on them alone "
            f"predicts {rows.size} of {self.y.size} rows perfectly (first: row {rows[0] + 1}), "
            "so some coefficients grow without bound and PIRLS cannot converge (lme4 fails "
            "with 'pwrssUpdate did not converge' here too). Remove or merge the separating "
            "predictor(s) or levels, or use a penalized (bias-reduced) model"
        )

    def _stages(self, start: Any) -> None:
        theta0, beta0 = self._start(start)
        self.pirls.beta = beta0
        self._eta_start = self._eta_stage2 = None
        lme4_pirls = self.control.lme4_pirls
        only_start = self.nAGQ > 0 and self.control.newton and not lme4_pirls
        ctrl1 = self.control.stage1_start if only_start else self.control.stage1
        if lme4_pirls:
            # lme4's stage 1 starts every PIRLS from the mode at the starting θ; its
            # optimum only starts the Newton iteration of stage 2 and gives the fixed
            # start of stage 2's PIRLS, on which the stage-2 optimum depends ~1e-12
            # relative (VerbAgg): looser settings there
            self._eta_start = self.pirls.solve(theta0).eta
            newton2 = self.nAGQ > 0 and self.control.newton
            res1 = bobyqa(self.objective_stage1, theta0, self.lower,
                          control=self.control.stage1_lme4_start if newton2
                          else self.control.stage1_lme4)
        elif only_start:
            tol1 = self.control.tol_pirls_start
            res1 = bobyqa(lambda th: self.objective_stage1(th, tol1), theta0, self.lower,
                          control=ctrl1)
        else:
            res1 = bobyqa(self.objective_stage1, theta0, self.lower, control=ctrl1)
        if res1.fun >= _BAD:
            raise PirlsError(
                "PIRLS failed at every value of the variance parameters tried: the fixed "
                "effects may separate the outcomes completely (some predictor or combination "
                "of predictors predicts them perfectly); check the data or simplify the model"
            )
        state1 = self._stage1_state(res1.x)
        if lme4_pirls:
            self._eta_stage2 = state1.eta  # lme4's lp0: stage 2 starts every PIRLS here
        self.optinfo["stage1"] = {"feval": res1.feval, "message": res1.message,
                                  "deviance": res1.fun}
        if self.nAGQ == 0:
            self._set_results(state1, res1, res1.fun)
            return
        x0 = np.concatenate([res1.x, state1.beta])
        lower = np.concatenate([self.lower, np.full(x0.size - self.ntheta, -np.inf)])
        derivs = None
        res2 = None
        if self.control.newton:
            t0 = time.perf_counter()
            rx = self.pirls.joint.rx()  # R_X of state1's last solve
            A = self._whitening(rx)
            # the β block of the deviance's Hessian is 2 R_X'R_X up to the curvature
            # of log|L|² in β (VerbAgg: 0.3 % on the diagonal, 3e-4 in the
            # correlations): its off-diagonal entries replace mixed differences in
            # the starting Hessian (θ rows and the diagonal are still differenced)
            known = (self.ntheta, 2.0 * rx.T @ rx)
            f0, u0 = self._objective_mode(x0, state1.u)
            if u0 is None:
                nt = None
            elif _ill_conditioned(A[self.ntheta:, self.ntheta:]):
                # the raw-coordinate stencil cannot resolve H (see _ill_conditioned)
                nt = newton_fd_affine(self._objective_mode, x0, f0, u0, lower, A,
                                      self.control.delta, known=known)
            else:
                # Laplace: forward differences for the β pairs of the final Hessian
                # (SEs move ~1e-6; AGQ, smoother, keeps the symmetric ones everywhere)
                fwd = self.ntheta if self.nAGQ == 1 else None
                nt = newton_fd(self._objective_mode, x0, f0, u0, lower, self.control.delta,
                               partial=True, known=known, forward_from=fwd)
                if nt is not None and not nt.converged:
                    # no descent along the raw-coordinate step: continue in standardized
                    # coordinates
                    spent = nt.nfev
                    nt = newton_fd_affine(self._objective_mode, nt.x, nt.fun, nt.u, lower, A,
                                          self.control.delta, H0=nt.H)
                    if nt is not None:
                        nt.nfev += spent
            if nt is not None:
                res2 = OptResult(nt.x, nt.fun, nt.nfev + 1, "Newton iteration converged", 1,
                                 time.perf_counter() - t0)
                derivs = (nt.g, nt.H, nt.u)
        if res2 is None:
            ctrl = self.control.stage2
            step = np.concatenate([np.full(self.ntheta, 0.02),
                                   0.2 * np.minimum(self._beta_sd(state1), 10.0)])
            ctrl = OptimizerControl(**{**ctrl.__dict__, "initial_step": step})
            res2 = bobyqa(self.objective, x0, lower, control=ctrl)
        state = self._stage2_state(res2.x, None if derivs is None else derivs[2])
        self.optinfo["deviance_kind"] = "lme4" if self._eta_stage2 is not None else "exact"
        exact = self._exact_finish(res2.x, state.u, lower, derivs)
        if exact is not None:
            res2, derivs = exact
            state = self._stage2_state(res2.x, derivs[2])
        self._set_results(state, res2, self._deviance_at(state), derivs)

    def _exact_finish(
        self, x: np.ndarray, u: np.ndarray, lower: np.ndarray,
        derivs: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    ) -> tuple[OptResult, tuple[np.ndarray, np.ndarray, np.ndarray]] | None:
        """Finish with the exact Laplace deviance when lme4's stops at a worse point.

        lme4's deviance (``lme4_pirls``) lags log|L|² one PIRLS iteration behind
        the modes, which makes it a slightly jagged perturbation of the Laplace
        deviance L(x) at the exact modes. Its optimum x_e is kept (lme4's
        numbers) when it is also an optimum of L to within ``exact_gap``: the
        predicted decrease ½ g'H⁻¹g of L from x_e, with g the finite-difference
        gradient of L at x_e (forward differences corrected by the curvatures of
        H, :func:`~mixedmodels.glmm.optim.fd_gradient_curved`) and H the stage-2
        Hessian, is at
        most ``exact_gap`` (1e-4 in deviance units: ½ d'Hd ≤ 1e-4 puts x_e within
        ~0.01 standard errors of the Laplace optimum). Otherwise the Newton iteration
        continues on L from x_e and the fit reports L's optimum
        (``optinfo["deviance_kind"] == "exact"``, named in the summary).
        """
        ctl = self.control
        if self._eta_stage2 is None or self.nAGQ != 1 or not ctl.exact_finish:
            return None
        lme4_eta = self._eta_stage2
        self._eta_stage2 = None  # the objective is now L at the exact modes
        f0, u0 = self._objective_mode(x, u)
        if u0 is not None:
            H = derivs[1] if derivs is not None else None
            if H is None or not np.all(np.isfinite(H)):
                grad = fd_derivatives(self._objective_mode, x, f0, u0, ctl.delta)
                H = grad.H
            else:  # forward differences, corrected by the stage-2 curvatures
                grad = fd_gradient_curved(self._objective_mode, x, f0, u0, np.diag(H),
                                          ctl.delta)
            try:
                w = np.linalg.solve(np.linalg.cholesky(H), grad.g)
                pred = 0.5 * float(w @ w)
            except np.linalg.LinAlgError:
                pred = np.inf
            self.optinfo["exact_gap"] = pred
            if grad.ok and pred > ctl.exact_gap:
                t0 = time.perf_counter()
                # L's Hessian is within ~1% of the stage-2 one: with L's gradient it
                # starts the iteration (where it is positive definite)
                start = np.isfinite(pred)
                nt = newton_fd(self._objective_mode, x, f0, u0, lower, ctl.delta,
                               H0=H if start else None, grad0=grad if start else None,
                               forward_from=self.ntheta)
                if nt is not None and nt.fun < f0:
                    self.optinfo["deviance_kind"] = "exact"
                    res = OptResult(nt.x, nt.fun, nt.nfev, "Newton iteration converged "
                                    "(exact Laplace deviance)", 1, time.perf_counter() - t0)
                    return res, (nt.g, nt.H, nt.u)
        self._eta_stage2 = lme4_eta
        return None

    def _start(self, start: Any) -> tuple[np.ndarray, np.ndarray]:
        theta0 = np.concatenate([t.theta_start for t in self.design.terms])
        beta0 = self.pirls.initial_beta()
        if start is None:
            return theta0, beta0
        if isinstance(start, dict):
            th = start.get("theta")
            fe = start.get("fixef", start.get("beta"))
            if th is not None:
                theta0 = np.asarray(th, dtype=float).ravel()
            if fe is not None:
                beta0 = np.asarray(fe, dtype=float).ravel()
        else:
            theta0 = np.asarray(start, dtype=float).ravel()
        if theta0.size != self.ntheta:
            raise ValueError(f"start has {theta0.size} values of θ; the model has {self.ntheta}")
        if beta0.size != self.design.p:
            raise ValueError(f"start has {beta0.size} fixed effects; the model has {self.design.p}")
        return theta0, beta0

    def _whitening(self, rx: np.ndarray) -> np.ndarray:
        """A = blockdiag(I_θ, R_X⁻¹): x = x0 + A γ puts β in units of its standard
        errors (R_X'R_X the fixed-effects block of the PIRLS system)."""
        A = np.eye(self.ntheta + rx.shape[0])
        A[self.ntheta:, self.ntheta:] = np.linalg.inv(rx)
        return A

    def _beta_sd(self, state: PirlsState) -> np.ndarray:
        """√diag((R_X'R_X)⁻¹) at a mode (lme4's scale of the stage-2 simplex)."""
        rx = self._engine_factor(state, with_x=True).rx()
        rxinv = np.linalg.inv(rx)
        return np.sqrt(np.sum(rxinv * rxinv, axis=1))

    # -- refits -------------------------------------------------------------------
    def refit(
        self, y: np.ndarray | None = None, REML: bool | None = None
    ) -> GeneralizedLinearMixedModel:
        """The same model refitted to a new response (proportions for binomial), or itself.

        GLMMs are fitted by maximum likelihood, so ``REML=False`` (as used by
        :func:`mixedmodels.anova`) returns the fit unchanged.
        """
        if REML:
            raise ValueError("a generalized linear mixed model has no REML criterion")
        if y is None:
            return self
        y = np.asarray(y, dtype=float)
        if y.shape != self.y.shape:
            raise DataError(f"new response has shape {y.shape}, expected {self.y.shape}")
        resp = GlmmResponse(y, self.response.trials, self.prior_weights, self.response.kind)
        new = GeneralizedLinearMixedModel(self.design, resp, self.family, self.nAGQ,
                                          self.control, self.data_name)
        return new.fit(start={"theta": self._theta, "fixef": self._beta})


def glmer(
    formula: str,
    data: Any,
    family: str | Family = "binomial",
    link: str | None = None,
    nAGQ: int = 1,
    weights: Any = None,
    offset: Any = None,
    na_action: str = "omit",
    control: GlmerControl | None = None,
    start: Any = None,
    data_name: str | None = None,
    progress: bool | None = None,
    **unknown: Any,
) -> GeneralizedLinearMixedModel:
    """Fit a generalized linear mixed model, as lme4's ``glmer``.

    Parameters
    ----------
    formula:
        lme4 formula; binomial responses may be 0/1, logical, a factor (first
        level = failure), ``cbind(successes, failures)`` or proportions with
        ``weights=`` trials.
    family, link:
        ``"binomial"``, ``"poisson"``, ``"Gamma"``, ``"inverse.gaussian"``,
        ``"gaussian"`` (non-identity link) or a :class:`~mixedmodels.family.Family`.
    nAGQ:
        1 = Laplace (default), 0 = β inside PIRLS only (faster, less exact),
        > 1 = adaptive Gauss–Hermite points (one scalar random-effect term only).
    weights, offset:
        Prior weights (trials for a proportion response) and a known offset.
    na_action:
        ``"omit"``, ``"exclude"`` (as omit, but ``fitted``, ``resid()`` and
        ``predict()`` are padded with NaN at the dropped rows, R's
        ``na.exclude``) or ``"fail"``.
    start:
        θ (array) or a dict with ``theta`` and ``fixef``.
    data_name:
        Name shown on the summary's ``Data:`` line.
    progress:
        A bar of the deviance evaluations for a long fit, as in
        :func:`mixedmodels.lmer` (``None``: when interactive and the fit is
        expected to take more than a few seconds).

    Any other keyword (lmer's ``REML`` or ``method`` included) raises an
    :class:`~mixedmodels.errors.ArgumentError` saying what to do instead.
    """
    arguments.check_glmer_keywords(unknown)
    arguments.check_formula(formula)
    fam = arguments.check_family(family, link)
    nAGQ = arguments.check_nagq(nAGQ)
    na_action = arguments.check_na_action(na_action)
    control = arguments.check_control(control, GlmerControl)
    if fam.family == "gaussian" and fam.link.name == "identity":
        raise ModelSpecificationError(
            "a gaussian family with the identity link is a linear mixed model: use mm.lmer()"
        )
    design, resp = glmm_design(formula, data, fam, weights=weights, offset=offset,
                               na_action=na_action)
    check_scale_x(design.X, design.x_names)
    model = GeneralizedLinearMixedModel(design, resp, fam, nAGQ=nAGQ, control=control,
                                        data_name=data_name)
    model.na_action = na_action
    model.weights_name = weights if isinstance(weights, str) else None
    model.offset_name = offset if isinstance(offset, str) else None
    model.data = data  # kept by reference for refits (null model of r2, emmeans covariate means)
    if isinstance(start, pd.Series):
        start = start.to_numpy()
    theta_start = start.get("theta") if isinstance(start, dict) else start
    arguments.check_start(theta_start, model.lower, model.theta_names)
    if isinstance(start, dict):
        arguments.check_fixef_start(start.get("fixef", start.get("beta")), design.x_names)
    return model.fit(start=start, progress=progress)
