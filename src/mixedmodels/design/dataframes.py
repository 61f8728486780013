"""The data argument as a pandas DataFrame: pandas, polars (eager or lazy), Arrow, dicts.

Columns are converted without touching rows one by one; R's reading of the
source's types is kept where pandas would read them otherwise (a polars
``Enum`` is a factor with its level order, a ``Categorical`` is text sorted as
R sorts it, decimals are float64). Duplicated column names are an error.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..errors import DataError
from .variables import SOURCE_DTYPES

__all__ = ["as_pandas"]


def as_pandas(data: Any) -> pd.DataFrame:
    """Accept pandas, polars (eager or lazy), pyarrow tables or dicts of columns.

    Columns are converted without touching rows one by one (polars and Arrow
    strings stay Arrow-backed); decimals become float64. Duplicated column
    names and a dict of columns of different lengths are errors.
    """
    if isinstance(data, pd.DataFrame):
        out = data
    elif type(data).__module__.startswith("polars"):
        if hasattr(data, "collect"):
            data = data.collect()
        out = _polars_to_pandas(data)
    elif type(data).__module__.startswith("pyarrow"):
        out = _arrow_to_pandas(data)
    elif isinstance(data, dict):
        from ..arguments import frame_from_dict  # one row per scalar dict; ragged: an error

        out = frame_from_dict(data)
    else:
        raise DataError(
            "data must be a pandas or polars DataFrame (or a dict of columns), "
            f"got {type(data).__name__}"
        )
    if out.columns.is_unique:  # cached by pandas: no mask over the names
        return out
    dup = out.columns[out.columns.duplicated()]
    if len(dup):
        names = ", ".join(f"'{c}'" for c in dict.fromkeys(map(str, dup)))
        raise DataError(
            f"the data has duplicated column names: {names}; rename or drop the copies "
            "so that each name refers to one column"
        )
    return out


def _arrow_to_pandas(table: Any) -> pd.DataFrame:
    """A pyarrow table as pandas; decimal columns as float64."""
    import pyarrow as pa

    for i, f in enumerate(table.schema):
        if pa.types.is_decimal(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(pa.float64()))
    return table.to_pandas(date_as_object=False)


def _polars_to_pandas(data: Any) -> pd.DataFrame:
    """A polars frame as pandas, with R's reading of its factor types: an ``Enum``
    is a factor with the Enum's level order (unordered: ``to_pandas`` would mark
    it ordered); a ``Categorical``'s order is that of appearance, so it becomes
    a string column whose labels are sorted as R's ``factor`` sorts strings.
    ``Decimal`` columns become float64; nested types (``List``, ``Struct``,
    ``Array``) are kept and named in the error if the model uses them."""
    import polars as pl

    casts = {}
    nested = {}
    for name, dtype in data.schema.items():
        if isinstance(dtype, pl.Decimal):
            casts[name] = pl.Float64
        elif isinstance(dtype, pl.Categorical):
            casts[name] = pl.String
        elif dtype == pl.Date:  # datetime64 in pandas, not Python date objects
            casts[name] = pl.Datetime("ms")
        elif dtype.is_nested():
            nested[name] = f"polars {dtype}"
    if casts:
        data = data.with_columns([pl.col(c).cast(t) for c, t in casts.items()])
    out = data.to_pandas()
    for name, dtype in data.schema.items():
        if isinstance(dtype, pl.Enum):
            out[name] = out[name].cat.as_unordered()
    if nested:
        out.attrs[SOURCE_DTYPES] = nested
    return out
