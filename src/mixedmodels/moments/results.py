"""What a moment fit of crossed random intercepts reports, and what it refuses to.

:class:`MomentsFit` holds the estimates of
:mod:`mixedmodels.moments.estimator` mapped back to the data's units
(β = M⁻¹(s β̃ + c e₀), vcov(β) = s² M⁻¹ vcov(β̃) M⁻ᵀ, σ² = s² σ̃², b = s b̃;
:class:`~mixedmodels.crossprod.Centering`). It offers the accessors that
make sense for a method-of-moments / GLS fit — ``fixef``, ``vcov``,
``fixef_se``, ``varcorr``, ``sigma``, ``theta``, ``ranef``, ``coef``,
``predict``, ``fitted``, ``resid`` — and raises
:class:`NotLikelihoodError` for the likelihood-based ones (``loglik``,
``aic``, ``bic``, ``deviance``, ``reml_criterion``, ``anova``, ``refit``):
there is no likelihood at these estimates to report.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .._rformat import format_num
from ..errors import MixedModelsError
from ..results.model_results import GroupTables, na_pad
from ..results.varcorr import VarCorr, VarCorrTerm
from .estimator import MomentsEstimate

__all__ = ["MomentsFit", "MomentsSummary", "NotLikelihoodError", "ESTIMATOR"]

ESTIMATOR = (
    "the method of moments (Gao & Owen 2017) for the variance components and "
    "backfitting GLS (Ghosh, Hastie & Owen 2022) for the fixed effects"
)
_NOT_ML = (
    "These are NOT lme4's (RE)ML estimates: there is no likelihood, REML criterion, "
    "AIC/BIC or likelihood-ratio test for this fit."
)


class NotLikelihoodError(MixedModelsError, TypeError):
    """A likelihood-based quantity was asked of a method-of-moments fit."""


class MomentsFit:
    """Crossed random intercepts fitted by ``lmer(..., method="moments")``.

    ``design`` is the fit's design (in memory or row-free), ``est`` the
    estimate in centered units, ``source`` (out of memory) the rows'
    backend for fitted values and residuals.
    """

    method = "moments"
    family = "gaussian"

    def __init__(self, design: Any, est: MomentsEstimate, shift: Any,
                 source: Any = None, data_name: str | None = None):
        self.design = design
        self.est = est
        self.shift = shift
        self.source = source
        self.data_name = data_name
        self.y: np.ndarray | None = None  # the response on the fit's rows, in memory
        self.na_action = "omit"  # "exclude": fitted/resid/predict padded with NaN (in memory)
        s2 = shift.s**2
        self._beta = shift.beta(est.beta_t)
        Minv = np.linalg.inv(shift.M) if len(self._beta) else np.zeros((0, 0))
        self._vcov = s2 * Minv @ est.vcov_t @ Minv.T
        self._sigma2 = s2 * est.sigma2_t
        self._sigma = math.sqrt(self._sigma2[-1])
        self._b = [shift.s * b[:, None] for b in est.b_t]

    # -- fixed effects ----------------------------------------------------------
    @property
    def formula(self) -> str:
        return self.design.formula.text

    @property
    def fixef(self) -> pd.Series:
        """β̂_GLS given the moment estimates of the components."""
        return pd.Series(self._beta, index=list(self.design.x_names))

    @property
    def vcov(self) -> pd.DataFrame:
        """Plug-in GLS covariance (X'V̂⁻¹X)⁻¹ (components treated as known)."""
        names = list(self.design.x_names)
        return pd.DataFrame(self._vcov, index=names, columns=names)

    @property
    def fixef_se(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self._vcov)), index=list(self.design.x_names))

    # -- variance components ----------------------------------------------------
    @property
    def sigma(self) -> float:
        """Residual standard deviation σ̂_E (moment estimate)."""
        return self._sigma

    @property
    def varcorr(self) -> VarCorr:
        """σ̂_f² per grouping factor and σ̂_E, printed as lme4's ``VarCorr``."""
        terms = [
            VarCorrTerm(t.label, t.group, list(t.names), np.array([[self._sigma2[k]]]))
            for k, t in enumerate(self.design.terms)
        ]
        return VarCorr(terms, self._sigma)

    @property
    def theta(self) -> pd.Series:
        """σ̂_f/σ̂_E in lme4's θ order: a start for an exact fit (``lmer(start=...)``)."""
        names = [nm for t in self.design.terms for nm in t.theta_names]
        return pd.Series(np.sqrt(self._sigma2[:-1] / self._sigma2[-1]), index=names)

    @property
    def nobs(self) -> int:
        return int(self.design.n)

    @property
    def ngroups(self) -> dict[str, int]:
        return {t.group: t.nl for t in self.design.terms}

    # -- random effects -----------------------------------------------------------
    @property
    def ranef(self) -> GroupTables:
        """BLUPs b̂ = (Z'Z + Λ̂)⁻¹ Z'(y − Xβ̂) given the components (by backfitting)."""
        return GroupTables({
            t.group: pd.DataFrame(b, index=pd.Index(t.factor.levels, name=t.group),
                                  columns=list(t.names))
            for t, b in zip(self.design.terms, self._b)
        })

    @property
    def coef(self) -> GroupTables:
        """β̂ with each level's b̂ added to the intercept."""
        fe = self.fixef
        out = {}
        for g, re in self.ranef.items():
            df = pd.DataFrame(np.tile(fe.to_numpy(), (len(re), 1)), index=re.index,
                              columns=fe.index)
            if "(Intercept)" in df.columns:
                df["(Intercept)"] += re["(Intercept)"]
            else:
                df.insert(0, "(Intercept)", re["(Intercept)"])
            out[g] = df
        return GroupTables(out)

    def predict(self, newdata: Any = None, re_form: Any = None,
                allow_new_levels: bool = False) -> np.ndarray:
        """Xβ̂ + Zb̂ on ``newdata`` (as lme4's ``predict``); ``None``: the fit's rows
        (with ``na_action="exclude"``: every input row, NaN where a value was missing)."""
        if newdata is None and self.source is not None:
            if re_form is not None:
                raise NotImplementedError(
                    "re_form on the rows of an out-of-memory fit: pass them as newdata"
                )
            return self.source.row_values(self, "fitted")
        from ..results.predict import predict

        eta = predict(self, newdata, re_form=re_form, allow_new_levels=allow_new_levels)
        return na_pad(self.design, self.na_action, eta) if newdata is None else eta

    @property
    def fitted(self) -> np.ndarray:
        return self.predict()

    def resid(self, type: str = "response") -> np.ndarray:
        """y − ŷ on the fit's rows (``"pearson"``: divided by σ̂_E); with
        ``na_action="exclude"`` on every input row, NaN where a value was missing."""
        if type not in ("response", "pearson"):
            raise ValueError(f"type must be 'response' or 'pearson', got {type!r}")
        if self.source is not None:
            return self.source.row_values(self, type)
        from ..results.predict import predict

        r = self.y - predict(self, None)
        return na_pad(self.design, self.na_action, r if type == "response" else r / self._sigma)

    # -- what a moment fit does not have -------------------------------------------
    def _no_likelihood(self, what: str) -> NotLikelihoodError:
        return NotLikelihoodError(
            f"{what} is not defined for a method-of-moments fit (lmer(..., method="
            "'moments')): its estimates do not maximise a likelihood, so there is no "
            "log-likelihood, deviance, REML criterion, AIC/BIC or likelihood-ratio test "
            "to report; fit the exact model (method='REML' or 'ML', the default) where "
            "it can run, and compare fits by those"
        )

    @property
    def loglik(self) -> float:
        raise self._no_likelihood("logLik")

    @property
    def deviance(self) -> float:
        raise self._no_likelihood("the deviance")

    @property
    def reml_criterion(self) -> float:
        raise self._no_likelihood("the REML criterion")

    @property
    def aic(self) -> float:
        raise self._no_likelihood("AIC")

    @property
    def bic(self) -> float:
        raise self._no_likelihood("BIC")

    def anova(self, *args: Any, **kwargs: Any) -> Any:
        raise self._no_likelihood("anova (F tests with (RE)ML degrees of freedom)")

    def refit(self, *args: Any, **kwargs: Any) -> Any:
        raise self._no_likelihood("refit (likelihood-ratio tests refit by ML)")

    # -- printing -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Every number of the fit in plain Python types (for JSON); ``loglik``,
        ``aic``, ``bic`` and ``deviance`` are absent: a moment fit has none."""
        s = self.summary()
        return {
            "formula": self.formula,
            "method": self.method,
            "estimator": ESTIMATOR,
            "family": self.family,
            "link": "identity",
            "nobs": self.nobs,
            "n_omitted": int(getattr(self.design, "n_omitted", 0)),
            "ngroups": self.ngroups,
            "fixef": self.fixef.to_dict(),
            "coefficients": {name: row.to_dict() for name, row in s.coefficients.iterrows()},
            "vcov": {"names": list(self.vcov.index), "matrix": self.vcov.to_numpy()},
            "theta": self.theta.to_dict(),
            "sigma": self.sigma,
            "varcorr": self.varcorr.to_frame().to_dict(orient="records"),
            "ranef": {
                g: {"terms": list(df.columns), "levels": list(df.index), "values": df.to_numpy()}
                for g, df in self.ranef.items()
            },
            "backfitting_sweeps": list(self.est.iterations),
        }

    def summary(self) -> MomentsSummary:
        return MomentsSummary(self)

    def __repr__(self) -> str:
        groups = ", ".join(f"{g}: {n}" for g, n in self.ngroups.items())
        return (f"<MomentsFit (method of moments + backfitting GLS; not lme4's (RE)ML): "
                f"{self.formula}; n = {self.nobs}; groups {groups}>")


class MomentsSummary:
    """The summary of a :class:`MomentsFit`: estimator, components, fixed effects.

    Fixed-effect tests are Wald z tests (normal reference) with the plug-in
    GLS standard errors.
    """

    def __init__(self, model: MomentsFit):
        self.model = model
        fe, se = model.fixef, model.fixef_se
        z = fe / se
        self.coefficients = pd.DataFrame({
            "Estimate": fe, "Std. Error": se, "z value": z,
            "Pr(>|z|)": 2.0 * stats.norm.sf(np.abs(z)),
        })

    def __str__(self) -> str:
        m = self.model
        lines = [f"Linear mixed model fit by {ESTIMATOR}.", _NOT_ML,
                 f"Formula: {m.formula}"]
        if m.data_name:
            lines.append(f"   Data: {m.data_name}")
        lines += ["", "Random effects (moment estimates):"]
        rows = [(t.group, "(Intercept)", m._sigma2[k]) for k, t in enumerate(m.design.terms)]
        rows.append(("Residual", "", m._sigma2[-1]))
        w0 = max(len("Groups"), *(len(r[0]) for r in rows))
        lines.append(f" {'Groups':<{w0}} {'Name':<11} {'Variance':>12} {'Std.Dev.':>12}")
        vals = np.array([r[2] for r in rows])
        var_txt = format_num(vals, 4)
        sd_txt = format_num(np.sqrt(np.clip(vals, 0.0, None)), 4)
        for (g, nm, _), v, sd in zip(rows, var_txt, sd_txt):
            lines.append(f" {g:<{w0}} {nm:<11} {v:>12} {sd:>12}")
        groups = ", ".join(f"{g}, {n}" for g, n in m.ngroups.items())
        lines.append(f"Number of obs: {m.nobs}, groups:  {groups}")
        lines += ["", "Fixed effects (backfitting GLS; plug-in GLS standard errors, Wald z):"]
        eps = np.finfo(float).eps  # R's format.pval: "<2e-16" below machine precision
        lines.append(self.coefficients.to_string(
            float_format=lambda v: f"{v:.6g}",
            formatters={"Pr(>|z|)": lambda v: "<2e-16" if v < eps else f"{v:.3g}"},
        ))
        sweeps = ", ".join(str(i) for i in m.est.iterations)
        lines += ["", f"backfitting sweeps per GLS solve: {sweeps}"]
        return "\n".join(lines)

    __repr__ = __str__
