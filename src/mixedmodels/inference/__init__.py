"""Inference for fitted mixed models: tests, degrees of freedom, intervals, simulation."""

from .anova import anova, drop1, ranova
from .ddf import anova_type3, coef_table, contrast_test

anova_fixed = anova_type3  # mm.anova_fixed(m, ddf=...): lmerTest's anova(m) for fixed terms

__all__ = ["anova", "anova_fixed", "anova_type3", "coef_table", "contrast_test", "drop1", "ranova"]
