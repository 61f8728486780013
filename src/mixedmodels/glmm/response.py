"""The response of a generalized linear mixed model, as R's family ``initialize``.

Accepted forms (binomial): 0/1 numbers, logicals, factors (the first level
is failure, every other level success, as R), ``cbind(successes,
failures)`` and proportions with ``weights=`` giving the trials. For a
``cbind`` response y = s/(s + f), trials m = s + f and the prior weights
become w·m; for proportions the prior weights are the trials. Counts
(poisson) and positive values (Gamma, inverse.gaussian) are numeric
columns or expressions.

``cbind(a, b)`` is evaluated here, argument by argument, so that the model
frame only sees a placeholder column that carries the missing values of
both arguments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..design import Design, as_pandas, build_design
from ..design.variables import Categorical, TransformState, evaluate
from ..errors import DataError, FormulaError
from ..family import Family, check_support
from ..formula import parse_formula
from ..formula.parse import split_top_level

__all__ = ["GlmmResponse", "glmm_design"]

_PLACEHOLDER = "glmer_cbind_response_"


@dataclass
class GlmmResponse:
    """y as the family sees it, the trials m (binomial; ones otherwise) and prior weights."""

    y: np.ndarray
    trials: np.ndarray
    prior_weights: np.ndarray
    kind: str  # "binary", "factor", "cbind", "proportion", "numeric"


def _split_args(text: str) -> list[str]:
    return [piece.strip() for piece, _ in split_top_level(text, ",")]


def glmm_design(
    formula: str,
    data: Any,
    family: Family,
    weights: Any = None,
    offset: Any = None,
    na_action: str = "omit",
) -> tuple[Design, GlmmResponse]:
    """Build the design of a GLMM and its response (see the module docstring)."""
    parsed = parse_formula(formula)
    data = as_pandas(data)
    m = re.fullmatch(r"\s*cbind\s*\((.*)\)\s*", parsed.response, flags=re.S)
    cbind_parts: tuple[np.ndarray, np.ndarray] | None = None
    text = formula
    if m:
        args = _split_args(m.group(1))
        if len(args) != 2 or not all(args):
            raise FormulaError(
                "cbind() in the response needs exactly two arguments: cbind(successes, failures)",
                formula, formula.find("cbind"),
            )
        state = TransformState()
        vals = []
        for a in args:
            v = evaluate(a, data, state, "the response")
            if isinstance(v, Categorical) or v.values.ndim != 1:
                raise DataError(f"cbind() argument '{a}' must be numeric")
            vals.append(v.values.astype(float))
        s, f = vals
        data = data.copy(deep=False)
        data[_PLACEHOLDER] = np.where(np.isnan(s) | np.isnan(f), np.nan, 0.0)
        text = _PLACEHOLDER + " ~ " + formula.split("~", 1)[1]
        cbind_parts = (s, f)
    design = build_design(text, data, weights=weights, offset=offset, na_action=na_action,
                          check_nobs=False)
    if cbind_parts is not None:
        design.formula = parsed
    resp = _response(design, family, cbind_parts)
    return design, resp


def _response(
    design: Design, family: Family, cbind_parts: tuple[np.ndarray, np.ndarray] | None
) -> GlmmResponse:
    n = design.n
    pw = design.weights.astype(float)
    name = design.formula.response
    if cbind_parts is not None:
        if family.family != "binomial":
            raise DataError(
                "a cbind(successes, failures) response needs the binomial family, not "
                f"{family.family}"
            )
        s, f = (a[design.rows] for a in cbind_parts)
        if np.any(s < 0) or np.any(f < 0):
            raise DataError("cbind(successes, failures): counts must be non-negative")
        trials = s + f
        with np.errstate(invalid="ignore", divide="ignore"):
            y = np.where(trials == 0, 0.0, s / np.where(trials == 0, 1.0, trials))
        prior = pw * trials
        kind = "cbind"
    elif isinstance(design.response, Categorical):
        if family.family != "binomial":
            raise DataError(
                f"the response '{name}' is categorical; a {family.family} model needs a numeric "
                "response (use family='binomial' for a two-level outcome)"
            )
        codes = design.response.codes
        y = (codes != 0).astype(float)
        trials, prior, kind = np.ones(n), pw, "factor"
    else:
        vals = design.response.values
        if vals.ndim != 1:
            if family.family != "binomial" or vals.shape[1] != 2:
                raise DataError(f"the response '{name}' must be a single column")
            s, f = vals[:, 0], vals[:, 1]
            trials = s + f
            y = np.where(trials == 0, 0.0, s / np.where(trials == 0, 1.0, trials))
            prior, kind = pw * trials, "cbind"
        else:
            y = vals.astype(float)
            trials, prior = np.ones(n), pw
            kind = "numeric"
            if family.family == "binomial":
                frac = (y > 0) & (y < 1)
                kind = "proportion" if frac.any() else "binary"
                if frac.any() and not design.has_weights:
                    raise DataError(
                        f"the response '{name}' has proportions strictly between 0 and 1 but no "
                        "weights= were given: a binomial model needs the number of trials, as "
                        "weights= (e.g. weights='size') or a cbind(successes, failures) response"
                    )
    y = np.where(prior == 0, 0.0, y) if family.family == "binomial" else y
    check_support(family, y, prior if family.family == "binomial" else np.ones(n))
    if len(np.unique(y)) < 2:
        raise DataError(f"the response '{name}' is constant: there is nothing to model")
    return GlmmResponse(y=y, trials=trials, prior_weights=prior, kind=kind)


def as_series(x: np.ndarray, design: Design, name: str) -> pd.Series:
    """A per-observation vector labelled with the data's index."""
    return pd.Series(x, index=design.index, name=name)
