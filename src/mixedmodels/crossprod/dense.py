"""The rest blocks of a small multi-term design as dense arrays, without sparse matrices.

With the rows weighted by √w, R = [Z_2 … Z_K X̃ ỹ] (r columns) and term 1's
Z_1, the blocks A21 = R'WZ_1 (r × q₁) and A22 = R'WR (r × r) of
:mod:`mixedmodels.crossprod.blocks` are sums over the rows of each level or
level pair (level-major layout, level l effect s at l·S + s):

* (Z_a'WZ_b)[l·S_a + s, m·S_b + t] = Σ_{i: a_i = l, b_i = m} z_a,is z_b,it,
* (Z_a'W[X̃ ỹ])[l·S_a + s, j] = Σ_{i: a_i = l} z_a,is x̃_ij,
* [X̃ ỹ]'W[X̃ ỹ] one BLAS product.

Each level-pair sum is one ``bincount`` over the combined code a_i·nl_b + b_i
(an nl_a × nl_b array: the design is small), accumulated in row order as
the sparse products of :func:`mixedmodels.crossprod.blocks.crossprod`
accumulate them, so both paths give the same numbers bit for bit. Used where
the dense rest block is trivially cheap (a few hundred random effects at most):
there the sparse constructors cost more than the sums.
"""

from __future__ import annotations

from itertools import accumulate

import numpy as np

__all__ = ["Term", "dense_rest_blocks", "level_pair_block"]

Term = tuple[np.ndarray, np.ndarray, int]
"""(level codes (n,), √w-weighted Z (n × S), number of levels) of one term."""


def level_pair_block(a: Term, b: Term, buf: np.ndarray) -> np.ndarray:
    """Z_a'WZ_b of two different terms as a dense (nl_a·S_a) × (nl_b·S_b) array.

    ``buf`` is scratch space of n values.
    """
    ca, za, nla = a
    cb, zb, nlb = b
    Sa, Sb = za.shape[1], zb.shape[1]
    key = ca.astype(np.intp) * nlb + cb
    out = np.empty((nla * Sa, nlb * Sb))
    size = nla * nlb
    for s in range(Sa):
        for t in range(Sb):
            np.multiply(za[:, s], zb[:, t], out=buf)
            out[s::Sa, t::Sb] = np.bincount(key, weights=buf, minlength=size).reshape(nla, nlb)
    return out


def _own_block(a: Term, buf: np.ndarray) -> np.ndarray:
    """Z_a'WZ_a: block diagonal, one S × S block per level (zeros elsewhere)."""
    ca, za, nla = a
    S = za.shape[1]
    out = np.zeros((nla * S, nla * S))
    first = S * np.arange(nla)
    for s in range(S):
        for t in range(s, S):
            np.multiply(za[:, s], za[:, t], out=buf)
            v = np.bincount(ca, weights=buf, minlength=nla)
            out[first + s, first + t] = v
            out[first + t, first + s] = v
    return out


def _level_sums(a: Term, Xy: np.ndarray, buf: np.ndarray) -> np.ndarray:
    """Z_a'W[X̃ ỹ] as a dense (nl_a·S_a) × (p+1) array (``Xy`` already weighted)."""
    ca, za, nla = a
    S = za.shape[1]
    out = np.empty((nla * S, Xy.shape[1]))
    for s in range(S):
        for j in range(Xy.shape[1]):
            np.multiply(za[:, s], Xy[:, j], out=buf)
            out[s::S, j] = np.bincount(ca, weights=buf, minlength=nla)
    return out


def dense_rest_blocks(terms: list[Term], Xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(A21, A22) of a design with at least two terms, term 1 first (see the module
    docstring); ``Xy`` is the weighted [X̃ ỹ] (n × (p+1))."""
    first, rest = terms[0], terms[1:]
    buf = np.empty(Xy.shape[0])
    sizes = [t[2] * t[1].shape[1] for t in rest]
    offsets = [0, *accumulate(sizes)]
    rz = offsets[-1]
    r = rz + Xy.shape[1]
    A21 = np.empty((r, first[2] * first[1].shape[1]))
    A22 = np.empty((r, r))
    for a, ta in enumerate(rest):
        ra = slice(offsets[a], offsets[a + 1])
        A21[ra] = level_pair_block(ta, first, buf)
        A22[ra, ra] = _own_block(ta, buf)
        for b in range(a):
            blk = level_pair_block(ta, rest[b], buf)
            A22[ra, offsets[b] : offsets[b + 1]] = blk
            A22[offsets[b] : offsets[b + 1], ra] = blk.T
        zxy = _level_sums(ta, Xy, buf)
        A22[ra, rz:] = zxy
        A22[rz:, ra] = zxy.T
    A21[rz:] = _level_sums(first, Xy, buf).T
    A22[rz:, rz:] = Xy.T @ Xy
    return A21, A22
