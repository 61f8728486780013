"""Complete pooling: one least-squares fit for all groups, R's ``lm``.

:func:`lm` is ordinary (weighted) least squares:
β̂ = (X'WX)⁻¹X'Wy through a QR of W^½X, σ̂² = Σ wᵢ rᵢ² / (n − p),
vcov(β̂) = σ̂² (X'WX)⁻¹, R² = 1 − RSS/MSS₀ with MSS₀ the (weighted) total
sum of squares about the (weighted) mean (about 0 without an intercept).
No pooling (``lmlist``) and the side-by-side table are in
:mod:`mixedmodels.nopooling`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from . import arguments
from ._rformat import (
    format_column,
    format_num,
    format_pval,
    print_coefmat,
    print_named,
    zapsmall,
)
from .design import build_design
from .design.rank import drop_dependent_columns
from .errors import (
    ArgumentError,
    FormulaError,
)
from .formula.deparse import deparse_formula
from .results.html import RichRepr

__all__ = ["LinearModel", "LmSummary", "lm"]


@dataclass
class _OLS:
    """Least-squares solution on (possibly weighted) rows; NaN for aliased columns."""

    coef: np.ndarray
    vcov_unscaled: np.ndarray
    rss: float
    df_resid: int
    rank: int
    resid: np.ndarray  # y − Xβ̂
    fitted: np.ndarray


def _ols(X: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> _OLS:
    """β̂ = argmin Σ wᵢ (yᵢ − xᵢ'β)²; columns dependent on earlier ones get NaN (R's NA)."""
    n, p = X.shape
    sw = np.ones(n) if w is None else np.sqrt(w)
    Xw = X * sw[:, None]
    keep = drop_dependent_columns(Xw) if p else np.arange(0)
    keep = keep[:n]  # n rows identify at most n coefficients; the rest are NA, as in R
    coef = np.full(p, np.nan)
    vu = np.full((p, p), np.nan)
    if keep.size:
        Q, R = np.linalg.qr(Xw[:, keep])
        b = np.linalg.solve(R, Q.T @ (y * sw))
        Rinv = np.linalg.inv(R)
        coef[keep] = b
        vu[np.ix_(keep, keep)] = Rinv @ Rinv.T
        fitted = X[:, keep] @ b
    else:
        fitted = np.zeros(n)
    resid = y - fitted
    zero_w = 0 if w is None else int(np.sum(w == 0))
    rss = float(np.sum((resid * sw) ** 2))
    return _OLS(coef, vu, rss, n - zero_w - keep.size, int(keep.size), resid, fitted)


class ResidualArray(np.ndarray):
    """An array of residuals that can also be called, ``m.resid()``, as for lmer fits."""

    def __new__(cls, values: np.ndarray, method: Any) -> ResidualArray:
        obj = np.asarray(values).view(cls)
        obj._method = method
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        self._method = getattr(obj, "_method", None)

    def __call__(self, type: str = "response", scaled: bool = False) -> np.ndarray:
        if self._method is None:
            raise TypeError("these residuals were derived from a model's and cannot be called")
        return self._method(type, scaled)


class LinearModel(RichRepr):
    """A fitted linear model without random effects (R's ``lm``)."""

    def __init__(self, formula: str, data: Any, weights: Any = None):
        arguments.check_formula(formula)
        self.design = build_design(formula, data, weights=weights, require_random=False)
        d = self.design
        if d.terms:
            raise FormulaError(
                "lm() fits no random effects: remove the (... | group) terms or use mm.lmer()",
                d.formula.text,
            )
        self.formula = d.formula.text
        self.y = d.y - d.offset
        self.weights = d.weights if d.has_weights else None
        self._fit = _ols(d.X, self.y, self.weights)
        self.weights_name = weights if isinstance(weights, str) else None  # for the printed call
        self.has_intercept = d.fixed_spec.term_spec.intercept

    # -- estimates ----------------------------------------------------------------
    @property
    def coef(self) -> pd.Series:
        """β̂ (NaN for aliased columns, as R's NA)."""
        return pd.Series(self._fit.coef, index=self.design.x_names, name="coef")

    fixef = coef

    @property
    def df_resid(self) -> int:
        """Residual degrees of freedom n − rank(X) (zero weights not counted)."""
        return self._fit.df_resid

    @property
    def sigma(self) -> float:
        """Residual standard error √(Σ wᵢ rᵢ² / (n − p))."""
        return math.sqrt(self._fit.rss / self.df_resid) if self.df_resid > 0 else math.nan

    @property
    def vcov(self) -> pd.DataFrame:
        """σ̂² (X'WX)⁻¹."""
        nm = self.design.x_names
        return pd.DataFrame(self._fit.vcov_unscaled * self.sigma**2, index=nm, columns=nm)

    @property
    def se(self) -> pd.Series:
        return pd.Series(
            np.sqrt(np.diag(self._fit.vcov_unscaled)) * self.sigma,
            index=self.design.x_names,
            name="Std. Error",
        )

    @property
    def fitted(self) -> np.ndarray:
        return self._fit.fitted + self.design.offset

    @property
    def resid(self) -> ResidualArray:
        """Response residuals y − ŷ; also callable as lmer's ``m.resid(type, scaled)``."""
        return ResidualArray(self._fit.resid, self.residuals_of)

    @property
    def residuals(self) -> np.ndarray:
        return self._fit.resid

    def residuals_of(self, type: str = "response", scaled: bool = False) -> np.ndarray:
        """R's ``residuals(lm, type)``: ``"response"`` / ``"working"`` y − ŷ,
        ``"pearson"`` / ``"deviance"`` √w (y − ŷ); ``scaled=True`` divides by σ̂."""
        r = self._fit.resid
        if type in ("pearson", "deviance"):
            r = self._weighted_resid()
        elif type not in ("response", "working"):
            raise ArgumentError("type", type, "'response', 'working', 'pearson' or 'deviance'")
        return r / self.sigma if scaled else r

    @property
    def nobs(self) -> int:
        return self.design.n

    # -- fit statistics -----------------------------------------------------------
    def _weighted_resid(self) -> np.ndarray:
        r = self._fit.resid
        return r if self.weights is None else r * np.sqrt(self.weights)

    @property
    def r_squared(self) -> float:
        """Multiple R² = MSS / (MSS + RSS) (MSS about the weighted mean with an intercept)."""
        f = self._fit.fitted
        w = np.ones_like(f) if self.weights is None else self.weights
        if self.has_intercept:
            m = np.sum(w * f) / np.sum(w)
            mss = float(np.sum(w * (f - m) ** 2))
        else:
            mss = float(np.sum(w * f**2))
        return mss / (mss + self._fit.rss)

    @property
    def adj_r_squared(self) -> float:
        """1 − (1 − R²)(n − i)/(n − p), i = 1 with an intercept, else 0."""
        i = int(self.has_intercept)
        n = self.df_resid + self._fit.rank
        return 1.0 - (1.0 - self.r_squared) * (n - i) / self.df_resid

    @property
    def fstatistic(self) -> tuple[float, int, int]:
        """(F, numdf, dendf) with F = (MSS/numdf) / σ̂², numdf = rank − intercept."""
        numdf = self._fit.rank - int(self.has_intercept)
        r2 = self.r_squared
        f = (r2 / numdf) / ((1.0 - r2) / self.df_resid) if numdf > 0 else math.nan
        return f, numdf, self.df_resid

    @property
    def loglik(self) -> float:
        """Gaussian log-likelihood at the ML σ² = RSS/n (R's ``logLik.lm``)."""
        n = self.design.n
        w = np.ones(n) if self.weights is None else self.weights
        return 0.5 * (float(np.sum(np.log(w))) - n * (math.log(2 * math.pi) + 1
                                                          - math.log(n) + math.log(self._fit.rss)))

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * (self._fit.rank + 1)

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + math.log(self.design.n) * (self._fit.rank + 1)

    def coef_table(self) -> pd.DataFrame:
        """Estimate, Std. Error, t value, Pr(>|t|) on df_resid degrees of freedom."""
        est, se = self.coef, self.se
        t = est / se
        p = 2.0 * stats.t.sf(np.abs(t), self.df_resid)
        return pd.DataFrame(
            {"Estimate": est, "Std. Error": se, "t value": t, "Pr(>|t|)": p},
            index=self.design.x_names,
        )

    def summary(self) -> LmSummary:
        return LmSummary(self)

    def __str__(self) -> str:
        """R's ``print(lm)``: the call and the coefficients to 4 significant digits."""
        coef = self.coef
        values = format_num(coef.to_numpy(), 4)
        return "\n".join(["", "Call:", *deparse_formula(f"lm(formula = {self.formula})"), "",
                          "Coefficients:", *print_named(list(coef.index), values, gap=2), ""])

    def __repr__(self) -> str:
        coefs = ", ".join(f"{k} = {v:.6g}" for k, v in self.coef.items())
        return f"<LinearModel {self.formula}: {coefs}>"


class LmSummary(RichRepr):
    """R's ``summary.lm`` and its printout (``print.summary.lm``, 4 significant digits).

    ``str()`` is R's output without its final newline: a blank line; the
    call as R deparses it; the residuals (√wᵢ rᵢ, "Weighted" when the
    weights vary) as quantiles zapped to 5 digits, or one by one named by
    their 1-based row positions when at most 5 residual df remain; the
    coefficient table through R's ``printCoefmat`` (aliased columns as NA
    rows, listed last); the residual standard error (``signif`` to 4
    digits), rows deleted for missingness, R² and adjusted R²
    (``formatC``), and the overall F test with ``format.pval``.
    """

    digits = 4  # max(3, getOption("digits") - 3)

    def __init__(self, model: LinearModel):
        self.model = model
        self.coefficients = model.coef_table()

    def _call_lines(self) -> list[str]:
        """``deparse(call)``: ``lm(formula = ...)`` with the weights column when named."""
        m = self.model
        call = f"lm(formula = {m.formula}"
        name = getattr(m, "weights_name", None)
        if m.weights is not None and name:
            call += f", weights = {name}"
        return deparse_formula(call + ")")

    def _residual_lines(self) -> list[str]:
        m = self.model
        d = self.digits
        r = m._weighted_resid()
        w = m.weights
        weighted = w is not None and float(np.ptp(w)) != 0.0
        lines = [("Weighted " if weighted else "") + "Residuals:"]
        if m.df_resid > 5:
            q = zapsmall(np.quantile(r, [0, 0.25, 0.5, 0.75, 1.0]), d + 1)
            lines += print_named(["Min", "1Q", "Median", "3Q", "Max"], format_num(q, d))
        elif m.df_resid > 0:
            names = [str(int(i) + 1) for i in m.design.rows]
            lines += print_named(names, format_num(r, d))
        else:
            lines.append(f"ALL {m._fit.rank} residuals are 0: no residual degrees of freedom!")
        return lines

    def _coefficient_lines(self) -> list[str]:
        m = self.model
        ct = self.coefficients
        dropped = list(m.design.dropped_columns)
        if len(ct) + len(dropped) == 0:
            return ["", "No Coefficients"]
        if dropped:
            k = len(dropped)
            head = f"Coefficients: ({k} not defined because of singularities)"
            na_rows = pd.DataFrame(np.nan, index=dropped, columns=ct.columns)
            ct = pd.concat([ct, na_rows])
        else:
            head = "Coefficients:"
        cols = {c: ct[c].to_numpy(dtype=float) for c in ct.columns}
        return ["", head] + print_coefmat([str(i) for i in ct.index], cols, digits=self.digits)

    def __str__(self) -> str:
        m = self.model
        d = self.digits
        lines = ["", "Call:", *self._call_lines(), ""]
        lines += self._residual_lines()
        lines += self._coefficient_lines()
        lines += ["", f"Residual standard error: {_signif_text(m.sigma, d)} on {m.df_resid} "
                      "degrees of freedom"]
        k = m.design.n_omitted
        if k:
            lines.append(f"  ({k} observation{'s' if k > 1 else ''} deleted due to missingness)")
        if m._fit.rank != int(m.has_intercept):
            d1, d2 = m._fit.rank - int(m.has_intercept), m.df_resid
            # without residual df R's adjusted R², F and p-value are NaN, NaN and NA
            adj, f = (m.adj_r_squared, m.fstatistic[0]) if d2 > 0 else (math.nan, math.nan)
            pf = format_pval([stats.f.sf(f, d1, d2)], d)[0] if d2 > 0 else "NA"
            lines.append(f"Multiple R-squared:  {_formatc(m.r_squared, d)},\tAdjusted R-squared:  "
                         f"{_formatc(adj, d)} ")
            lines.append(f"F-statistic: {_formatc(f, d)} on {d1} and {d2} DF,  p-value: {pf}")
        lines.append("")
        return "\n".join(lines)

    __repr__ = __str__


def _formatc(x: float, digits: int) -> str:
    """R's ``formatC(x, digits = digits)``: C's ``%*.*g`` in a field of digits + 1."""
    if not math.isfinite(x):
        text = "NaN" if math.isnan(x) else ("Inf" if x > 0 else "-Inf")
        return text.rjust(digits + 1)
    return f"{x:{digits + 1}.{digits}g}"


def _signif_text(x: float, digits: int) -> str:
    """R's ``format(signif(x, digits))``: x to ``digits`` significant digits, printed
    with 7 (``NaN`` when undefined)."""
    if not math.isfinite(x):
        return "NaN"
    return format_num([float(f"{x:.{digits - 1}e}")])[0]


def _g(x: float, digits: int) -> str:
    """R's ``formatC(x, digits = digits)`` / ``signif``: digits significant, no trailing zeros."""
    return format_column([x], digits)[0]


def lm(formula: str, data: Any, weights: Any = None) -> LinearModel:
    """Fit a linear model by (weighted) least squares, as R's ``lm`` (complete pooling).

    ``formula`` is an R model formula without random effects, coded as
    :func:`mixedmodels.lmer` codes the fixed part (same names and contrasts).
    """
    return LinearModel(formula, data, weights=weights)
