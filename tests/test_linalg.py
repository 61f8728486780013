"""The blocked Cholesky factor: its two update paths agree and match a direct computation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from mixedmodels.crossprod import crossprod
from mixedmodels.linalg import BlockedCholesky


def tri(S: int) -> tuple[np.ndarray, np.ndarray]:
    rows = [i for j in range(S) for i in range(j, S)]
    cols = [j for j in range(S) for _ in range(j, S)]
    return np.array(rows), np.array(cols)


def design(S1: int, S2: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    n, nl1, nl2 = 400, 60, 25
    c1, c2 = rng.integers(0, nl1, n), rng.integers(0, nl2, n)
    Z1 = np.column_stack([np.ones(n)] + [rng.normal(size=n) for _ in range(S1 - 1)])
    Z2 = np.column_stack([np.ones(n)] + [rng.normal(size=n) for _ in range(S2 - 1)])
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = rng.normal(size=n)
    w = rng.uniform(0.5, 2.0, n)
    return (c1, c2), (Z1, Z2), (nl1, nl2), X, y, w


def direct(codes, Zs, nls, X, y, w, theta, tris):
    """log|Λ'Z'WZΛ + I|, log|R_X|², pwrss from the full dense matrices."""
    blocks, lams, off = [], [], 0
    for c, Z, nl, (ri, ci) in zip(codes, Zs, nls, tris):
        S = Z.shape[1]
        T = np.zeros((S, S))
        k = len(ri)
        T[ri, ci] = theta[off : off + k]
        off += k
        rows = np.repeat(np.arange(len(c)), S)
        cols = (c[:, None] * S + np.arange(S)).ravel()
        blocks.append(sp.csr_matrix((Z.ravel(), (rows, cols)), shape=(len(c), nl * S)).toarray())
        lams.append(np.kron(np.eye(nl), T))
    Z = np.hstack(blocks)
    lam = np.block(
        [
            [
                lams[i] if i == j else np.zeros((lams[i].shape[0], lams[j].shape[1]))
                for j in range(len(lams))
            ]
            for i in range(len(lams))
        ]
    )
    ZL = Z @ lam
    q = ZL.shape[1]
    A = np.hstack([ZL, X, y[:, None]])
    Om = A.T @ (A * w[:, None])
    Om[:q, :q] += np.eye(q)
    L = np.linalg.cholesky(Om)
    d = np.diag(L)
    p = X.shape[1]
    return 2 * np.log(d[:q]).sum(), 2 * np.log(d[q : q + p]).sum(), d[-1] ** 2


@pytest.mark.parametrize(("S1", "S2"), [(1, 1), (2, 1), (3, 1), (1, 2), (2, 2)])
def test_dense_and_sparse_updates_match_direct(S1: int, S2: int) -> None:
    codes, Zs, nls, X, y, w = design(S1, S2)
    cp = crossprod(list(codes), list(Zs), list(nls), X, y, w)
    tris = [tri(S1), tri(S2)]
    rng = np.random.default_rng(1)
    for _ in range(3):
        theta = np.concatenate(
            [
                np.where(ri == ci, rng.uniform(0.2, 1.5, len(ri)), rng.normal(0, 0.3, len(ri)))
                for ri, ci in tris
            ]
        )
        ref = direct(codes, Zs, nls, X, y, w, theta, tris)
        solutions = []
        for dense in (True, False):
            f = BlockedCholesky(cp, tris, dense=dense)
            got = f.update(theta)
            np.testing.assert_allclose(got, ref, rtol=1e-9, err_msg=f"dense={dense}")
            solutions.append(f.solve())
        (u_d, b_d), (u_s, b_s) = solutions
        np.testing.assert_allclose(b_d, b_s, rtol=1e-9, atol=1e-12)
        for a, b in zip(u_d, u_s):
            np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)
