"""Stage 1 of the pipeline: lme4 formula text -> fixed part + random bars."""

from .parse import ParsedFormula, RandomBar, parse_formula

__all__ = ["ParsedFormula", "RandomBar", "parse_formula"]
