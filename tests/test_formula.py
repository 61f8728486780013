"""The lme4 formula grammar: bars, ||, nesting, errors that point at the text."""

from __future__ import annotations

import pytest

from mixedmodels.errors import FormulaError
from mixedmodels.formula import parse_formula


def groups(text: str) -> list[tuple[str, str]]:
    return [(b.expr, b.group) for b in parse_formula(text).bars]


def test_random_slope_and_fixed_part() -> None:
    f = parse_formula("Reaction ~ 1 + Days + (1 + Days | Subject)")
    assert f.response == "Reaction"
    assert f.fixed == "1 + Days"
    assert groups(f.text) == [("1 + Days", "Subject")]


def test_double_bar_splits_terms() -> None:
    assert groups("y ~ x + (x || g)") == [("1", "g"), ("0 + x", "g")]
    assert groups("y ~ x + (0 + x + z || g)") == [("0 + x", "g"), ("0 + z", "g")]


def test_nesting_expands_as_lme4_names_it() -> None:
    assert groups("y ~ 1 + (1 | a/b)") == [("1", "a"), ("1", "b:a")]
    assert [b.group for b in parse_formula("y ~ (1 | a/b/c)").bars] == ["a", "b:a", "c:(b:a)"]
    bar = parse_formula("y ~ (1 | a/b/c)").bars[2]
    assert bar.group_vars == ("c", "b", "a")


def test_interaction_grouping_and_several_bars() -> None:
    assert groups("y ~ x + (1 | s) + (1 | d) + (1 | dept:service)") == [
        ("1", "s"),
        ("1", "d"),
        ("1", "dept:service"),
    ]


def test_factor_call_as_grouping_factor_reads_the_column_and_keeps_lme4_name() -> None:
    bars = parse_formula("y ~ x + (x | factor(s)) + (1 | as.factor(d):e) + (1 | (f))").bars
    assert [b.group for b in bars] == ["factor(s)", "as.factor(d):e", "f"]
    assert [b.group_vars for b in bars] == [("s",), ("d", "e"), ("f",)]
    nested = parse_formula("y ~ (1 | factor(a)/b)").bars
    assert [(b.group, b.group_vars) for b in nested] == [
        ("factor(a)", ("a",)),
        ("b:factor(a)", ("b", "a")),
    ]
    with pytest.raises(FormulaError, match=r"'log\(s\)' must be a column name, factor\(column\)"):
        parse_formula("y ~ (1 | log(s))")


def test_parenthesised_fixed_part_and_intercept_only() -> None:
    f = parse_formula("r2 ~ (Anger + Gender) + (1 | id)")
    assert f.fixed == "(Anger + Gender)"
    assert parse_formula("y ~ (1 | g)").fixed == "1"
    assert parse_formula("y ~ 0 + x + (1 | g)").fixed == "0 + x"


@pytest.mark.parametrize(
    ("text", "fragment", "position"),
    [
        ("y ~ x + (1 | )", "no grouping factor", 13),
        ("y ~ x + (1|g", "unbalanced", 8),
        ("y x", "needs a response", 0),
        ("y ~ x ~ z", "more than one '~'", 6),
        ("y ~ x * (1|g)", "added with '+'", 8),
        ("y ~ x | g", "outside parentheses", 6),
        ("y ~ x + ( | g)", "nothing left of '|'", 10),
        ("y ~ x + (1 | 2g)", "must be a column name", None),
        (" ~ x + (1 | g)", "no response", 0),
        ("y ~ x + ", "'+' has nothing after it (the formula ends)", 6),
        ("y ~ x + (1 | g) +", "'+' has nothing after it", 16),
        ("y ~ x + (1 + | g)", "'+' has nothing after it ('|' follows)", 11),
        ("y ~ x + (x g)", "for a random effect write (x | g)", 11),
        ("y ~ a b + (1 | g)", "'b' follows 'a' with no operator", 6),
    ],
)
def test_errors_point_at_the_text(text: str, fragment: str, position: int | None) -> None:
    with pytest.raises(FormulaError) as info:
        parse_formula(text)
    err = info.value
    assert fragment in str(err)
    assert err.formula == text
    if position is not None:
        assert err.position == position
        caret_line = str(err).splitlines()[-1]
        assert caret_line.index("^") - 2 == position


def test_minus_one_after_a_bar_term() -> None:
    """lme4 accepts y ~ x + (1|g) - 1: the '- 1' belongs to the fixed part."""
    assert parse_formula("y ~ x + (1 | g) - 1").fixed == "x - 1"
    assert parse_formula("y ~ (1 | g) - 1 + x").fixed == "- 1 + x"


def test_bars_inside_parentheses_as_lme4_findbars() -> None:
    """lme4's findbars looks inside parentheses: both formulas fit in lme4 1.1-31."""
    f = parse_formula("Reaction ~ (Days + (1|Subject))")
    assert f.fixed.strip() == "Days"
    assert groups(f.text) == [("1", "Subject")]
    f = parse_formula("Reaction ~ ((1|Subject))")
    assert f.fixed == "1"
    assert groups(f.text) == [("1", "Subject")]
    assert groups("y ~ x + ((x + (1|g)) + (0 + x|h))") == [("1", "g"), ("0 + x", "h")]
    with pytest.raises(FormulaError, match=r"added with '\+', found '\*'"):
        parse_formula("y ~ (x * (1|g))")


def test_non_ascii_grouping_factor() -> None:
    assert groups("y ~ Days + (Days | Sübject)") == [("Days", "Sübject")]
    assert groups("y ~ 1 + (1 | école/classe)") == [("1", "école"), ("1", "classe:école")]


@pytest.mark.parametrize("text", ["y ~ I(Days | Days) + (1|g)", "y ~ log(a || b) + (1|g)"])
def test_bar_inside_a_call_is_named(text: str) -> None:
    """lme4 takes 'a | b' inside a call for a random-effect term and fails; say so."""
    with pytest.raises(FormulaError, match=r"'\|' inside the call (I|log)\(...\)") as info:
        parse_formula(text)
    assert info.value.position == text.index("|")


def test_powers_expand_as_r_and_fast() -> None:
    """R: (a + b + ...)^p is every interaction up to order p; the power saturates at
    the number of variables (formulaic alone takes minutes for (a+...+g)^7)."""
    import time

    from mixedmodels.design.model_matrix import parse_terms

    t0 = time.perf_counter()
    assert len(parse_terms("(a+b+c+d+e+f+g)^7").terms) == 127
    assert len(parse_terms("(a+b)^2222").terms) == 3
    assert parse_terms("(a + log(x))^2").terms == (("a",), ("log(x)",), ("a", "log(x)"))
    assert parse_terms("a:b^2").terms == (("a", "b"),)
    assert time.perf_counter() - t0 < 5.0
    for text in ("(a+b)^1e999", "(a+b)^0", "a^-1", "a^b"):
        with pytest.raises(FormulaError, match="invalid power in formula"):
            parse_terms(text)


def test_double_bar_with_nothing_in_it() -> None:
    with pytest.raises(FormulaError, match="has no terms and no intercept"):
        parse_formula("y ~ x + (FALSE || g)")
