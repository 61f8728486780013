"""No pooling (``lmList``) and the three poolings side by side.

* :func:`lmlist` — one OLS fit per level of a grouping factor, R's
  ``lmList``; its summary uses the pooled residual standard error
  s² = Σ_g RSS_g / Σ_g (n_g − p_g).
* :func:`glm_nopool` — for a fitted ``glmer``, one GLM per level of a
  grouping factor (R's ``lmList(..., family = )``), by IRLS
  (:func:`glm_irls`), on the link scale, with the levels whose fit
  separates (an estimate that runs off to ±∞) marked.
* :func:`pooling_table` — per group, the coefficients under complete
  (:func:`mixedmodels.lm`), no and partial pooling (the last from a fitted
  ``lmer``, β̂ + b̂_g).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from . import arguments
from ._rformat import coef_matrix_lines
from .design import build_design
from .design.dataframes import as_pandas
from .design.rank import drop_dependent_columns
from .design.variables import to_categorical
from .errors import (
    ArgumentError,
    ColumnNotFoundError,
    DataError,
    FormulaError,
    RankDeficiencyWarning,
)
from .formula.parse import grouping_column
from .pooling import _OLS, _g, _ols, lm
from .results.html import RichRepr

__all__ = ["GlmFit", "LmList", "LmListSummary", "glm_irls", "glm_nopool", "lmlist",
           "pooling_table"]


def _split_group(formula: str) -> tuple[str, str]:
    if "|" not in formula:
        raise FormulaError(
            "lmlist needs a formula 'response ~ terms | group', e.g. 'Reaction ~ Days | Subject'",
            formula,
        )
    lhs, group = formula.rsplit("|", 1)
    return lhs.strip(), group.strip()


class LmList(RichRepr):
    """One least-squares fit per level of a grouping factor (R's ``lmList``)."""

    def __init__(self, formula: str, data: Any, pool: bool = True):
        self.formula = formula
        self.pool = pool
        arguments.check_formula(formula)
        base, group = _split_group(formula)
        column = grouping_column(group, formula, len(base) + 1)  # "factor(g)" reads g
        data = as_pandas(data)
        if column not in data.columns:
            raise ColumnNotFoundError(column, data.columns, "the grouping factor of lmlist")
        self.group = group
        self._group_column = column
        design = build_design(base, data, require_random=False)
        self.design = design
        g = to_categorical(data[column], column).take(design.rows)
        ok = g.codes >= 0
        g = g.take(np.flatnonzero(ok)).drop_unused(keep_logical=False)
        X, y = design.X[ok], (design.y - design.offset)[ok]
        self.levels = list(g.levels)
        self.fits: dict[str, _OLS] = {}
        for k, lev in enumerate(self.levels):
            rows = np.flatnonzero(g.codes == k)
            self.fits[lev] = _ols(X[rows], y[rows])
        self.x_names = list(design.x_names)
        self._codes = np.full(design.n, -1, dtype=np.int64)  # group of each row (-1: missing)
        self._codes[ok] = g.codes
        short = [lev for lev, f in self.fits.items() if np.isnan(f.coef).any()]
        if short:
            shown = ", ".join(map(str, short[:5])) + (" ..." if len(short) > 5 else "")
            warnings.warn(
                f"lmlist: {len(short)} group{'s' if len(short) > 1 else ''} of '{group}' "
                f"({shown}) cannot identify every coefficient (too few rows or collinear "
                "predictors in the group); those coefficients are NaN, R's NA",
                RankDeficiencyWarning,
                stacklevel=3,
            )

    @property
    def group_codes(self) -> np.ndarray:
        """Per row of the fit, the index of its group in ``levels`` (-1: group missing)."""
        return self._codes

    @property
    def sigma(self) -> float:
        """The pooled residual standard error (:attr:`sigma_pooled`)."""
        return self.sigma_pooled

    @property
    def coef(self) -> pd.DataFrame:
        """Per group (rows, in factor-level order) the OLS coefficients."""
        return pd.DataFrame(
            [f.coef for f in self.fits.values()],
            index=pd.Index(self.levels, name=self.group),
            columns=self.x_names,
        )

    def _eta(self, X: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """x_i'β̂_g(i) per row (aliased coefficients count as 0, as R); NaN without a group."""
        B = np.nan_to_num(self.coef.to_numpy())
        out = np.full(X.shape[0], np.nan)
        ok = codes >= 0
        out[ok] = np.einsum("ij,ij->i", X[ok], B[codes[ok]])
        return out

    @property
    def fitted(self) -> np.ndarray:
        """Each row's fitted value from its group's fit (lme4's ``fitted(lmList)``),
        in the rows of the fit; NaN where the group is missing."""
        return self._eta(self.design.X, self._codes) + self.design.offset

    def resid(self, type: str = "response") -> np.ndarray:
        """y − ŷ per row from its group's fit (``residuals(lmList)``)."""
        if type not in ("response", "working", "pearson", "deviance"):
            raise ArgumentError("type", type, "'response', 'working', 'pearson' or 'deviance'")
        return self.design.y - self.fitted

    @property
    def residuals(self) -> np.ndarray:
        return self.resid()

    def predict(self, newdata: Any = None) -> np.ndarray:
        """Predictions from each row's group fit (``predict(lmList, newdata)``); the group
        column of ``newdata`` must hold levels of the fit (NaN where it is missing)."""
        if newdata is None:
            return self.fitted
        from .results.predict import fixed_design

        data = as_pandas(newdata)
        if self._group_column not in data.columns:
            raise ColumnNotFoundError(
                self._group_column, data.columns, "the grouping factor of lmlist"
            )
        X, off = fixed_design(self, data)
        labels = data[self._group_column].astype("string").astype(object)
        codes = pd.Index(self.levels).get_indexer(labels).astype(np.int64)
        new = sorted({str(v) for v in labels[(codes < 0) & labels.notna().to_numpy()]})
        if new:
            raise DataError(f"newdata has level(s) {new[:5]} of '{self.group}' that the fit "
                            f"does not have; its levels are {self.levels[:10]}")
        return self._eta(X, codes) + off

    @property
    def df_pooled(self) -> int:
        """Σ_g (n_g − rank_g)."""
        return int(sum(f.df_resid for f in self.fits.values()))

    @property
    def sigma_pooled(self) -> float:
        """Pooled residual standard error √(Σ_g RSS_g / Σ_g df_g)."""
        rss = sum(f.rss for f in self.fits.values())
        return math.sqrt(rss / self.df_pooled) if self.df_pooled > 0 else math.nan

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


class LmListSummary(RichRepr):
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


# -- no pooling for a GLMM: one GLM per group ----------------------------------------------
_ETA_SEPARATED = 15.0  # |η| beyond which a fitted mean sits on the boundary (μ ≈ 3e-7)


@dataclass
class GlmFit:
    """One GLM fit: coefficients on the link scale (NaN for aliased columns)."""

    coef: np.ndarray
    deviance: float
    iterations: int
    converged: bool
    separated: bool
    """Some fitted mean went to the edge of its range (a 0/1 probability, a zero rate)
    with the data on that edge: the maximum-likelihood estimate is infinite."""


def glm_irls(family: Any, X: np.ndarray, y: np.ndarray, weights: np.ndarray,
             offset: np.ndarray | None = None, maxit: int = 25,
             epsilon: float = 1e-8) -> GlmFit:
    """β̂ of a GLM by iteratively reweighted least squares, as R's ``glm.fit``.

    From R's ``mustart`` each step solves the weighted least squares
    β = argmin Σ Wᵢ (zᵢ − xᵢ'β)² with Wᵢ = wᵢ μ'(ηᵢ)² / V(μᵢ) and working
    response zᵢ = ηᵢ − oᵢ + (yᵢ − μᵢ) / μ'(ηᵢ); it stops when the deviance
    D changes by less than ``epsilon`` (|D − D_old| / (|D| + 0.1)), after
    ``maxit`` steps at most. Columns of X that depend on earlier ones get NaN
    (R's NA). ``separated`` is set when some |ηᵢ| > 15 while yᵢ sits on the
    fitted boundary (|yᵢ − μᵢ| < 10⁻⁶): the estimate diverges there.
    """
    n, p = X.shape
    off = np.zeros(n) if offset is None else offset
    keep = drop_dependent_columns(X)[:n] if p else np.arange(0)
    Xk = X[:, keep]
    coef = np.full(p, np.nan)
    if family.family == "binomial":
        mu = (weights * y + 0.5) / (weights + 1.0)
    elif family.family == "poisson":
        mu = y + 0.1
    else:
        mu = np.where(y > 0, y, max(float(np.mean(y)), 1e-8))
    beta = np.zeros(keep.size)
    dev, dev_old, converged, iterations = math.nan, math.inf, False, 0
    with np.errstate(all="ignore"):
        eta = family.linkfun(mu)
        while iterations < maxit:
            iterations += 1
            me = family.mu_eta(eta)
            W = weights * me * me / family.variance(mu)
            z = eta - off + (y - mu) / me
            ok = np.isfinite(W) & np.isfinite(z) & (W > 0)
            sw = np.sqrt(W[ok])
            beta = np.linalg.lstsq(Xk[ok] * sw[:, None], z[ok] * sw, rcond=None)[0]
            eta = Xk @ beta + off
            mu = family.linkinv(eta)
            dev = family.deviance(y, mu, weights)
            if abs(dev - dev_old) / (abs(dev) + 0.1) < epsilon:
                converged = True
                break
            dev_old = dev
        coef[keep] = beta
        edge = (np.abs(eta) > _ETA_SEPARATED) & (np.abs(y - mu) < 1e-6) & (weights > 0)
    separated = bool(edge.any()) or not converged or not np.all(np.isfinite(beta))
    return GlmFit(coef, float(dev), iterations, converged, separated)


def glm_nopool(model: Any, group: str) -> tuple[pd.DataFrame, pd.Series]:
    """No pooling for a fitted ``glmer``: one GLM of its fixed-effects design per group.

    For each level g of ``group`` the model's family, link, response, prior
    weights (trials) and offset on the rows of g give β̂_g by
    :func:`glm_irls` — the GLM analogue of ``lmList``, on the link scale
    (comparable with ``coef(glmer)[group]``). Returns the coefficients (one
    row per level, NaN where a level cannot identify a column) and a boolean
    Series, True for the levels whose fit separates (their estimates are
    meaningless: they grow without bound).
    """
    d = model.design
    term = next((t for t in d.terms if t.group == group), None)
    if term is None:
        raise DataError(f"the model has no random effects for '{group}'")
    codes = term.factor.codes
    levels = [str(v) for v in term.factor.levels]
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(len(levels) + 1))
    y, w = np.asarray(model.y, dtype=float), np.asarray(model.prior_weights, dtype=float)
    coef = np.full((len(levels), d.X.shape[1]), np.nan)
    separated = np.zeros(len(levels), dtype=bool)
    for k in range(len(levels)):
        rows = order[starts[k]:starts[k + 1]]
        fit = glm_irls(model.family, d.X[rows], y[rows], w[rows], d.offset[rows])
        coef[k], separated[k] = fit.coef, fit.separated
    index = pd.Index(levels, name=group)
    return (pd.DataFrame(coef, index=index, columns=list(d.x_names)),
            pd.Series(separated, index=index, name="separated"))
