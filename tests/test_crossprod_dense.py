"""Dense rest blocks of small designs (crossprod.dense) against the sparse products."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from mixedmodels.crossprod import crossprod


def _design(seed: int, S: tuple[int, ...], weighted: bool):
    rng = np.random.default_rng(seed)
    n = 300
    nls = [13, 7, 5][: len(S)]
    codes = [rng.integers(0, nl, n) for nl in nls]
    for c, nl in zip(codes, nls):
        c[:nl] = np.arange(nl)  # every level present
    Zs = [
        np.column_stack([np.ones(n)] + [rng.normal(size=n) * 10.0 for _ in range(s - 1)])
        for s in S
    ]
    X = np.column_stack([np.ones(n), rng.normal(size=n) + 50.0, rng.uniform(size=n)])
    y = X @ [3.0, 0.5, -2.0] + rng.normal(size=n) + 1e4
    w = rng.uniform(0.5, 2.0, n) if weighted else None
    return codes, Zs, nls, X, y, w


@pytest.mark.parametrize("S", [(1, 1), (2, 1), (1, 2), (2, 3), (1, 1, 1), (3, 1, 2)])
@pytest.mark.parametrize("weighted", [False, True])
def test_dense_blocks_equal_the_sparse_products_bit_for_bit(S, weighted) -> None:
    codes, Zs, nls, X, y, w = _design(sum(S) + weighted, S, weighted)
    dense = crossprod(codes, Zs, nls, X, y, w)
    sparse = crossprod(codes, Zs, nls, X, y, w, rest="keep")  # the sparse products, unplanned
    assert isinstance(dense.A21, np.ndarray) and isinstance(dense.A22, np.ndarray)
    assert sp.issparse(sparse.A21) and sp.issparse(sparse.A22)
    assert dense.rest_plan is not None and not dense.rest_plan.sparse
    np.testing.assert_array_equal(dense.A11, sparse.A11)
    np.testing.assert_array_equal(dense.A21, sparse.A21.toarray())
    np.testing.assert_array_equal(dense.A22, sparse.A22.toarray())
    assert dense.A22.shape == (sparse.r, sparse.r)


def test_a_forced_sparse_rest_block_stays_sparse() -> None:
    pytest.importorskip("cvxopt")
    codes, Zs, nls, X, y, w = _design(3, (1, 1), False)
    cp = crossprod(codes, Zs, nls, X, y, w, rest="sparse")
    assert sp.issparse(cp.A22) and cp.rest_plan.sparse
