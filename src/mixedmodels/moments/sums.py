"""The group sums a moment fit of crossed random intercepts needs, and nothing else.

For y = Xβ + Σ_f Z_f a_f + e with K scalar random-intercept factors, write
v = [X̃ ỹ] for the shifted and scaled columns (:class:`Centering`:
X̃ = (X − 1m')/d with X̃₀ = 1, ỹ = (y − c)/s). Every quantity of the
method of moments and of backfitting GLS is a function of

* N and the global sums  G = v'v  ((p+1)×(p+1)) and  s = 1'v;
* per factor f, per level l:  n_f[l] (rows) and  S_f[l] = Σ_{i: f(i)=l} vᵢ
  (GROUP BY f);
* per pair of factors f < f':  the level-pair counts C_ff'[l, m] =
  #{i: f(i)=l, f'(i)=m} as sparse triplets (GROUP BY f, f').

All are sums over rows grouped by level codes, so numpy (``bincount``),
DuckDB (``GROUP BY``) and Dask (per-partition sums added) produce the same
:class:`GroupSums`; :mod:`mixedmodels.moments.estimator` never sees a row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..crossprod import Centering

__all__ = ["GroupSums", "group_sums", "pair_counts"]


@dataclass
class GroupSums:
    """Sufficient statistics of a crossed random-intercept model (see the module).

    ``pairs[(f, g)]`` (f < g) is the CSR matrix of level-pair counts
    (levels of f × levels of g).
    """

    n: int
    G: np.ndarray  # (p+1, p+1): v'v
    s: np.ndarray  # (p+1,): 1'v
    n_levels: list[np.ndarray]  # per factor: rows per level (float)
    S: list[np.ndarray]  # per factor: (q_f, p+1) per-level sums of v
    pairs: dict[tuple[int, int], sp.csr_matrix] = field(default_factory=dict)
    shift: Centering | None = None

    @property
    def p(self) -> int:
        return self.G.shape[0] - 1

    @property
    def K(self) -> int:
        return len(self.n_levels)

    def pair(self, f: int, g: int) -> sp.csr_matrix:
        """C_fg (levels of f × levels of g), transposed from the stored pair when f > g."""
        if f < g:
            return self.pairs[(f, g)]
        return self.pairs[(g, f)].T.tocsr()

    def subset(self, keep: np.ndarray) -> GroupSums:
        """The sums of the X columns ``keep`` (and y): for columns dropped as dependent."""
        idx = np.concatenate([np.asarray(keep, dtype=np.intp), [self.p]])
        shift = None if self.shift is None else self.shift.subset(np.asarray(keep))
        return GroupSums(
            self.n, self.G[np.ix_(idx, idx)], self.s[idx], self.n_levels,
            [S[:, idx] for S in self.S], self.pairs, shift,
        )

    def __add__(self, other: GroupSums) -> GroupSums:
        """Sums over two disjoint sets of rows (partitions) with the same coding."""
        pairs = {k: (self.pairs[k] + other.pairs[k]).tocsr() for k in self.pairs}
        return GroupSums(
            self.n + other.n, self.G + other.G, self.s + other.s,
            [a + b for a, b in zip(self.n_levels, other.n_levels)],
            [a + b for a, b in zip(self.S, other.S)], pairs, self.shift,
        )


def pair_counts(ca: np.ndarray, cb: np.ndarray, qa: int, qb: int) -> sp.csr_matrix:
    """C[l, m] = #{i: ca[i] = l, cb[i] = m} as a CSR matrix (duplicates summed)."""
    ones = np.ones(len(ca), dtype=np.float64)
    C = sp.csr_matrix((ones, (np.asarray(ca), np.asarray(cb))), shape=(qa, qb))
    C.sum_duplicates()
    return C


def group_sums(
    codes: list[np.ndarray], n_levels: list[int], X: np.ndarray, y: np.ndarray,
    shift: Centering,
) -> GroupSums:
    """:class:`GroupSums` of rows in memory: X (n × p), y, and per factor its level codes.

    v = [X̃ ỹ] is formed once; each per-level sum is one ``bincount``, each pair
    count one sparse COO → CSR conversion (no per-row Python).
    """
    Xt, yt = shift.transform(np.asarray(X, dtype=float), np.asarray(y, dtype=float))
    v = np.column_stack([Xt, yt])
    n = v.shape[0]
    ns, Ss = [], []
    for c, q in zip(codes, n_levels):
        ns.append(np.bincount(c, minlength=q).astype(float))
        Ss.append(np.column_stack([np.bincount(c, weights=v[:, j], minlength=q)
                                   for j in range(v.shape[1])]))
    pairs = {
        (a, b): pair_counts(codes[a], codes[b], n_levels[a], n_levels[b])
        for a in range(len(codes)) for b in range(a + 1, len(codes))
    }
    return GroupSums(n, v.T @ v, v.sum(axis=0), ns, Ss, pairs, shift)
