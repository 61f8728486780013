"""Products of model columns from monomial sums (mixedmodels.scale.duckdb_products)."""

from __future__ import annotations

import numpy as np
import pytest

from mixedmodels.crossprod import Centering
from mixedmodels.scale.duckdb_products import ProductPlan, affine_columns, expand
from mixedmodels.scale.sql import literal

ONE = literal(1.0)


def _shift(m: float, d: float) -> Centering:
    return Centering(0.0, 1.0, np.array([0.0, m]), np.array([1.0, d]), True)


def test_random_slope_products_need_six_monomials() -> None:
    # y ~ x + (x | g): Z = [1, x] with x = d x̃ + m
    affine = affine_columns([ONE, "x"], [ONE, "xt"], _shift(3.0, 2.0))
    assert affine == {"x": {("xt",): 2.0, (): 3.0}}
    keys = [(), ("x",), ("x", "x"), ("xt",), ("x", "xt"), ("yt",), ("x", "yt"),
            ("xt", "xt"), ("xt", "yt"), ("yt", "yt")]
    plan = ProductPlan(keys, affine)
    assert plan.monomials == [("xt",), ("yt",), ("xt", "xt"), ("xt", "yt"), ("yt", "yt")]
    assert expand(("x", "x"), affine) == {("xt", "xt"): 4.0, ("xt",): 12.0, (): 9.0}


def test_evaluate_equals_direct_sums_per_level() -> None:
    rng = np.random.default_rng(3)
    n, nl = 5000, 40
    g = rng.integers(0, nl, n)
    x = 1e6 + 3.0 * rng.normal(size=n)  # large mean: the affine form must not lose digits
    y = 1e9 + rng.normal(size=n)
    m, d = float(x[:100].mean()), float(x[:100].std())
    xt, yt = (x - m) / d, (y - 1e9) / 1.0
    cols = {"xt": xt, "yt": yt}
    affine = affine_columns([ONE, "x"], [ONE, "xt"], _shift(m, d))
    keys = [("x", "x"), ("x", "xt"), ("x", "yt"), ("x",), ("xt", "yt")]
    plan = ProductPlan(keys, affine)
    count = np.bincount(g, minlength=nl).astype(float)
    sums = {mono: np.bincount(g, weights=np.prod([cols[f] for f in mono], axis=0),
                              minlength=nl) for mono in plan.monomials}
    got = plan.evaluate(count, sums)
    raw = {"x": x, "xt": xt, "yt": yt}
    for key in keys:
        direct = np.bincount(g, weights=np.prod([raw[f] for f in key], axis=0), minlength=nl)
        np.testing.assert_allclose(got[key], direct, rtol=1e-13, atol=1e-9 * np.abs(direct).max())


def test_products_without_affine_columns_are_their_own_sums() -> None:
    plan = ProductPlan([("w", "z"), ("w", "xt", "z")], {})
    assert plan.monomials == [("w", "z"), ("w", "xt", "z")]
    count = np.array([2.0, 3.0])
    sums = {("w", "z"): np.array([0.5, 1.5]), ("w", "xt", "z"): np.array([-1.0, 2.0])}
    got = plan.evaluate(count, sums)
    assert got[("w", "z")] is not sums[("w", "z")]
    np.testing.assert_array_equal(got[("w", "z")], sums[("w", "z")])  # exactly, no rounding


@pytest.mark.parametrize("m", [np.inf, np.nan])
def test_column_with_infinite_shift_keeps_its_own_sums(m: float) -> None:
    assert affine_columns([ONE, "x"], [ONE, "xt"], _shift(m, 1.0)) == {}
