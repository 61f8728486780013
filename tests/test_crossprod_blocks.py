"""Level-pair sums of two scalar terms (crossprod.blocks)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from mixedmodels.crossprod.blocks import level_pair_sums


def _term(codes: np.ndarray, z: np.ndarray, nl: int) -> sp.csr_matrix:
    return sp.csr_matrix((z, (np.arange(codes.size), codes)), shape=(codes.size, nl))


def test_level_pair_sums_equal_the_sparse_product_exactly() -> None:
    rng = np.random.default_rng(11)
    n, nla, nlb = 5000, 70, 40
    ca, cb = rng.integers(0, nla, n), rng.integers(0, nlb, n)
    za, zb = rng.normal(size=n), rng.normal(size=n) * rng.uniform(0.1, 3.0, n)
    za[ca == 3] = 0.0  # a level whose sums are all exactly zero: no stored entries
    got = level_pair_sums(ca, za, nla, cb, zb, nlb)
    want = (_term(ca, za, nla).T @ _term(cb, zb, nlb)).tocsr()
    want.sort_indices()
    assert got.shape == (nla, nlb) and got.has_sorted_indices
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_array_equal(got.data, want.data)  # same sums in the same order
    assert got[3].nnz == 0


def test_level_pair_sums_of_one_term_are_diagonal() -> None:
    rng = np.random.default_rng(12)
    c = rng.integers(0, 25, 800)
    z = rng.normal(size=800)
    got = level_pair_sums(c, z, 25, c, z, 25).toarray()
    np.testing.assert_array_equal(np.diag(got), np.bincount(c, weights=z * z, minlength=25))
    assert np.count_nonzero(got - np.diag(np.diag(got))) == 0
