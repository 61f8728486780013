"""Bound-constrained BFGS (mixedmodels.quasi_newton)."""

from __future__ import annotations

import math

import nlopt
import numpy as np

from mixedmodels.quasi_newton import bfgs_bounded


def _rosenbrock(x: np.ndarray) -> tuple[float, np.ndarray]:
    a, b = x
    f = (1 - a) ** 2 + 100 * (b - a * a) ** 2
    g = np.array([-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)])
    return f, g


def test_unconstrained_minimum() -> None:
    res = bfgs_bounded(_rosenbrock, np.array([-1.2, 1.0]), np.full(2, -np.inf))
    assert res.code == nlopt.SUCCESS and res.ok
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-7)
    assert res.max_grad <= 1e-8 and res.boundary_grad == 0.0


def test_minimum_on_the_bound() -> None:
    """min (x0 + 1)² + (x1 − 2)² over x ≥ 0 is at (0, 2), with slope 2 into the region."""

    def fg(x: np.ndarray) -> tuple[float, np.ndarray]:
        return (x[0] + 1) ** 2 + (x[1] - 2) ** 2, np.array([2 * (x[0] + 1), 2 * (x[1] - 2)])

    res = bfgs_bounded(fg, np.array([3.0, 0.5]), np.zeros(2))
    assert res.ok
    np.testing.assert_allclose(res.x, [0.0, 2.0], atol=1e-9)
    assert res.boundary_grad == 0.0  # the criterion rises into the region


def test_budget_and_infeasible_start() -> None:
    res = bfgs_bounded(_rosenbrock, np.array([-1.2, 1.0]), np.full(2, -np.inf), maxeval=5)
    assert res.code == nlopt.MAXEVAL_REACHED and not res.ok and res.feval <= 5
    bad = bfgs_bounded(lambda x: (math.inf, None), np.zeros(2), np.zeros(2))
    assert not bad.ok


def test_infeasible_region_is_avoided() -> None:
    """f undefined (inf) for x > 2: the line search backs off and still converges."""

    def fg(x: np.ndarray) -> tuple[float, np.ndarray | None]:
        if x[0] > 2.0:
            return math.inf, None
        return (x[0] - 1.9) ** 2, np.array([2 * (x[0] - 1.9)])

    res = bfgs_bounded(fg, np.array([-30.0]), np.array([-np.inf]))
    assert res.ok and abs(res.x[0] - 1.9) < 1e-8
