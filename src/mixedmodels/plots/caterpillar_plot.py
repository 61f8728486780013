"""Caterpillar plot of the conditional modes, lme4's ``dotplot(ranef(m, condVar = TRUE))``."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ._util import POINT_COLOR, group_names, is_lmlist, new_figure, require_mixed

__all__ = ["caterpillar"]

#: at most this many level labels are written on the axis
MAX_LABELS = 60


def caterpillar(
    model: Any,
    group: str | None = None,
    level: float = 0.95,
    sort: bool = True,
    max_labels: int = MAX_LABELS,
) -> Figure:
    """Conditional modes b̂ with intervals b̂ ± z·condsd, one panel per term.

    Parameters
    ----------
    model:
        A fitted mixed model (``ranef`` with ``condsd``); for an ``lmlist``
        fit, each group's coefficients with their ``level`` t intervals
        (nlme's ``plot(intervals(lmList))``).
    group:
        Grouping factor to show; ``None`` shows every grouping factor, one
        row of panels each.
    level:
        Coverage of the intervals (0.95 gives ±1.96 conditional SDs).
    sort:
        Order the levels by the conditional mode of the first term (as
        lattice's ``dotplot.ranef.mer``); else in level order.
    max_labels:
        Level labels are written only when there are at most this many.
    """
    from scipy import stats

    if is_lmlist(model):
        return _lmlist_intervals(model, level, sort, max_labels)
    require_mixed(model, "a caterpillar plot of the random effects")
    re = model.ranef
    groups = group_names(model) if group is None else [group]
    for g in groups:
        if g not in re:
            raise KeyError(f"'{g}' is not a grouping factor of the model (have {list(re)})")
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    ncol = max(re[g].shape[1] for g in groups)
    heights = [max(1.6, min(9.0, 0.16 * len(re[g]) + 0.9)) for g in groups]
    fig = new_figure(2.9 * ncol + 1.0, sum(heights) + 0.3)
    spec = fig.add_gridspec(len(groups), ncol, height_ratios=heights)
    for row, g in enumerate(groups):
        modes = re[g]
        sds = re.condsd[g]
        order = np.argsort(modes.iloc[:, 0].to_numpy(), kind="stable") if sort else None
        idx = np.arange(len(modes)) if order is None else order
        labels = [str(v) for v in modes.index[idx]]
        ypos = np.arange(len(idx))
        first = None
        for col, term in enumerate(modes.columns):
            ax = fig.add_subplot(spec[row, col], sharey=first)
            first = first or ax
            b = modes[term].to_numpy()[idx]
            s = sds[term].to_numpy()[idx]
            ax.axvline(0.0, color="0.6", linewidth=0.8, zorder=0)
            ax.errorbar(
                b, ypos, xerr=z * s, fmt="o", color=POINT_COLOR, ecolor="0.55",
                markersize=3.5 if len(idx) <= 100 else 1.5, elinewidth=1.0, capsize=0,
            )
            ax.set_title(f"{g}: {term}", fontsize=10)
            ax.set_xlabel("conditional mode")
            ax.set_ylim(-0.7, len(idx) - 0.3)
            if col == 0:
                if len(idx) <= max_labels:
                    ax.set_yticks(ypos, labels, fontsize=8 if len(idx) <= 30 else 6)
                else:
                    ax.set_yticks([])
                    ax.set_ylabel(f"{len(idx)} levels of {g}")
            else:
                ax.tick_params(labelleft=False)
            ax.grid(axis="y", color="0.92", linewidth=0.6)
    fig.suptitle(f"Conditional modes with {level:.0%} intervals", fontsize=11)
    return fig


def _lmlist_intervals(fits: Any, level: float, sort: bool, max_labels: int) -> Figure:
    """Per coefficient, each group's estimate ± t·SE (pooled σ and df, as ``lmList``)."""
    from scipy import stats

    table = fits.coef_table()
    terms = list(fits.x_names)
    df = fits.df_pooled if fits.pool else None
    first = table[table["term"] == terms[0]]
    est0 = first["Estimate"].to_numpy(dtype=float)
    order = np.argsort(np.nan_to_num(est0, nan=np.inf), kind="stable") if sort else None
    n = len(first)
    idx = np.arange(n) if order is None else order
    labels = [str(v) for v in first[fits.group].to_numpy()[idx]]
    height = max(1.6, min(9.0, 0.16 * n + 0.9))
    fig = new_figure(2.9 * len(terms) + 1.0, height + 0.3)
    axes = fig.subplots(1, len(terms), sharey=True, squeeze=False).ravel()
    ypos = np.arange(n)
    for ax, term in zip(axes, terms):
        sub = table[table["term"] == term]
        est = sub["Estimate"].to_numpy(dtype=float)[idx]
        se = sub["Std. Error"].to_numpy(dtype=float)[idx]
        q = stats.t.ppf(0.5 + level / 2.0, df) if df else stats.norm.ppf(0.5 + level / 2.0)
        ax.errorbar(est, ypos, xerr=q * se, fmt="o", color=POINT_COLOR, ecolor="0.55",
                    markersize=3.5 if n <= 100 else 1.5, elinewidth=1.0, capsize=0)
        ax.set_title(f"{fits.group}: {term}", fontsize=10)
        ax.set_xlabel("estimate (lmlist)")
        ax.set_ylim(-0.7, n - 0.3)
    if n <= max_labels:
        axes[0].set_yticks(ypos, labels, fontsize=8 if n <= 30 else 6)
    else:
        axes[0].set_yticks([])
        axes[0].set_ylabel(f"{n} levels of {fits.group}")
    return fig
