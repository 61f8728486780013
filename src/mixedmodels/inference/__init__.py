"""Inference for fitted mixed models: tests, degrees of freedom, intervals, simulation."""

from .anova import anova, drop1, ranova

__all__ = ["anova", "drop1", "ranova"]
