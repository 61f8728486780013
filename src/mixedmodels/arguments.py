"""Checks of the arguments of the public functions, before any work is done.

Every check either returns the argument in its canonical form or raises an
:class:`~mixedmodels.errors.ArgumentError` (or a more specific
:class:`~mixedmodels.errors.MixedModelsError`) naming the argument, the
value given and what is allowed, so that a wrong value is never read as
some other one (``REML="no"`` is not "true", ``nAGQ=1.5`` is not 1).

The allowed values follow lme4's: ``REML`` and ``allow_new_levels`` are
logical; ``nAGQ`` a whole number ≥ 0; ``level`` in (0, 1); ``na_action``
R's ``na.omit`` / ``na.exclude`` / ``na.fail``; ``start`` a θ of the
model's length inside its bounds; ``re_form`` ``None`` (all random effects),
``NA`` / ``np.nan`` / ``0`` / ``"~0"`` / ``"NA"`` (none) or a formula.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .errors import ArgumentError, DataError, FormulaError

__all__ = [
    "NA_ACTIONS",
    "check_control",
    "check_family",
    "check_fixef_start",
    "check_flag",
    "check_formula",
    "check_glmer_keywords",
    "check_level",
    "check_models",
    "check_na_action",
    "check_nagq",
    "check_nsim",
    "check_re_form",
    "check_reml",
    "check_start",
    "frame_from_dict",
]

NA_ACTIONS = {
    "omit": "omit",
    "na.omit": "omit",
    "exclude": "exclude",
    "na.exclude": "exclude",
    "raise": "raise",
    "fail": "raise",
    "na.fail": "raise",
}
"""Accepted ``na_action`` spellings and the behaviour each selects."""

_MAX_NAGQ = 100


def check_formula(formula: Any, name: str = "formula") -> None:
    """A model formula must be text (or an already parsed formula)."""
    from .formula import ParsedFormula

    if isinstance(formula, (str, ParsedFormula)):
        return
    raise FormulaError(
        f"{name} must be a string such as \"Reaction ~ Days + (Days | Subject)\", "
        f"got {type(formula).__name__} ({_shown(formula)})"
    )


def check_flag(value: Any, name: str) -> bool:
    """A logical argument: ``True``/``False`` or a numpy bool (R's ``TRUE``/``FALSE``)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ArgumentError(name, value, "True or False")


def check_reml(REML: Any) -> bool:  # noqa: N803 (lme4's name)
    """lme4's ``REML =``: True for REML, False for maximum likelihood."""
    return check_flag(REML, "REML")


def check_nagq(nAGQ: Any) -> int:  # noqa: N803 (lme4's name)
    """lme4's ``nAGQ``: a whole number from 0 to 100 (0 and 1 for any model;
    more than 1 only for a single scalar random-effect term, checked by the model)."""
    if isinstance(value := nAGQ, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ArgumentError("nAGQ", nAGQ, "a whole number: 0, 1 (Laplace) or 2 to 100 (AGQ)")
    if not math.isfinite(float(value)) or float(value) != int(value) or not (
        0 <= value <= _MAX_NAGQ
    ):
        raise ArgumentError("nAGQ", nAGQ, "a whole number: 0, 1 (Laplace) or 2 to 100 (AGQ)")
    return int(value)


def check_level(level: Any, name: str = "level") -> float:
    """A confidence level strictly between 0 and 1 (0.95 for 95 % intervals)."""
    if (
        isinstance(level, (bool, np.bool_))
        or not isinstance(level, numbers.Real)
        or not (0.0 < float(level) < 1.0)
    ):
        raise ArgumentError(name, level, "a number strictly between 0 and 1, e.g. 0.95")
    return float(level)


def check_nsim(nsim: Any, name: str = "nsim") -> int:
    """A number of simulations: a whole number ≥ 1."""
    if (
        isinstance(nsim, (bool, np.bool_))
        or not isinstance(nsim, numbers.Integral)
        or int(nsim) < 1
    ):
        raise ArgumentError(name, nsim, "a whole number of at least 1")
    return int(nsim)


def check_na_action(na_action: Any) -> str:
    """R's ``na.action``: ``"omit"`` (drop rows with NA), ``"exclude"`` (drop them
    from the fit, but pad fitted values, residuals and predictions with NaN at
    those rows) or ``"raise"`` / ``"fail"`` (refuse data with NA).

    Returns the canonical name: ``"omit"``, ``"exclude"`` or ``"raise"``."""
    if isinstance(na_action, str) and na_action in NA_ACTIONS:
        return NA_ACTIONS[na_action]
    raise ArgumentError(
        "na_action",
        na_action,
        "'omit' (drop rows with missing values), 'exclude' (drop them but pad fitted "
        "values, residuals and predictions with NaN, R's na.exclude) or 'fail' / 'raise'",
    )


def check_start(
    start: Any, lower: np.ndarray, names: Sequence[str] | None = None, name: str = "start"
) -> np.ndarray | None:
    """A starting θ: as many finite values as the model has, within its lower bounds.

    ``lower`` holds θ's bounds (0 for the diagonal of each relative covariance
    factor, −∞ below it); a Series or a dict ``{"theta": ...}`` is accepted."""
    if start is None:
        return None
    if isinstance(start, dict):
        if "theta" not in start:
            raise ArgumentError(
                name, start, "an array of θ values or a dict with a 'theta' entry"
            )
        start = start["theta"]
    if isinstance(start, pd.Series):
        start = start.to_numpy()
    try:
        x = np.asarray(start, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ArgumentError(name, start, f"{lower.size} numbers (the model's θ)") from None
    listed = ", ".join(names) if names else ""
    if x.size != lower.size:
        raise ArgumentError(
            name,
            start,
            f"{lower.size} number{'s' if lower.size != 1 else ''} (the model's θ"
            + (f": {listed}" if listed else "")
            + f"), got {x.size}",
            "use m.theta of a similar fit, or leave start=None",
        )
    bad = ~np.isfinite(x)
    if bad.any():
        raise ArgumentError(name, start, "finite numbers; it has NaN or infinite values")
    below = x < lower
    if below.any():
        which = [names[i] if names else str(i) for i in np.flatnonzero(below)]
        raise ArgumentError(
            name,
            start,
            "≥ 0 in the diagonal entries of θ (relative standard deviations); "
            f"negative: {', '.join(which)}",
        )
    return x


def check_fixef_start(start: Any, names: Sequence[str], name: str = "start['fixef']") -> None:
    """Starting fixed effects (glmer's ``start={"fixef": ...}``): one finite value per
    column of X."""
    if start is None:
        return
    try:
        x = np.asarray(start, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ArgumentError(name, start, f"{len(names)} numbers (the fixed effects)") from None
    if x.size != len(names):
        raise ArgumentError(
            name,
            start,
            f"{len(names)} number{'s' if len(names) != 1 else ''} (the fixed effects: "
            f"{', '.join(names)}), got {x.size}",
        )
    if not np.all(np.isfinite(x)):
        raise ArgumentError(name, start, "finite numbers; it has NaN or infinite values")


def check_control(control: Any, cls: type, name: str = "control") -> Any:
    """``None``, an instance of ``cls`` or a dict of its fields (made into one)."""
    if control is None or isinstance(control, cls):
        return control
    fields = [f.name for f in dataclasses.fields(cls)]
    if isinstance(control, dict):
        unknown = [k for k in control if k not in fields]
        if unknown:
            raise ArgumentError(
                name,
                control,
                f"a mm.{cls.__name__} or a dict of its settings ({', '.join(fields)})",
                f"unknown setting{'s' if len(unknown) > 1 else ''}: {', '.join(map(str, unknown))}",
            )
        return cls(**control)
    raise ArgumentError(name, control, f"None, a mm.{cls.__name__}(...) or a dict of its settings")


def check_family(family: Any, link: Any) -> Any:
    """A :class:`~mixedmodels.family.Family` from a family name (or object) and a link."""
    from .family import FAMILIES, Family, make_family

    if not isinstance(family, (str, Family)):
        raise ArgumentError(
            "family", family, f"a family name ({', '.join(FAMILIES)}) or a mm.Family"
        )
    if link is not None and not isinstance(link, str):
        raise ArgumentError("link", link, "None (the family's default) or a link name")
    try:
        fam = make_family(family)
    except ValueError:
        raise ArgumentError(
            "family",
            family,
            f"one of {', '.join(FAMILIES)} or a mm.Family (quasi families cannot be used in "
            "a mixed model, as in lme4)",
        ) from None
    if link is not None and link not in fam.links:
        raise ArgumentError(
            "link", link, f"one of {', '.join(fam.links)} for the {fam.family} family"
        )
    return make_family(family, link)


GLMER_ARGUMENTS = (
    "formula", "data", "family", "link", "nAGQ", "weights", "offset", "na_action",
    "control", "start", "data_name", "progress",
)
"""The keyword arguments of :func:`mixedmodels.glmer`."""

_LMER_ONLY = {
    "REML": (
        "left out: glmer has no such argument",
        "a GLMM is fitted by maximum likelihood (Laplace, or adaptive Gauss-Hermite "
        "with nAGQ > 1), as lme4's glmer; drop REML=, or use mm.lmer for a linear "
        "mixed model",
    ),
    "method": (
        "left out: glmer has no such argument",
        "method='moments' is the moment estimator of mm.lmer for crossed random "
        "intercepts of a numeric response, y ~ x + (1 | g) + (1 | h), and has no GLMM "
        "version; fit this GLMM exactly (drop method=, nAGQ=0 is the fastest), or "
        "model a numeric response with mm.lmer(..., method='moments')",
    ),
}


def check_glmer_keywords(extra: dict[str, Any]) -> None:
    """Keywords glmer does not take: lmer's ``REML`` and ``method`` with what to do
    instead, any other with glmer's arguments listed (the closest first)."""
    import difflib

    if not extra:
        return
    name, value = next(iter(extra.items()))
    if name in _LMER_ONLY:
        allowed, hint = _LMER_ONLY[name]
        raise ArgumentError(name, value, allowed, hint)
    lowered = {a.lower(): a for a in GLMER_ARGUMENTS}
    close = [lowered[c] for c in difflib.get_close_matches(name.lower(), list(lowered), n=1)]
    raise ArgumentError(
        name, value, "left out: glmer has no such argument",
        (f"did you mean {close[0]}=? " if close else "")
        + f"glmer takes {', '.join(GLMER_ARGUMENTS)}",
    )


def check_re_form(re_form: Any) -> None:
    """``re_form``: None (all random effects), NA / np.nan / 0 / False / ``"~0"`` /
    ``"NA"`` (none) or a formula of random-effect terms such as ``"~(1 | Subject)"``."""
    if re_form is None or isinstance(re_form, str) or re_form is False:
        return
    if isinstance(re_form, (numbers.Real, type(pd.NA))) and not isinstance(re_form, bool):
        if pd.isna(re_form) or re_form == 0:
            return
    raise ArgumentError(
        "re_form",
        re_form,
        "None (all random effects), np.nan, 0 or '~0' (none: the population level) or "
        "a formula of random-effect terms such as '~(1 | Subject)'",
    )


def check_models(models: Sequence[Any], name: str = "models") -> None:
    """Each positional argument of anova() must be a fitted model."""
    for i, m in enumerate(models, start=1):
        if not (hasattr(m, "design") and hasattr(m, "loglik")):
            raise ArgumentError(
                f"{name}[{i}]" if len(models) > 1 else name,
                m,
                "a fitted model (from mm.lmer, mm.glmer or mm.lm)",
                "pass other settings by keyword, e.g. anova(m1, m2, refit=False)",
            )


def frame_from_dict(data: dict[Any, Any]) -> pd.DataFrame:
    """A dict of columns as a DataFrame; a dict of scalars is one row.

    Columns of different lengths are an error naming each column's length
    (pandas would only say "All arrays must be of the same length")."""
    lengths: dict[str, int] = {}
    for key, value in data.items():
        if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
            continue  # a scalar: broadcast by pandas
        if isinstance(value, np.ndarray) and value.ndim == 0:
            continue
        lengths[str(key)] = len(value)
    if not lengths:
        return pd.DataFrame([data])
    if len(set(lengths.values())) > 1:
        by_len: dict[int, list[str]] = {}
        for k, n in lengths.items():
            by_len.setdefault(n, []).append(k)
        parts = "; ".join(
            f"{_join(cols)}: {n} value{'s' if n != 1 else ''}" for n, cols in by_len.items()
        )
        raise DataError(
            f"the columns of the data (a dict) have different lengths: {parts}; every "
            "column needs one value per row"
        )
    try:
        return pd.DataFrame(data)
    except (ValueError, TypeError) as exc:
        raise DataError(f"the data (a dict of columns) cannot be made a table: {exc}") from None


def _join(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(f"'{n}'" for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
