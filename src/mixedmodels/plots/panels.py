"""Per-group panels with fitted lines of several models (ggplot's ``facet_wrap(~ group)``).

A *model* here is anything that gives a line per group:

* a mixed model (``mm.lmer``): ``predict`` with the random effects of the
  panel's grouping factor (the population line if it has none);
* a no-pooling fit (``mm.lmlist``): the group's own coefficients;
* a complete-pooling fit (``mm.lm``): the same line in every panel;
* a callable ``f(newdata) -> array`` of predictions, where ``newdata``
  holds the panel's group level and the other variables at their means.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..design.variables import to_categorical
from ._util import (
    MODEL_COLORS,
    POINT_COLOR,
    as_frame,
    fixed_matrix,
    panel_grid,
    reference_grid,
)

__all__ = ["data_panels", "group_lines", "group_panels", "pooling_models"]

_STYLES: list = ["-", "--", "-.", (0, (1, 1))]


def pooling_models(
    data: pd.DataFrame, x: str, y: str, group: str
) -> dict[str, Any]:
    """The four standard fits of ``y`` on ``x`` by ``group``, in a legend-ready dict.

    Complete pooling (``lm(y ~ x)``), no pooling (``lmlist(y ~ x | group)``),
    random intercept (``lmer(y ~ x + (1 | group))``) and random intercept
    and slope (``lmer(y ~ x + (x | group))``).
    """
    from ..lmm import lmer
    from ..nopooling import lmlist
    from ..pooling import lm

    data = as_frame(data)
    return {
        "Complete pooling": lm(f"{y} ~ {x}", data),
        "No pooling": lmlist(f"{y} ~ {x} | {group}", data),
        "Random intercept": lmer(f"{y} ~ {x} + (1 | {group})", data),
        "Random intercept + slope": lmer(f"{y} ~ {x} + ({x} | {group})", data),
    }


def _is_mixed(model: Any) -> bool:
    return hasattr(model, "ranef") and hasattr(model, "predict")


def group_lines(
    model: Any | Callable[[pd.DataFrame], np.ndarray],
    grid: pd.DataFrame,
    group: str,
    level: str,
) -> np.ndarray:
    """Predictions of ``model`` on ``grid`` (a panel's new data) for one group level."""
    if _is_mixed(model):
        bars = [f"({b.expr} | {b.group})" for b in model.design.formula.bars
                if b.group_vars == (group,)]
        re_form = "~" + " + ".join(bars) if bars else "~0"  # every term of this group
        kw = {"type": "response"} if hasattr(model, "nAGQ") else {}  # a GLMM on the data's scale
        return np.asarray(model.predict(grid, re_form=re_form, **kw), dtype=float)
    coef = getattr(model, "coef", None)
    if isinstance(coef, pd.DataFrame) and hasattr(model, "design"):
        if getattr(model, "group", group) != group:
            raise ValueError(f"the no-pooling fit is by '{model.group}', the panels by '{group}'")
        if level not in coef.index.astype(str):
            return np.full(len(grid), np.nan)
        row = coef.set_axis(coef.index.astype(str), axis=0).loc[level]
        return fixed_matrix(model, grid) @ row.to_numpy(dtype=float)
    if isinstance(coef, pd.Series) and hasattr(model, "design"):
        return fixed_matrix(model, grid) @ coef.to_numpy(dtype=float)
    if callable(model):
        return np.asarray(model(grid), dtype=float)
    raise TypeError(
        f"cannot draw lines for {type(model).__name__}: pass an mm.lmer, mm.lm or mm.lmlist "
        "fit, or a function of new data"
    )


def _panel_grid(model: Any, x: str, data: pd.DataFrame, xs: np.ndarray) -> pd.DataFrame:
    """Reference grid of ``model`` with ``x`` set to ``xs``."""
    if hasattr(model, "design") and hasattr(model.design, "fixed_spec"):
        grid, _ = reference_grid(model, x, data, n=2, strict=False)
        grid = grid.iloc[[0] * len(xs)].reset_index(drop=True)
    else:
        grid = pd.DataFrame(index=range(len(xs)))
    grid[x] = xs
    return grid


def group_panels(
    data: pd.DataFrame,
    x: str,
    y: str,
    group: str,
    models: Mapping[str, Any] | None = None,
    ncol: int | None = None,
    panel_size: tuple[float, float] = (1.9, 1.7),
    colors: list[str] | None = None,
    points: int = 50,
    joined: bool = False,
    full_range: bool = True,
) -> Figure:
    """One panel per level of ``group``: the data and each model's fitted line.

    Parameters
    ----------
    data:
        The data frame (the one the models were fitted to), pandas or polars.
    x, y, group:
        Column names: predictor (horizontal axis), response, grouping factor.
    models:
        Legend label -> fitted model (see the module docstring), drawn in
        order; :func:`pooling_models` gives the usual four.
    ncol:
        Panels per row (about square by default).
    joined:
        Join each group's points in the order of ``x`` (lattice's
        ``type = c("p", "l")``).
    full_range:
        Draw every line over the whole range of ``x`` (so a group with one
        observation still shows its partial-pooling line), else over the
        group's own range.
    """
    data = as_frame(data)
    models = dict(models or {})
    colors = colors or MODEL_COLORS
    g = to_categorical(data[group], group)
    levels = list(g.levels)
    xv = data[x].to_numpy(dtype=float)
    yv = data[y].to_numpy(dtype=float)
    fig, axes = panel_grid(len(levels), ncol=ncol, panel_size=panel_size)
    handles: dict[str, Any] = {}
    ok = np.isfinite(xv) & np.isfinite(yv)
    for k, (ax, lev) in enumerate(zip(axes, levels)):
        sel = (g.codes == k) & ok
        if joined and sel.sum() > 1:
            order = np.argsort(xv[sel], kind="stable")
            ax.plot(xv[sel][order], yv[sel][order], color=POINT_COLOR, linewidth=0.8, zorder=2)
        pts = ax.scatter(xv[sel], yv[sel], s=10, color=POINT_COLOR, zorder=3, linewidths=0)
        handles.setdefault("data", pts)
        span = ok if full_range else sel
        if span.any():
            xs = np.linspace(xv[span].min(), xv[span].max(), points)
            for j, (label, model) in enumerate(models.items()):
                grid = _panel_grid(model, x, data, xs)
                grid[group] = pd.Categorical([lev] * len(xs), categories=levels)
                fit = group_lines(model, grid, group, lev)
                (line,) = ax.plot(xs, fit, color=colors[j % len(colors)],
                                  linestyle=_STYLES[j % len(_STYLES)], linewidth=1.5)
                handles.setdefault(label, line)
        ax.set_title(str(lev), fontsize=8, pad=2)
        ax.tick_params(labelsize=7)
    fig.supxlabel(x)
    fig.supylabel(y)
    if models:
        fig.legend(list(handles.values()), list(handles.keys()), loc="outside upper center",
                   ncol=min(len(handles), 5), frameon=False, fontsize=9)
    return fig


def data_panels(
    data: Any,
    x: str,
    y: str,
    group: str,
    ncol: int | None = None,
    panel_size: tuple[float, float] = (1.9, 1.7),
    joined: bool = True,
) -> Figure:
    """The data alone, one panel per group, points joined in the order of ``x``
    (lattice's ``xyplot(y ~ x | group, type = c("p", "l"))``): the first look at
    repeated measures before any model."""
    return group_panels(data, x, y, group, None, ncol=ncol, panel_size=panel_size,
                        joined=joined)
