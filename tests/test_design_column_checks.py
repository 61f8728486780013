"""Model-matrix columns the fit cannot use (design.column_checks)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.design import build_design
from mixedmodels.design.column_checks import check_columns
from mixedmodels.errors import DataError


@pytest.fixture
def sleep() -> pd.DataFrame:
    return mm.datasets.load("sleepstudy")


@pytest.mark.parametrize(
    ("formula", "column", "rows"),
    [
        ("Reaction ~ log(Days) + (1 | Subject)", "log(Days)", 18),
        ("Reaction ~ I(1/Days) + (1 | Subject)", "I(1/Days)", 18),
        ("Reaction ~ I(Days * 1e308) + (1 | Subject)", "I(Days * 1e+308)", 144),
        ("Reaction ~ Days + (log(Days) | Subject)", "log(Days)", 18),
    ],
)
def test_infinite_model_matrix_values_are_named(
    sleep: pd.DataFrame, formula: str, column: str, rows: int
) -> None:
    """R/lme4 stop on non-finite values in X ("NA/NaN/Inf in 'x'"); NaN (log of a
    negative number) is NA and its rows are dropped."""
    with pytest.raises(DataError, match=rf"'{re.escape(column)}' .* has {rows} infinite values"):
        build_design(formula, sleep)



def test_values_whose_products_overflow(sleep: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"'I\(1e\+308 - Days\)' .* sum overflows"):
        build_design("Reaction ~ I(1e308 - Days) + (1 | Subject)", sleep)
    with pytest.raises(DataError, match=r"'I\(1e\+200 \* Days\)' .* squares overflow"):
        build_design("Reaction ~ (I(1e200 * Days) | Subject)", sleep)


def test_check_columns_returns_the_extremes_and_reuses_known_ones() -> None:
    M = np.array([[1.0, -3.0], [1.0, 2.0]])
    assert check_columns(M, ["a", "b"], "X", "f", squared=False) == {"a": 1.0, "b": 3.0}
    # a column named in ``known`` is not read again (its max|v| is taken from there)
    got = check_columns(M, ["a", "b"], "Z", "f", squared=True, known={"b": 7.0})
    assert got == {"a": 1.0, "b": 7.0}
    with pytest.raises(DataError, match="column 'b' of Z has 1 infinite value"):
        check_columns(np.array([[1.0, np.inf], [1.0, 0.0]]), ["a", "b"], "Z", "f", True)
