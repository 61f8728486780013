"""The cross-products of one design with new responses: the refit path of stage 3.

Only ỹ = (y − c)/s depends on y: its row of A21 (Σ Z₁ W ỹ per level of
term 1), its row and column of A22 ([Z_k'Wỹ, X̃'Wỹ, ỹ'Wỹ]) and the
shift's c and s (:meth:`Centering.with_response`). A11 and every Z and X̃
block are shared with the design's cross-products, and so are X̃√w and
Z_k√w, which :class:`ResponseRows` forms once for all the responses of a
bootstrap, a power simulation or a profile. The result equals
:func:`~mixedmodels.crossprod.crossprod` of the new rows (to rounding).
"""

from __future__ import annotations

import copy

import numpy as np
import scipy.sparse as sp

from .blocks import CrossProducts

__all__ = ["ResponseRows"]


class ResponseRows:
    """``rows(y)``: the cross-products ``cp`` of a design (codes, Z, X, weights) with the
    response y instead of its own."""

    def __init__(
        self,
        cp: CrossProducts,
        codes: list[np.ndarray],
        Zs: list[np.ndarray],
        X: np.ndarray,
        weights: np.ndarray | None = None,
    ):
        self.cp = cp
        self.codes = codes
        self.weights = weights
        self.sw = None if weights is None else np.sqrt(weights)
        Xt, _ = cp.shift.transform(X, np.zeros(X.shape[0]))
        sw = self.sw
        self.Xw = Xt if sw is None else Xt * sw[:, None]  # X̃√w
        # Z_k√w column by column, contiguous (bincount weights)
        self.Zw = [[np.ascontiguousarray(Z[:, s] if sw is None else Z[:, s] * sw)
                    for s in range(Z.shape[1])] for Z in Zs]
        A21 = cp.A21
        self._a21_last = None  # CSC positions of the ỹ entries, where every column has one
        if sp.issparse(A21):
            last = A21.indptr[1:] - 1
            if np.all(np.diff(A21.indptr) > 0) and np.all(A21.indices[last] == cp.r - 1):
                self._a21_last = last

    def __call__(self, y: np.ndarray) -> CrossProducts:
        cp = self.cp
        shift = cp.shift.with_response(y, self.weights)
        yt = (y - shift.c) / shift.s
        if self.sw is not None:
            yt = yt * self.sw
        r = cp.r
        d1 = cp.dims[0]
        zy1 = np.empty(d1.q)
        for s, z in enumerate(self.Zw[0]):
            zy1[s :: d1.S] = np.bincount(self.codes[0], weights=yt * z, minlength=d1.nl)
        row = np.empty(r)
        off = 0
        for c, Zw, d in zip(self.codes[1:], self.Zw[1:], cp.dims[1:]):
            for s, z in enumerate(Zw):
                row[off + s : off + d.q : d.S] = np.bincount(c, weights=z * yt, minlength=d.nl)
            off += d.q
        # numpy's sums, not BLAS dot products (which round by the operands' alignment):
        # a refit gives the same numbers in a worker process as in this one
        row[off : off + cp.p] = (self.Xw * yt[:, None]).sum(axis=0)
        row[-1] = (yt * yt).sum()
        if sp.issparse(cp.A22):  # the sparse rest block: same pattern, new last row and column
            A22 = sp.csc_matrix(cp.A22)
            col = sp.csc_matrix(row[:-1, None])
            A22 = sp.bmat([[A22[:-1, :-1], col], [col.T, row[-1:, None]]], format="csc")
        else:
            A22 = cp.A22.copy()
            A22[-1, :] = row
            A22[:, -1] = row
        A21 = cp.A21
        if not sp.issparse(A21):
            A21 = np.array(A21)
            A21[-1] = zy1
        elif self._a21_last is not None:
            data = A21.data.copy()
            data[self._a21_last] = zy1
            A21 = copy.copy(A21)  # shares the index arrays, which do not change
            A21.data = data
        else:  # a column without a stored ỹ entry: rebuild the row
            A21 = sp.vstack([A21[:-1], sp.csc_matrix(zy1[None, :])], format="csc")
            A21.sum_duplicates()
            A21.sort_indices()
        return CrossProducts(
            cp.dims, cp.A11, A21, A22, cp.n, cp.p, cp.sum_log_w, shift, cp.rest_plan
        )
