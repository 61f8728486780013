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

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..crossprod import Centering
from ..crossprod.centering import SAMPLE_ROWS
from ..design.model_matrix import parse_terms
from .design import column_recipes
from .sql import column_sql, ident, literal, sql_expr

__all__ = [
    "SUM",
    "Scan",
    "centering",
    "group_moments",
    "product_key",
    "sql_string",
    "top_level_factors",
    "weight_sql",
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
    parsed formula with its columns (``infos``) and the weights column."""

    con: Any
    base: str
    joins: list[str]
    parsed: Any
    infos: dict[str, Any]
    code_col: dict[str, str]
    weights: str | None


def centering(scan: Scan) -> tuple[Centering, list[str]]:
    """The shift and scale of X and y from the first :data:`SAMPLE_ROWS` rows (as ``lmer``
    in memory), and the SQL of x̃_j = (x_j − m_j)/d_j (1 for the intercept) and ỹ."""
    fixed = parse_terms(scan.parsed.fixed, scan.parsed.text)
    x_sql = [column_sql(pcs, scan.code_col) for pcs in column_recipes(fixed, scan.infos)[0]]
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


def group_moments(scan: Scan, xy: list[str]) -> dict[tuple[str, ...], dict[str, Any]]:
    """Per grouping factor (in the bars' order), one GROUP BY on its raw columns with the
    row count ``n`` and Σ of every product the cross-products of its terms use:
    wZ'Z within each term, w[X y]'Z, and for the first factor also w[X y]'[X y],
    X'X (weighted fits) and Σ log w. Returns per factor the group values ``g{i}``,
    ``n``, and ``sums`` mapping each product's :func:`product_key` to its sums."""
    x_sql = xy[:-1]  # x̃ and ỹ of :func:`centering`
    w = [weight_sql(scan.weights)] if scan.weights else []
    out: dict[tuple[str, ...], dict[str, Any]] = {}
    for gi, key in enumerate(dict.fromkeys(bar.group_vars for bar in scan.parsed.bars)):
        products: dict[tuple[str, ...], str] = {}

        def need(*factors: str, products: dict[tuple[str, ...], str] = products) -> None:
            k = product_key(list(factors))
            products.setdefault(k, " * ".join(f"({f})" for f in k) or "1")

        for bar in scan.parsed.bars:
            if bar.group_vars != key:
                continue
            z = [column_sql(pcs, scan.code_col) for pcs in
                 column_recipes(parse_terms(bar.expr, scan.parsed.text), scan.infos)[0]]
            for s in range(len(z)):
                for u in range(s, len(z)):
                    need(*w, z[s], z[u])
                for c in xy:
                    need(*w, c, z[s])
        if gi == 0:
            for a in range(len(xy)):
                for b in range(a + 1):
                    need(*w, xy[a], xy[b])
                    if scan.weights and a < len(x_sql):
                        need(xy[a], xy[b])
            if scan.weights:
                products[("ln(w)",)] = f"ln({w[0]})"
        keys = [k for k in products if k]  # the empty product (1) is the count
        gcols = ", ".join(f"b.{ident(c)} AS g{i}" for i, c in enumerate(key))
        sums = ", ".join(f"{SUM}({products[k]}) AS m{j}" for j, k in enumerate(keys))
        group = ", ".join(f"b.{ident(c)}" for c in key)
        got = scan.con.execute(
            f"SELECT {gcols}, count(*) AS n, {sums} FROM {scan.base} AS b {' '.join(scan.joins)} "
            f"GROUP BY {group}"
        ).fetchnumpy()
        out[key] = {f"g{i}": np.asarray(got[f"g{i}"]) for i in range(len(key))}
        out[key]["n"] = np.asarray(got["n"])
        out[key]["sums"] = {k: np.asarray(got[f"m{j}"], dtype=float) for j, k in enumerate(keys)}
        out[key]["sums"][()] = out[key]["n"].astype(float)
    return out


def top_level_factors(expr: str) -> list[str]:
    """The factors of ``a * b * (c * d)`` split at the top level: [a, b, (c * d)]."""
    out: list[str] = []
    depth = 0
    start = 0
    quote = ""
    for i, ch in enumerate(expr):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "*" and depth == 0:
            out.append(expr[start:i].strip())
            start = i + 1
    out.append(expr[start:].strip())
    return out


