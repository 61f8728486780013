"""Densities of the per-group coefficients: no pooling against the mixed model.

For each coefficient the no-pooling estimates (each group's own
least-squares fit, ``lmlist``) and the mixed model's ``coef`` (β̂ + b̂_g)
are drawn as Gaussian kernel densities with a rug of the values, with the
fixed effect β̂ and the normal density N(β̂, Σ̂_jj) the model implies for
the groups. The mixed-model density is narrower: the shrinkage of the
group estimates towards β̂ that :func:`~mixedmodels.plots.shrinkage` shows
as arrows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from scipy import stats

from ._util import MODEL_COLORS, as_frame, group_names, panel_grid, require_mixed
from .shrinkage_plot import draw_note, nopool_coef, random_effect_cov

__all__ = ["coefficient_densities"]


def _density(ax: Any, values: np.ndarray, grid: np.ndarray, color: str, label: str) -> None:
    v = values[np.isfinite(values)]
    if v.size >= 2 and np.ptp(v) > 0:
        ax.plot(grid, stats.gaussian_kde(v)(grid), color=color, linewidth=1.8, label=label)
        ax.fill_between(grid, stats.gaussian_kde(v)(grid), color=color, alpha=0.07, linewidth=0)
    ax.plot(v, np.zeros_like(v), "|", color=color, markersize=10, alpha=0.8)


def coefficient_densities(
    model: Any,
    nopool: Any = None,
    group: str | None = None,
    terms: Sequence[str] | None = None,
    data: Any = None,
    ncol: int | None = None,
) -> Figure:
    """One panel per coefficient: densities of the no-pooling and mixed-model estimates.

    Parameters
    ----------
    model:
        A fitted mixed model (``lmer`` or ``glmer``).
    nopool:
        The no-pooling fit (``mm.lmlist("y ~ x | g", data)``) or a DataFrame
        of per-group coefficients; fitted from ``data`` when omitted.
    group:
        Grouping factor (the model's first by default).
    terms:
        Coefficients to show (default: those with a random effect for
        ``group`` that both fits estimate).
    """
    require_mixed(model, "coefficient_densities")
    data = as_frame(data)
    group = group or group_names(model)[0]
    nop = nopool_coef(model, group, nopool, data)
    coef = nop.coef
    mixed = model.coef[group]
    mixed = mixed.set_axis(mixed.index.astype(str), axis=0)
    if terms is None:
        terms = [t for t in model.ranef[group].columns if t in coef.columns]
    missing = [t for t in terms if t not in coef.columns or t not in mixed.columns]
    if missing or not terms:
        raise KeyError(f"coefficients {missing or terms} are not in both the no-pooling and "
                       f"the mixed fit (have {list(mixed.columns)})")
    fig, axes = panel_grid(len(terms), ncol=ncol, panel_size=(3.8, 3.0),
                           sharex=False, sharey=False)
    cov = random_effect_cov(model, group, list(terms))
    fixef = model.fixef
    for j, (ax, term) in enumerate(zip(axes, terms)):
        a = coef[term].to_numpy(dtype=float)
        b = mixed[term].to_numpy(dtype=float)
        both = np.concatenate([a[np.isfinite(a)], b[np.isfinite(b)]])
        pad = 0.25 * (np.ptp(both) if both.size and np.ptp(both) > 0 else 1.0)
        grid = np.linspace(both.min() - pad, both.max() + pad, 200)
        _density(ax, a, grid, MODEL_COLORS[1], nop.label)
        _density(ax, b, grid, MODEL_COLORS[0], "Mixed model (coef)")
        beta = float(fixef.get(term, 0.0))
        if cov is not None and cov[j, j] > 0:
            ax.plot(grid, stats.norm.pdf(grid, beta, np.sqrt(cov[j, j])), color="0.35",
                    linewidth=1.0, linestyle="--", label="N(β̂, σ̂²) of the groups")
        ax.axvline(beta, color="black", linewidth=1.0, label="fixed effect")
        ax.set_title(f"{group}: {term}", fontsize=10)
        ax.set_xlabel("coefficient")
        ax.set_ylabel("density")
        ax.set_ylim(bottom=0)
    axes[0].legend(fontsize=7, frameon=False)
    fig.suptitle(f"No pooling vs partial pooling ({model.design.formula.text})", fontsize=10)
    draw_note(fig, nop.note)
    return fig
