"""Residual diagnostics of a fitted mixed model.

* :func:`residuals_fitted`: Pearson residuals against fitted values, with a
  lowess smoother (lme4's ``plot(m)`` plus a trend line);
* :func:`scale_location`: √|scaled residuals| against fitted values;
* :func:`qq_residuals` and :func:`qq_ranef`: normal QQ plots of the
  residuals and of each random effect (``qqmath(ranef(m))``);
* :func:`residual_trends`: per-group residuals against a predictor;
* :func:`diagnostics`: the first four on one figure.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._util import (
    POINT_COLOR,
    SMOOTH_COLOR,
    as_frame,
    fitted_values,
    group_codes,
    group_names,
    is_mixed,
    lowess,
    model_column,
    normal_quantiles,
    panel_grid,
    require_mixed,
    residuals,
    target_axes,
)

__all__ = [
    "diagnostics",
    "qq_ranef",
    "qq_residuals",
    "residual_trends",
    "residuals_fitted",
    "scale_location",
]


def _points(ax: Axes, x: np.ndarray, y: np.ndarray) -> None:
    n = np.size(x)
    size = 12 if n <= 500 else 4 if n <= 5000 else 1
    alpha = 0.8 if n <= 500 else 0.4 if n <= 5000 else 0.15
    ax.scatter(x, y, s=size, color=POINT_COLOR, alpha=alpha, linewidths=0)


def _smooth(ax: Axes, x: np.ndarray, y: np.ndarray, frac: float) -> None:
    gx, gy = lowess(x, y, frac=frac)
    ax.plot(gx, gy, color=SMOOTH_COLOR, linewidth=1.8, label="lowess")


def residuals_fitted(
    model: Any, ax: Axes | None = None, smooth: bool = True, frac: float = 2.0 / 3.0
) -> Figure:
    """Pearson residuals against fitted values, a zero line and a lowess smoother."""
    fig, ax = target_axes(ax)
    fitted = fitted_values(model)
    r = residuals(model, "pearson")
    ax.axhline(0.0, color="0.5", linewidth=0.8, linestyle="--")
    _points(ax, fitted, r)
    if smooth:
        _smooth(ax, fitted, r, frac)
    ax.set_xlabel("Fitted values")
    ax.set_ylabel("Pearson residuals")
    ax.set_title("Residuals vs fitted")
    return fig


def scale_location(
    model: Any, ax: Axes | None = None, smooth: bool = True, frac: float = 2.0 / 3.0
) -> Figure:
    """√|scaled residuals| against fitted values: a trend shows non-constant variance."""
    fig, ax = target_axes(ax)
    fitted = fitted_values(model)
    r = np.sqrt(np.abs(residuals(model, "scaled")))
    _points(ax, fitted, r)
    if smooth:
        _smooth(ax, fitted, r, frac)
    ax.set_xlabel("Fitted values")
    ax.set_ylabel(r"$\sqrt{|\mathrm{scaled\ residuals}|}$")
    ax.set_title("Scale-location")
    return fig


def _qq(ax: Axes, values: np.ndarray, title: str, ylabel: str) -> None:
    sample, theo, a, b = normal_quantiles(values)
    n = sample.size
    ax.scatter(theo, sample, s=14 if n <= 500 else 3, color=POINT_COLOR,
               alpha=0.85 if n <= 500 else 0.35, linewidths=0)
    if n:
        ends = np.array([theo[0], theo[-1]])
        ax.plot(ends, a + b * ends, color=SMOOTH_COLOR, linewidth=1.2, label="qqline")
    ax.set_xlabel("Standard normal quantiles")
    ax.set_ylabel(ylabel)
    ax.set_title(title)


def qq_residuals(model: Any, ax: Axes | None = None) -> Figure:
    """Normal QQ plot of the scaled residuals with R's ``qqline`` (through the quartiles)."""
    fig, ax = target_axes(ax)
    _qq(ax, residuals(model, "scaled"), "Normal QQ: residuals", "Scaled residuals")
    return fig


def _ranef_terms(model: Any, group: str | None) -> list[tuple[str, str]]:
    require_mixed(model, "a QQ plot of the random effects")
    re = model.ranef
    groups = group_names(model) if group is None else [group]
    out = []
    for g in groups:
        if g not in re:
            raise KeyError(f"'{g}' is not a grouping factor of the model (have {list(re)})")
        out.extend((g, term) for term in re[g].columns)
    return out


def qq_ranef(
    model: Any, group: str | None = None, ax: Axes | None = None, ncol: int | None = None
) -> Figure:
    """Normal QQ plots of the conditional modes, one panel per (grouping factor, term).

    With ``ax`` only a single random effect may be selected (a model, or a
    ``group``, with one term).
    """
    terms = _ranef_terms(model, group)
    re = model.ranef
    if ax is not None:
        if len(terms) != 1:
            raise ValueError(f"ax= needs a single random effect; this selection has {len(terms)}")
        fig, axes = ax.figure, [ax]
    else:
        fig, axes = panel_grid(len(terms), ncol=ncol, panel_size=(3.2, 3.0),
                               sharex=False, sharey=False)
    for a, (g, term) in zip(axes, terms):
        _qq(a, re[g][term].to_numpy(), f"Normal QQ: {g} {term}", "Conditional modes")
    return fig  # type: ignore[return-value]


def diagnostics(model: Any, ncol: int = 3, frac: float = 2.0 / 3.0) -> Figure:
    """Residuals vs fitted, scale-location, QQ of residuals and QQ of every random effect.

    Works for ``lm`` and ``lmlist`` fits too (the first three panels) and for
    GLMMs (Pearson residuals; σ̂ = 1 without a dispersion parameter).
    """
    terms = _ranef_terms(model, None) if is_mixed(model) else []
    fig, axes = panel_grid(3 + len(terms), ncol, (3.6, 3.2), sharex=False, sharey=False)
    residuals_fitted(model, ax=axes[0], frac=frac)
    scale_location(model, ax=axes[1], frac=frac)
    qq_residuals(model, ax=axes[2])
    re = model.ranef if terms else {}
    for a, (g, term) in zip(axes[3:], terms):
        _qq(a, re[g][term].to_numpy(), f"Normal QQ: {g} {term}", "Conditional modes")
    fig.suptitle(f"Diagnostics: {getattr(model, 'formula', model.design.formula.text)}",
                 fontsize=11)
    return fig


def residual_trends(
    model: Any,
    x: str,
    group: str | None = None,
    data: pd.DataFrame | None = None,
    ncol: int | None = None,
    type: str = "pearson",
    trend: bool = True,
) -> Figure:
    """Residuals against a predictor, one panel per level of a grouping factor.

    A straight least-squares line per panel shows trends the model missed
    (e.g. a slope that varies by group while the model has only a random
    intercept). ``x`` is a column of ``data`` (the fitted data frame) or,
    without data, a fixed-effect column of the model.
    """
    data = as_frame(data)
    g, codes, levels = group_codes(model, group)
    xv = np.asarray(model_column(model, x, data), dtype=float)
    r = residuals(model, type)
    fig, axes = panel_grid(len(levels), ncol=ncol, panel_size=(1.9, 1.6))
    for k, (ax, lev) in enumerate(zip(axes, levels)):
        sel = codes == k
        ax.axhline(0.0, color="0.6", linewidth=0.7, linestyle="--")
        ax.scatter(xv[sel], r[sel], s=9, color=POINT_COLOR, linewidths=0)
        if trend and sel.sum() >= 2 and np.ptp(xv[sel]) > 0:
            b1, b0 = np.polyfit(xv[sel], r[sel], 1)
            ends = np.array([xv[sel].min(), xv[sel].max()])
            ax.plot(ends, b0 + b1 * ends, color=SMOOTH_COLOR, linewidth=1.3)
        ax.set_title(f"{lev}", fontsize=8, pad=2)
        ax.tick_params(labelsize=7)
    label = {"pearson": "Pearson residuals", "response": "Residuals", "scaled": "Scaled residuals"}
    fig.supxlabel(x)
    fig.supylabel(label.get(type, "Residuals"))
    fig.suptitle(f"Residuals vs {x} by {g}", fontsize=11)
    return fig
