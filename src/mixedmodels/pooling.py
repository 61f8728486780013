"""Complete pooling (``lm``), no pooling (``lmList``) and partial pooling side by side.

* :func:`lm` — ordinary (weighted) least squares, R's ``lm``:
  β̂ = (X'WX)⁻¹X'Wy through a QR of W^½X, σ̂² = Σ wᵢ rᵢ² / (n − p),
  vcov(β̂) = σ̂² (X'WX)⁻¹, R² = 1 − RSS/MSS₀ with MSS₀ the (weighted) total
  sum of squares about the (weighted) mean (about 0 without an intercept).
* :func:`lmlist` — one OLS fit per level of a grouping factor, R's
  ``lmList``; its summary uses the pooled residual standard error
  s² = Σ_g RSS_g / Σ_g (n_g − p_g).
* :func:`pooling_table` — per group, the coefficients under complete, no
  and partial pooling (the last from a fitted ``lmer``, β̂ + b̂_g).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ._rformat import SIGNIF_LEGEND, coef_matrix_lines, format_column, format_pval
from .design import build_design
from .design.frame import as_pandas, drop_dependent_columns
from .design.variables import to_categorical
from .errors import ColumnNotFoundError, DataError, FormulaError

__all__ = ["LinearModel", "LmSummary", "lm", "LmList", "lmlist", "pooling_table"]


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


class LinearModel:
    """A fitted linear model without random effects (R's ``lm``)."""

    def __init__(self, formula: str, data: Any, weights: Any = None):
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
    def resid(self) -> np.ndarray:
        """Response residuals y − ŷ."""
        return self._fit.resid

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

    def __repr__(self) -> str:
        coefs = ", ".join(f"{k} = {v:.6g}" for k, v in self.coef.items())
        return f"<LinearModel {self.formula}: {coefs}>"


class LmSummary:
    """R's ``summary.lm`` printout."""

    def __init__(self, model: LinearModel):
        self.model = model
        self.coefficients = model.coef_table()

    def __str__(self) -> str:
        m = self.model
        lines = ["Call:", f"lm(formula = {m.formula})", ""]
        r = m._weighted_resid()
        label = "Weighted Residuals:" if m.weights is not None else "Residuals:"
        lines.append(label)
        if r.size > 5:
            q = np.quantile(r, [0, 0.25, 0.5, 0.75, 1.0])
            names = ["Min", "1Q", "Median", "3Q", "Max"]
            vals = format_column(q, 4)
            w = max(max(map(len, vals)), max(map(len, names)))
            lines.append(" ".join(s.rjust(w) for s in names))
            lines.append(" ".join(s.rjust(w) for s in vals))
        else:
            lines.append(" ".join(format_column(r, 4)))
        lines += ["", "Coefficients:"]
        ct = self.coefficients
        lines += coef_matrix_lines(
            list(ct.index),
            {c: ct[c].to_numpy() for c in ct.columns},
            {"Estimate": "coef", "Std. Error": "coef", "t value": "stat", "Pr(>|t|)": "p"},
        )
        lines += ["---", SIGNIF_LEGEND, ""]
        lines.append(
            f"Residual standard error: {_g(m.sigma, 4)} on {m.df_resid} degrees of freedom"
        )
        if m._fit.rank - int(m.has_intercept) > 0:
            f, d1, d2 = m.fstatistic
            pf = stats.f.sf(f, d1, d2)
            lines.append(
                f"Multiple R-squared:  {_g(m.r_squared, 4)},\tAdjusted R-squared:  "
                f"{_g(m.adj_r_squared, 4)} "
            )
            lines.append(
                f"F-statistic: {_g(f, 4)} on {d1} and {d2} DF,  p-value: "
                f"{format_pval([pf], 4)[0]}"
            )
        return "\n".join(lines)

    __repr__ = __str__


def _g(x: float, digits: int) -> str:
    """R's ``formatC(x, digits = digits)`` / ``signif``: digits significant, no trailing zeros."""
    return format_column([x], digits)[0]


def lm(formula: str, data: Any, weights: Any = None) -> LinearModel:
    """Fit a linear model by (weighted) least squares, as R's ``lm`` (complete pooling).

    ``formula`` is an R model formula without random effects, coded as
    :func:`mixedmodels.lmer` codes the fixed part (same names and contrasts).
    """
    return LinearModel(formula, data, weights=weights)


# -- no pooling ------------------------------------------------------------------------
def _split_group(formula: str) -> tuple[str, str]:
    if "|" not in formula:
        raise FormulaError(
            "lmlist needs a formula 'response ~ terms | group', e.g. 'Reaction ~ Days | Subject'",
            formula,
        )
    lhs, group = formula.rsplit("|", 1)
    return lhs.strip(), group.strip()


class LmList:
    """One least-squares fit per level of a grouping factor (R's ``lmList``)."""

    def __init__(self, formula: str, data: Any, pool: bool = True):
        self.formula = formula
        self.pool = pool
        base, group = _split_group(formula)
        data = as_pandas(data)
        if group not in data.columns:
            raise ColumnNotFoundError(group, data.columns, "the grouping factor of lmlist")
        self.group = group
        design = build_design(base, data, require_random=False)
        self.design = design
        g = to_categorical(data[group], group).take(design.rows)
        ok = g.codes >= 0
        g = g.take(np.flatnonzero(ok)).drop_unused()
        X, y = design.X[ok], (design.y - design.offset)[ok]
        self.levels = list(g.levels)
        self.fits: dict[str, _OLS] = {}
        for k, lev in enumerate(self.levels):
            rows = np.flatnonzero(g.codes == k)
            self.fits[lev] = _ols(X[rows], y[rows])
        self.x_names = list(design.x_names)

    @property
    def coef(self) -> pd.DataFrame:
        """Per group (rows, in factor-level order) the OLS coefficients."""
        return pd.DataFrame(
            [f.coef for f in self.fits.values()],
            index=pd.Index(self.levels, name=self.group),
            columns=self.x_names,
        )

    @property
    def df_pooled(self) -> int:
        """Σ_g (n_g − rank_g)."""
        return int(sum(f.df_resid for f in self.fits.values()))

    @property
    def sigma_pooled(self) -> float:
        """Pooled residual standard error √(Σ_g RSS_g / Σ_g df_g)."""
        rss = sum(f.rss for f in self.fits.values())
        return math.sqrt(rss / self.df_pooled)

    def coef_table(self) -> pd.DataFrame:
        """Long table: group, term, Estimate, Std. Error, t value, Pr(>|t|).

        Standard errors use the pooled σ (``pool=True``, R's default) or each
        group's own residual SE, with the matching degrees of freedom.
        """
        rows = []
        for lev, f in self.fits.items():
            if self.pool:
                s, df = self.sigma_pooled, self.df_pooled
            else:
                s = math.sqrt(f.rss / f.df_resid) if f.df_resid > 0 else math.nan
                df = f.df_resid
            se = np.sqrt(np.diag(f.vcov_unscaled)) * s
            t = f.coef / se
            p = 2.0 * stats.t.sf(np.abs(t), df) if df > 0 else np.full_like(t, np.nan)
            for j, nm in enumerate(self.x_names):
                rows.append((lev, nm, f.coef[j], se[j], t[j], p[j]))
        return pd.DataFrame(
            rows,
            columns=[self.group, "term", "Estimate", "Std. Error", "t value", "Pr(>|t|)"],
        )

    def summary(self) -> LmListSummary:
        return LmListSummary(self)

    def __repr__(self) -> str:
        return (
            f"Call: lmList(formula = {self.formula})\nCoefficients:\n{self.coef}\n\n"
            f"Degrees of freedom: {self.design.n} total; {self.df_pooled} residual\n"
            f"Residual standard error: {self.sigma_pooled:.7g}"
        )


class LmListSummary:
    """R's ``summary(lmList(...))``: per coefficient, a table over groups."""

    def __init__(self, fits: LmList):
        self.fits = fits
        self.coefficients = fits.coef_table()

    def __str__(self) -> str:
        f = self.fits
        lines = ["Call:", f"  lmList(formula = {f.formula})", "", "Coefficients:"]
        ct = self.coefficients
        for term in f.x_names:
            sub = ct[ct["term"] == term]
            lines.append(f"   {term} ")
            lines += coef_matrix_lines(
                list(sub[f.group]),
                {c: sub[c].to_numpy() for c in ["Estimate", "Std. Error", "t value", "Pr(>|t|)"]},
                {"Estimate": "coef", "Std. Error": "coef", "t value": "stat", "Pr(>|t|)": "p"},
                stars=False,
            )
        lines += [
            "",
            f"Residual standard error: {_g(f.sigma_pooled, 7)} on {f.df_pooled} degrees of "
            "freedom",
        ]
        return "\n".join(lines)

    __repr__ = __str__


def lmlist(formula: str, data: Any, pool: bool = True) -> LmList:
    """Separate least-squares fits per group (no pooling), as lme4's ``lmList``.

    ``formula`` is ``"response ~ terms | group"``, e.g. ``"Reaction ~ Days | Subject"``.
    """
    return LmList(formula, data, pool=pool)


# -- all three side by side ---------------------------------------------------------------
def pooling_table(
    data: Any,
    formula: str = "Reaction ~ Days",
    group: str = "Subject",
    model: Any = None,
    wide: bool = False,
) -> pd.DataFrame:
    """Coefficients per group under complete, no and partial pooling.

    ``formula`` is the fixed part (``"y ~ x"``); ``model`` a fitted
    :func:`mixedmodels.lmer` whose ``coef[group]`` gives the partial-pooling
    estimates β̂ + b̂_g (fitted as ``y ~ x + (x | group)`` when omitted).
    Returns a long DataFrame with columns ``group``, ``pooling``
    (``"complete"``, ``"none"``, ``"partial"``) and one column per
    coefficient; ``wide=True`` pivots to one row per group with columns
    ``(pooling, coefficient)``.
    """
    from .lmm import lmer

    data = as_pandas(data)
    if "|" in formula:
        raise FormulaError("give the fixed part only, e.g. 'Reaction ~ Days'", formula)
    complete = lm(formula, data)
    nopool = lmlist(f"{formula} | {group}", data)
    if model is None:
        rhs = formula.split("~", 1)[1].strip()
        model = lmer(f"{formula} + ({rhs} | {group})", data)
    if group not in model.coef:
        raise DataError(f"the model has no random effects for '{group}'")
    partial = model.coef[group]
    levels = list(nopool.levels)
    names = list(complete.coef.index)
    frames = []
    for label, tab in (
        ("complete", pd.DataFrame([complete.coef.to_numpy()] * len(levels), index=levels,
                                  columns=names)),
        ("none", nopool.coef.set_axis(levels, axis=0)),
        ("partial", partial.reindex(columns=names).set_axis(list(partial.index), axis=0)
         .reindex(levels)),
    ):
        t = tab.copy()
        t.insert(0, "pooling", label)
        t.insert(0, "group", levels)
        frames.append(t.reset_index(drop=True))
    out = pd.concat(frames, ignore_index=True)
    out["pooling"] = pd.Categorical(out["pooling"], ["complete", "none", "partial"])
    out = out.rename(columns={"group": group})
    if wide:
        return out.pivot(index=group, columns="pooling", values=names).reindex(levels)
    return out
