"""Power curve: estimated power against sample size with its confidence interval."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._util import MODEL_COLORS, target_axes

__all__ = ["power_curve"]


def power_curve(
    curve: Any,
    ax: Axes | None = None,
    target: float | None = 0.8,
    color: str = MODEL_COLORS[0],
) -> Figure:
    """simr's ``plot(powerCurve)``: power per number of levels with 95% intervals.

    ``curve`` is the table of :func:`mixedmodels.power_curve` (columns
    ``n``, ``power``, ``ci_lower``, ``ci_upper``, and ``along``, ``test``,
    ``nsim``); ``target`` draws a dashed line at the power aimed for.
    """
    frame = pd.DataFrame(curve)
    need = {"n", "power", "ci_lower", "ci_upper"}
    if not need <= set(frame.columns):
        raise ValueError(f"curve needs the columns {sorted(need)} of mm.power_curve(...), "
                         f"got {list(frame.columns)}")
    frame = frame.sort_values("n")
    fig, ax = target_axes(ax, 5.5, 4.0)
    n = frame["n"].to_numpy(dtype=float)
    p = frame["power"].to_numpy(dtype=float)
    lo = frame["ci_lower"].to_numpy(dtype=float)
    hi = frame["ci_upper"].to_numpy(dtype=float)
    ax.fill_between(n, lo, hi, color=color, alpha=0.18, linewidth=0, label="95% interval")
    ax.errorbar(n, p, yerr=[p - lo, hi - p], fmt="o-", color=color, capsize=3,
                markersize=5, linewidth=1.6, label="power")
    if target is not None:
        ax.axhline(target, color="0.4", linewidth=1.0, linestyle="--",
                   label=f"target {target:.0%}")
    ax.set_ylim(-0.02, 1.02)
    along = str(frame["along"].iloc[0]) if "along" in frame and len(frame) else "n"
    ax.set_xlabel(f"number of levels of {along}")
    ax.set_ylabel("power")
    test = f" for {frame['test'].iloc[0]}" if "test" in frame and len(frame) else ""
    nsim = f" ({int(frame['nsim'].iloc[0])} simulations each)" if "nsim" in frame else ""
    ax.set_title(f"Power{test}{nsim}", fontsize=11)
    ax.set_xticks(np.unique(n))
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    return fig
