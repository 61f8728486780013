"""Where the rows of an out-of-memory fit come from, for DuckDB.

A source is a Parquet/CSV/JSON file, a glob, a directory (every ``*.parquet``
under it, else every ``*.csv``), a table or view name, a DuckDB relation or a
pandas/polars frame. It resolves to a SQL ``FROM`` clause; a path that does
not exist, a glob that matches nothing or an unknown table raises
:class:`DataError` naming it, and DuckDB's own read errors become one too.
The factor metadata of the source (Parquet dictionaries, a frame's
categorical dtypes, ENUM order) is read here as well
(:mod:`mixedmodels.scale.factors`).
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..errors import ColumnNotFoundError, DataError, FactorMetadataWarning
from .factors import FactorMeta, dask_metadata, local_files, merge_metadata, parquet_metadata
from .sql import ident

__all__ = [
    "Source",
    "from_clause",
    "describe",
    "source_metadata",
    "first_line",
    "type_conflict",
    "refuse_type_conflict",
    "refuse_unknown_columns",
    "warn_unknown_ordered",
    "missing_value_filters",
    "no_rows_error",
]

_FILE = re.compile(r"\.(parquet|pq|csv|tsv|txt|json|ndjson)(\.gz|\.zst)?$", re.IGNORECASE)


_GLOB = re.compile(r"[*?\[]")


@dataclass
class Source:
    """Where the rows come from: the SQL FROM clause, a name for messages and, for local
    Parquet files, their paths (read for factor metadata)."""

    sql: str
    name: str
    parquet_files: list[str] = field(default_factory=list)
    frame_meta: dict[str, FactorMeta] = field(default_factory=dict)  # a pandas frame's dtypes


def _path_sql(path: str) -> str:
    """A path as an SQL string literal."""
    return "'" + path.replace("'", "''") + "'"


def _reader(path: str) -> str:
    if re.search(r"\.(parquet|pq)$", path, re.I):
        return "read_parquet"
    return "read_json_auto" if re.search(r"json", path, re.I) else "read_csv_auto"


def from_clause(source: Any, prefix: str, con: Any) -> Source:
    """The FROM clause of a path, a directory, a glob, a table name or a relation.

    A directory reads every ``*.parquet`` file under it (``*.csv`` if there is
    none); a local path that does not exist and a glob that matches nothing
    raise :class:`DataError` naming them.
    """
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if isinstance(source, str):
        if "://" in source:  # remote (s3://, https://): DuckDB resolves it
            return Source(f"{_reader(source)}({_path_sql(source)})", source)
        path = os.path.expanduser(source)
        if os.path.isdir(path):
            for ext in ("parquet", "pq", "csv"):
                pattern = os.path.join(path, "**", f"*.{ext}")
                files = local_files(pattern)
                if files:
                    break
            else:
                raise DataError(
                    f"directory '{source}' holds no .parquet or .csv files; pass a file, a "
                    "glob such as 'data/*.parquet', or a table name"
                )
            parquet = files if ext != "csv" else []
            return Source(f"{_reader(pattern)}({_path_sql(pattern)})", source, parquet)
        if _GLOB.search(path):
            files = local_files(path)
            if not files:
                raise DataError(f"no files match '{source}'; check the path and the pattern")
            parquet = files if _reader(path) == "read_parquet" else []
            return Source(f"{_reader(path)}({_path_sql(path)})", source, parquet)
        if _FILE.search(path) or os.sep in path or "/" in path:
            if not os.path.isfile(path):
                raise DataError(f"data file '{source}' does not exist")
            parquet = [path] if _reader(path) == "read_parquet" else []
            return Source(f"{_reader(path)}({_path_sql(path)})", source, parquet)
        return Source(ident(source), source)
    if hasattr(source, "create_view"):
        name = f"{prefix}src"
        source.create_view(name, replace=True)
        return Source(ident(name), "relation")
    if hasattr(source, "to_pandas") and not isinstance(source, pd.DataFrame):  # polars
        source = source.to_pandas()
    if isinstance(source, pd.DataFrame):
        name = f"{prefix}frame"
        con.register(name, source)
        return Source(ident(name), "data frame", frame_meta=dask_metadata(source))
    raise DataError(
        "source must be a file path (Parquet/CSV, glob allowed), a directory, a table name, "
        f"a DuckDB relation or a pandas/polars frame, got {type(source).__name__}"
    )


def describe(con: Any, src: Source) -> list[tuple[Any, ...]]:
    """The source's columns (name, type, ...); DuckDB's errors become :class:`DataError`."""
    import duckdb

    try:
        return con.execute(f"DESCRIBE SELECT * FROM {src.sql}").fetchall()
    except duckdb.CatalogException:
        raise DataError(
            f"'{src.name}' is neither a data file nor a table or view of the DuckDB connection; "
            "pass a path with its suffix (.parquet, .csv), a glob or an existing table name"
        ) from None
    except duckdb.Error as exc:
        raise DataError(f"cannot read '{src.name}': {first_line(exc)}") from exc


def first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def source_metadata(
    con: Any, src: Source, types: dict[str, str], explicit: dict[str, FactorMeta]
) -> dict[str, FactorMeta]:
    """Factor metadata: explicit arguments, a frame's dtypes, Parquet dictionaries, ENUMs."""
    wanted = [c for c in types if c not in explicit and c not in src.frame_meta]
    parquet = parquet_metadata(src.parquet_files, wanted) if src.parquet_files else {}
    enums: dict[str, FactorMeta] = {}
    for c in wanted:
        if types[c].startswith("ENUM") and c not in parquet:
            row = con.execute(
                f"SELECT enum_range({ident(c)}) FROM {src.sql} WHERE {ident(c)} IS NOT NULL "
                "LIMIT 1"
            ).fetchall()
            labels = tuple(str(v) for v in row[0][0]) if row else None
            enums[c] = FactorMeta(labels, False, "DuckDB ENUM", ordered_known=False)
    return merge_metadata(explicit, src.frame_meta, parquet, enums)


def _type_kind(t: Any) -> str:
    """The kind of an Arrow type that decides how a column is read: number, text, ..."""
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numeric"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t):
        return "text"
    if pa.types.is_boolean(t):
        return "logical"
    if pa.types.is_temporal(t):
        return "date/time"
    return str(t)


def type_conflict(files: list[str], columns: list[str]) -> str | None:
    """For a set of Parquet files, the first of ``columns`` whose kind of type differs
    between two files, as "column 'y' is numeric in 'a.parquet' but text in
    'b.parquet'"; None when they agree. Reads only the files' footers."""
    import pyarrow.parquet as pq

    seen: dict[str, tuple[str, str]] = {}
    for path in files:
        schema = pq.read_schema(path)
        for c in columns:
            if c not in schema.names:
                continue
            kind = _type_kind(schema.field(c).type)
            first = seen.setdefault(c, (kind, path))
            if first[0] != kind:
                return f"column '{c}' is {first[0]} in '{first[1]}' but {kind} in '{path}'"
    return None


def refuse_type_conflict(src: Source, columns: list[str]) -> None:
    """Refuse Parquet files that disagree on the kind of a column's type: DuckDB would
    cast (text '1.5' to 1.5) or fail mid-scan."""
    conflict = type_conflict(src.parquet_files, columns) if len(src.parquet_files) > 1 else None
    if conflict:
        raise DataError(
            f"cannot read '{src.name}': {conflict}; give the column the same type in every file"
        )


def refuse_unknown_columns(explicit: dict[str, FactorMeta], types: dict[str, str]) -> None:
    """``levels=`` / ``ordered=`` naming a column the source does not have."""
    for c in explicit:
        if c not in types:
            raise ColumnNotFoundError(c, list(types), "levels= / ordered=")


def warn_unknown_ordered(columns: list[str], stacklevel: int) -> None:
    """Warn that DuckDB ENUM ``columns`` are fitted as unordered factors."""
    unknown = list(dict.fromkeys(columns))
    if not unknown:
        return
    names = ", ".join(f"'{c}'" for c in unknown)
    warnings.warn(
        f"DuckDB ENUM column{'s' if len(unknown) > 1 else ''} {names}: the levels keep the "
        "ENUM's order, but DuckDB does not record whether a factor was ordered, so "
        f"{'they are' if len(unknown) > 1 else 'it is'} fitted as unordered (treatment "
        f"contrasts); pass ordered={{'{unknown[0]}': [...]}} for an ordered factor "
        "(contr.poly, as R's ordered()) or levels={...} to confirm an unordered one",
        FactorMetadataWarning,
        stacklevel=stacklevel,
    )


def missing_value_filters(columns: list[str], types: dict[str, str]) -> list[tuple[str, str]]:
    """Per column, the SQL conditions of a present value: NULL and NaN are missing (R's NA),
    as in memory; ±inf is kept (and refused later). ``isnan()`` misses some NaN payloads
    read from Parquet; "finite or infinite" does not."""
    conds = [(c, f"{ident(c)} IS NOT NULL") for c in columns]
    conds += [
        (c, f"(isfinite({ident(c)}) OR isinf({ident(c)}))")
        for c in columns
        if types[c] in ("DOUBLE", "FLOAT", "REAL")
    ]
    return conds


def no_rows_error(
    con: Any, src: Source, col_conds: list[tuple[str, str]], n_input: int
) -> DataError:
    """The error for a source with no complete row, naming the columns missing everywhere."""
    if n_input == 0:
        return DataError(f"'{src.name}' has no rows")
    present = con.execute(
        "SELECT " + ", ".join(f"count(*) FILTER (WHERE {c})" for _, c in col_conds)
        + f" FROM {src.sql}"
    ).fetchall()[0]
    empty = list(dict.fromkeys(c for (c, _), k in zip(col_conds, present) if k == 0))
    detail = (
        f"{', '.join(repr(c) for c in empty)} {'is' if len(empty) == 1 else 'are'} "
        "missing (NULL or NaN) in every row"
        if empty
        else "every row has a missing value (NULL or NaN) in some variable of the model"
    )
    return DataError(f"no rows left in '{src.name}' after removing missing values: {detail}")
