"""The Schur pattern and the symbolic factor of the sparse rest block."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from mixedmodels.linalg.symbolic import (
    amd_order,
    cholmod_column_counts,
    column_recurrence,
    level_pairs,
    schur_pattern,
    schur_structure,
    symbolic_counts,
)

pytest.importorskip("cvxopt")


def _blocks(seed: int, S1: int, n: int = 400, nl1: int = 60, rz: int = 30):
    rng = np.random.default_rng(seed)
    g, h = rng.integers(0, nl1, n), rng.integers(0, rz, n)
    Z1 = rng.normal(size=(n, S1))
    cols = (g[:, None] * S1 + np.arange(S1)).ravel()
    Zg = sp.csr_matrix((Z1.ravel(), (np.repeat(np.arange(n), S1), cols)), shape=(n, nl1 * S1))
    Zh = sp.csr_matrix((np.ones(n), (np.arange(n), h)), shape=(n, rz))
    return (Zh.T @ Zg).tocsc(), (Zh.T @ Zh).tocsc(), nl1, rz


@pytest.mark.parametrize("S1", [1, 2])
def test_schur_values_on_the_pattern(S1: int) -> None:
    """a22 − G c is the lower triangle of A22_zz − A21_z C A21_z', zero off the pattern."""
    A21, A22, nl1, rz = _blocks(1, S1)
    pat = schur_pattern(A21, A22, nl1, S1)
    rng = np.random.default_rng(3)
    C = rng.normal(size=(nl1, S1, S1))
    C = C @ C.transpose(0, 2, 1)
    full = A22.toarray() - A21 @ sp.block_diag(list(C)) @ A21.T
    got = np.zeros((rz, rz))
    got[pat.rows, pat.cols] = pat.a22 - pat.G @ C.ravel()
    np.testing.assert_allclose(got, np.tril(full), atol=1e-10)
    assert np.all(pat.rows >= pat.cols)
    assert np.all(np.diff(pat.cols * rz + pat.rows) > 0)  # CSC order


@pytest.mark.parametrize("S1", [1, 2])
def test_structure_without_enumerating_pairs(S1: int) -> None:
    """The sparse product's pattern and the counted pairs equal the enumerated level pairs."""
    A21, A22, nl1, rz = _blocks(5, S1)
    st = schur_structure(A21, A22, nl1, S1)
    ri, rj, _, _ = level_pairs(A21, nl1, S1)
    a = sp.tril(sp.coo_matrix(A22)).tocoo()
    keys = np.unique(np.concatenate([rj * rz + ri, a.col * rz + a.row]))
    np.testing.assert_array_equal(st.keys, keys)
    assert st.gnnz == ri.size
    pat = schur_pattern(A21, A22, nl1, S1)
    assert pat.G.nnz == st.gnnz
    np.testing.assert_array_equal(pat.rows, st.rows)
    np.testing.assert_array_equal(pat.cols, st.cols)


def _dense_fill(rows: np.ndarray, cols: np.ndarray, n: int, perm: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(0)
    A = np.zeros((n, n))
    A[rows, cols] = rng.uniform(0.1, 1.0, rows.size)
    A = np.tril(A, -1) + np.tril(A, -1).T + np.eye(n) * n
    L = np.linalg.cholesky(A[np.ix_(perm, perm)])
    return np.count_nonzero(np.abs(L) > 1e-300, axis=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_counts_match_a_dense_factor(seed: int) -> None:
    A21, A22, nl1, rz = _blocks(seed, 1, n=150, nl1=70, rz=40)
    pat = schur_pattern(A21, A22, nl1, 1)
    perm = amd_order(rz, pat.rows, pat.cols)
    assert sorted(perm.tolist()) == list(range(rz))
    counts = _dense_fill(pat.rows, pat.cols, rz, perm)
    assert cholmod_column_counts(rz, pat.rows, pat.cols, perm) is not None
    for got in (
        symbolic_counts(rz, pat.rows, pat.cols, perm, 1e12),  # CHOLMOD's analysis
        column_recurrence(rz, pat.rows, pat.cols, perm, 1e12),
    ):
        assert got.complete
        assert got.nnz == counts.sum()
        assert got.flops == float(np.sum(counts.astype(float) ** 2))


def test_counts_stop_at_the_limit() -> None:
    """Five independent blocks of 30 levels: the count passes a quarter of its total
    long before the last column (a factor full to the bottom is counted at once)."""
    rng = np.random.default_rng(4)
    n, nl1, rz = 2000, 200, 150
    g = rng.integers(0, nl1, n)
    h = (g % 5) * 30 + rng.integers(0, 30, n)
    Zg = sp.csr_matrix((np.ones(n), (np.arange(n), g)), shape=(n, nl1))
    Zh = sp.csr_matrix((np.ones(n), (np.arange(n), h)), shape=(n, rz))
    A21, A22 = (Zh.T @ Zg).tocsc(), (Zh.T @ Zh).tocsc()
    pat = schur_pattern(A21, A22, nl1, 1)
    perm = amd_order(rz, pat.rows, pat.cols)
    full = column_recurrence(rz, pat.rows, pat.cols, perm, 1e12)
    cut = column_recurrence(rz, pat.rows, pat.cols, perm, full.nnz / 4)
    assert full.complete and not cut.complete
    assert full.nnz / 4 < cut.nnz <= full.nnz
    exact = symbolic_counts(rz, pat.rows, pat.cols, perm, full.nnz / 4)
    assert exact.complete and (exact.nnz, exact.flops) == (full.nnz, full.flops)
