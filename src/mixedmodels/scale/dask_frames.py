"""The Dask frame of a source: a Dask frame as given, a pandas/polars frame split into
partitions, or Parquet/CSV files read with ``dask.dataframe``.

For local Parquet files and a model whose X and Z are numeric
(:mod:`mixedmodels.scale.dask_files`), :func:`read_table` reads one file with
only the model's columns and the string grouping columns dictionary-encoded
(``read_dictionary``): the workers then get level codes without decoding and
re-hashing every string. Such a column is a dictionary only as storage; its
levels still come in R's order of the values.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from ..errors import DataError

__all__ = ["as_dask_frame", "parquet_paths", "read_table", "string_columns"]


def as_dask_frame(data: Any) -> Any:
    """A Dask DataFrame as given; a pandas (or polars) frame split into partitions; a
    Parquet/CSV path, glob or directory read with ``dask.dataframe`` (a missing file
    or a glob that matches nothing is a :class:`DataError` naming it)."""
    if hasattr(data, "_meta") and hasattr(data, "to_delayed"):
        return data
    import dask.dataframe as dd

    if isinstance(data, str | os.PathLike):
        from .duckdb_source import from_clause

        src = from_clause(data, "", None)  # checks the path, lists local Parquet files
        if src.parquet_files:
            return dd.read_parquet(src.parquet_files)
        if "read_csv" in src.sql:
            return dd.read_csv(os.fspath(data))
        raise DataError(f"'{data}' is not a Parquet or CSV file, glob or directory")

    if hasattr(data, "to_pandas") and not isinstance(data, pd.DataFrame):  # polars, pyarrow
        data = data.to_pandas()
    if isinstance(data, pd.DataFrame):
        parts = max(1, min(os.cpu_count() or 1, len(data) // 100_000))
        return dd.from_pandas(data, npartitions=parts)
    raise DataError(
        f"lmer_dask needs a Dask DataFrame, a pandas/polars frame or a Parquet/CSV path, got "
        f"{type(data).__name__}"
    )


def parquet_paths(data: Any) -> list[str]:
    """The local Parquet files of a path, glob or directory (empty for anything else)."""
    if not isinstance(data, str | os.PathLike):
        return []
    from .duckdb_source import from_clause

    return list(from_clause(data, "", None).parquet_files)


def string_columns(path: str, columns: list[str]) -> list[str]:
    """The columns of ``columns`` stored as (large) strings in the Parquet file ``path``."""
    import pyarrow.parquet as pq

    return _strings(pq.read_schema(path), columns)


def _strings(schema: Any, columns: list[str]) -> list[str]:
    import pyarrow as pa

    return [c for c in columns if c in schema.names
            and (pa.types.is_string(schema.field(c).type)
                 or pa.types.is_large_string(schema.field(c).type))]


def read_table(path: str, columns: list[str], dictionary: list[str] | frozenset[str]) -> Any:
    """One Parquet file as an Arrow table: ``columns`` only, those of ``dictionary`` stored
    as strings read dictionary-encoded; a missing column names the file. Read on the
    calling thread (a Dask worker's tasks are the parallelism)."""
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    missing = [c for c in columns if c not in schema.names]
    if missing:
        raise DataError(
            f"the Parquet file '{path}' has no column {', '.join(map(repr, missing))}: the "
            "files differ in their columns; give every file the same columns (or select the "
            "files that have them)"
        )
    encode = _strings(schema, [c for c in columns if c in dictionary])
    return pq.read_table(path, columns=columns, read_dictionary=encode, use_threads=False)
