"""Stage 7 of the pipeline: what a user reads off a fitted mixed model.

A mixin shared by linear and generalized linear mixed models. It needs
from the model: ``design``, ``factor`` (the blocked Cholesky at θ̂),
``_theta``, ``_beta``, ``_u``, ``_b`` (per term, levels × effects),
``_sigma``, ``_fitted`` and ``_vcov_unscaled`` ((R_X'R_X)⁻¹).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ArgumentError, ConvergenceWarning, DataError, SingularFitWarning
from ..optimize import convergence_messages
from .html import RichRepr
from .varcorr import VarCorr, VarCorrTerm

__all__ = ["GroupTables", "MixedModelResults", "RandomEffects", "na_pad"]

SINGULAR_TOL = 1e-4


class GroupTables(RichRepr, dict):
    """One DataFrame per grouping factor (``coef(m)``), a dict that prints as R's list."""

    def __repr__(self) -> str:
        lines = []
        for g, df in self.items():
            lines += [f"${g}", df.to_string(), ""]
        if getattr(self, "condsd", None):
            names = ", ".join(f'"{g}"' for g in self)
            lines.append(f"with conditional variances for {names} ")
        return "\n".join(lines).rstrip("\n")

    __str__ = __repr__


class RandomEffects(GroupTables):
    """Conditional modes per grouping factor (levels × terms DataFrames).

    ``condsd[g]`` holds the conditional standard deviations in the same
    layout and ``condvar[g]`` the per-level covariance blocks, as lme4's
    ``ranef(m, condVar = TRUE)``.
    """

    condsd: dict[str, pd.DataFrame]
    condvar: dict[str, list[np.ndarray]]

    def to_frame(self) -> pd.DataFrame:
        """Long format as ``as.data.frame(ranef(m))``: grpvar, term, grp, condval, condsd."""
        rows = []
        for g, df in self.items():
            sd = self.condsd[g]
            for term in df.columns:
                for lev in df.index:
                    rows.append((g, term, lev, df.at[lev, term], sd.at[lev, term]))
        return pd.DataFrame(rows, columns=["grpvar", "term", "grp", "condval", "condsd"])


class MixedModelResults(RichRepr):
    """Accessors for the results of a fitted mixed model (lme4's names)."""

    design: Any
    REML: bool
    family: str = "gaussian"
    _theta: np.ndarray
    _beta: np.ndarray
    _sigma: float

    @property
    def formula(self) -> str:
        """The model formula as given."""
        return str(self.design.formula.text)

    # -- parameters ---------------------------------------------------------------
    @property
    def theta(self) -> pd.Series:
        """Relative covariance parameters θ, lme4's order and names."""
        return pd.Series(self._theta, index=self.theta_names, name="theta")

    @property
    def fixef(self) -> pd.Series:
        """Fixed-effect estimates β̂."""
        return pd.Series(self._beta, index=self.design.x_names, name="fixef")

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance of β̂: σ̂² (R_X'R_X)⁻¹ (lme4's ``vcov``).

        Raises :class:`~mixedmodels.errors.DataError` where an entry exceeds
        double precision (σ̂ beyond ~1e154); standard errors, t values and
        correlations stay available through their own scale-safe paths.
        """
        disp = self._dispersion
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            v = self._vcov_unscaled * disp
        if not np.all(np.isfinite(v)):
            raise DataError(
                "vcov(β̂) overflows double precision (a fixed-effect column near 1e-154 or "
                "below): rescale that column and refit; fixef_se and summary() still work"
            )
        names = self.design.x_names
        return pd.DataFrame(v, index=names, columns=names)

    @property
    def _dispersion(self) -> float:
        """σ̂²; a clear error where it exceeds double precision (σ̂ beyond ~1.3e154)."""
        s2 = float(self._sigma) * float(self._sigma)
        if math.isinf(s2):
            raise DataError(
                f"the residual variance σ̂² = ({self._sigma:.4g})² exceeds double precision, "
                "so variances and covariances cannot be reported: divide the response by a "
                "power of ten (estimates scale back exactly) and refit; fixef, fixef_se, "
                "sigma and theta are available"
            )
        return s2

    def _contrast_se(self, L: np.ndarray) -> np.ndarray:
        """√(l' vcov l) for each row l of L, without forming σ̂²·vcov.

        With the LMM's scaled root (``_vcov_root`` = (d, D R_X⁻¹), D = diag d),
        se = σ̂ ‖(l/d)' (D R_X⁻¹)‖, a norm taken on rows scaled to max 1: finite at
        any scale of y and of X's columns.
        """
        L = np.atleast_2d(np.asarray(L, dtype=float))
        root = getattr(self, "_vcov_root", None)
        if root is None:
            return np.sqrt(np.einsum("ij,jk,ik->i", L, self._vcov_unscaled, L) * self._dispersion)
        d, R = root
        A = (L / d) @ R
        big = np.max(np.abs(A), axis=1) if A.size else np.zeros(len(L))
        safe = np.where(big > 0, big, 1.0)
        return self._sigma * big * np.sqrt(np.sum((A / safe[:, None]) ** 2, axis=1))

    def _fixef_corr(self) -> np.ndarray:
        """Correlation of β̂ (scale-free: rows of D R_X⁻¹ normalized)."""
        root = getattr(self, "_vcov_root", None)
        if root is None:
            v = self.vcov.to_numpy()
            sd = np.sqrt(np.diag(v))
            return v / np.outer(sd, sd)
        R = root[1]
        R = R / np.max(np.abs(R), axis=1, keepdims=True)
        R = R / np.sqrt(np.sum(R * R, axis=1, keepdims=True))
        return R @ R.T

    @property
    def fixef_se(self) -> pd.Series:
        """Standard errors of β̂."""
        return pd.Series(
            self._contrast_se(np.eye(len(self._beta))),
            index=self.design.x_names,
            name="Std. Error",
        )

    @property
    def sigma(self) -> float:
        """Residual standard deviation σ̂."""
        return float(self._sigma)

    @property
    def nobs(self) -> int:
        return int(self.design.n)

    @property
    def ngroups(self) -> dict[str, int]:
        """Number of levels of each grouping factor (lme4's ``ngrps``)."""
        out: dict[str, int] = {}
        for t in self.design.terms:
            out.setdefault(t.group, t.nl)
        return out

    @property
    def is_singular(self) -> bool:
        """θ on the boundary: a diagonal entry of some T_k below 1e-4 (lme4's isSingular)."""
        on_diag = np.isfinite(self.lower)
        return bool(np.any(self._theta[on_diag] - self.lower[on_diag] < SINGULAR_TOL))

    def _check_fit(self, res: Any) -> None:
        """Warn, as lme4 does, when the optimizer failed or the fit is singular."""
        msgs = self.optinfo["warnings"]
        singular = self.is_singular
        for msg in convergence_messages(res, singular):
            msgs.append(msg)
            warnings.warn(msg, ConvergenceWarning, stacklevel=4)
        if singular:
            msg = "boundary (singular) fit: see help('isSingular')"
            msgs.append(msg)
            warnings.warn(msg, SingularFitWarning, stacklevel=4)

    # -- criteria -----------------------------------------------------------------
    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.df_model

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + math.log(self.nobs) * self.df_model

    @property
    def aicc(self) -> float:
        """AIC + 2K(K + 1)/(n − K − 1), K = ``df_model`` (``AICcmodavg::AICc``)."""
        from ..inference.model_table import aicc

        return aicc(self)

    # -- variance components ------------------------------------------------------
    def _T(self, k: int) -> np.ndarray:
        """T_k(θ̂), the relative covariance factor of term k."""
        return self.factor.T(self._theta, k)

    def _cond_var_factor(self) -> Any:
        """The factor at θ̂ whose ``cond_var_spherical`` gives the conditional variances."""
        return self.factor

    def _term_cov(self, k: int) -> np.ndarray:
        T = self._T(k)
        return self._dispersion * (T @ T.T)

    @property
    def varcorr(self) -> VarCorr:
        """Variance components (lme4's ``VarCorr``): per term Σ_k = σ² T_k T_k'."""
        terms = [
            VarCorrTerm(t.label, t.group, list(t.names), self._term_cov(k))
            for k, t in enumerate(self.design.terms)
        ]
        return VarCorr(terms, self._sigma if self.family == "gaussian" else None)

    # -- random effects -----------------------------------------------------------
    def _cond_var(self) -> list[np.ndarray]:
        """Per term: (nl, S, S) conditional covariances of b given y."""
        if getattr(self, "_cond_var_cache", None) is None:
            spherical = self._cond_var_factor().cond_var_spherical()
            out = []
            for k, V in enumerate(spherical):
                T = self._T(k)
                out.append(self._dispersion * (T @ V @ T.T))
            self._cond_var_cache = out
        return self._cond_var_cache

    @property
    def ranef(self) -> RandomEffects:
        """Conditional modes b̂ per grouping factor, with conditional SDs (``.condsd``)."""
        cv = self._cond_var()
        out = RandomEffects()
        out.condsd = {}
        out.condvar = {}
        for k, t in enumerate(self.design.terms):
            df = pd.DataFrame(
                self._b[k], index=pd.Index(t.factor.levels, name=t.group), columns=list(t.names)
            )
            sd = pd.DataFrame(
                np.sqrt(np.clip(np.diagonal(cv[k], axis1=1, axis2=2), 0, None)),
                index=df.index,
                columns=df.columns,
            )
            if t.group in out:
                out[t.group] = pd.concat([out[t.group], df], axis=1)
                out.condsd[t.group] = pd.concat([out.condsd[t.group], sd], axis=1)
                out.condvar[t.group].append(cv[k])
            else:
                out[t.group] = df
                out.condsd[t.group] = sd
                out.condvar[t.group] = [cv[k]]
        return out

    @property
    def coef(self) -> GroupTables:
        """Per grouping factor: β̂ + b̂ per level (lme4's ``coef``).

        As lme4, random effects without a fixed counterpart (``(0 + Machine |
        Worker)``, or ``(1 | g)`` in a ``0 +`` model) are columns of zeros
        placed before the fixed effects in every factor's table, plus b̂.
        """
        fe = self.fixef
        ranef = self.ranef
        missing: list[str] = []
        for re in ranef.values():
            missing += [c for c in re.columns if c not in fe.index and c not in missing]
        base = pd.concat([pd.Series(0.0, index=missing), fe])
        out = {}
        for g, re in ranef.items():
            df = pd.DataFrame(
                np.tile(base.to_numpy(), (len(re), 1)), index=re.index, columns=base.index
            )
            for col in re.columns:
                df[col] = df[col] + re[col]
            out[g] = df
        return GroupTables(out)

    # -- fitted values and residuals ---------------------------------------------
    @property
    def fitted(self) -> np.ndarray:
        """Fitted values Xβ̂ + Zb̂ (+ offset), conditional on the random effects."""
        return self._na_pad(self._fitted)

    def _na_pad(self, x: np.ndarray) -> np.ndarray:
        """R's ``naresid`` for ``na.exclude``: per-row results on every input row,
        NaN at the rows dropped for missing values (``x`` unchanged otherwise)."""
        return na_pad(self.design, getattr(self, "na_action", "omit"), x)

    def _na_unpad(self, x: np.ndarray) -> np.ndarray:
        """The rows of the fit from a result :meth:`_na_pad` padded."""
        d = self.design
        return x[d.rows] if len(x) != d.n and len(x) == d.n_input else x

    def resid(self, type: str = "response", scaled: bool = False) -> np.ndarray:
        """Residuals, as lme4's ``residuals(m, type, scaled)``.

        ``"response"`` (or ``"working"``) y − ŷ; ``"pearson"`` (or
        ``"deviance"``) √w (y − ŷ); ``"scaled"`` pearson / σ̂, the scaled
        residuals of the summary. ``scaled=True`` divides the chosen type by
        σ̂ (R's ``scaled = TRUE``).
        """
        r = self.y - self._fitted
        if type in ("response", "working"):
            out = r
        elif type in ("pearson", "deviance"):
            out = r * np.sqrt(self.design.weights)
        elif type == "scaled":
            return self._na_pad(r * np.sqrt(self.design.weights) / self._sigma)
        else:
            raise ArgumentError(
                "type", type, "'response', 'working', 'pearson', 'deviance' or 'scaled'"
            )
        return self._na_pad(out / self._sigma if scaled else out)

    @property
    def residuals(self) -> np.ndarray:
        return self.resid()

    def predict(
        self,
        newdata: Any = None,
        re_form: str | None = None,
        allow_new_levels: bool = False,
    ) -> np.ndarray:
        """Predictions, as lme4's ``predict``; see :func:`mixedmodels.results.predict.predict`."""
        from .predict import predict

        eta = predict(self, newdata, re_form=re_form, allow_new_levels=allow_new_levels)
        return self._na_pad(eta) if newdata is None else eta

    # -- inference (see mixedmodels.inference) -------------------------------------
    def confint(
        self, method: str | None = None, level: float = 0.95, **kwargs: Any
    ) -> pd.DataFrame:
        """Confidence intervals (lme4's ``confint``): ``"profile"`` (default for lmer fits),
        ``"Wald"`` (default for glmer fits), ``"Satterthwaite"``, ``"Kenward-Roger"`` or
        ``"boot"``."""
        from ..inference import confint

        return confint(self, method=method, level=level, **kwargs)

    def simulate(self, nsim: int = 1, seed: int | None = None, use_u: bool = False) -> np.ndarray:
        """New responses from the fitted model (lme4's ``simulate``), n × nsim."""
        from ..inference import simulate

        return simulate(self, nsim=nsim, seed=seed, use_u=use_u)

    def anova(self, ddf: str = "Satterthwaite", type: int | str = 3) -> Any:
        """F tests of the fixed terms (lmerTest's ``anova``): ``type`` 3 (default), 2 or 1."""
        from ..inference import anova_type3

        return anova_type3(self, ddf=ddf, type=type)

    def ranova(self, data: Any = None) -> Any:
        """Likelihood-ratio tests dropping each random term (lmerTest's ``ranova``)."""
        from ..inference import ranova

        return ranova(self, data=data)

    def drop1(self, data: Any = None) -> Any:
        """Likelihood-ratio tests dropping each fixed term (R's ``drop1``)."""
        from ..inference import drop1

        return drop1(self, data=data)

    def variance_decomposition(self) -> pd.DataFrame:
        """Each variance component and its share of the total."""
        from ..inference import variance_decomposition

        return variance_decomposition(self)

    # -- printing -----------------------------------------------------------------
    def summary(self, **kwargs: Any) -> Any:
        """lme4's ``summary``: see :class:`mixedmodels.results.summary.LmerSummary`.

        ``ddf="Satterthwaite"`` (default, as lmerTest), ``"Kenward-Roger"``
        or ``None`` (lme4's table without df and p-values).
        """
        from .summary import LmerSummary

        return LmerSummary(self, **kwargs)

    def __repr__(self) -> str:
        kind = "REML" if self.REML else "ML"
        crit = "REML criterion" if self.REML else "deviance"
        groups = ", ".join(f"{g}: {n}" for g, n in self.ngroups.items())
        return (
            f"<{type(self).__name__} fit by {kind}: {self.design.formula.text}; "
            f"{crit} {self.reml_criterion:.4f}; n = {self.nobs}; groups {groups}>"
        )

    # -- tidy frames --------------------------------------------------------------
    def tidy(self, effects: str = "all") -> pd.DataFrame:
        """broom.mixed's ``tidy``: one row per parameter."""
        from .tidy import tidy

        return tidy(self, effects=effects)

    def glance(self) -> pd.DataFrame:
        """broom.mixed's ``glance``: one row of fit statistics."""
        from .tidy import glance

        return glance(self)

    def augment(self, data: Any = None) -> pd.DataFrame:
        """broom.mixed's ``augment``: the model frame with fitted values and residuals."""
        from .tidy import augment

        return augment(self, data)

    def to_dict(self) -> dict[str, Any]:
        """Every number of the fit, JSON-serialisable."""
        from .tidy import to_dict

        return to_dict(self)


def na_pad(design: Any, na_action: str, x: np.ndarray) -> np.ndarray:
    """R's ``naresid``: with ``na_action="exclude"``, per-row results on every input
    row of ``design``, NaN at the rows dropped for missing values; else ``x``."""
    if na_action != "exclude" or design.n_omitted == 0:
        return x
    out = np.full((design.n_input,) + np.shape(x)[1:], np.nan)
    out[design.rows] = x
    return out
