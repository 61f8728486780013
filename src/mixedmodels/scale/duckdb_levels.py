"""Level codes of grouping factors for DuckDB scans.

The distinct values of a factor's columns are coded by the in-memory rules
(:func:`mixedmodels.scale.factors.level_coding`: R's order and labels, values R
prints alike as one level, DuckDB ENUMs and Parquet dictionaries in their own
order) and kept as a level table (value → code) in DuckDB and as a pandas index
for looking up the raw values an aggregate returns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .factors import FactorMeta, level_coding
from .sql import ident

__all__ = ["LevelTables", "level_joins", "merge_levels", "python_values", "value_index"]


class LevelTables:
    """The level tables of one model's factors (keyed by their columns): the DuckDB
    table names, the levels' labels, and the raw values with the code of each."""

    def __init__(self, con: Any, prefix: str, meta: dict[str, FactorMeta]):
        self.con = con
        self.prefix = prefix
        self.meta = meta
        self.tables: dict[tuple[str, ...], str] = {}
        self.labels: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
        self.values: dict[tuple[str, ...], tuple[list[Any], np.ndarray]] = {}
        self._index: dict[tuple[str, ...], pd.Index] = {}

    def register(self, cols: tuple[str, ...], found: list[Any]) -> np.ndarray:
        """Code the distinct values of ``cols`` (arrays as DuckDB returns them: numpy, or
        pyarrow for text) in R's level order (or the source's), values R prints alike as
        one level, and store them with their codes as a level table. Returns the level
        code of each value."""
        con = self.con
        name = ident(f"{self.prefix}lv{len(self.tables)}")
        fast = _code_point_coding(found, cols, self.meta)
        if fast is not None:
            codes, labels = fast
        else:
            arrays = [_as_numpy(a) for a in found]
            rows = list(zip(*(python_values(a) for a in arrays)))
            coded, labels = level_coding(rows, cols, self.meta)
            codes = np.asarray(coded, dtype=np.intp)
        if all(isinstance(a, np.ndarray) for a in found):
            table: Any = pd.DataFrame({c: a for c, a in zip(cols, found)})
            table["code"] = codes.astype(np.int32)
        else:
            import pyarrow as pa

            table = pa.table({**{c: a for c, a in zip(cols, found)},
                              "code": pa.array(codes.astype(np.int32))})
        self.labels[cols] = labels
        self.values[cols] = (list(found), codes)
        view = f"{self.prefix}lv{len(self.tables)}_src"
        con.register(view, table)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {ident(view)}")
        con.unregister(view)
        self.tables[cols] = name
        return codes

    def codes_of(self, cols: tuple[str, ...], found: list[Any]) -> np.ndarray:
        """The level codes of raw values of factor ``cols`` (already registered)."""
        index, code_of = self.index(cols)
        pos = index.get_indexer(value_index([_as_numpy(a) for a in found]))
        if (pos < 0).any():  # pragma: no cover - the levels come from the same rows
            raise RuntimeError(f"values of {', '.join(cols)} missing from its levels")
        return code_of[pos]

    def index(self, cols: tuple[str, ...]) -> tuple[pd.Index, np.ndarray]:
        """The raw values of factor ``cols`` as an index, and the level code of each."""
        found, codes = self.values[cols]
        if cols not in self._index:
            self._index[cols] = value_index([_as_numpy(a) for a in found])
        return self._index[cols], codes


def _as_numpy(values: Any) -> np.ndarray:
    """Group values as numpy (text from Arrow as an object array of ``str``)."""
    if isinstance(values, np.ndarray):
        return values
    return np.asarray(values.to_pylist(), dtype=object)


def _code_point_coding(
    found: list[Any], cols: tuple[str, ...], meta: dict[str, FactorMeta]
) -> tuple[np.ndarray, list[tuple[str, ...]]] | None:
    """Codes and labels of distinct text values (one column, an Arrow array, no level
    metadata) whose code-point order is R's collation (ASCII letters and digits of a
    single case, :func:`mixedmodels.design.factors._code_point_order_is_r_order`):
    sorted by Arrow, no Python per level but the labels. None otherwise."""
    if len(cols) != 1 or isinstance(found[0], np.ndarray):
        return None
    m = meta.get(cols[0])
    if m is not None and m.labels is not None:
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    a = found[0]
    if not (pa.types.is_string(a.type) or pa.types.is_large_string(a.type)) or a.null_count:
        return None
    if len(a) == 0:
        return None
    if not pc.all(pc.and_(pc.string_is_ascii(a), pc.utf8_is_alnum(a))).as_py():
        return None
    if not (pc.all(pc.equal(a, pc.utf8_lower(a))).as_py()
            or pc.all(pc.equal(a, pc.utf8_upper(a))).as_py()):
        return None
    order = np.asarray(pc.sort_indices(a), dtype=np.intp)
    codes = np.empty(len(a), dtype=np.intp)
    codes[order] = np.arange(len(a), dtype=np.intp)
    return codes, [(v,) for v in a.take(pa.array(order)).to_pylist()]


def level_joins(
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




def python_values(values: np.ndarray) -> list[Any]:
    """Values as Python objects (date-times as ``datetime``, also from nanosecond
    arrays, whose ``tolist`` gives integers)."""
    if values.dtype.kind == "M":
        return values.astype("datetime64[us]").tolist()
    return values.tolist()


def value_index(arrays: list[np.ndarray]) -> pd.Index:
    """The raw values of a factor's columns as an index (a MultiIndex for several)."""
    if len(arrays) == 1:
        return pd.Index(np.asarray(arrays[0]))
    return pd.MultiIndex.from_arrays([np.asarray(a) for a in arrays])


def merge_levels(
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


