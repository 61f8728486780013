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
