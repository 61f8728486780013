"""Effect plot: the fixed-effect prediction over one predictor with a confidence band.

The prediction is x'β̂ on a reference grid (the predictor over its range,
or its levels; every other fixed-effect variable at its mean or reference
level, as the ``effects``/``ggeffects`` packages' defaults), with a
pointwise band x'β̂ ± z √(x' V x), V = ``vcov(m)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import stats

from ._util import (
    MODEL_COLORS,
    POINT_COLOR,
    as_frame,
    fixed_matrix,
    is_lmlist,
    model_column,
    reference_grid,
    response_values,
    target_axes,
)

__all__ = ["effect_frame", "effects"]


def _has_link(model: Any) -> bool:
    """A GLMM: a family with a link (an lmer fit's ``family`` is the string "gaussian")."""
    return hasattr(getattr(model, "family", None), "linkinv")


def _scale_of(model: Any, scale: str) -> str:
    if scale not in ("response", "link"):
        raise ValueError(f"scale must be 'response' or 'link', got {scale!r}")
    return scale if _has_link(model) else "link"


def effect_frame(
    model: Any,
    x: str,
    data: Any = None,
    level: float = 0.95,
    n: int = 100,
    scale: str = "response",
) -> pd.DataFrame:
    """The reference grid with ``fit``, ``se``, ``lower`` and ``upper`` columns.

    ``data`` is the data frame the model was fitted to; it is needed when
    a variable is used through an expression (``log(x)``) or when ``x`` is
    not itself a fixed-effect column. For a GLMM the band is computed on
    the link scale, η ± z·se, and with ``scale="response"`` (the default)
    ``fit``, ``lower`` and ``upper`` are mapped through the inverse link
    g⁻¹ (``se`` stays on the link scale); ``scale="link"`` keeps η. An
    ``lmlist`` fit gives the grid once per group (a first column names it),
    each with its own line and a t band on the pooled residual SE.
    """
    data = as_frame(data)
    scale = _scale_of(model, scale)
    grid, _ = reference_grid(model, x, data, n=n)
    X = fixed_matrix(model, grid)
    if is_lmlist(model):
        return _group_effect_frame(model, grid, X, level)
    beta = model.fixef.to_numpy()
    V = model.vcov.to_numpy()
    fit = X @ beta
    se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", X, V, X), 0.0, None))
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    out = grid.copy()
    out["fit"] = fit
    out["se"] = se
    out["lower"] = fit - z * se
    out["upper"] = fit + z * se
    if scale == "response" and _has_link(model):
        for c in ("fit", "lower", "upper"):
            out[c] = model.family.linkinv(out[c].to_numpy())
    return out


def _group_effect_frame(fits: Any, grid: pd.DataFrame, X: np.ndarray,
                        level: float) -> pd.DataFrame:
    """An ``lmlist`` fit's effect frame: the grid once per group, x'β̂_g ± t √(x' V_g x)
    with V_g = s² (X_g'X_g)⁻¹, s the pooled residual SE on its df (R's ``lmList``);
    aliased coefficients count as 0, as in its predictions."""
    s2, df = fits.sigma_pooled ** 2, fits.df_pooled
    t = float(stats.t.ppf(0.5 + level / 2.0, df)) if df > 0 else np.nan
    frames = []
    for lev, f in fits.fits.items():
        beta = np.nan_to_num(f.coef)
        V = np.nan_to_num(f.vcov_unscaled) * s2
        fit = X @ beta
        se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", X, V, X), 0.0, None))
        frame = grid.copy()
        frame.insert(0, fits.group, lev)
        frame["fit"], frame["se"] = fit, se
        frame["lower"], frame["upper"] = fit - t * se, fit + t * se
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def effects(
    model: Any,
    x: str,
    data: pd.DataFrame | None = None,
    ax: Axes | None = None,
    level: float = 0.95,
    show_data: bool = True,
    color: str = MODEL_COLORS[0],
    scale: str = "response",
) -> Figure:
    """Plot the fixed-effect prediction over ``x`` with a ``level`` confidence band.

    A numeric ``x`` gives a line and a shaded band; a categorical ``x`` a
    point and an interval per level. The observed responses are drawn in
    the background (``show_data``). Other predictors are held at their
    means (numeric) or first level (factors), stated under the title.

    Takes ``lmer``, ``glmer`` and ``lm`` fits; a GLMM is drawn on the
    response scale (probabilities, rates: the data's scale) unless
    ``scale="link"`` (then the data are not drawn). An ``lmlist`` fit has
    one line per group: it is drawn by :func:`mixedmodels.plots.spaghetti`.
    """
    if is_lmlist(model):
        from .spaghetti_plot import spaghetti

        return spaghetti(model, x, data=data, ax=ax)
    data = as_frame(data)
    scale = _scale_of(model, scale)
    frame = effect_frame(model, x, data, level=level, scale=scale)
    _, x_is_cat = reference_grid(model, x, data, n=2)
    fig, ax = target_axes(ax, 5.5, 4.2)
    response = model.design.formula.response
    y = response_values(model)
    if scale == "link" and _has_link(model):
        show_data = False
        response = f"{response} ({model.family.link.name} scale)"
    if x_is_cat:
        levels = [str(v) for v in frame[x]]
        pos = np.arange(len(levels))
        if show_data:
            obs = np.asarray(model_column(model, x, data)).astype(str)
            lookup = {lv: i for i, lv in enumerate(levels)}
            xi = np.array([lookup.get(v, np.nan) for v in obs], dtype=float)
            jitter = np.random.default_rng(0).uniform(-0.15, 0.15, xi.size)
            ax.scatter(xi + jitter, y, s=8, color=POINT_COLOR, alpha=0.35, linewidths=0,
                       label="data")
        fit = frame["fit"].to_numpy()
        ax.errorbar(pos, fit, yerr=[fit - frame["lower"], frame["upper"] - fit], fmt="o",
                    color=color, markersize=6, capsize=4, elinewidth=1.6,
                    label=f"fixed effect, {level:.0%} CI")
        ax.set_xticks(pos, levels)
    else:
        if show_data:
            xv = np.asarray(model_column(model, x, data), dtype=float)
            ax.scatter(xv, y, s=8, color=POINT_COLOR, alpha=0.35, linewidths=0, label="data")
        xs = frame[x].to_numpy(dtype=float)
        ax.fill_between(xs, frame["lower"], frame["upper"], color=color, alpha=0.25,
                        linewidth=0, label=f"{level:.0%} CI")
        ax.plot(xs, frame["fit"], color=color, linewidth=2.0, label="fixed effect")
    ax.set_xlabel(x)
    ax.set_ylabel(response)
    held = [c for c in frame.columns if c not in (x, "fit", "se", "lower", "upper")]
    note = ", ".join(
        f"{c} = {frame[c].iloc[0]:.3g}" if isinstance(frame[c].iloc[0], float)
        else f"{c} = {frame[c].iloc[0]}"
        for c in held
    )
    ax.set_title(f"Effect of {x}" + (f"\n(at {note})" if note else ""), fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    return fig
