"""``lmer`` from cross-products computed by DuckDB (Parquet, CSV or a table).

The rows stay in DuckDB; every block of A = [Z X y]'W[Z X y] is a GROUP BY
over them (:mod:`mixedmodels.scale.duckdb_scans` writes the queries,
:mod:`mixedmodels.scale.duckdb_crossprod` assembles the blocks). X and y
enter shifted and scaled, x̃ⱼ = (xⱼ − mⱼ)/dⱼ and ỹ = (y − c)/s
(:mod:`mixedmodels.crossprod.centering`), with (c, s, m, d) from the first
rows, exactly as ``lmer`` does in memory.

This module prepares the views of a model's rows (:func:`_prepare`: the
source, :mod:`mixedmodels.scale.duckdb_source`; the level tables,
:mod:`mixedmodels.scale.duckdb_levels`) and computes row-level results
(fitted values, residuals) back in DuckDB. X and Z columns are SQL
expressions (treatment contrasts as ``CASE`` on the level code, interactions
as products). Rows with a NULL (or NaN) in a variable of the model are left
out, as ``na.omit``, and counted.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from typing import Any

import numpy as np
import pandas as pd

from ..crossprod import Centering, CrossProducts
from ..crossprod.centering import SAMPLE_ROWS
from ..crossprod.rest import plan_crossproducts
from ..errors import DataError
from ..optimize import OptimizerControl
from ..progress import NoBar, ScanBar, wants_progress
from .design import (
    ScaleDesign,
    build_scale_design,
    check_finite,
    drop_dependent,
    formula_columns,
)
from .duckdb_crossprod import crossprod_blocks
from .duckdb_levels import LevelTables, level_joins, value_index
from .duckdb_products import affine_columns
from .duckdb_scans import (
    SUM,
    FactorSums,
    PairSums,
    Scan,
    centering,
    group_moments,
    product_key,
    sql_string,
    top_level_factors,
    weight_sql,
    x_sql_of,
)
from .duckdb_source import (
    describe,
    first_line,
    from_clause,
    missing_value_filters,
    no_rows_error,
    refuse_type_conflict,
    refuse_unknown_columns,
    source_metadata,
    warn_unknown_ordered,
)
from .factors import FactorMeta, apply_ordered, explicit_metadata
from .model import SufficientStatsLMM
from .sql import column_sql, ident, literal, sql_expr

__all__ = ["lmer_duckdb", "DuckDBSource", "crossprod_duckdb"]

_counter = itertools.count()


class DuckDBSource:
    """Rows in DuckDB: the coded view of a model and the SQL for its results."""

    def __init__(
        self,
        con: Any,
        prefix: str,
        design: ScaleDesign,
        weighted: bool,
        column_sql: dict[str, str] | None = None,
        moments: tuple[dict[Any, FactorSums], dict[Any, PairSums]] | None = None,
        shift: Centering | None = None,
        levels: LevelTables | None = None,
    ):
        self.con = con
        self.prefix = prefix
        self.design = design
        self.weighted = weighted
        self.x_index = list(range(len(design.x_columns)))  # view column of each β entry
        self.column_sql = column_sql or {}  # view column (y, w, x0, z0_1...) -> its SQL
        # per grouping factor and per pair of factors: the sums of the scans
        self.factor_sums, self.pair_sums = moments or ({}, {})
        self.shift = shift or Centering.identity(len(design.x_columns))
        self.levels = levels  # per grouping factor: its raw values and their level codes
        self.scans = ScanBar(False, "duckdb")  # the bar of the fit while it scans the rows

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
        assert self.levels is not None
        index, code_of = self.levels.index(t.bar.group_vars)
        pos = index.get_indexer(value_index([res[f"g{first + i}"] for i in range(index.nlevels)]))
        if (pos < 0).any():  # pragma: no cover - the levels come from the same rows
            raise RuntimeError(f"grouping values of {t.bar.text} missing from its levels")
        return code_of[pos]

    def _w(self) -> str:
        return "w * " if self.weighted else ""

    def _product_key(self, expr: str) -> tuple[str, ...]:
        """What a product of view columns computes: the SQL of its factors, sorted, without
        factors of 1 (the intercept column, unit weights)."""
        return product_key([self.column_sql.get(f, f) for f in top_level_factors(expr)])

    def _agg(
        self,
        groups: list[str],
        exprs: list[str],
        view: str | None = None,
    ) -> dict[str, np.ndarray]:
        """``sum(e)`` per group for each product ``e`` of view columns (``a{j}``), and the
        groups (``g{i}``): a scan of the rows. Products that compute the same thing (x0 *
        z0_1 and x1 * z0_0 when x0 and z0_0 are the intercept and x1, z0_1 the same x)
        are summed once: the number of aggregates, not of scans, sets the cost of a
        GROUP BY. The cross-products take their sums from the scans of :func:`_prepare`
        (:mod:`mixedmodels.scale.duckdb_crossprod`); this is their fallback."""
        keys = [self._product_key(e) for e in exprs]
        first: dict[tuple[str, ...], int] = {}
        for j, key in enumerate(keys):
            if key != ("0.0",):  # Σ log w of unit weights: nothing to sum
                first.setdefault(key, j)
        cols = [f"{g} AS g{i}" for i, g in enumerate(groups)]
        cols += [f"{SUM}({exprs[j]}) AS u{j}" for j in first.values()]
        sql = f"SELECT {', '.join(cols)} FROM {self.view if view is None else view}"
        if groups:
            sql += " GROUP BY " + ", ".join(groups)
        with self.scans.scan("Σ by " + ", ".join(groups) if groups else "Σ"):
            res = self.con.execute(sql).fetchnumpy()
        out = {f"g{i}": res[f"g{i}"] for i in range(len(groups))}
        size = len(out["g0"]) if groups else 1
        for j, key in enumerate(keys):
            out[f"a{j}"] = res[f"u{first[key]}"] if key in first else np.zeros(size)
        return out

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
    scans: ScanBar | None = None,
) -> DuckDBSource:
    """Views, level tables and the row-free design of ``formula`` on ``source``.

    The scans of the rows, each one step of ``scans``: the row count (not for
    Parquet, whose footers hold it), the levels of the factors used in X or Z (one
    ``GROUP BY GROUPING SETS`` for all of them), and per grouping factor and per pair
    of grouping factors one ``GROUP BY`` (:func:`group_moments`)."""
    scans = scans or ScanBar(False, "duckdb")
    prefix = f"__mm{next(_counter)}_"
    src = from_clause(source, prefix, con)
    described = describe(con, src)
    frm = src.sql
    types = {str(r[0]): str(r[1]).upper() for r in described}
    explicit = explicit or {}
    refuse_unknown_columns(explicit, types)
    meta = source_metadata(con, src, types, explicit)
    is_cat = {c: t.startswith(("VARCHAR", "ENUM", "BOOL")) or c in meta for c, t in types.items()}
    parsed, infos, raw = formula_columns(formula, is_cat, weights, numeric_response=True)
    refuse_type_conflict(src, raw)
    factors = list(dict.fromkeys(i.column for i in infos.values()
                                 if i.kind == "cat" and i.column is not None))
    keys = len(dict.fromkeys(bar.group_vars for bar in parsed.bars))
    scans.expect((not src.parquet_files) + bool(factors) + keys + keys * (keys - 1) // 2)
    warn_unknown_ordered(apply_ordered(infos, meta), stacklevel=5)

    col_conds = missing_value_filters(raw, types)
    conds = [cond for _, cond in col_conds]
    base = ident(f"{prefix}base")
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {base} AS SELECT {', '.join(ident(c) for c in raw)} "
        f"FROM {frm} WHERE {' AND '.join(conds)}"
    )
    if src.parquet_files:  # the footers
        n_input = int(con.execute(f"SELECT count(*) FROM {frm}").fetchall()[0][0])
    else:
        with scans.scan("rows"):
            n_input = int(con.execute(f"SELECT count(*) FROM {frm}").fetchall()[0][0])
    levels = LevelTables(con, prefix, meta)

    # factors used in X or Z: their levels first (their codes enter the columns' SQL)
    if factors:
        with scans.scan("levels of " + ", ".join(factors)):
            found = factor_levels(con, base, factors)
        if any(len(values) == 0 for values in found):  # no complete row: say which column
            raise no_rows_error(con, src, col_conds, n_input)
        for c, values in zip(factors, found):
            levels.register((c,), [values])
    for info in infos.values():
        if info.kind == "cat" and info.column is not None:
            info.values = [lab[0] for lab in levels.labels[(info.column,)]]
    joins, code_col = level_joins(levels.tables, infos)

    # one GROUP BY per grouping factor: its levels, n, and every moment the cross-products
    # of its terms need (and, with the first, those of [X y]), in the same scan
    scan = Scan(con, base, joins, parsed, infos, code_col, weights, scans)
    sample = scan
    if len(src.parquet_files) > 1:  # the first rows are in the first file (DuckDB's order)
        first = f"read_parquet({sql_string(src.parquet_files[0])})"
        rows = (f"(SELECT {', '.join(ident(c) for c in raw)} FROM {first} "
                f"WHERE {' AND '.join(conds)})")
        got = con.execute(f"SELECT count(*) FROM (SELECT 1 FROM {rows} LIMIT {SAMPLE_ROWS})")
        if int(got.fetchall()[0][0]) >= SAMPLE_ROWS:
            sample = dataclasses.replace(scan, base=rows)
    shift, xy_sql = centering(sample)
    text = {c: t.startswith("VARCHAR") for c, t in types.items()}
    affine = affine_columns(x_sql_of(scan), xy_sql[:-1], shift)
    moments = group_moments(scan, xy_sql, affine, levels, text)
    group_values = {key: levels.labels[key] for key in moments[0]}
    n = int(round(float(np.sum(next(iter(moments[0].values())).n))))
    if n == 0:
        raise no_rows_error(con, src, col_conds, n_input)
    if weights is not None:
        wmin = min(float(np.min(f.w_min)) for f in moments[0].values())  # from the scans
        if wmin <= 0:
            raise DataError("weights must be positive")
    design = build_scale_design(parsed, infos, group_values, n, n_input, weights is not None)

    # the coded rows: y, w, X columns, and per term its level code and Z columns
    factor_joins = joins
    joins, _ = level_joins(levels.tables, infos)
    tables = list(levels.tables)
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
    sql_of = {"y": sql_expr(parsed.response), "w": weight_sql(weights)}
    sql_of.update({f"x{j}": column_sql(pcs, code_col) for j, pcs in enumerate(design.x_columns)})
    sql_of.update({f"xt{j}": e for j, e in enumerate(xy_sql[:-1])})
    sql_of["yt"] = xy_sql[-1]
    for k, t in enumerate(design.terms):
        sql_of.update({f"z{k}_{s}": column_sql(pcs, code_col) for s, pcs in enumerate(t.columns)})
    return DuckDBSource(con, prefix, design, weights is not None, sql_of, moments, shift,
                        levels)


def factor_levels(con: Any, base: str, columns: list[str]) -> list[np.ndarray]:
    """The distinct values of each of ``columns`` in the rows ``base``: one scan (a
    ``GROUP BY GROUPING SETS``, one set per column; ``GROUPING(c)`` is 0 in the rows of
    ``c``'s set)."""
    cols = [f"{ident(c)} AS g{i}" for i, c in enumerate(columns)]
    cols += [f"GROUPING({ident(c)}) AS s{i}" for i, c in enumerate(columns)]
    sets = ", ".join(f"({ident(c)})" for c in columns)
    got = con.execute(
        f"SELECT {', '.join(cols)} FROM {base} GROUP BY GROUPING SETS ({sets})"
    ).fetchnumpy()
    return [np.ma.getdata(got[f"g{i}"])[np.asarray(got[f"s{i}"]) == 0]
            for i in range(len(columns))]


def connect(progress: Any = None) -> Any:
    """A new in-memory DuckDB connection. When ``progress`` asks for a bar
    (:func:`mixedmodels.progress.wants_progress`; a caller's bar: unless it is off),
    DuckDB tracks each query's progress for ``query_progress`` (shown on the fit's bar,
    :class:`~mixedmodels.progress.ScanBar`) but never prints its own bar."""
    import duckdb

    con = duckdb.connect()
    lent = hasattr(progress, "update")  # a caller's bar
    on = not isinstance(progress, NoBar) if lent else wants_progress(progress)
    con.execute(f"SET enable_progress_bar = {'true' if on else 'false'}")
    con.execute("SET enable_progress_bar_print = false")
    return con


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

    con = connect(progress) if con is None else con
    explicit = explicit_metadata(levels, ordered)
    try:
        with ScanBar(progress, "duckdb", poll=con.query_progress) as scans:
            src = _prepare(con, formula, source, weights, explicit, scans)
            src.scans = scans
            cp, G, norms2 = crossprod_blocks(src)
            check_finite(cp, src.design, scans.counted("±inf per column", src.column_stats))
            src.scans = ScanBar(False, "duckdb")
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
        A bar over the scans of the rows, one step per query, each named by what
        it sums (``Σ by g``, ``Σ by g×h``; :class:`~mixedmodels.progress.ScanBar`),
        then the fit: None (default) when interactive, False never, True always
        (:mod:`mixedmodels.progress`).

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
                                   ordered, progress)
    with ScanBar(progress, "duckdb") as scans:
        cp, design, src = crossprod_duckdb(
            formula, source, weights=weights, con=con, levels=levels, ordered=ordered,
            progress=scans.bar, rest=getattr(control, "rest", "auto"),
        )
        name = os.fspath(source) if isinstance(source, str | os.PathLike) else None
        model = SufficientStatsLMM(design, cp, src, REML=REML, control=control, data_name=name)
        if isinstance(start, pd.Series):
            start = start.to_numpy()
        scans.label("fit")
        return model.fit(start=start)
