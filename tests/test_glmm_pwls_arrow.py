"""The arrow-matrix PWLS solve equals the general blocked elimination."""

from __future__ import annotations

import numpy as np
import pytest

from mixedmodels.glmm.pwls import PWLS, PWLSTerm
from mixedmodels.glmm.pwls_arrow import nested_parent

RNG = np.random.default_rng(7)
N = 300


def _term(codes: np.ndarray, nl: int, z: np.ndarray | None = None) -> PWLSTerm:
    Z = np.ones((codes.size, 1)) if z is None else z[:, None]
    return PWLSTerm(codes, Z, nl, (np.array([0]), np.array([0])))


def _designs() -> dict[str, tuple[list[PWLSTerm], np.ndarray]]:
    X = np.column_stack([np.ones(N), RNG.normal(size=N), RNG.normal(size=N) * 100 + 400])
    inner = RNG.integers(0, 40, N)
    inner[:40] = np.arange(40)
    outer_of = RNG.integers(0, 9, 40)
    outer_of[:9] = np.arange(9)
    return {
        "one term": ([_term(inner, 40)], X),
        "one slope term": ([_term(inner, 40, RNG.normal(size=N))], X),
        "nested pair": ([_term(inner, 40), _term(outer_of[inner], 9)], X),
        "nested pair, no X": ([_term(inner, 40), _term(outer_of[inner], 9)], X[:, :0]),
    }


@pytest.mark.parametrize("case", list(_designs()))
def test_arrow_solve_equals_the_blocked_elimination(case: str) -> None:
    terms, X = _designs()[case]
    fast, general = PWLS(terms, X), PWLS(terms, X, arrow=False)
    assert fast._arrow is not None and general._arrow is None
    w = RNG.uniform(0.2, 3.0, N)
    z = RNG.normal(size=N) + X @ np.linspace(0.5, -0.01, X.shape[1])
    theta = np.array([0.8, 1.7])[: len(terms)]
    for a, b in zip(fast.solve(theta, w, z), general.solve(theta, w, z)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(fast.rx(), general.rx(), rtol=1e-9)
    if X.shape[1]:
        # the cached products, collapsed on β for the system without X
        beta = np.linspace(-1, 1, X.shape[1])
        uf, ug = PWLS(terms, X[:, :0]), PWLS(terms, X[:, :0], arrow=False)
        pf = uf.solve(theta, w, w, products=fast.without_x(fast.products(w, z), beta))
        pg = ug.solve(theta, w, w, products=general.without_x(general.products(w, z), beta))
        np.testing.assert_allclose(pf[0], pg[0], rtol=1e-9, atol=1e-11)
        assert pf[2] == pytest.approx(pg[2], rel=1e-12)


def test_nesting_is_detected_only_where_it_holds() -> None:
    inner = np.array([0, 0, 1, 2, 2, 3])
    assert nested_parent(inner, 4, np.array([1, 1, 0, 1, 1, 0]), 2).tolist() == [1, 0, 1, 0]
    assert nested_parent(inner, 4, np.array([1, 0, 0, 1, 1, 0]), 2) is None  # level 0 in both
    assert nested_parent(inner, 5, np.array([1, 1, 0, 1, 1, 0]), 2) is None  # level 4 unseen
    crossed = [_term(np.arange(N) % 20, 20), _term(np.arange(N) // 20 % 15, 15)]
    assert PWLS(crossed, np.ones((N, 1)))._arrow is None
