"""Typed exceptions and warnings raised by mixedmodels.

Every error names what went wrong (the column, the token, the value) and
what to do about it, so that a user never has to read a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "MixedModelsError",
    "FormulaError",
    "DataError",
    "ColumnNotFoundError",
    "ModelSpecificationError",
    "ConvergenceWarning",
    "SingularFitWarning",
    "RankDeficiencyWarning",
    "ArgumentError",
    "ModelTooLargeError",
    "PredictorScaleWarning",
    "UnsupportedModelError",
    "FamilyError",
    "PirlsError",
    "FactorMetadataWarning",
]


class MixedModelsError(Exception):
    """Base class of every error raised on purpose by mixedmodels."""


class FormulaError(MixedModelsError, ValueError):
    """A formula that cannot be parsed; the message points at the text.

    Parameters
    ----------
    message:
        What is wrong and what to do.
    formula:
        The full formula text.
    position:
        0-based character offset of the offending text (``None`` if unknown).
    """

    def __init__(self, message: str, formula: str | None = None, position: int | None = None):
        self.formula = formula
        self.position = position
        self.reason = message
        text = message
        if formula is not None:
            text += f"\n  {formula}"
            if position is not None:
                text += "\n  " + " " * max(position, 0) + "^"
        super().__init__(text)


class DataError(MixedModelsError, ValueError):
    """The data cannot be used as given (types, missing values, weights...)."""


class ColumnNotFoundError(DataError):
    """A variable named in a formula or argument is not a column of the data."""

    def __init__(
        self,
        name: str,
        available: Iterable[str],
        where: str = "the formula",
        *,
        head: str | None = None,
        data_label: str = "the data",
        hint: str = "",
    ):
        """``head`` replaces the first clause, ``data_label`` names the table
        searched and ``hint`` is appended (see :class:`NewdataColumnError`)."""
        available = [str(a) for a in available]
        self.name = name
        close = difflib.get_close_matches(name, available, n=3, cutoff=0.5)
        if not close:
            close = [a for a in available if a.lower() == name.lower()]
        msg = head or f"column '{name}' used in {where} is not in the data"
        if close:
            msg += "; did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
        else:
            shown = ", ".join(available[:12]) + (" ..." if len(available) > 12 else "")
            msg += f"; {data_label} has columns: {shown or '(none)'}"
        super().__init__(msg + (f"; {hint}" if hint else ""))


class ModelSpecificationError(MixedModelsError, ValueError):
    """The model cannot be identified from this data (lme4's checks)."""


class UnsupportedModelError(MixedModelsError, TypeError):
    """A function got a kind of fit it cannot use (e.g. a caterpillar plot of ``lm``)."""


class ConvergenceWarning(UserWarning):
    """The optimizer stopped without a convincing optimum."""


class SingularFitWarning(UserWarning):
    """The fit is singular: some variance component is (nearly) zero."""


class RankDeficiencyWarning(UserWarning):
    """The fixed-effects model matrix is rank deficient; columns were dropped."""


class ArgumentError(MixedModelsError, ValueError):
    """An argument of a public function has a wrong type or value.

    The message names the argument, the value given and what is allowed.
    """

    def __init__(self, name: str, value: object, allowed: str, hint: str = ""):
        self.name = name
        self.value = value
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        msg = f"{name}={shown} ({type(value).__name__}) is not allowed: {name} must be {allowed}"
        super().__init__(msg + (f"; {hint}" if hint else ""))


class ModelTooLargeError(MixedModelsError, MemoryError):
    """The model's dense blocks would not fit in the memory available."""


class PredictorScaleWarning(UserWarning):
    """Fixed-effect predictors are on very different scales (lme4's checkScaleX)."""


class FamilyError(ArgumentError):
    """An unknown GLM family, or a link the family does not offer."""


class PirlsError(MixedModelsError, ArithmeticError):
    """PIRLS could not find the conditional modes of a GLMM (the message says
    why, e.g. completely separated outcomes, and what to do)."""


class FactorMetadataWarning(UserWarning):
    """An out-of-memory source cannot tell how a factor was coded (ordered or not,
    level order); the message says what was assumed and how to say it explicitly."""
