"""The model frame: NA handling, factor levels, contrasts, rank deficiency, input types."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.design import build_design
from mixedmodels.design.contrasts import contr_poly
from mixedmodels.errors import (
    ColumnNotFoundError,
    DataError,
    FormulaError,
    ModelSpecificationError,
    RankDeficiencyWarning,
)


@pytest.fixture
def sleep() -> pd.DataFrame:
    return mm.datasets.load("sleepstudy")


def test_unknown_column_suggests_close_names(sleep: pd.DataFrame) -> None:
    with pytest.raises(ColumnNotFoundError, match="did you mean 'Days'"):
        build_design("Reaction ~ Dayz + (1 | Subject)", sleep)
    with pytest.raises(ColumnNotFoundError, match="grouping factor"):
        build_design("Reaction ~ Days + (1 | Subjct)", sleep)


def test_na_rows_dropped_or_raised(sleep: pd.DataFrame) -> None:
    d = sleep.copy()
    d.loc[[3, 10], "Reaction"] = np.nan
    des = build_design("Reaction ~ Days + (1 | Subject)", d)
    assert des.n == 178 and des.n_omitted == 2
    assert 3 not in set(des.rows)
    with pytest.raises(DataError, match="na_action='omit'"):
        build_design("Reaction ~ Days + (1 | Subject)", d, na_action="raise")


def test_nothing_left_after_na(sleep: pd.DataFrame) -> None:
    d = sleep.copy()
    d["Reaction"] = np.nan
    with pytest.raises(DataError, match="no rows left"):
        build_design("Reaction ~ Days + (1 | Subject)", d)


def test_factor_level_order_sorted_or_categorical() -> None:
    d = pd.DataFrame({"y": np.arange(12.0), "f": list("cbacbacbacba"), "g": [3, 1, 2] * 4})
    des = build_design("y ~ f + (1 | g)", d, require_random=True)
    assert des.x_names == ["(Intercept)", "fb", "fc"]
    assert des.terms[0].factor.levels == ["1", "2", "3"]
    d["f"] = pd.Categorical(d["f"], categories=["c", "a", "b"])
    des = build_design("y ~ f + (1 | g)", d)
    assert des.x_names == ["(Intercept)", "fa", "fb"]


def test_polynomial_contrasts_for_ordered_factor() -> None:
    m, names = contr_poly(["a", "b", "c", "d"])
    assert names == [".L", ".Q", ".C"]
    np.testing.assert_allclose(m.T @ m, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(m[:, 0], np.array([-3, -1, 1, 3]) / np.sqrt(20))


def test_no_intercept_codes_first_factor_fully() -> None:
    d = pd.DataFrame(
        {"y": np.arange(12.0), "f": list("abc") * 4, "h": list("xxyy") * 3, "g": [1, 2] * 6}
    )
    des = build_design("y ~ 0 + f + h + (1 | g)", d)
    assert des.x_names == ["fa", "fb", "fc", "hy"]


def test_lme4_identifiability_checks(sleep: pd.DataFrame) -> None:
    with pytest.raises(ModelSpecificationError, match="at least 2 levels"):
        build_design("Reaction ~ Days + (1 | one)", sleep.assign(one="a"))
    with pytest.raises(ModelSpecificationError, match="levels for 180 observations"):
        build_design("Reaction ~ Days + (1 | row)", sleep.assign(row=np.arange(180)))
    pen = mm.datasets.load("Penicillin")
    with pytest.raises(ModelSpecificationError):
        build_design("diameter ~ 1 + (1 | plate/sample)", pen)


def test_non_numeric_response_and_bad_weights(sleep: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="must be a numeric column"):
        mm.lmer("Subject ~ Days + (1 | Subject)", sleep.assign(Subject2=sleep.Subject))
    with pytest.raises(DataError, match="non-negative"):
        build_design("Reaction ~ Days + (1 | Subject)", sleep, weights=-np.ones(180))
    with pytest.raises(DataError, match="finite"):
        build_design("Reaction ~ Days + (1 | Subject)", sleep, weights=np.full(180, np.inf))
    with pytest.raises(DataError, match="zero weights"):
        build_design("Reaction ~ Days + (1 | Subject)", sleep, weights=np.r_[0.0, np.ones(179)])
    with pytest.raises(DataError, match="infinite"):
        build_design("Reaction ~ Days + (1 | Subject)", sleep.assign(Reaction=np.inf))
    with pytest.raises(DataError, match="180 rows"):
        build_design("Reaction ~ Days + (1 | Subject)", sleep, weights=np.ones(10))


def test_no_random_terms_is_a_formula_error(sleep: pd.DataFrame) -> None:
    with pytest.raises(FormulaError, match="mm.lm"):
        mm.lmer("Reaction ~ Days", sleep)


def test_expressions_in_formula(sleep: pd.DataFrame) -> None:
    des = build_design("Reaction ~ I(Days^2) + log(Days + 1) + scale(Days) + (1 | Subject)", sleep)
    assert des.x_names == ["(Intercept)", "I(Days^2)", "log(Days + 1)", "scale(Days)"]
    np.testing.assert_allclose(des.X[:, 1], sleep["Days"] ** 2)
    z = des.X[:, 3]
    assert abs(z.mean()) < 1e-12 and z.std(ddof=1) == pytest.approx(1.0)


def test_interaction_names_first_factor_fastest() -> None:
    cake = mm.datasets.load("cake")
    des = build_design("angle ~ recipe * temperature + (1 | recipe:replicate)", cake)
    assert des.x_names[8:11] == [
        "recipeB:temperature.L",
        "recipeC:temperature.L",
        "recipeB:temperature.Q",
    ]


def test_orthogonal_poly_as_r(sleep: pd.DataFrame) -> None:
    # R: head(poly(sleepstudy$Days, 2), 2) and fixef(lmer(Reaction ~ poly(Days, 2) + (1|Subject)))
    des = build_design("Reaction ~ poly(Days, 2) + (1 | Subject)", sleep)
    assert des.x_names == ["(Intercept)", "poly(Days, 2)1", "poly(Days, 2)2"]
    np.testing.assert_allclose(
        des.X[:2, 1:], [[-0.11677484, 0.12309149], [-0.09082488, 0.04103050]], atol=1e-8
    )
    m = mm.lmer("Reaction ~ poly(Days, 2) + (1 | Subject)", sleep)
    np.testing.assert_allclose(m.fixef, [298.50789, 403.36417, 32.85579], rtol=1e-7)
    # new data reuse the fitted recurrence coefficients
    np.testing.assert_allclose(m.predict(sleep.head(3)), m.fitted[:3])


def test_no_rows_errors_name_the_cause() -> None:
    d = mm.datasets.load("sleepstudy")
    with pytest.raises(DataError, match="the data has no rows"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", d.iloc[:0])
    with pytest.raises(DataError, match="'x' is NA in every row"):
        mm.lmer("Reaction ~ x + (1 | Subject)", d.assign(x=np.nan))


def test_nan_rows_from_expressions_are_dropped(sleep: pd.DataFrame) -> None:
    d = build_design("Reaction ~ log(Days - 0.5) + (1 | Subject)", sleep)
    assert d.n == 162 and d.n_omitted == 18


def test_more_fixed_effect_columns_than_rows(sleep: pd.DataFrame) -> None:
    small = sleep.iloc[:20].assign(Subject=lambda d: d.Subject.astype(str))
    for formula in (
        "Reaction ~ factor(Days) * Subject + (1 | Subject)",  # p = n after rank checks
        "Reaction ~ factor(Days) * factor(Reaction) + (1 | Subject)",  # p > n
    ):
        with pytest.raises(ModelSpecificationError, match="fewer fixed-effect columns than rows"):
            build_design(formula, small)


def test_offset_must_be_numeric(sleep: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"offset\(Subject\): an offset must be one number per row"):
        build_design("Reaction ~ Days + offset(Subject) + (1 | Subject)", sleep)
    with pytest.raises(DataError, match="column 'offset' .* infinite"):
        build_design("Reaction ~ Days + offset(log(Days)) + (1 | Subject)", sleep)


def test_numbers_as_terms_follow_r(sleep: pd.DataFrame) -> None:
    """R: 0/1 (however written: TRUE, 1.0, 0x1) switch the intercept; other numbers
    are "invalid model formula"."""
    for text in (
        "Reaction ~ TRUE + Days + (TRUE | Subject)",
        "Reaction ~ 1.0 + Days + (0x1|Subject)",
    ):
        d = build_design(text, sleep)
        assert d.x_names == ["(Intercept)", "Days"] and d.terms[0].names == ["(Intercept)"]
    d = build_design("Reaction ~ FALSE + Days + (1 | Subject)", sleep)
    assert d.x_names == ["Days"]
    for text in ("Reaction ~ 0 + 1e5 + Days + (1|Subject)", "Reaction ~ Days:2 + (1|Subject)"):
        with pytest.raises(FormulaError, match="cannot be a term of a model formula"):
            build_design(text, sleep)


def test_backquoted_names_are_columns(sleep: pd.DataFrame) -> None:
    d = build_design("Reaction ~ `0` + (1 | Subject)", sleep.assign(**{"0": sleep.Days * 2.0}))
    assert d.x_names == ["(Intercept)", "0"]
    np.testing.assert_array_equal(d.X[:, 1], sleep.Days * 2.0)


def test_nested_bars_and_non_ascii_groups_fit(sleep: pd.DataFrame) -> None:
    ref = mm.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    m = mm.lmer("Reaction ~ (Days + (1|Subject))", sleep)
    np.testing.assert_allclose(m.theta, ref.theta, rtol=1e-8)
    m = mm.lmer("Reaction ~ Days + (1 | Sübject)", sleep.rename(columns={"Subject": "Sübject"}))
    np.testing.assert_allclose(m.theta, ref.theta, rtol=1e-8)


def test_logical_keeps_false_and_true_as_r(sleep: pd.DataFrame) -> None:
    """R codes a logical as factor(x, levels = c(FALSE, TRUE)): a level that does not
    occur gives a zero column, dropped as rank deficient (lme4 1.1-31: fixef
    (Intercept) 251.40510, Days 10.46729 for both fits)."""
    for f, d in [
        ("Reaction ~ Days + I(Reaction > 1000) + (1 | Subject)", sleep),
        ("Reaction ~ Days + flag + (1 | Subject)", sleep.assign(flag=sleep.Days > 100)),
    ]:
        with pytest.warns(RankDeficiencyWarning, match="TRUE"):
            m = mm.lmer(f, d)
        np.testing.assert_allclose(m.fixef, [251.40510, 10.46729], rtol=1e-6)


def test_response_on_the_right_is_dropped_as_r(sleep: pd.DataFrame) -> None:
    """lme4 1.1-31: 'the response appeared on the right-hand side and was dropped';
    fixef 254.4183, θ 0.4211432; an interaction with the response stays."""
    with pytest.warns(UserWarning, match="appeared on the right-hand side"):
        m = mm.lmer("Reaction ~ Reaction + (0 + Days | Subject)", sleep)
    assert list(m.fixef.index) == ["(Intercept)"]
    np.testing.assert_allclose(m.fixef, [254.4183], rtol=1e-6)
    np.testing.assert_allclose(m.theta, [0.4211432], rtol=1e-4)

