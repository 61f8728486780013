"""Assembly of A = [Z X y]'W[Z X y] from DuckDB's GROUP BY aggregates.

* A11[l, s, t] = Σ_{i: c₁(i)=l} wᵢ z₁ₛ(i) z₁ₜ(i)            (GROUP BY c₁)
* [X y]'WZ₁ and [X y]'WZₖ per level                     (GROUP BY cₖ)
* Zₐ'WZ_b per level pair (a > b)                        (GROUP BY cₐ, c_b)
* [X y]'W[X y], n and Σ log wᵢ                          (summed over the levels of c₁)

The aggregates arrive per raw value of the grouping columns; their level codes
(:mod:`mixedmodels.scale.duckdb_levels`) place them in the blocks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ..crossprod import CrossProducts, TermDims
from ..crossprod.rest import assemble_rest
from .duckdb_levels import merge_levels

__all__ = ["crossprod_blocks", "pair_level_sums", "term_blocks", "term_level_sums"]

ZERO = ("0.0",)
"""The product Σ log w of unit weights: nothing to sum."""


def term_level_sums(src: Any, k: int, exprs: list[str]) -> list[np.ndarray]:
    """Per level of term ``k``'s grouping factor, Σ of each product of view columns in
    ``exprs``: from the scans of the model (``src.factor_sums``), else a GROUP BY of
    the rows."""
    t = src.design.terms[k]
    keys = [src._product_key(e) for e in exprs]
    cached = src.factor_sums.get(t.bar.group_vars)
    if cached is not None and all(key in cached.sums or key == ZERO for key in keys):
        return [cached.sums[key] if key != ZERO else np.zeros(t.nl) for key in keys]
    res = src._agg(src._term_groups(k), exprs, src.raw_view)
    (codes,), res = merge_levels([src._codes(k, res, 0)], [t.nl], res)
    out = []
    for j in range(len(exprs)):
        v = np.zeros(t.nl)
        v[codes] = res[f"a{j}"]
        out.append(v)
    return out


def pair_level_sums(
    src: Any, a: int, b: int, exprs: list[str]
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Per occurring pair of levels (codes of terms ``a`` and ``b``), Σ of each product
    in ``exprs``: from the pair scans of the model (``src.pair_sums``), from the
    factor's own sums when both terms group by the same factor, else a GROUP BY of the
    rows on both factors."""
    terms = src.design.terms
    ka, kb = terms[a].bar.group_vars, terms[b].bar.group_vars
    if ka == kb:
        codes = np.arange(terms[a].nl)
        return codes, codes, term_level_sums(src, a, exprs)
    keys = [src._product_key(e) for e in exprs]
    for (ka2, kb2), flip in (((ka, kb), False), ((kb, ka), True)):
        cached = src.pair_sums.get((ka2, kb2))
        if cached is not None and all(key in cached.sums for key in keys):
            ca, cb = (cached.cb, cached.ca) if flip else (cached.ca, cached.cb)
            return ca, cb, [cached.sums[key] for key in keys]
    ga, gb = src._term_groups(a), src._term_groups(b)
    res = src._agg(ga + gb, exprs, src.raw_view)
    (ca, cb), res = merge_levels(
        [src._codes(a, res, 0), src._codes(b, res, len(ga))], [terms[a].nl, terms[b].nl], res
    )
    return ca, cb, [np.asarray(res[f"a{i}"], dtype=float) for i in range(len(exprs))]


def term_blocks(src: Any, k: int, xy: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Term ``k``'s per-level blocks: Zk'WZk (nl, S, S) and [X y]'WZk (p + 1, nl·S)."""
    t = src.design.terms[k]
    S = t.S
    w = src._w()
    zk = [f"z{k}_{s}" for s in range(S)]
    tri = [(s, u) for s in range(S) for u in range(s, S)]
    ex = [f"{w}{zk[s]} * {zk[u]}" for s, u in tri]
    ex += [f"{w}{xy[j]} * {zk[s]}" for j in range(len(xy)) for s in range(S)]
    res = term_level_sums(src, k, ex)
    blk = np.zeros((t.nl, S, S))
    for i, (s, u) in enumerate(tri):
        blk[:, s, u] = res[i]
        blk[:, u, s] = res[i]
    zx = np.zeros((len(xy), t.nl * S))
    i = len(tri)
    for j in range(len(xy)):
        for s in range(S):
            zx[j, s::S] = res[i]
            i += 1
    return blk, zx


def crossprod_blocks(src: Any) -> tuple[CrossProducts, np.ndarray, np.ndarray]:
    """All blocks of A for X̃ and ỹ (view columns xt{j}, yt); also, for the rank check,
    the unweighted X̃'X̃ and the squared norms Σ (x_j/d_j)² of the unshifted columns."""
    d = src.design
    terms = d.terms
    p = len(d.x_columns)
    shift = src.shift
    xy = [f"xt{j}" for j in range(p)] + ["yt"]
    w = src._w()
    pairs = [(a, b) for a in range(p + 1) for b in range(a + 1)]
    # n, Σ log w and [X y]'W[X y]: summed per level of the formula's first grouping
    # factor in its scan, then over the levels
    exprs = ["1", "ln(w)" if src.weighted else "0.0"]
    exprs += [f"{w}{xy[a]} * {xy[b]}" for a, b in pairs]
    if src.weighted:
        exprs += [f"{xy[a]} * {xy[b]}" for a, b in pairs if a < p]
    first_factor = d.formula.bars[0].group_vars
    k0 = next(k for k, t in enumerate(terms) if t.bar.group_vars == first_factor)
    row = [float(np.sum(v)) for v in term_level_sums(src, k0, exprs)]
    n = int(row[0])
    sum_log_w = float(row[1] or 0.0)
    XyXy = np.zeros((p + 1, p + 1))
    G = np.zeros((p, p))
    for j, (a, b) in enumerate(pairs):
        XyXy[a, b] = XyXy[b, a] = row[2 + j]
        if a < p and not src.weighted:
            G[a, b] = G[b, a] = row[2 + j]
    if src.weighted:
        k = 2 + len(pairs)
        for a, b in pairs:
            if a < p:
                G[a, b] = G[b, a] = row[k]
                k += 1
    # Σ (x_j/d_j)² = Σ (x̃_j + a_j)² with a = m/d: no cancellation (x̃ near centered)
    ratio = shift.m / shift.d
    with np.errstate(invalid="ignore", over="ignore"):  # ±inf: check_finite names it
        norms2 = np.diag(G) + 2.0 * ratio * (G[0] if shift.intercept else 0.0) + n * ratio**2

    dims = [TermDims(t.nl, t.S) for t in terms]
    z = [[f"z{k}_{s}" for s in range(t.S)] for k, t in enumerate(terms)]
    # per-level blocks of each term: Zk'WZk and [X y]'WZk
    diag: list[np.ndarray] = []
    zxy: list[np.ndarray] = []
    for k in range(len(terms)):
        blk, zx = term_blocks(src, k, xy)
        diag.append(blk)
        zxy.append(zx)
    if len(terms) == 1:
        return CrossProducts(dims, diag[0], zxy[0], XyXy, n, p, sum_log_w, shift), G, norms2

    # level pairs of two terms a > b: Za'WZb, as triplets (GROUP BY the two factors)
    offs = np.cumsum([0] + [dd.q for dd in dims[1:]])
    rz = int(offs[-1])
    r = rz + p + 1
    rows22: list[np.ndarray] = []
    cols22: list[np.ndarray] = []
    vals22: list[np.ndarray] = []
    rows21: list[np.ndarray] = []
    cols21: list[np.ndarray] = []
    vals21: list[np.ndarray] = []
    for a in range(1, len(terms)):
        Sa = terms[a].S
        oa = offs[a - 1]
        idx = oa + np.arange(terms[a].nl)[:, None] * Sa + np.arange(Sa)[None, :]
        for s in range(Sa):
            for u in range(Sa):
                rows22.append(idx[:, s])
                cols22.append(idx[:, u])
                vals22.append(diag[a][:, s, u])
        for b in range(a):
            Sb = terms[b].S
            ex = [f"{w}{z[a][s]} * {z[b][u]}" for s in range(Sa) for u in range(Sb)]
            ca, cb, res = pair_level_sums(src, a, b, ex)
            i = 0
            for s in range(Sa):
                for u in range(Sb):
                    v = res[i]
                    i += 1
                    ra = oa + ca * Sa + s
                    if b == 0:
                        rows21.append(ra)
                        cols21.append(cb * Sb + u)
                        vals21.append(v)
                    else:
                        rb = offs[b - 1] + cb * Sb + u
                        rows22 += [ra, rb]
                        cols22 += [rb, ra]
                        vals22 += [v, v]
    A22zz = sp.csc_matrix(
        (np.concatenate(vals22), (np.concatenate(rows22), np.concatenate(cols22))),
        shape=(rz, rz),
    )
    zx1 = sp.coo_matrix(zxy[0])
    rows21.append(zx1.row + rz)
    cols21.append(zx1.col)
    vals21.append(zx1.data)
    A21 = sp.csc_matrix(
        (np.concatenate(vals21), (np.concatenate(rows21), np.concatenate(cols21))),
        shape=(r, dims[0].q),
    )
    A21.sum_duplicates()
    A21.sort_indices()
    # the rest block stays sparse until planned (mixedmodels.crossprod.rest)
    A22, _ = assemble_rest(
        [(dd.nl, dd.S) for dd in dims], p, A21, A22zz, np.hstack(zxy[1:]), XyXy, "keep"
    )
    return CrossProducts(dims, diag[0], A21, A22, n, p, sum_log_w, shift), G, norms2

