"""R expressions in formulas: names and values as lme4 1.1-31 fits them.

``tests/data/lme4_expressions/run.R`` fitted every formula of ``forms.txt``
on ``d.csv`` and stored fixef (names as R prints them) and REMLcrit.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.design.expressions import expression_names, translate
from mixedmodels.errors import FormulaError
from mixedmodels.formula.deparse import deparse_expr

DATA = Path(__file__).parent / "data" / "lme4_expressions"
REF = json.loads((DATA / "r.json").read_text())


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    d = pd.read_csv(DATA / "d.csv")
    d["g"] = d["g"].astype(str)
    return d


@pytest.mark.parametrize("formula", list(REF))
def test_expression_fits_match_lme4(frame: pd.DataFrame, formula: str) -> None:
    ref = REF[formula]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.lmer(formula, frame)
    assert list(m.fixef.index) == list(ref["fixef"])
    np.testing.assert_allclose(m.fixef, list(ref["fixef"].values()), rtol=1e-4, atol=1e-6)
    assert m.reml_criterion == pytest.approx(ref["crit"], rel=1e-6)


@pytest.mark.parametrize(
    ("text", "deparsed"),
    [
        # deparse(str2lang(text)) in R 4.2
        ("I((x+1)^2)", "I((x + 1)^2)"),
        ("exp((x+1)^2/10)", "exp((x + 1)^2/10)"),
        ("log(z, base=2)", "log(z, base = 2)"),
        ("I(x%%2)", "I(x%%2)"),
        ("x%in%f", "x %in% f"),
        ("I(x!=1&y<2)", "I(x != 1 & y < 2)"),
        ("I(x- -1)", "I(x - -1)"),
        ("I(2^-x)", "I(2^-x)"),
        ("factor(h,levels=c('b','a'))", 'factor(h, levels = c("b", "a"))'),
        ("I(1e3*x)", "I(1000 * x)"),
        ("I(x*1e5)", "I(x * 1e+05)"),
        ("I(1e-5*x)", "I(1e-05 * x)"),
        ("I(0.50*x)", "I(0.5 * x)"),
        ("I(x**2)", "I(x^2)"),
    ],
)
def test_deparse_matches_r(text: str, deparsed: str) -> None:
    assert deparse_expr(text) == deparsed


def test_translation_keeps_r_names() -> None:
    code, names = translate("log(Sepal.Length) + as.numeric(`my var` > 0) + TRUE")
    assert "True" in code and "**" not in code
    assert set(names.values()) == {"Sepal.Length", "as.numeric", "my var"}
    assert expression_names("log(Sepal.Length) + as.numeric(`my var` > 0)") == [
        "Sepal.Length",
        "my var",
    ]


def test_dotted_and_backticked_columns(frame: pd.DataFrame) -> None:
    d = frame.rename(columns={"x": "x.val", "z": "z val"})
    m = mm.lmer("y ~ log(`z val`) + I(x.val^2) + (1|g)", d)
    r = mm.lmer("y ~ log(z) + I(x^2) + (1|g)", frame)
    np.testing.assert_allclose(m.fixef, r.fixef, rtol=1e-10)
    assert list(m.fixef.index) == ["(Intercept)", "log(`z val`)", "I(x.val^2)"]


# -- R's semantics of numbers and operators ------------------------------------------

N = 4


def evaluate(expr: str, **cols: object) -> object:
    from mixedmodels.design.variables import evaluate as ev

    data = pd.DataFrame({"x": [0.0, 1.0, 2.0, -1.0], "s": ["a", "b", "a", "c"], **cols})
    return ev(expr, data, mm.design.variables.TransformState())


@pytest.mark.parametrize(
    ("expr", "values"),
    [
        ("I(0x1F * x)", [0.0, 31.0, 62.0, -31.0]),  # hexadecimal literal
        ("I(0x10L + x)", [16.0, 17.0, 18.0, 15.0]),
        ("I(1e-320 * 0 + x)", [0.0, 1.0, 2.0, -1.0]),  # subnormal literal
        ("I(2^x^2)", [1.0, 2.0, 16.0, 2.0]),  # ^ is right-associative: 2^(x^2)
        ("I(-2^x)", [-1.0, -2.0, -4.0, -0.5]),  # unary minus below ^
        ("I(x %% 2)", [0.0, 1.0, 0.0, 1.0]),  # floored, as R
        ("I(x %/% 2)", [0.0, 0.0, 1.0, -1.0]),
        ("I(2^1024 * x)", [np.nan, np.inf, np.inf, -np.inf]),  # overflow is Inf (0*Inf NaN)
        ("I(x + 10^10^10 * 0)", [np.nan] * 4),
        ("I(x * 1e999)", [np.nan, np.inf, np.inf, -np.inf]),
        ("ifelse(x > 0, x, -x)", [0.0, 1.0, 2.0, 1.0]),
        ("pmax(x, 0.5, na.rm = TRUE)", [0.5, 1.0, 2.0, 0.5]),
        ('as.numeric(s == "a")', [1.0, 0.0, 1.0, 0.0]),
        ("log(x + 2, base = 2)", [1.0, np.log2(3), 2.0, 0.0]),
        ("I(x - mean(x))", [-0.5, 0.5, 1.5, -1.5]),
    ],
)
def test_numbers_and_operators_as_r(expr: str, values: list[float]) -> None:
    v = evaluate(expr)
    np.testing.assert_allclose(v.values, values, rtol=1e-12)


def test_power_is_double_arithmetic_and_fast() -> None:
    import time

    t0 = time.perf_counter()
    v = evaluate("I(x + 10^10^10)")
    assert time.perf_counter() - t0 < 1.0
    assert np.all(np.isinf(v.values))


@pytest.mark.parametrize(
    ("expr", "codes"),
    [
        ("I(!x)", [1, 0, 0, 0]),  # R: !x is x == 0
        ("I(x > 0 & x < 2)", [0, 1, 0, 0]),  # & below comparisons
        ("I(!x > 0)", [1, 0, 0, 1]),  # ! below comparisons
        ("I(x %in% c(1, 2))", [0, 1, 1, 0]),
        ('I(s != "a")', [0, 1, 0, 1]),
    ],
)
def test_logical_expressions_are_false_true_factors(expr: str, codes: list[int]) -> None:
    v = evaluate(expr)
    assert v.levels == ["FALSE", "TRUE"]
    assert list(v.codes) == codes


def test_logical_na_follows_r() -> None:
    """NA & FALSE is FALSE, NA | TRUE is TRUE, other NA stay NA (code -1)."""
    y = [np.nan, np.nan, 1.0, 1.0]
    assert list(evaluate("I(y > 0 & x > 0)", y=y).codes) == [0, -1, 1, 0]
    assert list(evaluate("I(y > 0 | x > 0)", y=y).codes) == [-1, 1, 1, 1]


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        (
            "I(x - sd())",
            r"sd\(\) is called with the wrong arguments .* takes sd\(x, na.rm = FALSE\)",
        ),
        ("sd(x, 1, 2)", r"takes sd\(x, na.rm = FALSE\)"),
        ("log(x, bse = 2)", r"takes log\(x, base = exp\(1\)\)"),
        ("frobnicate(x)", "there is no function 'frobnicate'"),
        ("I(s + 1)", "not meaningful for a factor"),
        ('I(x + "a")', "needs numbers, not text"),
        ("I(1:x)", "sequence operator"),
        ("I(x $ s)", "not supported"),
        ("poly(x, 1e9)", "'degree' 1e\\+09 of poly\\(\\) must be less"),
        ("poly(x, 1.5)", "whole number"),
        ("I(x +)", "cannot read the expression"),
        ("I(x) + 2 3", "cannot read the expression"),
        ('dummy(s, "z")', "at least some of the levels"),
        ('dummy(s, c("a", "z"))', "'z' is not"),
        ("I(log)", "'log' is a function"),
    ],
)
def test_evaluation_errors_are_formula_errors_without_python_text(expr: str, message: str) -> None:
    from mixedmodels.errors import FormulaError

    with pytest.raises(FormulaError, match=message) as info:
        evaluate(expr)
    text = str(info.value)
    for python_word in ("lambda", "positional argument", "ufunc", "NoneType", "Traceback"):
        assert python_word not in text


def test_constants_are_refused_as_r_does() -> None:
    """R: 'variable lengths differ' for a term that is one value, e.g. I(2^2222)."""
    from mixedmodels.errors import FormulaError

    for expr, shown in [("I(2^2222)", "Inf"), ("I(1e999)", "Inf"), ("I(2)", "2")]:
        with pytest.raises(FormulaError, match=rf"gives 1 value \({shown}\) for 4 rows"):
            evaluate(expr)


def test_dummy_as_lme4() -> None:
    """lme4's dummy(f, levelsToKeep): indicators of the kept levels (default: all but
    the first), named by level when there are several."""
    v = evaluate('dummy(s, "b")')
    assert list(v.values) == [0.0, 1.0, 0.0, 0.0] and v.suffixes == [""]
    v = evaluate("dummy(s)")
    assert v.suffixes == ["b", "c"]
    np.testing.assert_array_equal(v.values, [[0, 0], [1, 0], [0, 0], [0, 1]])
    v = evaluate("dummy(s)", s=["a", None, "b", "a"])
    assert np.isnan(v.values[1]) and list(v.values[[0, 2, 3]]) == [0.0, 1.0, 0.0]


def test_dummy_in_a_random_term_matches_lme4(frame: pd.DataFrame) -> None:
    # lme4 1.1-31: VarCorr names and the REML criterion (from r.json's run)
    m = mm.lmer('y ~ x + (0 + dummy(f, "lo") | g)', frame)
    assert m.theta_names == ['g.dummy(f, "lo")']
    m = mm.lmer("y ~ x + (dummy(h) | g)", frame)
    assert m.theta_names == ["g.(Intercept)", "g.dummy(h).(Intercept)", "g.dummy(h)"]


def test_expression_names_from_the_parse_tree() -> None:
    assert expression_names("I(x > 0 & `my var` < pi)") == ["x", "my var"]
    assert expression_names('dummy(Sex, "Female")') == ["Sex"]
    assert expression_names("log(z, base = b)") == ["z", "b"]


@pytest.mark.parametrize(
    ("expr", "values"),
    [
        # R: as.numeric(c("10.5", " 2", "-1e2", NA)) is 10.5, 2, -100, NA
        ("as.numeric(t)", [10.5, 2.0, -100.0, np.nan]),
        ("as.integer(t)", [10.0, 2.0, -100.0, np.nan]),
        # factor() of text: levels sorted as text ("-1e2" < " 2" < "10.5"), codes 1..3
        ("as.numeric(factor(t))", [3.0, 1.0, 2.0, np.nan]),
        # a logical column is 0/1, not level codes 1/2
        ("as.numeric(b)", [1.0, 0.0, 1.0, np.nan]),
    ],
)
def test_as_numeric_of_text_and_logical_columns_as_r(expr: str, values: list[float]) -> None:
    v = evaluate(
        expr,
        t=["10.5", " 2", "-1e2", None],
        b=pd.array([True, False, True, None], dtype="boolean"),
    )
    np.testing.assert_allclose(np.asarray(getattr(v, "values", v), dtype=float), values, rtol=1e-12)


def test_as_numeric_of_text_that_is_not_a_number_is_an_error() -> None:
    d = pd.DataFrame({"y": np.arange(8.0), "g": list("aabbccdd"), "t": ["1", "2", "x", "4"] * 2})
    message = r"as\.numeric\(\) of a text column: 'x' is not a number"
    with pytest.raises(FormulaError, match=message):
        mm.lmer("y ~ as.numeric(t) + (1|g)", d)


def test_as_numeric_of_logical_column_gives_the_fit_of_the_0_1_column() -> None:
    d = mm.datasets.load("sleepstudy")
    d["late"] = d["Days"] > 4
    d["late01"] = (d["Days"] > 4).astype(float)
    a = mm.lmer("Reaction ~ as.numeric(late) + (1|Subject)", d)
    b = mm.lmer("Reaction ~ late01 + (1|Subject)", d)
    np.testing.assert_allclose(a.fixef.to_numpy(), b.fixef.to_numpy(), rtol=1e-10)
