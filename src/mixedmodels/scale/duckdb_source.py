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
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..errors import DataError
from .factors import FactorMeta, dask_metadata, local_files, merge_metadata, parquet_metadata
from .sql import ident

__all__ = [
    "Source",
    "from_clause",
    "describe",
    "source_metadata",
    "first_line",
    "type_conflict",
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
