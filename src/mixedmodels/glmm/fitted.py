"""The results of a fitted GLMM: what is read off a ``glmerMod`` after the fit.

:class:`GlmerResults` holds the final PIRLS state (ũ, β̂, η̂, μ̂ at θ̂) and
computes from it lme4's accessors: −2 log-likelihood, ``deviance()`` (the sum
of squared deviance residuals), degrees of freedom, ``VarCorr``, residuals of
every type, predictions on the link and response scales, and the printed
summary. The fitting itself (the objectives and lme4's two stages) is
:class:`mixedmodels.glmm.model.GeneralizedLinearMixedModel`, which derives from
it and provides ``design``, ``family``, ``pirls``, ``control``, ``nAGQ``,
``ntheta``, ``optinfo`` and the stage-2 objective ``_objective_mode``.

Standard errors follow lme4: the covariance of β̂ is the β block of
2 H⁻¹, with H the finite-difference Hessian (step 1e-4, O(δ²) accurate as
lme4's ``deriv12``; see :func:`mixedmodels.glmm.optim.fd_derivatives`) of
the stage-2 deviance over (θ, β). Where H is not positive definite the
covariance falls back to (R_X'R_X)⁻¹ from the final PIRLS weights, with a
warning, as lme4 does.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ..crossprod import crossprod
from ..errors import ConvergenceWarning
from ..linalg import BlockedCholesky
from ..optimize import OptResult
from ..results.model_results import MixedModelResults
from ..results.varcorr import VarCorr, VarCorrTerm
from .optim import fd_derivatives
from .pirls import PirlsState
from .pwls import PWLSFailure

__all__ = ["GlmerResults"]


class GlmerResults(MixedModelResults):
    """A fitted GLMM's results (see the module docstring)."""

    REML = False

    def _engine_factor(self, state: PirlsState, with_x: bool = True) -> BlockedCholesky:
        """The lmer engine's factor L(θ) at the working weights and response of a mode."""
        fam, d = self.family, self.design
        me = fam.mu_eta(state.eta)
        W = self.prior_weights * me * me / fam.variance(state.mu)
        z = state.eta - d.offset + (self.y - state.mu) / me
        X = d.X if with_x else d.X[:, :0]
        if not with_x:
            z = z - d.X @ state.beta
        with np.errstate(divide="ignore"):
            cp = crossprod([t.factor.codes for t in d.terms], [t.Z for t in d.terms],
                           [t.nl for t in d.terms], X, z, W)
        factor = BlockedCholesky(cp, [t.tri_index for t in d.terms])
        factor.update(state.theta)
        return factor

    def _set_results(self, state: PirlsState, res: OptResult, crit: float,
                     derivs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> None:
        d = self.design
        self.opt = res
        self._state = state
        self._theta = state.theta.copy()
        self._beta = state.beta.copy()
        self._crit = float(crit)
        self._factor: BlockedCholesky | None = None
        us, off = [], 0
        for t in d.terms:
            us.append(state.u[off : off + t.q].reshape(t.nl, t.S))
            off += t.q
        self._u = us
        self._b = self.pirls.joint.b_of(self._theta, state.u)
        self._eta = state.eta
        self._fitted = state.mu
        self._sigma = self._dispersion_sigma(state)
        self._cond_var_cache = None
        self._vcov_unscaled = None
        self.hessian: np.ndarray | None = None
        self.gradient: np.ndarray | None = None
        self.optinfo.update({
            "optimizer": ("bobyqa (NLopt LN_BOBYQA), then "
                          + ("Newton" if res.message.startswith("Newton") else "bobyqa")),
            "feval": res.feval, "message": res.message, "code": res.code,
            "seconds": res.seconds, "pirls_iterations": state.iterations,
        })
        if self.nAGQ > 0 and self.control.calc_derivs:
            self._hessian_vcov(state, derivs)
        if self._vcov_unscaled is None:
            self._vcov_unscaled = self._vcov_rx()
        self._check_fit(res)

    @property
    def factor(self) -> BlockedCholesky:
        """The lmer engine's factor L(θ̂) at the working weights and response of the
        final mode (conditional variances, R_X), built when first read."""
        if self._factor is None:
            self._factor = self._engine_factor(self._state)
        return self._factor

    def _vcov_rx(self) -> np.ndarray:
        """(R_X'R_X)⁻¹ at the working weights W of the final mode: the covariance of β̂
        where the Hessian is not used (nAGQ = 0, ``calc_derivs=False``, or H not
        positive definite). R_X is the fixed-effects block of the PIRLS system's factor
        at W (that of :attr:`factor`, without building it)."""
        st = self._state
        try:
            self.pirls.joint.solve(st.theta, self.pirls.working_weights(st), st.eta)
            rx = self.pirls.joint.rx()
        except PWLSFailure:
            rx = self.factor.rx()
        rxinv = np.linalg.inv(rx) if rx.size else rx
        return rxinv @ rxinv.T

    def _T(self, k: int) -> np.ndarray:
        """T_k(θ̂), the relative covariance factor of term k."""
        return self.pirls.joint.T(self._theta, k)

    def _dispersion_sigma(self, state: PirlsState) -> float:
        """σ = 1 without a dispersion parameter; else √((Σ pearson² + ‖ũ‖²)/n) as lme4."""
        if not self.family.has_dispersion:
            return 1.0
        r = self.resid("pearson", _state=state)
        return math.sqrt((float(r @ r) + state.ussq) / self.nobs)

    def _hessian_vcov(self, state: PirlsState,
                      derivs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> None:
        """vcov(β̂) = β block of 2 H⁻¹, H the finite-difference Hessian over (θ, β)."""
        if derivs is None:
            x = np.concatenate([state.theta, state.beta])
            u_hat = state.u.copy()
            der = fd_derivatives(self._objective_mode, x, self._crit, u_hat, self.control.delta)
            self.pirls.solve(state.theta, state.beta, u0=u_hat)
            g, H = der.g, (der.H if der.ok else np.full_like(der.H, np.nan))
        else:
            g, H = derivs[0], derivs[1]
        self.gradient, self.hessian = g, H
        try:
            V = 2.0 * np.linalg.inv(H)
            V = 0.5 * (V + V.T)
            ok = bool(np.all(np.isfinite(V)) and np.linalg.eigvalsh(V).min() > 0)
        except np.linalg.LinAlgError:
            ok = False
        if ok:
            nt = self.ntheta
            self._vcov_unscaled = V[nt:, nt:] / self._sigma**2
            return
        msg = ("variance-covariance matrix computed from finite-difference Hessian is not "
               "positive definite or contains NA values: falling back to var-cov estimated from RX")
        self.optinfo["warnings"].append(msg)
        warnings.warn(msg, ConvergenceWarning, stacklevel=5)

    # -- criteria -----------------------------------------------------------------
    @property
    def loglik(self) -> float:
        """Log-likelihood: −½ the Laplace deviance (nAGQ ≤ 1) or lme4's AGQ deviance (nAGQ > 1,
        which leaves out the saturated constant, as lme4 does)."""
        return -0.5 * self._crit

    @property
    def reml_criterion(self) -> float:
        """−2 log-likelihood (a GLMM is always fitted by maximum likelihood)."""
        return self._crit

    @property
    def deviance(self) -> float:
        """lme4's ``deviance()`` of a GLMM: the sum of squared deviance residuals."""
        return float(self._state.devres.sum())

    @property
    def df_model(self) -> int:
        """Number of parameters: p + nθ (+ 1 for a dispersion parameter)."""
        return self.design.p + self.ntheta + int(self.family.has_dispersion)

    @property
    def df_resid(self) -> int:
        return self.nobs - self.df_model

    @property
    def _dispersion(self) -> float:
        return self._sigma**2

    @property
    def varcorr(self) -> VarCorr:
        """Variance components Σ_k = σ² T_k T_k' (σ = 1 without a dispersion parameter)."""
        terms = [VarCorrTerm(t.label, t.group, list(t.names), self._term_cov(k))
                 for k, t in enumerate(self.design.terms)]
        return VarCorr(terms, self._sigma if self.family.has_dispersion else None)

    # -- fitted values, residuals, predictions --------------------------------------
    @property
    def linear_predictor(self) -> np.ndarray:
        """η = Xβ̂ + Zb̂ + offset."""
        return self._eta

    def resid(self, type: str = "deviance", _state: PirlsState | None = None) -> np.ndarray:
        """Residuals of lme4's types: ``"deviance"`` (default) sign(y−μ)√dᵢ,
        ``"pearson"`` (y−μ)√wᵢ/√V(μ), ``"response"`` y−μ, ``"working"`` (y−μ)/(dμ/dη)."""
        if _state is None and getattr(self, "na_action", "omit") == "exclude":
            return self._na_pad(self.resid(type, _state=self._state))  # R's na.exclude
        st = self._state if _state is None else _state
        mu, y = st.mu, self.y
        if type == "deviance":
            return np.sign(y - mu) * np.sqrt(np.maximum(st.devres, 0.0))
        if type == "pearson":
            return (y - mu) * np.sqrt(self.prior_weights / self.family.variance(mu))
        if type == "response":
            return y - mu
        if type == "working":
            return (y - mu) / self.family.mu_eta(st.eta)
        raise ValueError(
            f"type must be 'deviance', 'pearson', 'response' or 'working', got {type!r}"
        )

    def predict(self, newdata: Any = None, re_form: Any = None,
                allow_new_levels: bool = False, type: str = "link") -> np.ndarray:
        """Predictions on the link scale (``type="link"``) or the response scale
        (``type="response"``, μ = g⁻¹(η))."""
        if type not in ("link", "response"):
            raise ValueError(f"type must be 'link' or 'response', got {type!r}")
        eta = super().predict(newdata, re_form=re_form, allow_new_levels=allow_new_levels)
        return self.family.linkinv(eta) if type == "response" else eta

    # -- printing -------------------------------------------------------------------
    def summary(self, **kwargs: Any) -> Any:
        """lme4's ``summary(glmerMod)``: see
        :class:`mixedmodels.results.glmer_summary.GlmerSummary`."""
        from ..results.glmer_summary import GlmerSummary

        return GlmerSummary(self, **kwargs)

    def __str__(self) -> str:
        """lme4's ``print(m)`` of a glmer fit."""
        from ..results.glmer_summary import glmerMod_print_text

        return glmerMod_print_text(self)

    def __repr__(self) -> str:
        groups = ", ".join(f"{g}: {n}" for g, n in self.ngroups.items())
        return (f"<{type(self).__name__} ({self.family.family}, {self.link}; "
                f"{'Laplace' if self.nAGQ == 1 else f'nAGQ = {self.nAGQ}'}): "
                f"{self.design.formula.text}; -2 logLik {self._crit:.4f}; n = {self.nobs}; "
                f"groups {groups}>")
