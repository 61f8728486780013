"""mixedmodels: lme4's linear and generalized linear mixed models in Python.

>>> import mixedmodels as mm
>>> d = mm.datasets.load("sleepstudy")
>>> m = mm.lmer("Reaction ~ Days + (Days | Subject)", d)
>>> print(m.summary())
"""

from . import datasets, errors, plots, scale
from .family import Family, make_family
from .glmm import GeneralizedLinearMixedModel, GlmerControl, glmer
from .inference import (
    anova,
    anova_fixed,
    bootstrap,
    confint,
    drop1,
    emmeans,
    icc,
    model_table,
    pairs,
    r2,
    ranova,
    simulate,
    variance_decomposition,
)
from .lmm import LinearMixedModel, lmer
from .optimize import OptimizerControl
from .pooling import lm, lmlist, pooling_table
from .power import (
    LmmSpec,
    PowerResult,
    extend_design,
    make_lmer,
    power_curve,
    power_sim,
    simulate_design,
    simulate_response,
)

__all__ = [
    "Family",
    "GeneralizedLinearMixedModel",
    "GlmerControl",
    "LinearMixedModel",
    "LmmSpec",
    "OptimizerControl",
    "PowerResult",
    "anova",
    "anova_fixed",
    "bootstrap",
    "confint",
    "datasets",
    "drop1",
    "emmeans",
    "errors",
    "extend_design",
    "icc",
    "glmer",
    "lm",
    "lmer",
    "lmlist",
    "make_family",
    "make_lmer",
    "model_table",
    "pairs",
    "plots",
    "pooling_table",
    "power_curve",
    "power_sim",
    "r2",
    "ranova",
    "scale",
    "simulate",
    "simulate_design",
    "simulate_response",
    "variance_decomposition",
]
__version__ = "0.1.0"
