"""Linear mixed models: the profiled (RE)ML objective and ``lmer``.

With L(θ) from :mod:`mixedmodels.linalg`, r² = pwrss, p = rank X, n rows
and prior weights w:

* ML:   d(θ) = log|L_Z|² + n (1 + log(2π r²/n)) − Σ log wᵢ
* REML: d(θ) = log|L_Z|² + log|R_X|² + (n−p)(1 + log(2π r²/(n−p))) − Σ log wᵢ

σ̂² = r²/n (ML) or r²/(n−p) (REML), β̂ from R_X β = c, b = Λu and
vcov(β̂) = σ̂² (R_X'R_X)⁻¹. The design (formula, frame, cross-products) is
built once; the optimizer only calls :meth:`LinearMixedModel.objective`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from . import arguments
from .crossprod import CrossProducts, crossprod
from .crossprod.response import ResponseRows
from .design import Design, build_design, numeric_response
from .design.response import check_response_varies
from .design.scale_check import check_scale_x
from .errors import ArgumentError, ModelSpecificationError
from .linalg import BlockedCholesky, FactorizationError, TailProfile, tail_split
from .linalg.dense import DenseCriterion
from .linalg.schur import SchurCriterion
from .linalg.tail import MIN_REST_ROWS
from .linalg.threads import blas_threads, threads_for
from .lmm_gradient_fit import BAD as _BAD
from .lmm_gradient_fit import GradientFit
from .lmm_reparam import ShiftedFit
from .optimize import (
    OptimizerControl,
    OptResult,
    bobyqa,
    bobyqa_profiled,
)
from .progress import FitWatch, evaluation_flops, fit_watch
from .results.model_results import MixedModelResults
from .start import moment_theta

__all__ = ["LinearMixedModel", "lmer"]

_LOG2PI = math.log(2.0 * math.pi)


class LinearMixedModel(ShiftedFit, GradientFit, MixedModelResults):
    """A linear mixed model fitted by (RE)ML, lme4's ``lmerMod``.

    Create with :func:`lmer`. Everything a user reads off an lme4 fit is an
    attribute or method: ``fixef``, ``ranef``, ``coef``, ``varcorr``,
    ``vcov``, ``sigma``, ``theta``, ``loglik``, ``aic``, ``bic``,
    ``predict``, ``summary()``, ``tidy()`` ...
    """

    family = "gaussian"
    link = "identity"

    def __init__(
        self,
        design: Design,
        REML: bool = True,
        control: OptimizerControl | None = None,
        data_name: str | None = None,
    ):
        self.y = numeric_response(design)
        y_eff = self.y - design.offset if design.has_offset else self.y
        rest = (control or OptimizerControl()).rest
        self._init_engine(
            design, self._crossprod_of(design, y_eff, rest), REML, control, data_name
        )

    def _init_engine(
        self,
        design: Any,
        cp: CrossProducts,
        REML: bool,
        control: OptimizerControl | None,
        data_name: str | None,
    ) -> None:
        """Stages 4-5 set-up from a design's terms and its cross-products."""
        self.design = design
        self.REML = bool(REML)
        self.control = control or OptimizerControl()
        self.data_name = data_name
        self.cp = cp
        self._factor: BlockedCholesky | None = None  # built when first needed
        self.lower = np.concatenate([t.theta_lower for t in design.terms])
        self.theta_names = [nm for t in design.terms for nm in t.theta_names]
        self.optinfo: dict[str, Any] = {}
        self._refit_inv_hessian: np.ndarray | None = None
        self._fitted_state = False

    def __str__(self) -> str:
        """lme4's ``print(m)``: formula, criterion, random-effect SDs, fixed effects."""
        from .results.summary import merMod_print_text

        return merMod_print_text(self)

    @property
    def factor(self) -> BlockedCholesky:
        """The blocked Cholesky factor of these cross-products, built on first use
        (a small model fitted and summarized through the dense criterion never needs it)."""
        f = self.__dict__.get("_factor")
        if f is None:
            f = self._factor = BlockedCholesky(self.cp, [t.tri_index for t in self.design.terms])
        return f

    @factor.setter
    def factor(self, value: BlockedCholesky) -> None:
        self._factor = value

    # -- stage 3 ----------------------------------------------------------------
    def _crossprod(self, y_eff: np.ndarray) -> CrossProducts:
        """This design's cross-products with a new response: ỹ's row and column only
        (X̃√w and Z√w formed once per design and kept for the next refit)."""
        rows = self.__dict__.get("_response_rows")
        if rows is None:
            d = self.design
            rows = self._response_rows = ResponseRows(
                self.cp,
                [t.factor.codes for t in d.terms],
                [t.Z for t in d.terms],
                d.X,
                d.weights if d.has_weights else None,
            )
        return rows(y_eff)

    @staticmethod
    def _crossprod_of(d: Design, y_eff: np.ndarray, rest: str = "auto") -> CrossProducts:
        return crossprod(
            [t.factor.codes for t in d.terms],
            [t.Z for t in d.terms],
            [t.nl for t in d.terms],
            d.X,
            y_eff,
            d.weights if d.has_weights else None,
            rest=rest,
        )

    # -- objective --------------------------------------------------------------
    def objective(self, theta: np.ndarray, REML: bool | None = None) -> float:
        """Profiled deviance (ML) or REML criterion at θ."""
        reml = self.REML if REML is None else REML
        try:
            ld_z, ld_x, _ = self.factor.update(theta)
        except FactorizationError:
            return _BAD
        return self._criterion(ld_z, ld_x, self.factor.log_pwrss, reml)

    def _criterion(self, ld_z: float, ld_x: float, log_pwrss: float, reml: bool) -> float:
        """The criterion from log|L_Z|², log|R_X|² and log pwrss (log space: no overflow)."""
        cp = self.cp
        if not math.isfinite(log_pwrss):
            return _BAD
        if reml:
            nmp = cp.n - cp.p
            return ld_z + ld_x + nmp * (1.0 + _LOG2PI + log_pwrss - math.log(nmp)) - cp.sum_log_w
        return ld_z + cp.n * (1.0 + _LOG2PI + log_pwrss - math.log(cp.n)) - cp.sum_log_w

    # -- stage 5 ----------------------------------------------------------------
    def fit(
        self,
        start: np.ndarray | None = None,
        verbose: bool = False,
        initial_step: np.ndarray | None = None,
        progress: Any = False,
        alternative: np.ndarray | None = None,
    ) -> LinearMixedModel:
        """Optimize θ (BOBYQA) and compute every result at the optimum.

        ``alternative``: a second start for BFGS (see :meth:`_fit_bfgs`; refits).

        ``progress``: a bar of the evaluations for a long fit (see
        :func:`mixedmodels.progress.fit_watch`); off by default here, as for refits.

        ``verbose`` prints how the rest block is factored, with the memory and
        time estimates behind that choice (:mod:`mixedmodels.linalg.rest_plan`).
        """
        shifts = self._z_shifts()
        if shifts is not None:  # far-off random-effect columns (:mod:`.lmm_reparam`)
            return self._fit_shifted(shifts, start, verbose, progress, alternative)
        plan = getattr(self.cp, "rest_plan", None)
        if verbose and plan is not None:
            print(plan.describe())
        step = initial_step
        lme4_start = None
        if start is not None:
            x0 = np.asarray(start, dtype=float)
        elif self._use_moment_start():
            x0 = self.moment_start()
            # a start this close needs a smaller first trust region than NLopt's default
            step = np.maximum(0.25 * np.abs(x0), 0.01)
        else:
            x0 = lme4_start = np.concatenate([t.theta_start for t in self.design.terms])
        # once per fit, by problem size; the results at θ̂ too: OpenBLAS's busy-waiting
        # threads make even the 2×2 triangular solves of R_X⁻¹ ~10 ms each on a loaded machine
        split = None
        if self.control.profile_tail and self.cp.r >= MIN_REST_ROWS:
            split = tail_split(self.factor)
        dense = self._dense_criterion() if split is None else None
        cp = self.cp
        flops = evaluation_flops([(d.nl, d.S) for d in cp.dims], cp.r)
        threads = self.factor.blas_threads if dense is None else threads_for(dense.N)
        moments = False
        if dense is not None and lme4_start is not None and self.control.start == "auto":
            # BFGS from the moment estimates (:mod:`mixedmodels.start`): exact for one term
            # in a balanced design, close otherwise (the reference cases: 265 evaluations
            # from lme4's start, 150 from these); lme4's BOBYQA path still starts at lme4's
            x0 = self._small_moment_start(lme4_start)
            moments = x0 is not lme4_start
        with blas_threads(threads), \
                fit_watch(progress, "lmer", x0.size, flops) as watch:
            if dense is not None:
                res = self._fit_bfgs(dense, x0, step, watch, lme4_start, moments, alternative)
            elif split is None:
                res = bobyqa(watch.wrap(self.objective), x0, self.lower, control=self.control,
                             initial_step=step)
            else:
                res = self._bobyqa_tail_profiled(split, x0, step, watch)
            self._set_optimum(res, dense)
        return self

    def _bobyqa_tail_profiled(
        self, split: int, x0: np.ndarray, step: np.ndarray | None, watch: FitWatch
    ) -> OptResult:
        """BOBYQA over the leading terms' θ with the trailing terms' θ profiled out."""
        reml = self.REML
        profile = TailProfile(
            self.factor, split, lambda ld_z, ld_x, lpw: self._criterion(ld_z, ld_x, lpw, reml)
        )

        def set_head(theta_head: np.ndarray) -> bool:
            try:
                profile.set_head(theta_head)
            except FactorizationError:
                return False
            return True

        def tail(theta_tail: np.ndarray) -> float:
            try:
                return profile.objective(theta_tail)
            except FactorizationError:
                return _BAD

        return bobyqa_profiled(
            watch.wrap(set_head), tail, x0, self.lower, profile.n_head, self.control, step, _BAD
        )

    def _use_moment_start(self) -> bool:
        how = self.control.start
        if how == "lme4":
            return False
        scalar = all(t.S == 1 for t in self.design.terms)
        if how == "moments":
            return scalar
        return scalar and self.cp.r >= 200

    def moment_start(self) -> np.ndarray:
        """θ₀ from method-of-moments estimates, term by term (:mod:`mixedmodels.start`).
        Only a starting point: it saves evaluations; the optimum does not depend on it."""
        return moment_theta(self.design, self.y - self.design.offset)

    def _set_optimum(
        self, res: OptResult, dense: DenseCriterion | SchurCriterion | None = None
    ) -> None:
        theta = res.x.copy()
        self.opt = res
        self.optinfo = {
            "optimizer": res.optimizer,
            "feval": res.feval,
            "message": res.message,
            "code": res.code,
            "seconds": res.seconds,
            "predicted_decrease": res.predicted_decrease,
            "polished": res.polished,
            "inner_feval": res.inner_feval,
            "maxeval": res.maxeval,
            "max_grad": res.max_grad,
            "warnings": [],
        }
        self._finalize(theta, dense)
        self._check_fit(res)

    def _finalize(
        self, theta: np.ndarray, dense: DenseCriterion | SchurCriterion | None = None
    ) -> None:
        """θ̂, the criterion, β̂, σ̂, u and b at the optimum.

        From the dense factor L of Ω(θ̂) where the fit used it (v = L_NN L⁻ᵀe_N =
        [−ũ, −β̃, 1], so u = s ũ and β̂ = M⁻¹(s β̃ + c e₀)), else from the blocked
        factor. (R_X'R_X)⁻¹, its scaled root and the conditional variances come
        from the blocked factor at θ̂ when first read (:meth:`_vcov_unscaled`).
        """
        pieces = self._dense_optimum(dense, theta) if dense is not None else None
        if pieces is None:
            ld_z, ld_x, _ = self.factor.update(theta)
            log_pwrss = self.factor.log_pwrss
            us, beta = self.factor.solve()
        else:
            (ld_z, ld_x, log_pwrss), us, beta = pieces
        self._theta = theta
        self._ld_z, self._ld_x, self._log_pwrss = ld_z, ld_x, log_pwrss
        self._crit = self._criterion(ld_z, ld_x, log_pwrss, self.REML)
        cp = self.cp
        self._beta = beta
        self._u = us
        self._b = [u @ self._T(k).T for k, u in enumerate(us)]  # b_l = T_k u_l
        denom = cp.n - cp.p if self.REML else cp.n
        self._sigma = math.exp(0.5 * (log_pwrss - math.log(denom)))
        self._fitted_cache: np.ndarray | None = None  # Xβ̂ + Zb̂: computed when first read
        self._vcov_cache: tuple[np.ndarray, tuple[np.ndarray, np.ndarray]] | None = None
        self._cond_var_cache: list[np.ndarray] | None = None
        self._fitted_state = True

    def _T(self, k: int) -> np.ndarray:
        """T_k(θ̂), the lower-triangular relative covariance factor of term k."""
        tri = self.__dict__.get("_tri_index")
        if tri is None:  # once per design (a refit shares it)
            tri = self._tri_index = [t.tri_index for t in self.design.terms]
            self._tri_offsets = np.cumsum([0] + [len(r) for r, _ in tri])
        S = self.design.terms[k].S
        T = np.zeros((S, S))
        T[tri[k]] = self._theta[self._tri_offsets[k] : self._tri_offsets[k + 1]]
        return T

    def _factor_at_optimum(self) -> BlockedCholesky:
        """The blocked factor refactored at θ̂ (other calls of :meth:`objective` move it)."""
        f = self.factor
        f.update(self._theta)
        return f

    def _vcov_pieces(self) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """((R_X'R_X)⁻¹, (d, D R_X⁻¹)) at θ̂, computed on first use (under the fit's
        BLAS thread limit: busy-waiting threads make even 2×2 solves slow)."""
        shadow = self.__dict__.get("_reparam_shadow")
        if shadow is not None:  # fitted in centred coordinates: the same (R_X'R_X)⁻¹
            return shadow._vcov_pieces()
        if self.__dict__.get("_vcov_cache") is None:
            f = self.factor
            with blas_threads(f.blas_threads):
                f.update(self._theta)
                with np.errstate(under="ignore", over="ignore"):  # beyond double range: raises
                    rxinv = f.rx_inverse()
                    unscaled = rxinv @ rxinv.T
                # scale-safe root for standard errors and correlations (results.model_results)
                self._vcov_cache = (unscaled, (self.cp.shift.d, f.rx_inverse_scaled()))
        return self._vcov_cache

    @property
    def _vcov_unscaled(self) -> np.ndarray:
        """(R_X'R_X)⁻¹ at θ̂."""
        return self._vcov_pieces()[0]

    @property
    def _vcov_root(self) -> tuple[np.ndarray, np.ndarray]:
        """(d, D R_X⁻¹) at θ̂: the scale-safe root of (R_X'R_X)⁻¹."""
        return self._vcov_pieces()[1]

    def _cond_var_factor(self) -> BlockedCholesky:
        return self._factor_at_optimum()

    @property
    def _fitted(self) -> np.ndarray | None:
        """The fitted values, computed on first use (a fit that never reads them skips
        the pass over the rows)."""
        if self.__dict__.get("_fitted_cache") is None:
            self._fitted_cache = self._fitted_values()
        return self._fitted_cache

    @_fitted.setter
    def _fitted(self, value: np.ndarray | None) -> None:
        self._fitted_cache = value

    def _fitted_values(self) -> np.ndarray | None:
        """Xβ̂ + Σ_k Z_k b̂_k + offset on the rows of the fit, one column at a time
        (gathers of n values, no n × S temporaries)."""
        d = self.design
        eta = d.X @ self._beta
        if d.has_offset:
            eta += d.offset
        for t, b in zip(d.terms, self._b):
            for s in range(b.shape[1]):
                eta += t.Z[:, s] * np.take(b[:, s], t.factor.codes)
        return eta

    # -- criteria -----------------------------------------------------------------
    @property
    def reml_criterion(self) -> float:
        """REML criterion at convergence (REML fits); the ML deviance for ML fits."""
        return self._crit

    @property
    def deviance(self) -> float:
        """−2 log-likelihood (ML). For REML fits: the ML deviance at the REML estimates."""
        if not self.REML:
            return self._crit
        return self._criterion(self._ld_z, self._ld_x, self._log_pwrss, reml=False)

    @property
    def loglik(self) -> float:
        """Log-likelihood (restricted log-likelihood for REML fits, as lme4)."""
        return -0.5 * self._crit

    @property
    def df_model(self) -> int:
        """Number of parameters: p + nθ + 1 (σ)."""
        return self.cp.p + len(self._theta) + 1

    # -- refits -------------------------------------------------------------------
    def refit(
        self, y: np.ndarray | None = None, REML: bool | None = None, weights: Any = None
    ) -> LinearMixedModel:
        """A new fit with the same structure and a new response, criterion or prior weights.

        The formula, frame and grouping structure are reused. With a new ``y`` only the
        cross-products involving y are recomputed (bootstrap, simulation-based power);
        with new ``weights`` (n positive values, the rows of the fit) all of them, from
        the same design. Used also by :func:`mixedmodels.anova` (ML refits).
        """
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.REML = self.REML if REML is None else bool(REML)
        if y is not None:
            y = np.asarray(y, dtype=float)
            if y.shape != self.y.shape:
                raise ValueError(f"new response has shape {y.shape}, expected {self.y.shape}")
            new.y = y
        dense = getattr(self, "_dense", None)
        if weights is not None:
            new.design = dataclasses.replace(
                self.design, weights=_checked_weights(weights, self.design.n), has_weights=True
            )
            for cache in ("_response_rows", "_moment_start", "_anova_start",
                          "_inv_hessian_at_optimum"):
                new.__dict__.pop(cache, None)  # they hold the old weights
            new.cp = self._crossprod_of(new.design, new.y - self.design.offset,
                                        self.control.rest)
            dense = None  # rebuilt for the new cross-products
            y = None  # a new A altogether: start from θ̂, as a refit without a new y
        elif y is not None:
            new.cp = self._crossprod(y - self.design.offset)  # its X̃√w, Z√w kept on self
        else:
            new.cp = self.cp
        new._factor = None  # built only if the refit needs it
        new.__dict__.pop("_last_dense_factor", None)
        if dense is not None and y is not None:
            dense = dense.with_response(new.cp)  # the same design: only ỹ's row and column
        new._dense = dense
        new.optinfo = {}
        # BFGS starts with this fit's inverse Hessian: a similar response has a similar one
        new._refit_inv_hessian = self._inverse_hessian()
        # start from this fit's θ̂ with a trust region on its scale: refits of
        # similar responses (bootstrap, power) then need few evaluations
        step = np.maximum(0.1 * np.abs(self._theta), 0.01)
        if y is None or dense is None or self.control.start != "auto":
            return new.fit(start=self._theta, initial_step=step)
        # BFGS from the moment start of the new response (for one term in a balanced
        # design the optimum itself: sleepstudy's bootstrap refits take one evaluation),
        # or from θ̂ where the criterion is lower there
        start = new._small_moment_start(self._theta, owner=self)
        alternative = None if start is self._theta else self._theta
        return new.fit(start=start, initial_step=step, alternative=alternative)


def _checked_weights(weights: Any, n: int) -> np.ndarray:
    """New prior weights for a refit: n finite positive values."""
    w = np.asarray(weights, dtype=float)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or not np.all(w > 0):
        raise ArgumentError("weights", weights,
                            f"{n} finite positive prior weights, one per row of the fit")
    return w


def lmer(
    formula: str,
    data: Any,
    REML: bool = True,
    weights: Any = None,
    offset: Any = None,
    na_action: str = "omit",
    control: OptimizerControl | None = None,
    start: Any = None,
    data_name: str | None = None,
    method: str | None = None,
    progress: bool | None = None,
    verbose: bool = False,
) -> Any:
    """Fit a linear mixed model, as lme4's ``lmer``.

    Parameters
    ----------
    formula:
        lme4 formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``.
    data:
        pandas or polars DataFrame.
    REML:
        REML (default, as lme4) or maximum likelihood.
    weights, offset:
        Column names or arrays: prior weights (residual variance σ²/wᵢ) and
        a known offset added to the linear predictor.
    na_action:
        ``"omit"`` drops rows with missing values (``design.n_omitted`` of them);
        ``"exclude"`` drops them too but pads ``fitted``, ``resid()`` and
        ``predict()`` with NaN at those rows (R's ``na.exclude``);
        ``"raise"`` (or ``"fail"``) raises instead.
    control:
        :class:`~mixedmodels.optimize.OptimizerControl` (tolerances).
    start:
        Starting θ (lme4's order) as an array, a Series or ``{"theta": ...}``.
    data_name:
        Name shown on the summary's ``Data:`` line.
    method:
        ``None`` (default): the exact (RE)ML fit, as lme4. ``"moments"``: crossed
        random intercepts ``y ~ x + (1 | g) + (1 | h)`` by the method of moments
        (Gao & Owen 2017) and backfitting GLS (Ghosh, Hastie & Owen 2022) in O(N)
        time, a :class:`~mixedmodels.moments.MomentsFit` (not lme4's estimates;
        ``REML`` and ``control`` do not apply).
    progress:
        A bar of the objective evaluations (count, elapsed time): ``None``
        shows it for a fit expected to take more than a few seconds when a
        person is watching (a notebook or a terminal), ``True`` always,
        ``False`` never (see :mod:`mixedmodels.progress`).
    verbose:
        Print how the block of the terms after the first is factored (dense or
        sparse) with its memory and time estimates.
    """
    arguments.check_formula(formula)
    if method is not None:
        if method != "moments":
            raise ArgumentError("method", method, "None (exact (RE)ML) or 'moments'")
        from .moments import lmer_moments

        return lmer_moments(formula, data, offset=offset, na_action=na_action,
                            weights=weights, start=start, data_name=data_name)
    REML = arguments.check_reml(REML)
    na_action = arguments.check_na_action(na_action)
    control = arguments.check_control(control, OptimizerControl)
    verbose = arguments.check_flag(verbose, "verbose")
    design = build_design(formula, data, weights=weights, offset=offset, na_action=na_action)
    # without fixed effects REML and ML coincide; lme4 then reports an ML fit
    reml = REML and design.X.shape[1] > 0
    model = LinearMixedModel(design, REML=reml, control=control, data_name=data_name)
    cp = model.cp
    check_response_varies(design, None if design.has_weights else cp.xy_block())
    check_scale_x(design.X, design.x_names)
    model.data = data  # kept by reference for ranova/drop1/augment refits
    model.na_action = na_action
    model.weights_name = weights if isinstance(weights, str) else None
    model.offset_name = offset if isinstance(offset, str) else None
    start = arguments.check_start(start, model.lower, model.theta_names)
    try:
        return model.fit(start=start, progress=progress, verbose=verbose)
    except FactorizationError:
        raise ModelSpecificationError(
            f"'{design.formula.text}' could not be fitted: the penalized least-squares "
            "system is not positive definite at the estimate (lme4: 'Downdated VtV is not "
            "positive definite'); look for predictors computed from the response, "
            "random-effect columns that repeat fixed ones, or values on extreme scales"
        ) from None
