"""Plots of mixed models with matplotlib: every function returns a Figure.

Nothing is shown and no global matplotlib state is changed: figures are
:class:`matplotlib.figure.Figure` objects not registered with pyplot, so
they work with any backend, Agg included, and scripts keep no figure
state; save them with ``fig.savefig(path)``. In a notebook a figure
returned as a cell's value shows itself as PNG, no ``%matplotlib`` magic
needed. Functions that draw a single axes accept ``ax=`` to draw into an
existing one. Every function takes ``lm``, ``lmlist``, ``lmer`` and
``glmer`` fits where the picture makes sense (a clear
:class:`~mixedmodels.errors.UnsupportedModelError` where it does not, e.g.
random effects of an ``lm`` fit) and pandas or polars data.

* :func:`group_panels` — one panel per group with the data and the
  fitted lines of several models (complete, no and partial pooling);
* :func:`shrinkage` — per-group coefficients moving from no pooling to
  the mixed model, with ellipses of the random-effect distribution;
* :func:`caterpillar` — conditional modes with intervals (``dotplot(ranef)``);
* :func:`diagnostics` and its parts :func:`residuals_fitted`,
  :func:`scale_location`, :func:`qq_residuals`, :func:`qq_ranef`, plus
  :func:`residual_trends` by group;
* :func:`check_model` — performance's ``check_model`` panels on one figure;
* :func:`effects` — the fixed-effect prediction over one predictor with a
  confidence band (a GLMM on the response scale);
* :func:`data_panels` — the data per group, points joined;
* :func:`spaghetti` — every group's fitted line in one panel;
* :func:`overlay` — groups' data and lines against the pooled line
  (Simpson's paradox);
* :func:`coefficient_densities` — no-pooling vs mixed-model coefficients;
* :func:`power_curve` — power against sample size
  (:func:`mixedmodels.power_curve`'s table).

matplotlib is an optional dependency (``pip install 'mixedmodels[plots]'``):
the plotting modules are imported on first use, so ``import mixedmodels``
works without it.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> submodule that defines it
_WHERE = {
    "caterpillar": "caterpillar_plot",
    "check_model": "check_model",
    "diagnostics": "diagnostic_plots",
    "qq_ranef": "diagnostic_plots",
    "qq_residuals": "diagnostic_plots",
    "residual_trends": "diagnostic_plots",
    "residuals_fitted": "diagnostic_plots",
    "scale_location": "diagnostic_plots",
    "effect_frame": "effect_plot",
    "effects": "effect_plot",
    "coefficient_densities": "coefficient_plot",
    "data_panels": "panels",
    "group_lines": "panels",
    "group_panels": "panels",
    "pooling_models": "panels",
    "random_effect_cov": "shrinkage_plot",
    "shrinkage": "shrinkage_plot",
    "lowess": "_util",
    "overlay": "spaghetti_plot",
    "power_curve": "power_plot",
    "spaghetti": "spaghetti_plot",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'mixedmodels.plots' has no attribute '{name}'")
    try:
        module = importlib.import_module(f".{_WHERE[name]}", __name__)
    except ImportError as exc:
        if exc.name is not None and exc.name.split(".")[0] == "matplotlib":
            raise ImportError(
                "mixedmodels.plots needs matplotlib: pip install 'mixedmodels[plots]'"
            ) from exc
        raise
    for public, where in _WHERE.items():
        if where == _WHERE[name]:
            globals()[public] = getattr(module, public)
    return globals()[name]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
