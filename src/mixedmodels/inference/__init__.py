"""Inference for fitted mixed models: tests, degrees of freedom, intervals, simulation."""

from .anova import anova, drop1, ranova
from .bootstrap import BootstrapResult, bootstrap
from .ddf import anova_type3, coef_table, contrast_test
from .emmeans import emmeans, pairs
from .influence import binned_residuals, cooks_distance, group_cooks_distance, leverage, vif
from .intervals import confint, parameter_vector
from .model_table import model_table
from .r2 import r2
from .simulate import simulate
from .variance import icc, variance_decomposition

anova_fixed = anova_type3  # mm.anova_fixed(m, ddf=...): lmerTest's anova(m) for fixed terms

__all__ = [
    "BootstrapResult",
    "anova",
    "anova_fixed",
    "anova_type3",
    "binned_residuals",
    "bootstrap",
    "coef_table",
    "confint",
    "contrast_test",
    "cooks_distance",
    "drop1",
    "emmeans",
    "group_cooks_distance",
    "icc",
    "leverage",
    "model_table",
    "pairs",
    "parameter_vector",
    "r2",
    "ranova",
    "simulate",
    "variance_decomposition",
    "vif",
]
