"""Generated formulas: each fits, or raises a MixedModelsError, within seconds.

A small grammar writes lme4 formulas over the columns of sleepstudy and
Penicillin: numbers as R writes them (integers, decimals, ``1e999``, hex,
subnormals, ``TRUE``), the formula operators (``+ - * / : ^ %in%``), R
operators inside calls (``^ %% ! & | ==``...), calls of R functions with
right and wrong numbers of arguments (``I log exp sqrt poly scale factor
offset dummy sd mean abs``...), parentheses and random-effect bars
(``|``, ``||``, ``a:b``, ``a/b``). Hypothesis draws a fixed (derandomized)
sequence of them; every one must either fit with ``mm.lmer`` or raise a
:class:`~mixedmodels.errors.MixedModelsError`, each within a few seconds.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import mixedmodels as mm
from mixedmodels.errors import MixedModelsError
from timeouts import time_limit

SECONDS_PER_FORMULA = 15  # a hang shows; a loaded 2-core machine does not
EXAMPLES = 1000  # per data set


@dataclass(frozen=True)
class Vocabulary:
    """The columns a grammar may use, by role."""

    response: tuple[str, ...]
    numeric: tuple[str, ...]
    factors: tuple[str, ...]
    levels: tuple[str, ...]  # some level labels of the first factor, for dummy()

    @property
    def predictors(self) -> tuple[str, ...]:
        """Numeric columns other than the response, or the response when there is
        no other (a random slope on the response itself is left out: the optimizer
        needs long on such degenerate models, a matter of its own)."""
        return tuple(c for c in self.numeric if c not in self.response) or ("1",)


SLEEP = Vocabulary(("Reaction",), ("Days", "Reaction"), ("Subject",), ("308", "309", "372"))
PENICILLIN = Vocabulary(("diameter",), ("diameter", "dose"), ("plate", "sample"), ("a", "b", "x"))

NUMBERS = st.sampled_from(
    [
        "0",
        "1",
        "2",
        "-1",
        "0.5",
        "1e5",
        "1e999",
        "1e308",
        "1e-320",
        "0x1F",
        "3L",
        "TRUE",
        "FALSE",
        "Inf",
        "NA",
        "2222",
        "10^10^10",
        "1e-5",
    ]
)
R_OPS = st.sampled_from(["+", "-", "*", "/", "^", "%%", "%/%", ">", "<", "==", "!=", "&", "|"])
FORMULA_OPS = st.sampled_from(["+", "+", "+", "-", "*", ":", "/", "^", "%in%"])
FUNCTIONS = st.sampled_from(
    [
        "I",
        "I",
        "log",
        "exp",
        "sqrt",
        "poly",
        "scale",
        "factor",
        "offset",
        "dummy",
        "sd",
        "mean",
        "abs",
        "pmax",
        "ifelse",
        "as.numeric",
        "center",
        "frobnicate",
        "log10",
    ]
)
NAMED = st.sampled_from(
    [
        "base = 2",
        "degree = 2",
        "raw = TRUE",
        "na.rm = TRUE",
        "scale = FALSE",
        'levels = c("a", "b")',
        "center = x",
    ]
)


def r_expressions(v: Vocabulary) -> st.SearchStrategy[str]:
    """R code as it appears inside a call (numbers, columns, operators, calls)."""
    atoms = st.one_of(
        st.sampled_from(v.numeric),
        st.sampled_from(v.numeric),
        NUMBERS,
        st.sampled_from(
            v.factors + tuple(f"`{c}`" for c in v.numeric) + ('"' + v.levels[0] + '"', "Dayz")
        ),
    )

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, R_OPS, inner).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
            st.tuples(st.sampled_from(["-", "!", ""]), inner).map(lambda t: f"{t[0]}({t[1]})"),
            any_calls(inner),
        )

    return st.recursive(atoms, extend, max_leaves=5)


def any_calls(args: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A call with 0-3 positional arguments and perhaps a named one."""
    return st.tuples(
        FUNCTIONS, st.lists(args, min_size=0, max_size=3), st.lists(NAMED, max_size=1)
    ).map(lambda t: f"{t[0]}({', '.join(t[1] + t[2])})")


def good_calls(v: Vocabulary, numeric: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    """Calls with the arguments R expects (some still fail on the data: log(0)...);
    with ``numeric`` given (random-effect terms), only calls giving one column."""
    x = st.sampled_from(numeric or v.numeric)
    degrees = ["1", "2", "3", "5"] if not numeric else ["1"]
    f = st.sampled_from(v.factors)
    k = st.sampled_from(["0", "1", "2", "0.5", "10", "1e-5", "1e5", "0x1F", "1e308"])
    return st.one_of(
        st.tuples(
            st.sampled_from(
                [
                    "log",
                    "exp",
                    "sqrt",
                    "abs",
                    "scale",
                    "factor",
                    "log1p",
                    "as.numeric",
                    "center",
                    "offset",
                ]
            ),
            x,
        ).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(x, R_OPS, k).map(lambda t: f"I({t[0]} {t[1]} {t[2]})"),
        st.tuples(k, R_OPS, x).map(lambda t: f"I({t[0]} {t[1]} {t[2]})"),
        st.tuples(x, st.sampled_from(degrees)).map(lambda t: f"poly({t[0]}, {t[1]})"),
        st.tuples(x, k).map(lambda t: f"ifelse({t[0]} > {t[1]}, {t[0]}, 0)"),
        st.tuples(x, k).map(lambda t: f"pmax({t[0]}, {t[1]})"),
        st.tuples(x, k).map(lambda t: f"I({t[0]} - mean({t[0]}) * {t[1]})"),
        st.tuples(x, k).map(lambda t: f"I(!({t[0]} > {t[1]}))"),
        f.map(lambda g: f"dummy({g})" if not numeric else f'dummy({g}, "{v.levels[0]}")'),
        st.tuples(f, st.sampled_from(v.levels)).map(lambda t: f'dummy({t[0]}, "{t[1]}")'),
        x.map(lambda c: f"I({c} / sd({c}))"),
    )


def fixed_terms(v: Vocabulary, leaves: int = 4) -> st.SearchStrategy[str]:
    """Formula-level terms: columns, calls, numbers, operators, parentheses."""
    atoms = st.one_of(
        st.sampled_from(v.numeric + v.factors),
        st.sampled_from(v.numeric),
        good_calls(v),
        good_calls(v),
        any_calls(r_expressions(v)),
        st.sampled_from(["0", "1", "-1", "1e5", "TRUE", "`0`", "`" + v.numeric[0] + "`"]),
    )

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, FORMULA_OPS, inner).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
            inner.map(lambda t: f"({t})"),
            st.tuples(inner, st.sampled_from(["2", "3", "1e999"])).map(
                lambda t: f"({t[0]})^{t[1]}"
            ),
        )

    return st.recursive(atoms, extend, max_leaves=leaves)


def bars(v: Vocabulary) -> st.SearchStrategy[str]:
    """Random-effect terms of a few columns (larger ones are slow to optimize, a
    matter of the optimizer's budget)."""
    groups = st.sampled_from(
        v.factors
        + v.factors
        + tuple(f"{a}:{b}" for a in v.factors for b in v.factors if a != b)
        + tuple(f"{a}/{b}" for a in v.factors for b in v.factors if a != b)
        + (v.numeric[0], "Dayz", f"factor({v.numeric[0]})")
    )
    left = st.one_of(
        st.sampled_from(["1", "1", "0 + 1", "TRUE", "FALSE", "1e5"]),
        st.sampled_from(v.predictors).map(lambda c: f"0 + {c}"),
        st.sampled_from(v.predictors),
        good_calls(v, v.predictors),
    )
    bar = st.tuples(left, st.sampled_from(["|", "|", "||"]), groups).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})"
    )
    return st.one_of(bar, bar, bar, bar.map(lambda b: f"({b})"))


def formulas(v: Vocabulary) -> st.SearchStrategy[str]:
    """``response ~ fixed terms + bars``, the parts mostly joined by '+'."""
    response = st.one_of(
        st.sampled_from(v.response),
        st.sampled_from(v.response),
        st.sampled_from(v.response),
        st.sampled_from([f"log({v.response[0]})", v.factors[0], f"I({v.response[0]} * 0)"]),
        any_calls(r_expressions(v)),
    )
    joiner = st.sampled_from([" + "] * 12 + [" - ", " * ", " : "])
    fixed = st.lists(st.tuples(joiner, fixed_terms(v, leaves=2)), max_size=2)
    random = st.lists(st.tuples(joiner, bars(v)), min_size=1, max_size=2)
    return st.tuples(response, fixed, random, st.booleans()).map(
        lambda t: (
            f"{t[0]} ~ " + "".join(op + p for op, p in (t[2] + t[1] if t[3] else t[1] + t[2]))[3:]
        )
    )


def fits_or_says_why(formula: str, data: pd.DataFrame) -> None:
    with time_limit(SECONDS_PER_FORMULA, formula), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            mm.lmer(formula, data)
        except MixedModelsError:
            pass


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],  # no (slow, traced) explain
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def sleepstudy() -> pd.DataFrame:
    return mm.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def penicillin() -> pd.DataFrame:
    return penicillin_with_dose()


def penicillin_with_dose() -> pd.DataFrame:
    """Penicillin and a numeric predictor (0, 0.5, ..., 3 cycling over the rows)."""
    d = mm.datasets.load("Penicillin")
    return d.assign(dose=(pd.RangeIndex(len(d)) % 7) / 2.0)


@pytest.mark.slow
@FUZZ
@given(formula=formulas(SLEEP))
def test_sleepstudy_formulas_fit_or_raise_a_library_error(
    sleepstudy: pd.DataFrame, formula: str
) -> None:
    fits_or_says_why(formula, sleepstudy)


@pytest.mark.slow
@FUZZ
@given(formula=formulas(PENICILLIN))
def test_penicillin_formulas_fit_or_raise_a_library_error(
    penicillin: pd.DataFrame, formula: str
) -> None:
    fits_or_says_why(formula, penicillin)
