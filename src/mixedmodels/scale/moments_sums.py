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
* Dask: per partition, the in-memory :func:`~mixedmodels.moments.sums.group_sums`
  on the partition's coded rows; the partials are added (a tree reduction).

The rank check of X uses v'v as the exact fits do
(:func:`~mixedmodels.scale.design.dependent_columns_from_gram`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ..moments.sums import GroupSums, group_sums
from .design import dependent_columns_from_gram, drop_design_columns
from .duckdb_crossprod import pair_level_sums, term_level_sums

__all__ = ["group_sums_duckdb", "group_sums_dask", "drop_dependent_sums", "lmer_duckdb_moments"]


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


def _partition_sums(pdf: Any, coder: Any, shift: Any) -> list[GroupSums]:
    codes, _, X, y, _ = coder.coded(pdf)
    return [group_sums(codes, [t.nl for t in coder.design.terms], X, y, shift)]


def _add_sums(*parts: GroupSums) -> GroupSums:
    return sum(parts[1:], parts[0])


def group_sums_dask(src: Any) -> GroupSums:
    """:class:`GroupSums` of a :class:`~mixedmodels.scale.dask_backend.DaskSource`: one
    ``map_partitions`` and a tree reduction (as its cross-products)."""
    return src._reduce(_partition_sums, _add_sums, src.centering())


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
        with ScanBar(progress, "duckdb") as scans:
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
