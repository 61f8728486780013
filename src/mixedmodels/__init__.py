"""mixedmodels: lme4's linear and generalized linear mixed models in Python.

>>> import mixedmodels as mm
>>> d = mm.datasets.load("sleepstudy")
>>> m = mm.lmer("Reaction ~ Days + (Days | Subject)", d)
>>> print(m.summary())

The names below are imported on first use (PEP 562), so ``import
mixedmodels`` is quick (no pandas, SciPy, matplotlib, DuckDB or Dask
until something needs them): ``mm.lmer`` loads the fitting code,
``mm.plots.caterpillar`` matplotlib, ``mm.scale.lmer_duckdb`` DuckDB.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

#: public name -> the submodule that defines it
_WHERE = {
    "Family": "family",
    "make_family": "family",
    "GeneralizedLinearMixedModel": "glmm",
    "GlmerControl": "glmm",
    "glmer": "glmm",
    "anova": "inference",
    "anova_fixed": "inference",
    "binned_residuals": "inference",
    "bootstrap": "inference",
    "confint": "inference",
    "cooks_distance": "inference",
    "drop1": "inference",
    "emmeans": "inference",
    "group_cooks_distance": "inference",
    "icc": "inference",
    "leverage": "inference",
    "model_table": "inference",
    "pairs": "inference",
    "r2": "inference",
    "ranova": "inference",
    "simulate": "inference",
    "variance_decomposition": "inference",
    "vif": "inference",
    "LinearMixedModel": "lmm",
    "lmer": "lmm",
    "OptimizerControl": "optimize",
    "lm": "pooling",
    "lmlist": "nopooling",
    "pooling_table": "nopooling",
    "LmmSpec": "power",
    "PowerResult": "power",
    "extend_design": "power",
    "make_lmer": "power",
    "power_curve": "power",
    "power_sim": "power",
    "simulate_design": "power",
    "simulate_response": "power",
}

#: subpackages reached as attributes (``mm.datasets.load``, ``mm.plots.effects``)
_SUBMODULES = ("datasets", "errors", "plots", "scale", "inference", "power", "results")

__all__ = sorted([*_WHERE, "datasets", "errors", "plots", "scale"])
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    elif name in _SUBMODULES or (
        not name.startswith("__") and importlib.util.find_spec(f"{__name__}.{name}") is not None
    ):
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'mixedmodels' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE) | set(_SUBMODULES))
