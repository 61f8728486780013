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

__all__ = ["crossprod_blocks", "term_blocks"]


def term_blocks(
    src: Any, k: int, xy: list[str], extra: list[str] | None = None
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """One GROUP BY on term ``k``'s raw grouping columns: Zk'WZk per level
    (nl, S, S), [X y]'WZk (p + 1, nl·S), and the per-level sums of ``extra``."""
    t = src.design.terms[k]
    S = t.S
    w = src._w()
    zk = [f"z{k}_{s}" for s in range(S)]
    tri = [(s, u) for s in range(S) for u in range(s, S)]
    ex = [f"{w}{zk[s]} * {zk[u]}" for s, u in tri]
    ex += [f"{w}{xy[j]} * {zk[s]}" for j in range(len(xy)) for s in range(S)]
    groups = src._term_groups(k)
    res = src._agg(groups, ex + (extra or []), src.raw_view, t.bar.group_vars)
    (codes,), res = merge_levels([src._codes(k, res, 0)], [t.nl], res)
    blk = np.zeros((t.nl, S, S))
    for i, (s, u) in enumerate(tri):
        blk[codes, s, u] = res[f"a{i}"]
        blk[codes, u, s] = res[f"a{i}"]
    zx = np.zeros((len(xy), t.nl * S))
    i = len(tri)
    for j in range(len(xy)):
        for s in range(S):
            zx[j, codes * S + s] = res[f"a{i}"]
            i += 1
    sums = [np.asarray(res[f"a{len(ex) + e}"], dtype=float) for e in range(len(extra or []))]
    return blk, zx, sums

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
    # n, Σ log w and [X y]'W[X y]: summed per level of the first term in its GROUP BY
    # (one scan for both), then over the levels
    exprs = ["1", "ln(w)" if src.weighted else "0.0"]
    exprs += [f"{w}{xy[a]} * {xy[b]}" for a, b in pairs]
    if src.weighted:
        exprs += [f"{xy[a]} * {xy[b]}" for a, b in pairs if a < p]
    first = term_blocks(src, 0, xy, extra=exprs)
    row = [float(np.sum(v)) for v in first[2]]
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
        blk, zx, _ = first if k == 0 else term_blocks(src, k, xy)
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
            ga, gb = src._term_groups(a), src._term_groups(b)
            res = src._agg(ga + gb, ex, src.raw_view)
            (ca, cb), res = merge_levels(
                [src._codes(a, res, 0), src._codes(b, res, len(ga))],
                [terms[a].nl, terms[b].nl], res,
            )
            i = 0
            for s in range(Sa):
                for u in range(Sb):
                    v = np.asarray(res[f"a{i}"], dtype=float)
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

