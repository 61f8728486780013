"""Shrinkage plot: per-group coefficients without pooling and under the mixed model.

Each group contributes an arrow from its own least-squares (intercept,
slope) (``lmlist``) to its mixed-model coefficients β̂ + b̂_g (``coef``):
groups with little or noisy data move furthest towards the population
estimate β̂. Ellipses centred at β̂ with the random-effect covariance Σ
show where the given fraction of group coefficients is expected to lie
(contours of N(β̂, Σ) at the χ²₂ quantiles).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from textwrap import fill
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse
from scipy import stats

from ._util import MODEL_COLORS, as_frame, group_names, require_mixed, target_axes

__all__ = ["NoPooling", "nopool_coef", "random_effect_cov", "shrinkage", "shrinkage_terms"]


def shrinkage_terms(model: Any, group: str) -> tuple[str, str]:
    """The two coefficients to plot: the intercept and the first random slope.

    Falls back to the first two random-effect columns, or to the intercept
    and the first other fixed-effect column for a random-intercept model.
    """
    re_cols = list(model.ranef[group].columns)
    fixed = list(model.fixef.index)
    first = "(Intercept)" if "(Intercept)" in re_cols + fixed else (re_cols + fixed)[0]
    others = [c for c in re_cols if c != first] + [c for c in fixed if c != first]
    if not others:
        raise ValueError(
            "the shrinkage plot needs two coefficients (e.g. an intercept and a slope)"
        )
    return first, others[0]


def random_effect_cov(model: Any, group: str, names: Sequence[str]) -> np.ndarray | None:
    """Σ of the named random effects of ``group`` (independent across terms); None if absent."""
    k = len(names)
    cov = np.zeros((k, k))
    found = [False] * k
    for term in model.varcorr.terms:
        if term.group != group:
            continue
        for i, a in enumerate(names):
            if a not in term.names:
                continue
            found[i] = True
            for j, b in enumerate(names):
                if b in term.names:
                    cov[i, j] = term.cov[term.names.index(a), term.names.index(b)]
    return cov if all(found) else None


@dataclass
class NoPooling:
    """Per-group coefficients without pooling, what fitted them, and what was left out."""

    coef: pd.DataFrame  # one row per level (labels as text), NaN where not estimable
    label: str  # legend text
    note: str | None = None  # groups dropped, and why
    dropped: int = 0  # how many


def nopool_coef(model: Any, group: str, nopool: Any, data: pd.DataFrame | None) -> NoPooling:
    """The no-pooling coefficients to compare with ``model.coef[group]``.

    A linear mixed model's are per-group least squares (``lmlist``, from
    ``data``); a GLMM's are per-group GLMs of its family on the link scale
    (:func:`mixedmodels.nopooling.glm_nopool`, from the fit itself), with the
    groups whose GLM separates (infinite estimates) dropped and named in
    ``note``. A given ``nopool`` (an ``lmlist`` fit or a DataFrame) is used as is.
    """
    label = "No pooling (lmlist)"
    note, dropped = None, 0
    if nopool is None and hasattr(model, "nAGQ"):
        from ..nopooling import glm_nopool

        coef, separated = glm_nopool(model, group)
        coef = coef.where(~separated, np.nan, axis=0)
        label = f"No pooling (GLM per {group}, {model.family.link.name} scale)"
        dropped = int(separated.sum())
        if dropped:
            names = ", ".join(map(str, separated.index[separated][:6]))
            more = " ..." if separated.sum() > 6 else ""
            note = (f"{int(separated.sum())} of {separated.size} {group} levels not shown: "
                    f"their GLM separates (estimates run off to ±∞): {names}{more}")
        nopool = coef
    elif nopool is None:
        if data is None:
            raise ValueError(
                "pass the no-pooling fit (nopool=mm.lmlist(...)) or the fitted data (data=)"
            )
        from ..nopooling import lmlist

        f = model.design.formula
        nopool = lmlist(f"{f.response} ~ {f.fixed} | {group}", data)
    coef = nopool.coef if hasattr(nopool, "coef") else nopool
    if not isinstance(coef, pd.DataFrame):
        raise TypeError("nopool must be an mm.lmlist fit or a DataFrame of per-group coefficients")
    return NoPooling(coef.set_axis(coef.index.astype(str), axis=0), label, note, dropped)


def draw_note(fig: Figure, note: str | None) -> None:
    """A line under the figure saying which groups were left out (a figure x label,
    so that the constrained layout keeps it clear of the axes and legends)."""
    if note:
        fig.supxlabel(fill(note, 100), fontsize=7, color="0.35")


def _ellipse(center: np.ndarray, cov: np.ndarray, level: float, **kw: Any) -> Ellipse | None:
    vals, vecs = np.linalg.eigh(cov)
    if vals.min() <= 0:
        return None
    r = np.sqrt(stats.chi2.ppf(level, 2))
    angle = float(np.degrees(np.arctan2(vecs[1, 1], vecs[0, 1])))
    return Ellipse(tuple(center), 2 * r * np.sqrt(vals[1]), 2 * r * np.sqrt(vals[0]),
                   angle=angle, **kw)


def shrinkage(
    model: Any,
    nopool: Any = None,
    group: str | None = None,
    terms: tuple[str, str] | None = None,
    data: pd.DataFrame | None = None,
    ellipse_levels: Sequence[float] = (0.5, 0.95),
    label_groups: bool = False,
    ax: Axes | None = None,
) -> Figure:
    """Arrows from each group's no-pooling coefficients to its mixed-model coefficients.

    Parameters
    ----------
    model:
        A fitted mixed model.
    nopool:
        The no-pooling fit (``mm.lmlist("y ~ x | g", data)``) or a DataFrame
        of per-group coefficients. When omitted: for an ``lmer`` fit, fitted
        from ``data`` with the model's fixed-effect formula; for a ``glmer``
        fit, one GLM per group on the link scale (groups whose GLM separates
        are left out and named under the figure), see :func:`nopool_coef`.
    group:
        Grouping factor (the model's first by default).
    terms:
        The two coefficients for the horizontal and vertical axes
        (default: intercept and first random slope, see :func:`shrinkage_terms`).
    ellipse_levels:
        Coverage of the ellipses of the random-effect distribution
        (empty for none; skipped when Σ of the two terms is singular).
    label_groups:
        Write each group's label next to its mixed-model point.
    """
    require_mixed(model, "shrinkage")
    data = as_frame(data)
    group = group or group_names(model)[0]
    a, b = terms or shrinkage_terms(model, group)
    nop = nopool_coef(model, group, nopool, data)
    coef = nop.coef
    mixed = model.coef[group]
    mixed = mixed.set_axis(mixed.index.astype(str), axis=0)
    missing = [t for t in (a, b) if t not in coef.columns or t not in mixed.columns]
    if missing:
        raise KeyError(f"coefficients {missing} are not in both the no-pooling and the mixed fit")
    levels = [lv for lv in mixed.index if lv in coef.index]
    P = coef.loc[levels, [a, b]].to_numpy(dtype=float)
    M = mixed.loc[levels, [a, b]].to_numpy(dtype=float)
    ok = np.isfinite(P).all(axis=1)
    pop = model.fixef.reindex([a, b]).fillna(0.0).to_numpy(dtype=float)

    fig, ax = target_axes(ax, 7.4, 5.0)
    c_np, c_mm, c_pop = MODEL_COLORS[1], MODEL_COLORS[0], "#000000"
    cov = random_effect_cov(model, group, [a, b])
    if cov is not None:
        for i, lev in enumerate(sorted(ellipse_levels)):
            e = _ellipse(pop, cov, lev, fill=False, edgecolor="0.45",
                         linestyle=["-", "--", ":"][i % 3], linewidth=1.0,
                         label=f"{lev:.0%} of groups (Σ̂)")
            if e is not None:
                ax.add_patch(e)
    d = M[ok] - P[ok]
    ax.quiver(P[ok, 0], P[ok, 1], d[:, 0], d[:, 1], angles="xy", scale_units="xy", scale=1,
              color="0.55", width=0.003, headwidth=4, headlength=5, zorder=2)
    ax.scatter(P[ok, 0], P[ok, 1], s=30, facecolors="white", edgecolors=c_np, linewidths=1.4,
               zorder=3, label=nop.label)
    ax.scatter(M[:, 0], M[:, 1], s=26, color=c_mm, zorder=4, label="Mixed model (coef)")
    ax.scatter([pop[0]], [pop[1]], s=160, marker="*", color=c_pop, zorder=5,
               label="Population (fixef)")
    if label_groups:
        for lev, (u, v) in zip(levels, M):
            ax.annotate(lev, (u, v), xytext=(3, 3), textcoords="offset points", fontsize=7)
    scale = f" ({model.family.link.name} scale)" if hasattr(model, "nAGQ") else ""
    ax.set_xlabel(a + scale)
    ax.set_ylabel(b + scale)
    ax.set_title(f"Shrinkage of {group} coefficients")
    ax.autoscale_view()
    # beside the axes: inside, it would hide the groups that sit in a corner
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    short = int((~ok).sum()) - nop.dropped
    if short > 0:  # a group with too few rows or too little variation for both coefficients
        nop.note = ((nop.note + "; ") if nop.note else "") + (
            f"{short} {group} level{'s' if short > 1 else ''} without a no-pooling "
            f"estimate of both {a} and {b}")
    draw_note(fig, nop.note)
    return fig
