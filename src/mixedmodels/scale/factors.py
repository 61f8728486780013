"""Factor metadata of an out-of-memory source: which columns are factors, in which level
order, and which are ordered.

In memory, a pandas categorical column brings its categories (the level order)
and whether it is ordered (``contr.poly`` contrasts, as R's ``ordered()``); a
string column is a factor with R's order (numbers numerically, strings by R's
collation). The out-of-memory backends must see the same facts, or the same
file gives another model. They come, by priority, from

1. the explicit arguments ``levels={"col": [...]}`` (a factor with this level
   order) and ``ordered={"col": [...]}`` (an ordered factor with these levels);
2. Parquet files written from pandas or pyarrow: a column of Arrow type
   ``dictionary<..., ordered=...>`` is a factor whose level order is its
   dictionary's and whose ordered-ness is the type's flag;
3. DuckDB ``ENUM`` columns (a pandas categorical registered in DuckDB): the
   ENUM's order. DuckDB does not record whether the factor was ordered: used
   in the fixed part such a column is fitted as unordered, with a warning
   that says so;
4. Dask categorical dtypes, and those of a pandas frame given to
   ``lmer_duckdb``: known categories give the order, the dtype's flag the
   ordered-ness.

Levels absent from the rows are dropped (as ``lmer`` does); a level present
in the rows but not in an explicit list is an error, one missing from a
file's dictionary goes after the known ones, in R's order.
"""

from __future__ import annotations

import glob as _glob
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..design.collation import r_sort_key
from ..design.factors import _code_point_order_is_r_order, r_label
from ..errors import DataError, FactorMetadataWarning

__all__ = [
    "FactorMeta",
    "FactorMetadataWarning",
    "explicit_metadata",
    "parquet_metadata",
    "dask_metadata",
    "merge_metadata",
    "column_labels",
    "level_coding",
    "apply_ordered",
]


@dataclass(frozen=True)
class FactorMeta:
    """What a source knows of one factor column.

    ``labels`` is the level order as R's labels (``None``: R's order of the
    values present); ``explicit`` marks a list given by the user (values
    outside it are an error); ``source`` says where the facts came from.
    """

    labels: tuple[str, ...] | None = None
    ordered: bool = False
    source: str = ""
    explicit: bool = False
    ordered_known: bool = True


def explicit_metadata(
    levels: Mapping[str, Sequence[Any]] | None, ordered: Mapping[str, Sequence[Any]] | None
) -> dict[str, FactorMeta]:
    """Metadata from ``levels=`` and ``ordered=`` arguments (a column in both is an error)."""
    out: dict[str, FactorMeta] = {}
    for arg, given, is_ordered in (("levels", levels, False), ("ordered", ordered, True)):
        if given is None:
            continue
        if not isinstance(given, Mapping):
            raise DataError(
                f"{arg}= must map column names to lists of levels, e.g. "
                f"{arg}={{'temperature': ['175', '185', '195']}}; got {type(given).__name__}"
            )
        for col, values in given.items():
            if col in out:
                raise DataError(f"column '{col}' is given in both levels= and ordered=")
            if isinstance(values, str) or not isinstance(values, Iterable):
                raise DataError(f"{arg}['{col}'] must be a list of levels, got {values!r}")
            labels = tuple(r_label(v) for v in values)
            if len(set(labels)) != len(labels):
                raise DataError(f"{arg}['{col}'] lists a level twice: {list(labels)}")
            out[str(col)] = FactorMeta(labels, is_ordered, f"{arg}=", explicit=True)
    return out


def merge_metadata(*layers: Mapping[str, FactorMeta]) -> dict[str, FactorMeta]:
    """Combine metadata, the first layer that knows a column winning."""
    out: dict[str, FactorMeta] = {}
    for layer in layers:
        for col, meta in layer.items():
            out.setdefault(col, meta)
    return out


def local_files(pattern: str) -> list[str]:
    """The files a DuckDB path or glob names on this machine (``**`` recursive)."""
    return sorted(_glob.glob(pattern, recursive=True))


def parquet_metadata(files: Sequence[str], columns: Iterable[str]) -> dict[str, FactorMeta]:
    """Factor metadata of ``columns`` from Arrow dictionary types in Parquet ``files``.

    Reads each file's footer (the Arrow schema pandas and pyarrow store) and,
    for dictionary columns, the dictionary of the first row group (pyarrow
    writes a categorical's whole dictionary to every row group).
    Files that disagree on a column's ordered flag, or whose dictionaries put
    two levels in opposite orders, cannot say how the factor was coded: a
    :class:`FactorMetadataWarning` says so and the column falls back to R's
    order (unordered).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    wanted = list(dict.fromkeys(columns))
    orders: dict[str, list[list[str]]] = {}
    flags: dict[str, set[bool]] = {}
    for path in files:
        pf = pq.ParquetFile(path)
        schema = pf.schema_arrow
        dict_cols = [
            c
            for c in wanted
            if c in schema.names and pa.types.is_dictionary(schema.field(c).type)
        ]
        for c in dict_cols:
            flags.setdefault(c, set()).add(bool(schema.field(c).type.ordered))
        if not dict_cols:
            continue
        if pf.metadata.num_row_groups == 0:
            continue
        table = pf.read_row_group(0, columns=dict_cols)
        for c in dict_cols:
            for chunk in table.column(c).chunks[:1]:
                if isinstance(chunk, pa.DictionaryArray):
                    labels = [r_label(v) for v in chunk.dictionary.to_pylist() if v is not None]
                    orders.setdefault(c, []).append(labels)
    out: dict[str, FactorMeta] = {}
    for c, fl in flags.items():
        merged = _merge_orders(orders.get(c, []))
        if len(fl) > 1 or merged is None:
            what = "the ordered flag" if len(fl) > 1 else "the level order"
            warnings.warn(
                f"the Parquet files disagree on {what} of the categorical column '{c}': it is "
                f"fitted as an unordered factor with levels in R's order; pass "
                f"ordered={{'{c}': [...]}} or levels={{'{c}': [...]}} to say how to code it",
                FactorMetadataWarning,
                stacklevel=4,
            )
            out[c] = FactorMeta(None, False, "Parquet (conflicting)")
            continue
        out[c] = FactorMeta(tuple(merged), fl.pop(), "Parquet dictionary")
    return out


def _merge_orders(orders: list[list[str]]) -> list[str] | None:
    """One order consistent with every dictionary's order (first seen first), or None."""
    merged: list[str] = []
    for order in orders:
        if order == merged[: len(order)] or not order:
            continue
        position = {v: i for i, v in enumerate(merged)}
        known = [position[v] for v in order if v in position]
        if known != sorted(known):
            return None
        merged += [v for v in order if v not in position]
    return merged


def dask_metadata(meta: Any) -> dict[str, FactorMeta]:
    """Factor metadata from the categorical dtypes of a pandas frame or a Dask ``_meta``.

    Known categories give the level order; unknown ones (``read_parquet``
    without ``categories=``) leave the order to the categories of the rows
    (``None`` here) but keep the ordered flag.
    """
    import pandas as pd

    out: dict[str, FactorMeta] = {}
    for c in meta.columns:
        dt = meta[c].dtype
        if not isinstance(dt, pd.CategoricalDtype):
            continue
        cats = [str(v) for v in dt.categories]
        known = cats != ["__UNKNOWN_CATEGORIES__"]
        labels = tuple(r_label(v) for v in dt.categories) if known else None
        out[str(c)] = FactorMeta(labels, bool(dt.ordered), "Dask categorical dtype")
    return out


def column_labels(values: Sequence[Any]) -> list[str]:
    """R's labels of one column's distinct values, by the rules of
    :mod:`mixedmodels.design.factors`: numbers as ``as.character`` (whole doubles as
    integers, others to 15 significant digits), logicals ``TRUE``/``FALSE``, dates
    ``2020-01-31``, date-times ``2020-01-31 10:00:00`` or the date alone when every
    time is midnight."""
    import datetime as _dt

    if values and all(isinstance(v, _dt.datetime) for v in values):
        midnight = all(v.hour == v.minute == v.second == v.microsecond == 0 for v in values)
        fmt = "%Y-%m-%d" if midnight else "%Y-%m-%d %H:%M:%S"
        return [v.strftime(fmt) for v in values]
    return [v.isoformat() if isinstance(v, _dt.date) else r_label(v) for v in values]


def level_coding(
    rows: Sequence[tuple[Any, ...]], columns: tuple[str, ...], meta: Mapping[str, FactorMeta]
) -> tuple[list[int], list[tuple[str, ...]]]:
    """The level of each distinct value tuple (slowest column first) and the levels' labels.

    Tuples are sorted in each column's level order: by position in known labels
    (values missing from an explicit list raise :class:`DataError` naming them;
    others go last, in R's order), else in R's order (numbers and dates by value,
    strings by R's collation). Tuples whose labels are equal are one level, as R's
    ``factor`` makes them (``1`` and ``1 + 2e-16`` both print ``"1"``): returns
    the level code of every input tuple and the label tuples of the levels, in order.
    """
    if len(columns) == 1 and rows:
        m = meta.get(columns[0])
        values = [r[0] for r in rows]
        if (m is None or m.labels is None) and not any(isinstance(v, bool) for v in values):
            return _in_memory_coding(values)
    labels = list(zip(*(column_labels([r[i] for r in rows]) for i in range(len(columns)))))
    for i, col in enumerate(columns):
        m = meta.get(col)
        if m is not None and m.explicit and m.labels is not None:
            allowed = set(m.labels)
            extra = sorted({lab[i] for lab in labels} - allowed, key=r_sort_key)
            if extra:
                shown = ", ".join(f"'{v}'" for v in extra[:8]) + (" ..." if len(extra) > 8 else "")
                raise DataError(
                    f"column '{col}' has values not listed in {m.source}: {shown}; add them to "
                    "the list of levels or remove those rows"
                )

    positions: list[dict[str, int] | None] = []
    plain: list[bool] = []  # strings whose code-point order is R's (the in-memory fast path)
    for i, col in enumerate(columns):
        m = meta.get(col)
        known = None if m is None else m.labels
        positions.append(None if known is None else {lab: j for j, lab in enumerate(known)})
        values = {r[i] for r in rows}
        plain.append(
            all(isinstance(v, str) for v in values) and _code_point_order_is_r_order(list(values))
        )

    def key(k: int) -> tuple[Any, ...]:
        out: list[Any] = []
        for pos, fast, value, label in zip(positions, plain, rows[k], labels[k]):
            j = None if pos is None else pos.get(label)
            if j is not None:
                out.append((0, j, 0))
            else:
                out.append((1, 0, value if fast else _level_key(value)))
        return tuple(out)

    codes = [0] * len(rows)
    level_of: dict[tuple[str, ...], int] = {}
    for k in sorted(range(len(rows)), key=key):
        codes[k] = level_of.setdefault(labels[k], len(level_of))
    return codes, list(level_of)


def _in_memory_coding(values: list[Any]) -> tuple[list[int], list[tuple[str, ...]]]:
    """:func:`level_coding` of one column's distinct values by the in-memory coder itself
    (:func:`mixedmodels.design.factors.to_categorical`: vectorized, the same rules)."""
    import pandas as pd

    from ..design.factors import to_categorical

    cat = to_categorical(pd.Series(values))
    return cat.codes.tolist(), [(lab,) for lab in cat.levels]


def _level_key(value: Any) -> Any:
    """Sort key of one level value: R's collation for strings, the value otherwise."""
    return r_sort_key(value) if isinstance(value, str) else value


def apply_ordered(infos: Mapping[str, Any], meta: Mapping[str, FactorMeta]) -> list[str]:
    """Set each factor variable's ``ordered`` flag from the metadata of its column.

    ``factor(x)`` is unordered and ``ordered(x)`` ordered, whatever the
    column; the bare column, ``as_factor(x)`` and ``C(x)`` take the column's
    flag. Returns the columns whose ordered-ness the source could not tell
    (DuckDB ENUMs), for a warning.
    """
    unknown: list[str] = []
    for expr, info in infos.items():
        if info.kind != "cat" or info.column is None:
            continue
        call = expr.replace(" ", "")
        if call.startswith(("factor(", "ordered(")):
            continue
        m = meta.get(info.column)
        if m is None:
            continue
        info.ordered = m.ordered
        if not m.ordered_known:
            unknown.append(info.column)
    return unknown
