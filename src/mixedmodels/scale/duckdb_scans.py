"""SQL of the scans of an out-of-memory fit in DuckDB.

The cross-products are sums of products of model columns per level:
Σ_{i: c(i)=l} wᵢ uᵢ vᵢ for u, v among 1, x̃ⱼ = (xⱼ − mⱼ)/dⱼ, ỹ = (y − c)/s and the
Z columns (:mod:`mixedmodels.crossprod.centering` for the shift and scale). This
module writes those queries: the LIMIT query for (c, s, m, d), and one GROUP BY
per grouping factor with every product its terms need (:func:`group_moments`).
A product is identified by the SQL of its factors (:func:`product_key`), so
products that compute the same thing are summed once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..crossprod import Centering
from ..crossprod.centering import SAMPLE_ROWS
from ..design.model_matrix import parse_terms
from ..formula.parse import split_top_level
from ..progress import ScanBar
from .design import column_recipes
from .duckdb_levels import LevelTables
from .duckdb_products import Combination, ProductPlan
from .sql import column_sql, ident, literal, sql_expr

__all__ = [
    "SUM",
    "FactorSums",
    "MomentProducts",
    "PairSums",
    "Scan",
    "moment_products",
    "moments_query",
    "centering",
    "group_moments",
    "product_key",
    "sql_string",
    "top_level_factors",
    "weight_sql",
    "x_sql_of",
]

SUM = "sum"
"""DuckDB's aggregate for the blocks. The products summed are of shifted and scaled
columns (x̃, ỹ near zero mean, unit scale), so a plain sum has the rounding of the
in-memory ``np.bincount`` sums; the compensated ``fsum`` costs twice the scan time
(measured at 10⁷ rows) for digits the centering has already secured."""


def sql_string(text: str) -> str:
    """A string as an SQL literal."""
    return "'" + text.replace("'", "''") + "'"


def weight_sql(weights: str | None) -> str:
    return f"CAST(b.{ident(weights)} AS DOUBLE)" if weights else literal(1.0)



def product_key(factors: list[str]) -> tuple[str, ...]:
    """What a product computes: the SQL of its factors, sorted, without factors of 1."""
    one = literal(1.0)
    return tuple(sorted(f for f in factors if f not in (one, "1")))


@dataclass
class Scan:
    """What every query over the rows shares: the connection, the rows' FROM clause,
    the joins to the level tables (``code_col``: each factor's code column there), the
    parsed formula with its columns (``infos``), the weights column and the bar that
    counts the scans."""

    con: Any
    base: str
    joins: list[str]
    parsed: Any
    infos: dict[str, Any]
    code_col: dict[str, str]
    weights: str | None
    scans: ScanBar = field(default_factory=lambda: ScanBar(False, "duckdb"))


def x_sql_of(scan: Scan) -> list[str]:
    """The SQL of the columns of X (before the shift and scale)."""
    fixed = parse_terms(scan.parsed.fixed, scan.parsed.text)
    return [column_sql(pcs, scan.code_col) for pcs in column_recipes(fixed, scan.infos)[0]]


def centering(scan: Scan) -> tuple[Centering, list[str]]:
    """The shift and scale of X and y from the first :data:`SAMPLE_ROWS` rows (as ``lmer``
    in memory), and the SQL of x̃_j = (x_j − m_j)/d_j (1 for the intercept) and ỹ."""
    x_sql = x_sql_of(scan)
    y_sql = sql_expr(scan.parsed.response)
    cols = [f"{e} AS x{j}" for j, e in enumerate(x_sql)] + [f"{y_sql} AS y"]
    cols.append(f"{weight_sql(scan.weights)} AS w")
    got = scan.con.execute(
        f"SELECT {', '.join(cols)} FROM (SELECT * FROM {scan.base} LIMIT {SAMPLE_ROWS}) AS b "
        f"{' '.join(scan.joins)}"
    ).fetchnumpy()
    p = len(x_sql)
    X = np.zeros((len(got["y"]), p))
    for j in range(p):
        X[:, j] = got[f"x{j}"]
    w = np.asarray(got["w"], dtype=float) if scan.weights else None
    intercept = p > 0 and x_sql[0] == literal(1.0)
    shift = Centering.from_rows(X, np.asarray(got["y"], dtype=float), w, intercept)
    xt = [
        literal(1.0) if (j == 0 and intercept)
        else f"((({e}) - {literal(shift.m[j])}) / {literal(shift.d[j])})"
        for j, e in enumerate(x_sql)
    ]
    return shift, xt + [f"((({y_sql}) - {literal(shift.c)}) / {literal(shift.s)})"]


@dataclass
class FactorSums:
    """Sums per level of one grouping factor (index = level code): the row count ``n``
    and Σ of each product (``sums``: :func:`product_key` → array; ``()`` is ``n``)."""

    n: np.ndarray
    sums: dict[tuple[str, ...], np.ndarray]
    w_min: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per row: its smallest w


@dataclass
class PairSums:
    """Sums per occurring level pair (codes ``ca``, ``cb``) of two grouping factors."""

    ca: np.ndarray
    cb: np.ndarray
    sums: dict[tuple[str, ...], np.ndarray]


@dataclass
class MomentProducts:
    """The products each scan must sum: per grouping factor (``factor``) and per pair of
    grouping factors (``pair``, in the bars' order), as :func:`product_key` tuples."""

    factor: dict[tuple[str, ...], list[tuple[str, ...]]]
    pair: dict[tuple[tuple[str, ...], tuple[str, ...]], list[tuple[str, ...]]]


def moment_products(scan: Scan, xy: list[str]) -> MomentProducts:
    """Per grouping factor, the products the cross-products of its terms use (wZ'Z within
    and between its terms, w[X y]'Z, and for the first factor also w[X y]'[X y], X'X of
    weighted fits and Σ log w); per pair of factors, wZₐ'Z_b of their terms."""
    w = [weight_sql(scan.weights)] if scan.weights else []
    bars = scan.parsed.bars
    keys = list(dict.fromkeys(bar.group_vars for bar in bars))
    factor: dict[tuple[str, ...], list[tuple[str, ...]]] = {k: [] for k in keys}
    pair: dict[tuple[tuple[str, ...], tuple[str, ...]], list[tuple[str, ...]]] = {}
    z = [
        [column_sql(pcs, scan.code_col) for pcs in
         column_recipes(parse_terms(bar.expr, scan.parsed.text), scan.infos)[0]]
        for bar in bars
    ]
    for i, bar in enumerate(bars):
        need = factor[bar.group_vars]
        for s in range(len(z[i])):
            for u in range(s, len(z[i])):
                need.append(product_key([*w, z[i][s], z[i][u]]))
            need += [product_key([*w, c, z[i][s]]) for c in xy]
        for j in range(i):
            cross = [product_key([*w, za, zb]) for za in z[i] for zb in z[j]]
            if bars[j].group_vars == bar.group_vars:
                need += cross
                continue
            ka, kb = sorted((bar.group_vars, bars[j].group_vars), key=keys.index)
            pair.setdefault((ka, kb), []).extend(cross)
    first = factor[keys[0]]
    for a in range(len(xy)):
        for b in range(a + 1):
            first.append(product_key([*w, xy[a], xy[b]]))
            if scan.weights and a < len(xy) - 1:
                first.append(product_key([xy[a], xy[b]]))
    if scan.weights:
        first.append(("ln(w)",))
    for key in list(factor):
        factor[key] = list(dict.fromkeys(factor[key]))
    for key in list(pair):
        pair[key] = list(dict.fromkeys(pair[key]))
    return MomentProducts(factor, pair)


def _sums_sql(monomials: list[tuple[str, ...]], column: dict[str, str]) -> list[str]:
    """``sum(v0 * v1) AS m{j}`` for each monomial, over the basis columns ``column``."""
    return [f"{SUM}({' * '.join(column[f] for f in mono)}) AS m{j}"
            for j, mono in enumerate(monomials)]


def moments_query(
    scan: Scan, group_cols: list[str], monomials: list[tuple[str, ...]]
) -> str:
    """One GROUP BY over the rows on ``group_cols`` (as ``g0, g1, ...``): the row count
    ``n``, Σ of each monomial (``m0, m1, ...``) and, with weights, the smallest weight
    ``w_min``. The basis columns (x̃, ỹ, w, Z) are computed once per row in an inner
    projection."""
    w = weight_sql(scan.weights)
    special = {"ln(w)": f"ln({w})"}
    basis = list(dict.fromkeys(f for mono in monomials for f in mono))
    if scan.weights and w not in basis:
        basis.append(w)
    column = {f: f"v{i}" for i, f in enumerate(basis)}
    inner = [f"b.{ident(c)} AS g{i}" for i, c in enumerate(group_cols)]
    inner += [f"{special.get(f, f)} AS v{i}" for i, f in enumerate(basis)]
    groups = ", ".join(f"g{i}" for i in range(len(group_cols)))
    outer = [groups, "count(*) AS n", *_sums_sql(monomials, column)]
    if scan.weights:  # for the check that weights are positive, in the same scan
        outer.append(f"min({column[w]}) AS w_min")
    return (
        f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM {scan.base} AS b "
        f"{' '.join(scan.joins)}) GROUP BY {groups}"
    )


def fetch(con: Any, sql: str, arrow: bool) -> dict[str, Any]:
    """A query's columns: pyarrow arrays (``arrow``: for text group values, coded without
    Python objects) or numpy arrays as :meth:`fetchnumpy` returns them."""
    if not arrow:
        return dict(con.execute(sql).fetchnumpy())
    table = con.sql(sql).to_arrow_table()
    return {name: table.column(name).combine_chunks() for name in table.column_names}


def level_sums(
    got: dict[str, Any], codes: np.ndarray, nl: int, plan: ProductPlan
) -> FactorSums:
    """The sums of an aggregate (rows coded ``codes``) per level, and its products'."""
    n = np.bincount(codes, weights=_floats(got["n"]), minlength=nl)
    monos = {m: np.bincount(codes, weights=_floats(got[f"m{j}"]), minlength=nl)
             for j, m in enumerate(plan.monomials)}
    sums = plan.evaluate(n, monos)
    sums[()] = n
    if "w_min" in got:
        return FactorSums(n, sums, _floats(got["w_min"]))
    return FactorSums(n, sums)


def _floats(v: Any) -> np.ndarray:
    a = v.to_numpy(zero_copy_only=False) if hasattr(v, "to_numpy") and not isinstance(
        v, np.ndarray) else v
    return np.asarray(a, dtype=float)


def group_moments(
    scan: Scan,
    xy: list[str],
    affine: dict[str, Combination],
    levels: LevelTables,
    text: dict[str, bool],
) -> tuple[dict[tuple[str, ...], FactorSums], dict[tuple[Any, ...], PairSums]]:
    """The scans of the cross-products, with the levels of the grouping factors.

    Per grouping factor one GROUP BY on its raw columns, summing every monomial its
    products need (:class:`ProductPlan`) in the same pass; its distinct values become
    the level table (``text`` tells which columns are text: their values come back
    as Arrow arrays). Per pair of factors one GROUP BY on the two level codes (the
    rows joined to both level tables) with the monomials of wZₐ'Z_b. Rolling the
    factors' sums up from the pair aggregate instead costs more than the factors'
    own scans once the pairs are many: a hash aggregate's cost grows with its groups
    times its sums, and a join with a level table is cheaper than either. Returns
    the per-level sums of each factor and of each pair of factors."""
    products = moment_products(scan, xy)
    con = scan.con
    factors: dict[tuple[str, ...], FactorSums] = {}
    for key, keys in products.factor.items():
        plan = ProductPlan(keys, affine)
        with scan.scans.scan(f"Σ by {':'.join(key)}"):
            got = fetch(con, moments_query(scan, list(key), plan.monomials),
                        all(text.get(c, False) for c in key))
        found = [got[f"g{i}"] for i in range(len(key))]
        codes = levels.codes_of(key, found) if key in levels.tables else levels.register(
            key, found)
        factors[key] = level_sums(got, codes, len(levels.labels[key]), plan)
    pairs: dict[tuple[Any, ...], PairSums] = {}
    for (ka, kb), cross in products.pair.items():
        plan = ProductPlan(cross, affine)
        column = {f: f"v{i}" for i, f in enumerate(dict.fromkeys(
            f for mono in plan.monomials for f in mono))}
        special = {"ln(w)": f"ln({weight_sql(scan.weights)})"}
        joins = list(scan.joins)
        for name, key in (("pa", ka), ("pb", kb)):
            on = " AND ".join(f"b.{ident(c)} = {name}.{ident(c)}" for c in key)
            joins.append(f"JOIN {levels.tables[key]} AS {name} ON {on}")
        inner = ["pa.code AS ca", "pb.code AS cb"]
        inner += [f"{special.get(f, f)} AS {v}" for f, v in column.items()]
        outer = ["ca", "cb", "count(*) AS n", *_sums_sql(plan.monomials, column)]
        with scan.scans.scan(f"Σ by {':'.join(ka)}×{':'.join(kb)}"):
            got = con.execute(
                f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM {scan.base} "
                f"AS b {' '.join(joins)}) GROUP BY ca, cb"
            ).fetchnumpy()
        n = _floats(got["n"])
        sums = plan.evaluate(n, {m: _floats(got[f"m{j}"]) for j, m in enumerate(plan.monomials)})
        sums[()] = n
        pairs[(ka, kb)] = PairSums(np.asarray(got["ca"], dtype=np.intp),
                                   np.asarray(got["cb"], dtype=np.intp), sums)
    return factors, pairs


def top_level_factors(expr: str) -> list[str]:
    """The factors of ``a * b * (c * d)`` split at the top level: [a, b, (c * d)]."""
    return [piece.strip() for piece, _ in split_top_level(expr, "*")]


