"""The Dask frame of a source: a Dask frame as given, a pandas/polars frame split into
partitions, or Parquet/CSV files read with ``dask.dataframe``.

For local Parquet files and a model whose X and Z are numeric
(:mod:`mixedmodels.scale.dask_onepass`), :func:`parquet_frame` reads each file
as one partition with only the model's columns and the string grouping columns
dictionary-encoded (``read_dictionary``): the workers then get level codes
without decoding and re-hashing every string. Such a column is a categorical
only as storage; its levels still come in R's order of the values.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from ..errors import DataError

__all__ = ["as_dask_frame", "parquet_paths", "parquet_frame", "string_columns"]


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
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    return [c for c in columns if c in schema.names
            and (pa.types.is_string(schema.field(c).type)
                 or pa.types.is_large_string(schema.field(c).type))]


def read_file(path: str, columns: list[str], dictionary: list[str]) -> pd.DataFrame:
    """One Parquet file as a pandas frame: ``columns`` only, ``dictionary`` columns read
    dictionary-encoded (pandas categoricals); a missing column names the file."""
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    missing = [c for c in columns if c not in schema.names]
    if missing:
        raise DataError(
            f"the Parquet file '{path}' has no column {', '.join(map(repr, missing))}: the "
            "files differ in their columns; give every file the same columns (or select the "
            "files that have them)"
        )
    dictionary = [c for c in dictionary if c in string_columns(path, [c])]
    return pq.read_table(path, columns=columns, read_dictionary=dictionary).to_pandas()


def parquet_frame(files: list[str], columns: list[str], dictionary: list[str],
                  meta: pd.DataFrame) -> Any:
    """A Dask frame of one partition per file (see :func:`read_file`); ``meta``: the
    columns' empty frame with the ``dictionary`` columns categorical."""
    import dask.dataframe as dd

    meta = meta[columns].copy()
    for c in dictionary:
        meta[c] = meta[c].astype("category")
    return dd.from_map(read_file, files, columns=columns, dictionary=dictionary, meta=meta,
                       enforce_metadata=False, divisions=[None] * (len(files) + 1))
