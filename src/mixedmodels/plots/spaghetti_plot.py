"""Every group's line in one panel: a spaghetti plot of the fits, a Simpson overlay of the data.

* :func:`spaghetti` — each group's fitted line (partial pooling for a
  mixed model, the group's own regression for an ``lmlist`` fit) over the
  whole range of ``x``, with the population line: readable where a facet
  per group is not (200 groups);
* :func:`overlay` — the data coloured by group with each group's
  least-squares line and the pooled line of all the data: when groups
  differ in their mean ``x``, the pooled trend can differ from (even
  reverse) the trend within every group (Simpson's paradox).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._util import (
    MODEL_COLORS,
    POINT_COLOR,
    as_frame,
    fixed_matrix,
    group_codes,
    is_lmlist,
    is_mixed,
    model_column,
    response_values,
    target_axes,
)
from .panels import _panel_grid, group_lines

__all__ = ["overlay", "spaghetti"]


def _line_alpha(n: int) -> float:
    """Opacity of one of n overlaid lines: opaque for a few, faint for hundreds."""
    return float(np.clip(6.0 / np.sqrt(max(n, 1)), 0.12, 0.85))


def spaghetti(
    model: Any,
    x: str,
    data: Any = None,
    group: str | None = None,
    ax: Axes | None = None,
    show_data: bool = True,
    points: int = 50,
    color: str = MODEL_COLORS[0],
) -> Figure:
    """Each group's fitted line over the whole range of ``x``, in one panel.

    Lines are the mixed model's predictions with the group's random
    effects (on the response scale for a GLMM), or each group's own
    least-squares line for an ``lmlist`` fit; the thick black line is the
    population line (fixed effects; the mean of the group coefficients for
    ``lmlist``; the single line of an ``lm`` fit). Other predictors are at
    their means or first levels. ``data`` (pandas or polars) is needed when
    ``x`` is not a fixed-effect column of the model.
    """
    data = as_frame(data)
    fig, ax = target_axes(ax, 5.8, 4.4)
    xv = np.asarray(model_column(model, x, data), dtype=float)
    xs = np.linspace(np.nanmin(xv), np.nanmax(xv), points)
    base = _panel_grid(model, x, data, xs)
    lines: np.ndarray | None = None
    if is_mixed(model):
        g, _, levels = group_codes(model, group)
        grid = base.iloc[np.tile(np.arange(points), len(levels))].reset_index(drop=True)
        grid[g] = pd.Categorical(np.repeat(levels, points), categories=levels)
        lines = group_lines(model, grid, g, "").reshape(len(levels), points)
        base[g] = pd.Categorical([levels[0]] * points, categories=levels)
        kw = {"type": "response"} if hasattr(model, "nAGQ") else {}
        pop = np.asarray(model.predict(base, re_form="~0", **kw), dtype=float)
        pop_label = "population (fixed effects)"
    elif is_lmlist(model):
        g = model.group
        X = fixed_matrix(model, base)
        coefs = model.coef.to_numpy(dtype=float)
        lines = coefs @ X.T
        pop = np.nanmean(coefs, axis=0) @ X.T
        pop_label = "mean of the group fits"
    else:
        g = None
        pop = fixed_matrix(model, base) @ model.coef.to_numpy(dtype=float)
        pop_label = "least-squares line"
    if show_data:
        y = response_values(model)
        n = y.size
        ax.scatter(xv, y, s=8 if n <= 2000 else 2, color=POINT_COLOR,
                   alpha=0.35 if n <= 2000 else 0.15, linewidths=0, zorder=1)
    if lines is not None:
        ok = np.isfinite(lines).all(axis=1)
        ax.plot(xs, lines[ok].T, color=color, alpha=_line_alpha(int(ok.sum())),
                linewidth=0.9, zorder=2)
        ax.plot([], [], color=color, linewidth=0.9, label=f"{int(ok.sum())} {g} lines")
    ax.plot(xs, pop, color="black", linewidth=2.4, zorder=3, label=pop_label)
    ax.set_xlabel(x)
    ax.set_ylabel(model.design.formula.response)
    ax.set_title(f"Fitted lines by {g}" if g else "Fitted line", fontsize=11)
    ax.legend(fontsize=8, frameon=False)
    return fig


def _group_colors(n: int) -> list[Any]:
    if n <= len(MODEL_COLORS):
        return MODEL_COLORS[:n]
    from matplotlib import colormaps

    cmap = colormaps["tab20" if n <= 20 else "viridis"]
    return [cmap(i / max(n - 1, 1)) if n > 20 else cmap(i) for i in range(n)]


def overlay(
    data: Any,
    x: str,
    y: str,
    group: str,
    ax: Axes | None = None,
    within: bool = True,
    pooled: bool = True,
    max_legend: int = 12,
) -> Figure:
    """The data coloured by group, each group's least-squares line and the pooled line.

    Shows at a glance whether the trend within groups agrees with the trend
    across them (Simpson's paradox when it does not). Group lines (``within``)
    span each
    group's own ``x`` range; the pooled line (complete pooling, ``lm(y ~ x)``)
    spans all the data.
    """
    from ..design.variables import to_categorical

    data = as_frame(data)
    gcat = to_categorical(data[group], group)
    levels = list(gcat.levels)
    xv = data[x].to_numpy(dtype=float)
    yv = data[y].to_numpy(dtype=float)
    ok = np.isfinite(xv) & np.isfinite(yv) & (gcat.codes >= 0)
    fig, ax = target_axes(ax, 5.8, 4.4)
    colors = _group_colors(len(levels))
    legend = len(levels) <= max_legend
    for k, lev in enumerate(levels):
        sel = ok & (gcat.codes == k)
        c = colors[k]
        ax.scatter(xv[sel], yv[sel], s=12, color=c, alpha=0.7, linewidths=0,
                   label=str(lev) if legend else None)
        if within and sel.sum() >= 2 and np.ptp(xv[sel]) > 0:
            b1, b0 = np.polyfit(xv[sel], yv[sel], 1)
            ends = np.array([xv[sel].min(), xv[sel].max()])
            ax.plot(ends, b0 + b1 * ends, color=c, linewidth=1.4)
    if pooled and ok.sum() >= 2 and np.ptp(xv[ok]) > 0:
        b1, b0 = np.polyfit(xv[ok], yv[ok], 1)
        ends = np.array([xv[ok].min(), xv[ok].max()])
        ax.plot(ends, b0 + b1 * ends, color="black", linewidth=2.2, linestyle="--",
                label=f"pooled (slope {b1:.3g})")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"{y} by {group}: within-group and pooled trends", fontsize=11)
    ax.legend(fontsize=7, frameon=False, ncol=2 if legend and len(levels) > 6 else 1,
              title=group if legend else None, title_fontsize=8)
    return fig
