"""Which fixed-effect columns are kept (design.rank): lme4's limited pivoting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mixedmodels.design import build_design
from mixedmodels.design.rank import drop_dependent_columns, normalized_pivots
from mixedmodels.errors import RankDeficiencyWarning


def test_rank_deficient_columns_dropped_with_warning() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    d = pd.DataFrame({"y": rng.normal(size=40), "x": x, "x2": 2 * x, "g": np.repeat(range(8), 5)})
    with pytest.warns(RankDeficiencyWarning, match="dropping 1 column"):
        des = build_design("y ~ x + x2 + (1 | g)", d)
    assert des.x_names == ["(Intercept)", "x"]
    assert des.dropped_columns == ["x2"]


@pytest.mark.parametrize("scale", [1e-200, 1.0, 1e200])
def test_dependence_is_found_at_any_scale(scale: float) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=30)
    X = np.column_stack([np.ones(30), x, rng.normal(size=30), 3.0 * x - 2.0]) * scale
    np.testing.assert_array_equal(drop_dependent_columns(X), [0, 1, 2])
    np.testing.assert_array_equal(drop_dependent_columns(X[:, :3]), [0, 1, 2])


def test_zero_column_and_more_columns_than_rows() -> None:
    X = np.column_stack([np.ones(3), np.zeros(3), [1.0, 2.0, 4.0], [0.0, 1.0, 5.0], [2.0, 1, 1]])
    np.testing.assert_array_equal(drop_dependent_columns(X), [0, 2, 3])


def test_normalized_pivots_are_relative_residuals() -> None:
    """R_jj² of the unit-diagonal X'X: 1 for orthogonal columns, 1 − ρ² for two."""
    G = np.array([[4.0, 1.0], [1.0, 1.0]])  # correlation 1/2
    np.testing.assert_allclose(normalized_pivots(G, 0.0, np.inf), [1.0, 0.75])
    assert normalized_pivots(np.array([[1.0, np.inf], [np.inf, 1.0]]), 0.0, np.inf) is None
    assert normalized_pivots(np.array([[1.0, 1.0], [1.0, 1.0]]) + [[0, 0], [0, -1e-3]],
                             0.0, np.inf) is None  # not positive definite
    assert normalized_pivots(np.eye(2), 2.0, np.inf) is None  # a diagonal below ``low``
