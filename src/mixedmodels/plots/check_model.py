"""One figure of model checks, as ``performance::check_model``.

Panels (the numbers from :mod:`mixedmodels.inference.influence`):

* posterior predictive check: the density of the response against the
  densities of ``nsim`` responses simulated from the fit (``simulate``;
  binomial / Poisson GLMMs draw from their family);
* linearity (residuals vs fitted) and homogeneity of variance
  (√|scaled residuals| vs fitted) for LMMs; binned residuals for GLMMs
  (bins outside ± 2 SE in orange);
* influential observations: standardized Pearson residuals against leverage
  with the Cook's distance contour at F_{0.5}(p, n − p) (performance's
  threshold), observations beyond it labelled by row;
* collinearity: the VIF of each fixed term (5 and 10 marked);
* normality of residuals (LMMs) and of each random effect (normal QQ plots).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import stats

from ..inference.influence import binned_residuals, leverage, vif
from ._util import MODEL_COLORS, POINT_COLOR, panel_grid, require_mixed
from .diagnostic_plots import _qq, _ranef_terms, qq_residuals, residuals_fitted, scale_location

__all__ = ["check_model", "posterior_predictive", "influence_plot", "collinearity_plot",
           "binned_residuals_plot"]


def _simulated(model: Any, nsim: int, seed: int | None) -> np.ndarray:
    if isinstance(model.family, str):
        return np.asarray(model.simulate(nsim=nsim, seed=seed))
    from ..power.glmm import simulate_glmm

    return simulate_glmm(model, nsim, np.random.default_rng(seed))


def posterior_predictive(model: Any, ax: Axes, nsim: int = 50, seed: int | None = 1) -> None:
    """Density of y (thick) over the densities of simulated responses (thin)."""
    y = np.asarray(model.y, dtype=float)
    sims = _simulated(model, nsim, seed)
    lo, hi = float(min(y.min(), sims.min())), float(max(y.max(), sims.max()))
    pad = 0.05 * (hi - lo if hi > lo else 1.0)
    grid = np.linspace(lo - pad, hi + pad, 256)
    for s in range(sims.shape[1]):
        if np.ptp(sims[:, s]) > 0:
            ax.plot(grid, stats.gaussian_kde(sims[:, s])(grid), color=MODEL_COLORS[0],
                    alpha=0.25, linewidth=0.7)
    if np.ptp(y) > 0:
        ax.plot(grid, stats.gaussian_kde(y)(grid), color=MODEL_COLORS[1], linewidth=2.0,
                label="observed")
    ax.plot([], [], color=MODEL_COLORS[0], linewidth=0.7, label="simulated")
    ax.legend(fontsize=8, frameon=False)
    ax.set_xlabel(model.design.formula.response)
    ax.set_ylabel("Density")
    ax.set_title("Posterior predictive check")


def influence_plot(model: Any, ax: Axes) -> None:
    """Standardized residuals against leverage with the Cook's distance contour."""
    h = leverage(model)
    r = np.asarray(model.resid(type="pearson"), dtype=float) / model._sigma
    with np.errstate(divide="ignore", invalid="ignore"):
        rs = r / np.sqrt(1.0 - h)
    p = int(np.linalg.matrix_rank(model.design.X))
    n = h.size
    cut = float(stats.f.ppf(0.5, p, max(n - p, 1)))
    ax.scatter(h, rs, s=10, color=POINT_COLOR, alpha=0.7, linewidths=0)
    hh = np.linspace(max(h.min(), 1e-6), min(max(h.max() * 1.05, 1e-3), 0.999), 200)
    bound = np.sqrt(cut * p * (1.0 - hh) / hh)
    for sign in (1, -1):
        ax.plot(hh, sign * bound, color=MODEL_COLORS[1], linestyle="--", linewidth=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cook = rs**2 * h / (p * (1.0 - h))
    for i in np.flatnonzero(cook > cut):
        ax.annotate(str(i + 1), (h[i], rs[i]), fontsize=7, color=MODEL_COLORS[1])
    span = np.nanmax(np.abs(rs[np.isfinite(rs)])) if np.isfinite(rs).any() else 1.0
    ax.set_ylim(-1.15 * span, 1.15 * span)
    ax.axhline(0.0, color="0.5", linewidth=0.8)
    ax.set_xlabel("Leverage (hat values)")
    ax.set_ylabel("Std. residuals")
    ax.set_title("Influential observations")


def collinearity_plot(model: Any, ax: Axes) -> None:
    """VIF per fixed term on a log scale; 5 and 10 marked."""
    tab = vif(model)
    colors = [MODEL_COLORS[2] if v < 5 else MODEL_COLORS[4] if v < 10 else MODEL_COLORS[1]
              for v in tab["VIF"]]
    ax.bar(tab["Term"], tab["VIF"], color=colors)
    for level in (5, 10):
        ax.axhline(level, color="0.4", linestyle=":", linewidth=1)
    ax.set_yscale("log")
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    ax.set_ylabel("VIF")
    ax.set_title("Collinearity")


def binned_residuals_plot(model: Any, ax: Axes) -> None:
    """Mean residual per bin of fitted values with its ± 1.96 SE band."""
    tab = binned_residuals(model)
    inside = tab["group"] == "yes"
    ax.fill_between(tab["xbar"], -tab["se"], tab["se"], color="0.85")
    ax.scatter(tab["xbar"][inside], tab["ybar"][inside], color=MODEL_COLORS[2], s=18)
    ax.scatter(tab["xbar"][~inside], tab["ybar"][~inside], color=MODEL_COLORS[1], s=18)
    ax.axhline(0.0, color="0.5", linewidth=0.8)
    ax.set_xlabel("Estimated probability / mean")
    ax.set_ylabel("Average residual")
    ax.set_title("Binned residuals")


def check_model(model: Any, nsim: int = 50, seed: int | None = 1, ncol: int = 3) -> Figure:
    """performance's ``check_model(m)``: every panel of the module description.

    For ``lmer`` and ``glmer`` fits; ``lm`` and ``lmlist`` fits have
    :func:`~mixedmodels.plots.diagnostics` (a clear error says so).
    """
    require_mixed(model, "check_model (plots.diagnostics draws lm and lmlist fits)")
    glmm = not isinstance(model.family, str)
    draws: list[Any] = [lambda a: posterior_predictive(model, a, nsim, seed)]
    if glmm:
        draws.append(lambda a: binned_residuals_plot(model, a))
    else:
        draws += [lambda a: residuals_fitted(model, ax=a), lambda a: scale_location(model, ax=a)]
    draws.append(lambda a: influence_plot(model, a))
    if len(model.design.fixed_spec.term_spec.terms) >= 2:
        draws.append(lambda a: collinearity_plot(model, a))
    if not glmm:
        draws.append(lambda a: qq_residuals(model, ax=a))
    re = model.ranef
    for g, term in _ranef_terms(model, None):
        draws.append(lambda a, g=g, term=term: _qq(a, re[g][term].to_numpy(),
                                                   f"Normality of random effects: {g} {term}",
                                                   "Conditional modes"))
    fig, axes = panel_grid(len(draws), ncol, (3.8, 3.3), sharex=False, sharey=False)
    for a, draw in zip(axes, draws):
        draw(a)
    fig.suptitle(f"Model checks: {model.design.formula.text}", fontsize=11)
    return fig
