"""Batched Cholesky factors and triangular solves of small blocks."""

from __future__ import annotations

import numpy as np

from mixedmodels.linalg import batched


def _blocks(nl: int, S: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    G = rng.normal(size=(nl, S, S))
    return G @ G.transpose(0, 2, 1) + 0.1 * np.eye(S)


def test_cholesky_and_solves_match_lapack() -> None:
    for S in (1, 2, 3, 4):
        M = _blocks(50, S)
        L = batched.cholesky(M)
        assert L is not None
        np.testing.assert_allclose(L, np.linalg.cholesky(M), rtol=1e-10, atol=1e-12)
        B = np.random.default_rng(S).normal(size=(50, S, 3))
        X = batched.solve_lower(L, B)
        np.testing.assert_allclose(L @ X, B, atol=1e-9)
        Y = batched.solve_upper(L, B)
        np.testing.assert_allclose(L.transpose(0, 2, 1) @ Y, B, atol=1e-9)


def test_cholesky_reports_an_indefinite_block() -> None:
    M = _blocks(10, 2)
    M[4] = np.array([[1.0, 2.0], [2.0, 1.0]])
    assert batched.cholesky(M) is None
