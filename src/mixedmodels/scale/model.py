"""A linear mixed model fitted from its cross-products alone.

:class:`SufficientStatsLMM` is :class:`mixedmodels.lmm.LinearMixedModel`
with the design's rows replaced by a :class:`RowSource` (DuckDB, Dask):
the criterion, θ̂, β̂, σ̂, vcov(β̂), the conditional modes b̂ = Λû and their
conditional variances, VarCorr, logLik/AIC/BIC and Satterthwaite df come
from the blocks of A = [Z X y]'W[Z X y] exactly as for ``lmer``. Row-level
quantities — fitted values Xβ̂ + Zb̂, residuals, the scaled-residual
quantiles of the summary — are computed by the source on demand.
"""

from __future__ import annotations

import functools
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

from ..crossprod import CrossProducts
from ..linalg.dense import DenseCriterion
from ..lmm import LinearMixedModel
from ..optimize import OptimizerControl
from ..results.summary import LmerSummary
from ..start_blocks import BlockMomentStart, block_anova_start
from .design import RowsNotAvailableError, ScaleDesign

__all__ = ["RowSource", "SufficientStatsLMM", "StatsSummary"]


class RowSource(Protocol):
    """Where the rows live; computes row-level quantities for a fitted model."""

    def row_values(self, model: SufficientStatsLMM, what: str) -> np.ndarray:
        """Per row (source order): ``"y"``, ``"fitted"``, residuals ``"response"``,
        ``"pearson"`` or ``"scaled"``."""

    def scaled_residual_quantiles(self, model: SufficientStatsLMM) -> np.ndarray:
        """Min, 1Q, median, 3Q, max of √wᵢ (yᵢ − ŷᵢ)/σ̂ (R's type-7 quantiles)."""

    def moment_sums(
        self, beta: np.ndarray
    ) -> tuple[float, float, list[tuple[np.ndarray, np.ndarray]]]:
        """(Σ w e², Σ w, per term (Σ_level e·z₀, n_level)) with e = y − Xβ."""


class SufficientStatsLMM(LinearMixedModel):
    """``LinearMixedModel`` on precomputed :class:`CrossProducts`.

    Same objective, optimizer and results as ``lmer`` on the same rows; the
    rows themselves are reached only through ``source``.
    """

    def __init__(
        self,
        design: ScaleDesign,
        cp: CrossProducts,
        source: RowSource | None = None,
        REML: bool = True,
        control: OptimizerControl | None = None,
        data_name: str | None = None,
    ):
        self.source = source
        self._init_engine(design, cp, REML, control, data_name)

    def _need_source(self, what: str) -> RowSource:
        if self.source is None:
            raise RowsNotAvailableError(
                f"{what} needs the data rows, and this model was built from cross-products "
                "without a row source"
            )
        return self.source

    def _crossprod(self, y_eff: np.ndarray) -> CrossProducts:
        raise RowsNotAvailableError(
            "a new response needs the rows: recompute the cross-products with the new "
            "response column (refit(REML=...) without y works)"
        )

    def refit(self, y: np.ndarray | None = None, REML: bool | None = None) -> LinearMixedModel:
        """A refit with the other criterion (``REML=``); a new ``y`` needs the rows."""
        if y is not None:
            self._crossprod(np.asarray(y))
        return super().refit(None, REML=REML)

    @property
    def y(self) -> np.ndarray:  # type: ignore[override]
        """The response, read from the source (n values)."""
        return self._need_source("the response").row_values(self, "y")

    def moment_start(self) -> np.ndarray:
        """θ₀ of :meth:`LinearMixedModel.moment_start`, its sums taken by the source.

        β̃_OLS solves X̃'WX̃ β̃ = X̃'Wỹ (from A), mapped back to β; then v = Σwe²/Σw and, per scalar
        term, var(ē_l) − v·mean(1/n_l) as for the in-memory fit.
        """
        src = self._need_source("the moment start")
        cp = self.cp
        p = cp.p
        xy = cp.xy_block()
        beta_t = np.linalg.lstsq(xy[:p, :p], xy[:p, p], rcond=None)[0]  # of X̃, ỹ
        swe2, sw, per_term = src.moment_sums(cp.shift.beta(beta_t))
        v = swe2 / sw
        comps = []
        for sums, n_l in per_term:
            means = sums / np.maximum(n_l, 1)
            vb = float(np.var(means) - v * np.mean(1.0 / np.maximum(n_l, 1)))
            comps.append(max(vb, 0.01 * v))
        s2 = max(v - sum(comps), 0.1 * v)
        return np.sqrt(np.array(comps) / s2)

    def _start_response(self) -> None:
        """The starts of this fit read the response from the blocks of A."""
        return None

    def _small_moment_start(self, fallback: np.ndarray, owner: Any = None) -> np.ndarray:
        """``lmer``'s start on the same rows (the ANOVA start of a balanced design, else the
        moment start), formed from the blocks of A (:mod:`mixedmodels.start_blocks`) once;
        ``fallback`` where the level counts are not to be had."""
        owner = self if owner is None else owner
        if "_anova_start" not in owner.__dict__:
            owner._anova_start = owner._moment_start = None
            counts_w = self._level_counts()
            if counts_w is not None:
                counts, sum_w = counts_w
                d, cp = self.design, self.cp
                A = DenseCriterion(cp, [t.tri_index for t in d.terms], False).A
                owner._anova_start = block_anova_start(A, d.terms, d.x_names, cp.n, counts,
                                                       d.has_weights)
                with np.errstate(all="ignore"):
                    owner._moment_start = BlockMomentStart(A, d.terms, cp.p, cp.n, counts,
                                                           sum_w)
        if owner._moment_start is None:
            return fallback
        return super()._small_moment_start(fallback, owner)

    def _level_counts(self) -> tuple[list[np.ndarray], float] | None:
        """(rows per level of each term, Σw): without weights, where every term has an
        intercept column, they are on the diagonal of A (Σ 1·1 per level, exact) and
        Σw = n; else the source's moment sums (one pass over the rows)."""
        d, cp = self.design, self.cp
        if not d.has_weights and all(t.names[0] == "(Intercept)" for t in d.terms):
            diag = cp.A22.diagonal() if sp.issparse(cp.A22) else np.diag(cp.A22)
            counts, off = [cp.A11[:, 0, 0].copy()], 0
            for t in d.terms[1:]:
                counts.append(np.array(diag[off : off + t.nl * t.S : t.S], dtype=float))
                off += t.nl * t.S
            return counts, float(cp.n)
        if self.source is None:
            return None
        _, sum_w, per_term = self.source.moment_sums(np.zeros(cp.p))
        return [n_l for _, n_l in per_term], sum_w

    def _fitted_values(self) -> None:
        """Fitted values stay with the source: the rows are not in memory."""
        return None

    @property
    def fitted(self) -> np.ndarray:  # type: ignore[override]
        """Xβ̂ + Zb̂ per row, computed by the source (n values, source order)."""
        return self._need_source("fitted values").row_values(self, "fitted")

    def resid(self, type: str = "response", scaled: bool = False) -> np.ndarray:
        """Residuals per row, computed by the source (types as :meth:`MixedModelResults.resid`)."""
        kind = {"working": "response", "deviance": "pearson"}.get(type, type)
        if kind not in ("response", "pearson", "scaled"):
            raise ValueError(
                "type must be 'response', 'working', 'pearson', 'deviance' or 'scaled', "
                f"got {type!r}"
            )
        out = self._need_source("residuals").row_values(self, kind)
        return out / self._sigma if scaled and kind != "scaled" else out

    def predict(
        self, newdata: Any = None, re_form: str | None = None, allow_new_levels: bool = False
    ) -> np.ndarray:
        """Predictions for ``newdata`` (a DataFrame); ``None``: the fitted values."""
        if newdata is None:
            if re_form is not None:
                raise RowsNotAvailableError(
                    "re_form on the training rows needs them in memory: pass them as newdata"
                )
            return self.fitted
        return super().predict(newdata, re_form=re_form, allow_new_levels=allow_new_levels)

    def scaled_residual_quantiles(self) -> np.ndarray:
        """Min, 1Q, median, 3Q, max of the scaled residuals (computed by the source)."""
        return self._need_source("residual quantiles").scaled_residual_quantiles(self)

    def summary(self, **kwargs: Any) -> StatsSummary:
        """lme4's summary; the scaled-residual quantiles are computed by the source."""
        return StatsSummary(self, **kwargs)


class StatsSummary(LmerSummary):
    """:class:`LmerSummary` whose residual quantiles come from the row source.

    Kenward–Roger needs X row by row and is not available; Satterthwaite
    (the default) and ``ddf=None`` are.
    """

    def _check_ddf(self) -> None:
        if self.ddf == "Kenward-Roger":
            raise RowsNotAvailableError(
                "Kenward-Roger needs the fixed-effects model matrix row by row; use "
                "ddf='Satterthwaite' or ddf=None with a sufficient-statistics fit"
            )

    def _scaled_residuals(self) -> None:
        return None  # the rows stay with the source

    @functools.cached_property
    def _source_quantiles(self) -> np.ndarray:
        return np.asarray(self.model.scaled_residual_quantiles(), dtype=float)

    def _residual_quantile_values(self) -> np.ndarray:
        """Min, 1Q, median, 3Q, max of the scaled residuals, computed once by the source."""
        return self._source_quantiles.copy()
