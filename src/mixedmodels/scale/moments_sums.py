"""The group sums of a moment fit, computed where the rows live (DuckDB, Dask).

:class:`~mixedmodels.moments.sums.GroupSums` needs, for v = [X̃ ỹ] (the
shifted and scaled columns of the cross-products), N, v'v, and per
grouping factor the level counts and per-level sums of v, and per pair of
factors the level-pair counts:

* DuckDB: ``GROUP BY`` each factor (``count(*)``, ``fsum(x̃ⱼ)``, ``fsum(ỹ)``;
  already summed by the scan that finds the levels, so usually no new
  scan), v'v from the per-level sums of products of that scan, and one
  ``SELECT c_f, c_g, count(*) ... GROUP BY c_f, c_g`` per pair (sparse
  triplets: never a dense q_f × q_g array);
* Dask: read off the cross-products of the exact fit's scan
  (:func:`group_sums_of_crossproducts`): for random intercepts, the blocks of
  A = [Z X̃ ỹ]'[Z X̃ ỹ] are the level counts (diagonal of Z_f'Z_f), the
  per-level sums of v (Z_f'v), the level-pair counts (Z_f'Z_g) and v'v, so the
  moment fit takes the same single scan.

The rank check of X uses v'v as the exact fits do
(:func:`~mixedmodels.scale.design.dependent_columns_from_gram`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ..crossprod import CrossProducts
from ..moments.sums import GroupSums
from .design import dependent_columns_from_gram, drop_design_columns
from .duckdb_crossprod import pair_level_sums, term_level_sums

__all__ = [
    "group_sums_duckdb",
    "group_sums_of_crossproducts",
    "drop_dependent_sums",
    "lmer_duckdb_moments",
]


def group_sums_duckdb(src: Any) -> GroupSums:
    """:class:`GroupSums` of a :class:`~mixedmodels.scale.duckdb_backend.DuckDBSource`."""
    d = src.design
    p = len(d.x_columns)
    xy = [f"xt{j}" for j in range(p)] + ["yt"]
    n_levels: list[np.ndarray] = []
    S: list[np.ndarray] = []
    for k in range(len(d.terms)):
        exprs = ["1"] + [f"{c} * z{k}_0" for c in xy]
        sums = term_level_sums(src, k, exprs)  # per level: values R prints alike merged
        n_levels.append(sums[0])
        S.append(np.column_stack(sums[1:]))
    # v'v: per level of the formula's first grouping factor (the levels scan summed these)
    first = d.formula.bars[0].group_vars
    k0 = next(k for k, t in enumerate(d.terms) if t.bar.group_vars == first)
    tri = [(a, b) for a in range(p + 1) for b in range(a + 1)]
    res = term_level_sums(src, k0, [f"{xy[a]} * {xy[b]}" for a, b in tri])
    G = np.zeros((p + 1, p + 1))
    for i, (a, b) in enumerate(tri):
        G[a, b] = G[b, a] = float(np.sum(res[i]))
    pairs = {}
    for a in range(len(d.terms)):
        for b in range(a + 1, len(d.terms)):
            ca, cb, (count,) = pair_level_sums(src, a, b, ["1"])  # from the pair scan
            pairs[(a, b)] = sp.csr_matrix(
                (count, (ca, cb)), shape=(d.terms[a].nl, d.terms[b].nl)
            )
    n = int(round(float(np.sum(n_levels[0]))))
    return GroupSums(n, G, S[0].sum(axis=0), n_levels, S, pairs, src.shift)


def group_sums_of_crossproducts(cp: CrossProducts) -> GroupSums:
    """:class:`GroupSums` of an unweighted model of K random intercepts from its blocks
    (terms in the order of ``cp``; rest rows: Z_2 … Z_K, then v = [X̃ ỹ])."""
    A21 = sp.csr_matrix(cp.A21)
    A22 = sp.csr_matrix(cp.A22)
    rz = cp.rz
    offs = np.cumsum([0] + [d.nl for d in cp.dims[1:]])
    n_levels = [np.asarray(cp.A11[:, 0, 0], dtype=float)]
    S = [A21[rz:].toarray().T]
    for k in range(len(cp.dims) - 1):
        block = slice(int(offs[k]), int(offs[k + 1]))
        n_levels.append(np.asarray(A22[block, block].diagonal(), dtype=float))
        S.append(A22[rz:, block].toarray().T)
    pairs = {}
    for b in range(1, len(cp.dims)):
        rows_b = slice(int(offs[b - 1]), int(offs[b]))
        pairs[(0, b)] = A21[rows_b].T.tocsr()
        for a in range(1, b):
            pairs[(a, b)] = A22[int(offs[a - 1]):int(offs[a]), rows_b].tocsr()
    for C in pairs.values():
        C.eliminate_zeros()
    return GroupSums(int(cp.n), cp.xy_block(), S[0].sum(axis=0), n_levels, S, pairs,
                     cp.shift)


def drop_dependent_sums(sums: GroupSums, design: Any) -> tuple[GroupSums, np.ndarray]:
    """Drop X columns that depend on earlier ones (lme4's rank check), from v'v."""
    p = sums.p
    G = sums.G[:p, :p]
    shift = sums.shift
    norms2 = None
    if shift is not None and shift.intercept:
        ratio = shift.m / shift.d  # Σ (x_j/d_j)² = Σ (x̃_j + m_j/d_j)²
        norms2 = np.diag(G) + 2.0 * ratio * G[0] + sums.n * ratio**2
    keep = dependent_columns_from_gram(G, norms2=norms2)
    if keep.size == p:
        return sums, keep
    drop_design_columns(design, keep)
    return sums.subset(keep), keep


def lmer_duckdb_moments(
    formula: str, source: Any, method: str, weights: str | None, con: Any, start: Any,
    levels: dict[str, Any] | None, ordered: dict[str, Any] | None, progress: Any = None,
) -> Any:
    """``lmer_duckdb(..., method="moments")``: the scans of the factors and of their pairs
    (one step each of the ``progress`` bar), the fit."""
    import os

    import duckdb

    from ..errors import ArgumentError, DataError
    from ..formula import parse_formula
    from ..moments.api import check_moments_call, check_moments_terms, fit_from_sums
    from ..progress import ScanBar
    from .duckdb_backend import _prepare, connect
    from .duckdb_source import first_line
    from .factors import explicit_metadata

    if method != "moments":
        raise ArgumentError("method", method, "None (exact (RE)ML) or 'moments'")
    parsed = parse_formula(formula)
    check_moments_call(parsed.text, parsed.response, weights, start)
    con = connect(progress) if con is None else con
    name = os.fspath(source) if isinstance(source, str | os.PathLike) else None
    try:
        with ScanBar(progress, "duckdb", poll=con.query_progress) as scans:
            src = _prepare(con, formula, source, None, explicit_metadata(levels, ordered),
                           scans)
            check_moments_terms(src.design.terms)
            src.scans = scans
            sums = group_sums_duckdb(src)
            src.scans = ScanBar(False, "duckdb")
    except (duckdb.IOException, duckdb.InvalidInputException, duckdb.ConversionException,
            duckdb.OutOfRangeException) as exc:
        raise DataError(f"cannot read '{name or 'the DuckDB source'}': {first_line(exc)}"
                        ) from exc
    sums, keep = drop_dependent_sums(sums, src.design)
    src.x_index = [int(j) for j in keep]
    return fit_from_sums(src.design, sums, source=src, data_name=name)
