"""Closed-form per-level factors of term 1 (S = 2, 3): both rank-update routes agree
with a direct computation, report indefinite blocks, and serve BlockedCholesky."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from mixedmodels.crossprod import crossprod
from mixedmodels.linalg import BlockedCholesky
from mixedmodels.linalg.level_blocks import LevelBlocks
from test_linalg import direct, tri


def _blocks(nl: int, S: int, r: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(nl, 5, S))
    A11 = np.einsum("lis,lit->lst", Z, Z)
    A21 = rng.normal(size=(r, nl * S))
    T = np.tril(rng.uniform(0.2, 1.2, (S, S)))
    T[np.tril_indices(S, -1)] = rng.normal(0.0, 0.4, S * (S - 1) // 2)
    return A11, A21, T


def _reference(A11: np.ndarray, A21: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, float]:
    """Σ_l A21_l T M_l⁻¹ T' A21_l' and Σ_l log det M_l with M_l = T'A_l T + I, by LAPACK."""
    nl, S, _ = A11.shape
    M = T.T @ A11 @ T + np.eye(S)
    C = T @ np.linalg.inv(M) @ T.T
    P = A21.reshape(A21.shape[0], nl, S)
    return np.einsum("ils,lst,jlt->ij", P, C, P), float(np.linalg.slogdet(M)[1].sum())


@pytest.mark.parametrize("S", [2, 3])
@pytest.mark.parametrize("r", [1, 3, 9])
@pytest.mark.parametrize("use_f", [True, False])
def test_update_matches_lapack(S: int, r: int, use_f: bool) -> None:
    A11, A21, T = _blocks(40, S, r)
    lb = LevelBlocks(A11, A21, use_f=use_f)
    ref, ld = _reference(A11, A21, T)
    for _ in range(2):  # the work arrays are reused: a second update gives the same
        got = lb.update(T)
        assert got is not None
        np.testing.assert_allclose(np.tril(got[0]), np.tril(ref), rtol=1e-11, atol=1e-11)
        assert got[1] == pytest.approx(ld, rel=1e-13)
    L = lb.cholesky_factors()
    assert L is not None
    np.testing.assert_allclose(L, np.linalg.cholesky(T.T @ A11 @ T + np.eye(S)), rtol=1e-12)


@pytest.mark.parametrize("S", [2, 3])
def test_term_blocks_match_lapack(S: int) -> None:
    A11, _, T = _blocks(30, S, 1)
    lb = LevelBlocks(A11, None)
    got = lb.term_blocks(T)
    assert got is not None
    M = T.T @ A11 @ T + np.eye(S)
    np.testing.assert_allclose(got[0], T @ np.linalg.inv(M) @ T.T, rtol=1e-11, atol=1e-13)
    assert got[1] == pytest.approx(float(np.linalg.slogdet(M)[1].sum()), rel=1e-13)
    with pytest.raises(ValueError, match="term_blocks"):
        lb.update(T)


@pytest.mark.parametrize("S", [2, 3])
@pytest.mark.parametrize("use_f", [True, False])
def test_indefinite_block_is_reported(S: int, use_f: bool) -> None:
    A11, A21, T = _blocks(20, S, 3)
    A11[7] = -4.0 * np.eye(S)  # M_7 = I − 4 T'T: indefinite at this T
    lb = LevelBlocks(A11, A21, use_f=use_f)
    assert lb.update(np.eye(S)) is None
    assert lb.cholesky_factors() is None
    assert LevelBlocks(A11, None).term_blocks(np.eye(S)) is None


def test_route_by_size() -> None:
    assert LevelBlocks.prefers_f(3, 2, 10**5)
    assert not LevelBlocks.prefers_f(40, 2, 10**3)
    assert not LevelBlocks.prefers_f(3, 2, 10**8)  # F would not fit in memory


@pytest.mark.parametrize(("S1", "S2"), [(2, 1), (2, 2), (3, 1), (3, 2)])
def test_blocked_factor_with_few_rest_rows(S1: int, S2: int) -> None:
    """A second term of 2 levels: a rest block of a few rows, scalar or not."""
    rng = np.random.default_rng(5)
    n, nls = 300, (40, 2)
    codes = (rng.integers(0, nls[0], n), rng.integers(0, nls[1], n))
    Zs = tuple(
        np.column_stack([np.ones(n)] + [rng.normal(size=n) for _ in range(S - 1)])
        for S in (S1, S2)
    )
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    y, w = rng.normal(size=n), rng.uniform(0.5, 2.0, n)
    cp = crossprod(list(codes), list(Zs), list(nls), X, y, w)
    tris = [tri(S1), tri(S2)]
    a21 = cp.A21.toarray() if sp.issparse(cp.A21) else cp.A21
    factors = []
    for use_f in (True, False):  # both rank-update routes on the same rest block
        f = BlockedCholesky(cp, tris, dense=True)
        assert f.level_blocks is not None
        f.level_blocks = LevelBlocks(cp.A11, a21, use_f=use_f)
        factors.append(f)
    sparse = BlockedCholesky(cp, tris, dense=False)
    for _ in range(2):
        theta = np.concatenate(
            [np.where(ri == ci, rng.uniform(0.2, 1.5, len(ri)), rng.normal(0, 0.3, len(ri)))
             for ri, ci in tris]
        )
        ref = direct(codes, Zs, nls, X, y, w, theta, tris)
        np.testing.assert_allclose(sparse.update(theta), ref, rtol=1e-9)
        for f in factors:
            np.testing.assert_allclose(f.update(theta), ref, rtol=1e-9)
            for a, b in zip(f.solve()[0], sparse.solve()[0]):
                np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)
            for a, b in zip(f.cond_var_spherical(), sparse.cond_var_spherical()):
                np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)
