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
    fixed_matrix,
    model_column,
    reference_grid,
    target_axes,
)

__all__ = ["effect_frame", "effects"]


def effect_frame(
    model: Any, x: str, data: pd.DataFrame | None = None, level: float = 0.95, n: int = 100
) -> pd.DataFrame:
    """The reference grid with ``fit``, ``se``, ``lower`` and ``upper`` columns.

    ``data`` is the data frame the model was fitted to; it is needed when
    a variable is used through an expression (``log(x)``) or when ``x`` is
    not itself a fixed-effect column.
    """
    grid, _ = reference_grid(model, x, data, n=n)
    X = fixed_matrix(model, grid)
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
    return out


def effects(
    model: Any,
    x: str,
    data: pd.DataFrame | None = None,
    ax: Axes | None = None,
    level: float = 0.95,
    show_data: bool = True,
    color: str = MODEL_COLORS[0],
) -> Figure:
    """Plot the fixed-effect prediction over ``x`` with a ``level`` confidence band.

    A numeric ``x`` gives a line and a shaded band; a categorical ``x`` a
    point and an interval per level. The observed responses are drawn in
    the background (``show_data``). Other predictors are held at their
    means (numeric) or first level (factors), stated under the title.
    """
    frame = effect_frame(model, x, data, level=level)
    _, x_is_cat = reference_grid(model, x, data, n=2)
    fig, ax = target_axes(ax, 5.5, 4.2)
    response = model.design.formula.response
    y = np.asarray(model.design.y, dtype=float)
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
