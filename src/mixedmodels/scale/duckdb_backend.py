"""``lmer`` from cross-products computed by DuckDB (Parquet, CSV or a table).

Every block of A = [Z X y]'W[Z X y] is a GROUP BY over the rows, which
stay in DuckDB:

* A11[l, s, t] = Σ_{i: c₁(i)=l} wᵢ z₁ₛ(i) z₁ₜ(i)            (GROUP BY c₁)
* [X y]'WZ₁ and [X y]'WZₖ per level                     (GROUP BY cₖ)
* Zₐ'WZ_b per level pair (a > b)                        (GROUP BY cₐ, c_b)
* [X y]'W[X y], n and Σ log wᵢ                          (one row)

X and y enter shifted and scaled, x̃ⱼ = (xⱼ − mⱼ)/dⱼ and ỹ = (y − c)/s
(:mod:`mixedmodels.crossprod.centering`), with (c, s, m, d) from the first
rows (a LIMIT query) before the scans, exactly as ``lmer`` does in memory;
sums are DuckDB's ``sum`` (:data:`SUM`).

Level codes cₖ come from joins with level tables (the distinct values coded by
the in-memory rules, :func:`mixedmodels.scale.factors.level_coding`: R's order
and labels, values R prints alike as one level, DuckDB ENUMs and Parquet
dictionaries in their own order); X and Z columns are SQL expressions (treatment
contrasts as ``CASE`` on the level code, interactions as products). Rows
with a NULL (or NaN) in a variable of the model are left out, as
``na.omit``, and counted.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..crossprod import Centering, CrossProducts, TermDims
from ..crossprod.centering import SAMPLE_ROWS
from ..crossprod.rest import assemble_rest, plan_crossproducts
from ..design.model_matrix import parse_terms
from ..errors import DataError
from ..optimize import OptimizerControl
from ..progress import progress_bar
from .design import (
    ScaleDesign,
    build_scale_design,
    check_finite,
    column_recipes,
    drop_dependent,
    formula_columns,
)
from .duckdb_source import describe, first_line, from_clause, source_metadata, type_conflict
from .factors import (
    FactorMeta,
    FactorMetadataWarning,
    apply_ordered,
    explicit_metadata,
    level_coding,
)
from .model import SufficientStatsLMM
from .sql import column_sql, ident, literal, sql_expr

__all__ = ["lmer_duckdb", "DuckDBSource", "crossprod_duckdb"]

_counter = itertools.count()

SUM = "sum"
"""DuckDB's aggregate for the blocks. The products summed are of shifted and scaled
columns (x̃, ỹ near zero mean, unit scale), so a plain sum has the rounding of the
in-memory ``np.bincount`` sums; the compensated ``fsum`` costs twice the scan time
(measured at 10⁷ rows) for digits the centering has already secured."""
class DuckDBSource:
    """Rows in DuckDB: the coded view of a model and the SQL for its results."""

    def __init__(
        self,
        con: Any,
        prefix: str,
        design: ScaleDesign,
        weighted: bool,
        column_sql: dict[str, str] | None = None,
        moments: dict[tuple[str, ...], dict[str, Any]] | None = None,
        shift: Centering | None = None,
        level_index: dict[tuple[str, ...], tuple[pd.Index, np.ndarray]] | None = None,
    ):
        self.con = con
        self.prefix = prefix
        self.design = design
        self.weighted = weighted
        self.x_index = list(range(len(design.x_columns)))  # view column of each β entry
        self.column_sql = column_sql or {}  # view column (y, w, x0, z0_1...) -> its SQL
        self.moments = moments or {}  # per grouping factor: sums from the first scan
        self.shift = shift or Centering.identity(len(design.x_columns))
        # per grouping factor: its distinct raw values and the level code of each
        self.level_index = level_index or {}

    @property
    def view(self) -> str:
        """The coded rows: y, w, x{j}, and per term its level code c{k} and z{k}_{s}."""
        return ident(f"{self.prefix}rows")

    @property
    def raw_view(self) -> str:
        """The rows for the cross-products: as :attr:`view`, but each term's grouping
        factor as its raw columns g{k}_{i} (no join with the level table on the scan)."""
        return ident(f"{self.prefix}rows_raw")

    def _term_groups(self, k: int) -> list[str]:
        return [f"g{k}_{i}" for i in range(len(self.design.terms[k].bar.group_vars))]

    def _codes(self, k: int, res: dict[str, np.ndarray], first: int) -> np.ndarray:
        """Level codes of term ``k`` for the raw group values g{first}, g{first+1}... of
        an aggregate, looked up (vectorized) in the term's levels."""
        t = self.design.terms[k]
        index, code_of = self.level_index[t.bar.group_vars]
        pos = index.get_indexer(_value_index([res[f"g{first + i}"] for i in range(index.nlevels)]))
        if (pos < 0).any():  # pragma: no cover - the levels come from the same rows
            raise RuntimeError(f"grouping values of {t.bar.text} missing from its levels")
        return code_of[pos]

    def _w(self) -> str:
        return "w * " if self.weighted else ""

    def _product_key(self, expr: str) -> tuple[str, ...]:
        """What a product of view columns computes: the SQL of its factors, sorted, without
        factors of 1 (the intercept column, unit weights)."""
        return product_key([self.column_sql.get(f, f) for f in _top_level_factors(expr)])

    def _agg(
        self,
        groups: list[str],
        exprs: list[str],
        view: str | None = None,
        factor: tuple[str, ...] | None = None,
    ) -> dict[str, np.ndarray]:
        """``sum(e)`` per group for each product ``e`` of view columns (``a{j}``), and the
        groups (``g{i}``). Products that compute the same thing (x0 * z0_1 and x1 * z0_0
        when x0 and z0_0 are the intercept and x1, z0_1 the same x) are summed once:
        the number of aggregates, not of scans, sets the cost of a GROUP BY."""
        keys = [self._product_key(e) for e in exprs]
        cached = self.moments.get(factor) if factor is not None else None
        if cached is not None and all(k in cached["sums"] or k == ("0.0",) for k in keys):
            size = len(cached["n"])
            out = {f"g{i}": cached[f"g{i}"] for i in range(len(groups))}
            for j, key in enumerate(keys):
                out[f"a{j}"] = cached["sums"][key] if key != ("0.0",) else np.zeros(size)
            return out
        first: dict[tuple[str, ...], int] = {}
        for j, key in enumerate(keys):
            if key != ("0.0",):  # Σ log w of unit weights: nothing to sum
                first.setdefault(key, j)
        cols = [f"{g} AS g{i}" for i, g in enumerate(groups)]
        cols += [f"{SUM}({exprs[j]}) AS u{j}" for j in first.values()]
        sql = f"SELECT {', '.join(cols)} FROM {self.view if view is None else view}"
        if groups:
            sql += " GROUP BY " + ", ".join(groups)
        res = self.con.execute(sql).fetchnumpy()
        out = {f"g{i}": res[f"g{i}"] for i in range(len(groups))}
        size = len(out["g0"]) if groups else 1
        for j, key in enumerate(keys):
            out[f"a{j}"] = res[f"u{first[key]}"] if key in first else np.zeros(size)
        return out

    # -- cross-products ----------------------------------------------------------
    def _term_blocks(
        self, k: int, xy: list[str], extra: list[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """One GROUP BY on term ``k``'s raw grouping columns: Zk'WZk per level
        (nl, S, S), [X y]'WZk (p + 1, nl·S), and the per-level sums of ``extra``."""
        t = self.design.terms[k]
        S = t.S
        w = self._w()
        zk = [f"z{k}_{s}" for s in range(S)]
        tri = [(s, u) for s in range(S) for u in range(s, S)]
        ex = [f"{w}{zk[s]} * {zk[u]}" for s, u in tri]
        ex += [f"{w}{xy[j]} * {zk[s]}" for j in range(len(xy)) for s in range(S)]
        groups = self._term_groups(k)
        res = self._agg(groups, ex + (extra or []), self.raw_view, t.bar.group_vars)
        (codes,), res = _merge_levels([self._codes(k, res, 0)], [t.nl], res)
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

    def crossprod(self) -> tuple[CrossProducts, np.ndarray, np.ndarray]:
        """All blocks of A for X̃ and ỹ (view columns xt{j}, yt); also, for the rank check,
        the unweighted X̃'X̃ and the squared norms Σ (x_j/d_j)² of the unshifted columns."""
        d = self.design
        terms = d.terms
        p = len(d.x_columns)
        shift = self.shift
        xy = [f"xt{j}" for j in range(p)] + ["yt"]
        w = self._w()
        pairs = [(a, b) for a in range(p + 1) for b in range(a + 1)]
        # n, Σ log w and [X y]'W[X y]: summed per level of the first term in its GROUP BY
        # (one scan for both), then over the levels
        exprs = ["1", "ln(w)" if self.weighted else "0.0"]
        exprs += [f"{w}{xy[a]} * {xy[b]}" for a, b in pairs]
        if self.weighted:
            exprs += [f"{xy[a]} * {xy[b]}" for a, b in pairs if a < p]
        first = self._term_blocks(0, xy, extra=exprs)
        row = [float(np.sum(v)) for v in first[2]]
        n = int(row[0])
        sum_log_w = float(row[1] or 0.0)
        XyXy = np.zeros((p + 1, p + 1))
        G = np.zeros((p, p))
        for j, (a, b) in enumerate(pairs):
            XyXy[a, b] = XyXy[b, a] = row[2 + j]
            if a < p and not self.weighted:
                G[a, b] = G[b, a] = row[2 + j]
        if self.weighted:
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
            blk, zx, _ = first if k == 0 else self._term_blocks(k, xy)
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
                ga, gb = self._term_groups(a), self._term_groups(b)
                res = self._agg(ga + gb, ex, self.raw_view)
                (ca, cb), res = _merge_levels(
                    [self._codes(a, res, 0), self._codes(b, res, len(ga))],
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

    def column_stats(self) -> dict[str, tuple[int, float]]:
        """Per model column (y, x{j}, z{k}_{s}): the count of ±inf and the largest finite |v|."""
        cols = ["y"] + [f"x{j}" for j in range(len(self.design.x_columns))]
        cols += [f"z{k}_{s}" for k, t in enumerate(self.design.terms) for s in range(t.S)]
        sel = []
        for c in cols:
            v = f"CAST({c} AS DOUBLE)"
            sel += [
                f"count(*) FILTER (WHERE isinf({v}))",
                f"coalesce(max(abs({v})) FILTER (WHERE isfinite({v})), 0.0)",
            ]
        row = self.con.execute(f"SELECT {', '.join(sel)} FROM {self.view}").fetchall()[0]
        return {c: (int(row[2 * i]), float(row[2 * i + 1])) for i, c in enumerate(cols)}

    # -- row-level results -------------------------------------------------------
    def _eta_sql(self, model: SufficientStatsLMM, rid: bool) -> tuple[str, str]:
        """(FROM clause with the b̂ lookups joined, SQL of ŷ = Xβ̂ + Zb̂)."""
        view = ident(f"{self.prefix}rows_rid") if rid else self.view
        parts = [f"{literal(b)} * r.x{j}" for j, b in zip(self.x_index, model._beta)]
        joins = []
        for k, t in enumerate(self.design.terms):
            name = f"{self.prefix}b{k}"
            df = pd.DataFrame({"code": np.arange(t.nl, dtype=np.int64)})
            for s in range(t.S):
                df[f"b{s}"] = model._b[k][:, s]
            self.con.register(name, df)
            joins.append(f"JOIN {ident(name)} AS b{k} ON r.c{k} = b{k}.code")
            parts += [f"r.z{k}_{s} * b{k}.b{s}" for s in range(t.S)]
        frm = f"{view} AS r " + " ".join(joins)
        return frm, "(" + " + ".join(parts or [literal(0.0)]) + ")"

    def row_values(self, model: SufficientStatsLMM, what: str) -> np.ndarray:
        """Per row, in source order: y, fitted, or response/pearson/scaled residuals."""
        frm, eta = self._eta_sql(model, rid=True)
        sw = "sqrt(r.w)" if self.weighted else literal(1.0)
        expr = {
            "y": "r.y",
            "fitted": eta,
            "response": f"(r.y - {eta})",
            "pearson": f"(r.y - {eta}) * {sw}",
            "scaled": f"(r.y - {eta}) * {sw} / {literal(model._sigma)}",
        }[what]
        sql = f"SELECT {expr} AS v FROM {frm} ORDER BY r.rid"
        return np.asarray(self.con.execute(sql).fetchnumpy()["v"], dtype=float)

    def scaled_residual_quantiles(self, model: SufficientStatsLMM) -> np.ndarray:
        """Type-7 quantiles (0, ¼, ½, ¾, 1) of √w (y − ŷ)/σ̂, computed in DuckDB."""
        frm, eta = self._eta_sql(model, rid=False)
        sw = "sqrt(r.w)" if self.weighted else literal(1.0)
        e = f"(r.y - {eta}) * {sw} / {literal(model._sigma)}"
        sql = f"SELECT quantile_cont({e}, [0.0, 0.25, 0.5, 0.75, 1.0]) FROM {frm}"
        return np.asarray(self.con.execute(sql).fetchall()[0][0], dtype=float)

    def moment_sums(
        self, beta: np.ndarray
    ) -> tuple[float, float, list[tuple[np.ndarray, np.ndarray]]]:
        """Σwe², Σw and per term (Σ_l e·z₀, n_l), e = y − Xβ."""
        e = "(y - (" + " + ".join(
            [f"{literal(b)} * x{j}" for j, b in zip(self.x_index, beta)] or [literal(0.0)]
        ) + "))"
        wt = "w" if self.weighted else literal(1.0)
        swe2, sw = self.con.execute(
            f"SELECT sum({wt} * {e} * {e}), sum({wt}) FROM {self.view}"
        ).fetchall()[0]
        out = []
        for k, t in enumerate(self.design.terms):
            res = self._agg([f"c{k}"], [f"{e} * z{k}_0", "1.0"])
            codes = res["g0"].astype(np.intp)
            sums = np.zeros(t.nl)
            cnt = np.zeros(t.nl)
            sums[codes] = res["a0"]
            cnt[codes] = res["a1"]
            out.append((sums, cnt))
        return float(swe2), float(sw), out


def _prepare(
    con: Any,
    formula: str,
    source: Any,
    weights: str | None,
    explicit: dict[str, FactorMeta] | None = None,
) -> DuckDBSource:
    """Views, level tables and the row-free design of ``formula`` on ``source``."""
    prefix = f"__mm{next(_counter)}_"
    src = from_clause(source, prefix, con)
    described = describe(con, src)
    frm = src.sql
    types = {str(r[0]): str(r[1]).upper() for r in described}
    explicit = explicit or {}
    for c in explicit:
        if c not in types:
            from ..errors import ColumnNotFoundError

            raise ColumnNotFoundError(c, list(types), "levels= / ordered=")
    meta = source_metadata(con, src, types, explicit)
    is_cat = {c: t.startswith(("VARCHAR", "ENUM", "BOOL")) or c in meta for c, t in types.items()}
    parsed, infos, raw = formula_columns(formula, is_cat, weights, numeric_response=True)
    conflict = type_conflict(src.parquet_files, raw) if len(src.parquet_files) > 1 else None
    if conflict:  # DuckDB would cast (text '1.5' to 1.5) or fail mid-scan: refuse up front
        raise DataError(
            f"cannot read '{src.name}': {conflict}; give the column the same type in every file"
        )
    unknown = list(dict.fromkeys(apply_ordered(infos, meta)))
    if unknown:
        names = ", ".join(f"'{c}'" for c in unknown)
        warnings.warn(
            f"DuckDB ENUM column{'s' if len(unknown) > 1 else ''} {names}: the levels keep the "
            "ENUM's order, but DuckDB does not record whether a factor was ordered, so "
            f"{'they are' if len(unknown) > 1 else 'it is'} fitted as unordered (treatment "
            f"contrasts); pass ordered={{'{unknown[0]}': [...]}} for an ordered factor "
            "(contr.poly, as R's ordered()) or levels={...} to confirm an unordered one",
            FactorMetadataWarning,
            stacklevel=4,
        )

    # NULL and NaN are missing (R's NA), as in memory; ±inf is kept and refused later.
    # (isnan() misses some NaN payloads read from Parquet; "finite or infinite" does not.)
    col_conds = [(c, f"{ident(c)} IS NOT NULL") for c in raw]
    col_conds += [
        (c, f"(isfinite({ident(c)}) OR isinf({ident(c)}))")
        for c in raw
        if types[c] in ("DOUBLE", "FLOAT", "REAL")
    ]
    conds = [cond for _, cond in col_conds]
    base = ident(f"{prefix}base")
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {base} AS SELECT {', '.join(ident(c) for c in raw)} "
        f"FROM {frm} WHERE {' AND '.join(conds)}"
    )
    n_input = int(con.execute(f"SELECT count(*) FROM {frm}").fetchall()[0][0])  # Parquet: footers
    level_tables: dict[tuple[str, ...], str] = {}
    level_labels: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    level_index: dict[tuple[str, ...], tuple[pd.Index, np.ndarray]] = {}

    def register(cols: tuple[str, ...], found: list[np.ndarray]) -> list[tuple[str, ...]]:
        """Code the distinct values of ``cols`` (arrays as DuckDB returns them) in R's
        level order (or the source's), values R prints alike as one level, and store
        them with their codes as a level table. Returns the levels' labels."""
        name = ident(f"{prefix}lv{len(level_tables)}")
        found = [np.asarray(a) for a in found]
        rows = list(zip(*(_python_values(a) for a in found)))
        codes, labels = level_coding(rows, cols, meta)
        table = pd.DataFrame({c: a for c, a in zip(cols, found)})
        table["code"] = np.asarray(codes, dtype=np.int32)
        level_labels[cols] = labels
        level_index[cols] = (_value_index(found), np.asarray(codes, dtype=np.intp))
        view = f"{prefix}lv{len(level_tables)}_src"
        con.register(view, table)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {ident(view)}")
        con.unregister(view)
        level_tables[cols] = name
        return labels

    # factors used in X or Z: their levels first (their codes enter the columns' SQL)
    for info in infos.values():
        if info.kind == "cat" and info.column is not None:
            key = (info.column,)
            if key not in level_tables:
                qc = ident(info.column)
                got = con.execute(f"SELECT DISTINCT {qc} AS g0 FROM {base}").fetchnumpy()
                register(key, [got["g0"]])
            info.values = [lab[0] for lab in level_labels[key]]
    joins, code_col = _joins(level_tables, infos)

    # one GROUP BY per grouping factor: its levels, n, and every moment the cross-products
    # of its terms need (and, with the first, those of [X y]), in the same scan
    scan = _Scan(con, base, joins, parsed, infos, code_col, weights)
    sample = scan
    if len(src.parquet_files) > 1:  # the first rows are in the first file (DuckDB's order)
        first = f"read_parquet({_sql_string(src.parquet_files[0])})"
        rows = (f"(SELECT {', '.join(ident(c) for c in raw)} FROM {first} "
                f"WHERE {' AND '.join(conds)})")
        got = con.execute(f"SELECT count(*) FROM (SELECT 1 FROM {rows} LIMIT {SAMPLE_ROWS})")
        if int(got.fetchall()[0][0]) >= SAMPLE_ROWS:
            sample = dataclasses.replace(scan, base=rows)
    shift, xy_sql = _centering(sample)
    moments = _group_moments(scan, xy_sql)
    group_values = {}
    for key, got in moments.items():
        group_values[key] = (
            register(key, [got[f"g{i}"] for i in range(len(key))])
            if key not in level_tables
            else level_labels[key]
        )
    n = int(np.sum(next(iter(moments.values()))["n"]))
    if n == 0:
        if n_input == 0:
            raise DataError(f"'{src.name}' has no rows")
        present = con.execute(
            "SELECT " + ", ".join(f"count(*) FILTER (WHERE {c})" for c in conds) + f" FROM {frm}"
        ).fetchall()[0]
        empty = list(dict.fromkeys(c for (c, _), k in zip(col_conds, present) if k == 0))
        detail = (
            f"{', '.join(repr(c) for c in empty)} {'is' if len(empty) == 1 else 'are'} "
            "missing (NULL or NaN) in every row"
            if empty
            else "every row has a missing value (NULL or NaN) in some variable of the model"
        )
        raise DataError(f"no rows left in '{src.name}' after removing missing values: {detail}")
    if weights is not None:
        wmin = con.execute(f"SELECT min({ident(weights)}) FROM {base}").fetchall()[0][0]
        if wmin <= 0:
            raise DataError("weights must be positive")
    design = build_scale_design(parsed, infos, group_values, n, n_input, weights is not None)

    # the coded rows: y, w, X columns, and per term its level code and Z columns
    factor_joins = joins
    joins, _ = _joins(level_tables, infos)
    tables = list(level_tables)
    sel = [f"{sql_expr(parsed.response)} AS y"]
    sel.append(f"CAST(b.{ident(weights)} AS DOUBLE) AS w" if weights else f"{literal(1.0)} AS w")
    sel += [f"{column_sql(pcs, code_col)} AS x{j}" for j, pcs in enumerate(design.x_columns)]
    sel += [f"{e} AS xt{j}" for j, e in enumerate(xy_sql[:-1])] + [f"{xy_sql[-1]} AS yt"]
    for k, t in enumerate(design.terms):
        sel.append(f"l{tables.index(t.bar.group_vars)}.code AS c{k}")
        sel += [f"{column_sql(pcs, code_col)} AS z{k}_{s}" for s, pcs in enumerate(t.columns)]
    body = ", ".join(sel)
    jn = " ".join(joins)
    rows = ident(prefix + "rows")
    con.execute(f"CREATE OR REPLACE TEMP VIEW {rows} AS SELECT {body} FROM {base} AS b {jn}")
    # the same rows with raw grouping columns, joined only to the level tables of factors
    # used in X or Z: the cross-products group by the raw values (a join per row saved)
    raw_sel = sel[: 3 + 2 * len(design.x_columns)]
    for k, t in enumerate(design.terms):
        raw_sel += [f"b.{ident(c)} AS g{k}_{i}" for i, c in enumerate(t.bar.group_vars)]
        raw_sel += [f"{column_sql(pcs, code_col)} AS z{k}_{s}" for s, pcs in enumerate(t.columns)]
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {ident(prefix + 'rows_raw')} AS SELECT "
        f"{', '.join(raw_sel)} FROM {base} AS b {' '.join(factor_joins)}"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {ident(prefix + 'rows_rid')} AS SELECT {body}, b.rid "
        f"FROM (SELECT *, row_number() OVER () AS rid FROM {base}) AS b {jn}"
    )
    sql_of = {"y": sql_expr(parsed.response), "w": _weight_sql(weights)}
    sql_of.update({f"x{j}": column_sql(pcs, code_col) for j, pcs in enumerate(design.x_columns)})
    sql_of.update({f"xt{j}": e for j, e in enumerate(xy_sql[:-1])})
    sql_of["yt"] = xy_sql[-1]
    for k, t in enumerate(design.terms):
        sql_of.update({f"z{k}_{s}": column_sql(pcs, code_col) for s, pcs in enumerate(t.columns)})
    return DuckDBSource(con, prefix, design, weights is not None, sql_of, moments, shift,
                        level_index)


def _sql_string(text: str) -> str:
    """A string as an SQL literal."""
    return "'" + text.replace("'", "''") + "'"


def _weight_sql(weights: str | None) -> str:
    return f"CAST(b.{ident(weights)} AS DOUBLE)" if weights else literal(1.0)


def _joins(
    level_tables: dict[tuple[str, ...], str], infos: dict[str, Any]
) -> tuple[list[str], dict[str, str]]:
    """JOINs of the rows (``b``) with the level tables, and the SQL of each factor's code."""
    joins: list[str] = []
    code_col: dict[str, str] = {}
    for i, (cols, table) in enumerate(level_tables.items()):
        on = " AND ".join(f"b.{ident(c)} = l{i}.{ident(c)}" for c in cols)
        joins.append(f"JOIN {table} AS l{i} ON {on}")
        for e, info in infos.items():
            if info.kind == "cat" and (info.column,) == cols:
                code_col[e] = f"l{i}.code"
    return joins, code_col


def product_key(factors: list[str]) -> tuple[str, ...]:
    """What a product computes: the SQL of its factors, sorted, without factors of 1."""
    one = literal(1.0)
    return tuple(sorted(f for f in factors if f not in (one, "1")))


@dataclass
class _Scan:
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


def _centering(scan: _Scan) -> tuple[Centering, list[str]]:
    """The shift and scale of X and y from the first :data:`SAMPLE_ROWS` rows (as ``lmer``
    in memory), and the SQL of x̃_j = (x_j − m_j)/d_j (1 for the intercept) and ỹ."""
    fixed = parse_terms(scan.parsed.fixed, scan.parsed.text)
    x_sql = [column_sql(pcs, scan.code_col) for pcs in column_recipes(fixed, scan.infos)[0]]
    y_sql = sql_expr(scan.parsed.response)
    cols = [f"{e} AS x{j}" for j, e in enumerate(x_sql)] + [f"{y_sql} AS y"]
    cols.append(f"{_weight_sql(scan.weights)} AS w")
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


def _group_moments(scan: _Scan, xy: list[str]) -> dict[tuple[str, ...], dict[str, Any]]:
    """Per grouping factor (in the bars' order), one GROUP BY on its raw columns with the
    row count ``n`` and Σ of every product the cross-products of its terms use:
    wZ'Z within each term, w[X y]'Z, and for the first factor also w[X y]'[X y],
    X'X (weighted fits) and Σ log w. Returns per factor the group values ``g{i}``,
    ``n``, and ``sums`` mapping each product's :func:`product_key` to its sums."""
    x_sql = xy[:-1]  # x̃ and ỹ of :func:`_centering`
    w = [_weight_sql(scan.weights)] if scan.weights else []
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


def _top_level_factors(expr: str) -> list[str]:
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


def _python_values(values: np.ndarray) -> list[Any]:
    """Values as Python objects (date-times as ``datetime``, also from nanosecond
    arrays, whose ``tolist`` gives integers)."""
    if values.dtype.kind == "M":
        return values.astype("datetime64[us]").tolist()
    return values.tolist()


def _value_index(arrays: list[np.ndarray]) -> pd.Index:
    """The raw values of a factor's columns as an index (a MultiIndex for several)."""
    if len(arrays) == 1:
        return pd.Index(np.asarray(arrays[0]))
    return pd.MultiIndex.from_arrays([np.asarray(a) for a in arrays])


def _merge_levels(
    codes: list[np.ndarray], sizes: list[int], res: dict[str, np.ndarray]
) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """An aggregate's rows grouped by raw values, summed per level (tuple of ``codes``):
    distinct values that R prints alike are one level. Unchanged when the codes are
    distinct (the usual case)."""
    key = codes[0].astype(np.int64)
    for c, size in zip(codes[1:], sizes[1:]):
        key = key * size + c
    uniq, inverse = np.unique(key, return_inverse=True)
    if uniq.size == key.size:
        return codes, res
    out = {k: v for k, v in res.items() if not k.startswith("a")}
    for k, v in res.items():
        if k.startswith("a"):
            out[k] = np.bincount(inverse, weights=np.asarray(v, dtype=float), minlength=uniq.size)
    merged = []
    rest = uniq
    for size in reversed(sizes[1:]):
        merged.append((rest % size).astype(np.intp))
        rest = rest // size
    merged.append(rest.astype(np.intp))
    return merged[::-1], out


def crossprod_duckdb(
    formula: str,
    source: Any,
    weights: str | None = None,
    con: Any = None,
    *,
    levels: dict[str, Any] | None = None,
    ordered: dict[str, Any] | None = None,
    progress: Any = None,
    rest: str = "auto",
) -> tuple[CrossProducts, ScaleDesign, DuckDBSource]:
    """The cross-products, row-free design and row source of ``formula`` on ``source``.

    Errors DuckDB raises while reading the rows (a damaged file, columns
    missing from some files, types that differ between files) become a
    :class:`DataError` naming the source. The level pairs of crossed factors
    arrive as sparse triplets (one GROUP BY per pair of factors); ``rest``
    chooses the dense or sparse rest block as for ``lmer``
    (:mod:`mixedmodels.linalg.rest_plan`).
    """
    import duckdb

    con = duckdb.connect() if con is None else con
    explicit = explicit_metadata(levels, ordered)
    try:
        with progress_bar(progress, 2, "duckdb scan", unit="pass") as bar:
            bar.set_postfix_str("levels")
            src = _prepare(con, formula, source, weights, explicit)
            bar.update()
            bar.set_postfix_str("cross-products")
            cp, G, norms2 = src.crossprod()
            bar.update()
        check_finite(cp, src.design, src.column_stats)
    except (
        duckdb.IOException,
        duckdb.InvalidInputException,
        duckdb.ConversionException,
        duckdb.OutOfRangeException,
    ) as exc:
        name = source if isinstance(source, str | os.PathLike) else "the DuckDB source"
        raise DataError(f"cannot read '{name}': {first_line(exc)}") from exc
    cp, keep = drop_dependent(cp, G, src.design, norms2)
    src.x_index = [int(j) for j in keep]
    return plan_crossproducts(cp, rest), src.design, src


def lmer_duckdb(
    formula: str,
    source: Any,
    REML: bool = True,
    weights: str | None = None,
    con: Any = None,
    control: OptimizerControl | None = None,
    start: Any = None,
    *,
    levels: dict[str, Any] | None = None,
    ordered: dict[str, Any] | None = None,
    progress: bool | None = None,
    method: str | None = None,
) -> Any:
    """Fit ``lmer(formula)`` on rows that stay in DuckDB.

    Parameters
    ----------
    formula:
        lme4 formula; fixed and random parts may use numeric columns,
        factors (string/boolean/ENUM/dictionary columns or ``factor(x)``),
        interactions and numeric expressions (``log(x)``, ``I(x^2)``).
    source:
        Parquet/CSV path (globs allowed), a directory of Parquet (or CSV)
        files, a table or view name in ``con``, a DuckDB relation, or a
        pandas/polars frame (scanned in place by DuckDB).
    REML, weights:
        As ``lmer``; ``weights`` names a column of prior weights.
    con:
        DuckDB connection (a new in-memory one by default); it must stay open
        while fitted values, residuals or the summary are computed.
    levels, ordered:
        Factor coding of columns, as pandas categoricals carry it in memory:
        ``levels={"col": [...]}`` makes ``col`` a factor with this level
        order, ``ordered={"col": [...]}`` an ordered factor (``contr.poly``).
        Without them, Parquet files written from pandas/pyarrow give each
        categorical column its level order and ordered flag (see
        :mod:`mixedmodels.scale.factors`); other string columns are
        unordered factors in R's level order.

    progress:
        A bar over the passes (levels, cross-products) and the fit: None
        (default) when interactive (:mod:`mixedmodels.progress`).

    method:
        ``None``: the exact (RE)ML fit. ``"moments"``: crossed random intercepts by
        moments + backfitting GLS from GROUP BY sums (:mod:`mixedmodels.moments`,
        :mod:`mixedmodels.scale.moments_sums`); not lme4's estimates.

    Rows with NULL or NaN in a variable of the model are left out (R's NA);
    ±inf is an error naming the column, as in memory.
    """
    if method is not None:
        from .moments_sums import lmer_duckdb_moments

        return lmer_duckdb_moments(formula, source, method, weights, con, start, levels,
                                   ordered)
    with progress_bar(progress, 3, "duckdb fit", unit="step") as bar:
        cp, design, src = crossprod_duckdb(
            formula, source, weights=weights, con=con, levels=levels, ordered=ordered,
            progress=bar, rest=getattr(control, "rest", "auto"),
        )
        name = os.fspath(source) if isinstance(source, str | os.PathLike) else None
        model = SufficientStatsLMM(design, cp, src, REML=REML, control=control, data_name=name)
        if isinstance(start, pd.Series):
            start = start.to_numpy()
        bar.set_postfix_str("fit")
        model = model.fit(start=start)
        bar.update()
    return model
