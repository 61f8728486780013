"""Factors (R's ``factor``) coded by hashing: codes for n rows, levels for the few distinct values.

A column becomes a factor in two steps whose cost is split between the rows
and the distinct values:

1. **Hash the rows** (O(n), no Python per row): ``pd.factorize`` gives each
   row the index of its value among the distinct values, in order of first
   appearance (pyarrow-backed strings are dictionary-encoded by Arrow);
   missing values get −1.
2. **Order and label the distinct values** (O(k log k) for k levels): R's
   ``factor(x)`` makes its levels from ``as.character(sort(unique(x)))`` —
   numbers, dates and logicals sorted by value, strings in R's collation
   (:mod:`.collation`) — and then maps each row to its label, so values that
   print alike share one level (``1`` and ``1 + 2e-16`` both print ``"1"`` and
   are merged, as in R). The row codes are remapped with one gather.

A pandas ``Categorical`` keeps its categories and their order (R's factor
with given levels); logical columns are ``FALSE < TRUE``.

Labels are R's ``as.character``: integers and whole doubles as integers
(``2``, not ``2.0``: pandas stores an integer column with missing values as
doubles, which R keeps as integers), other doubles with 15 significant
digits, ``Inf``/``-Inf``; dates as ``2020-01-31`` and date-times as
``2020-01-31 10:00:00`` (the date alone when every time is midnight).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError
from .collation import r_sort_key

__all__ = [
    "Categorical",
    "r_label",
    "is_categorical_series",
    "to_categorical",
    "interaction",
    "numbers_as_text",
]


@dataclass
class Categorical:
    """A factor: ``codes[i]`` indexes ``levels`` (−1 marks a missing value).

    ``logical`` marks R's logical vectors, which R's model.matrix codes as
    ``factor(x, levels = c(FALSE, TRUE))``: both levels are kept even when one
    does not occur (its column is then dropped as rank deficient, as in R).

    ``text`` marks R's character vectors (string columns): model.matrix codes
    them as factors, but ``as.numeric()`` parses their values, as R does,
    instead of returning level codes.
    """

    codes: np.ndarray
    levels: list[str]
    ordered: bool = False
    logical: bool = False
    text: bool = False

    def take(self, rows: np.ndarray) -> Categorical:
        return Categorical(self.codes[rows], self.levels, self.ordered, self.logical, self.text)

    def drop_unused(self, keep_logical: bool = True) -> Categorical:
        """Drop levels that do not occur (R's ``drop.unused.levels``); a logical
        keeps FALSE and TRUE unless ``keep_logical`` is false (grouping factors)."""
        if self.logical:
            if keep_logical:
                return self
            return Categorical(self.codes, self.levels, self.ordered).drop_unused()
        k = len(self.levels)
        present = np.zeros(k + 1, dtype=bool)
        present[self.codes] = True  # code −1 (missing) marks the spare last slot
        present = present[:k]
        if present.all():
            return self
        remap = np.append(np.cumsum(present) - 1, -1)
        levels = [lv for lv, keep in zip(self.levels, present) if keep]
        return Categorical(remap[self.codes], levels, self.ordered, text=self.text)


def r_label(x: Any) -> str:
    """Label a level as R's ``as.character`` would (``2`` not ``2.0``)."""
    if isinstance(x, (bool, np.bool_)):
        return "TRUE" if x else "FALSE"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        x = float(x)
        if np.isinf(x):
            return "Inf" if x > 0 else "-Inf"
        if x.is_integer():
            return str(int(x))
        return f"{x:.15g}"
    return str(x)


def is_categorical_series(s: pd.Series) -> bool:
    """True for columns R would treat as factors (strings, categoricals, logicals)."""
    dt = s.dtype
    if _is_arrow_dictionary(dt):
        return True  # an Arrow dictionary column (a factor read from Parquet)
    return (
        isinstance(dt, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(dt)
        or pd.api.types.is_object_dtype(dt)
        or pd.api.types.is_string_dtype(dt)
    )


def _is_arrow_dictionary(dtype: Any) -> bool:
    """An Arrow ``dictionary`` column (a factor as Parquet stores it)."""
    if not isinstance(dtype, pd.ArrowDtype):
        return False
    import pyarrow as pa

    return bool(pa.types.is_dictionary(dtype.pyarrow_dtype))


def _arrow_dictionary_as_categorical(s: pd.Series) -> pd.Series:
    """An Arrow dictionary column as a pandas Categorical with the dictionary's
    order and ordered flag (the order a Parquet file records, as out of core)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    chunked = s.array.__arrow_array__()
    if isinstance(chunked, pa.ChunkedArray):
        chunked = chunked.unify_dictionaries()
        arr = chunked.combine_chunks() if chunked.num_chunks else pa.array([], chunked.type)
    else:
        arr = chunked
    codes = pc.fill_null(arr.indices, -1).to_numpy(zero_copy_only=False)
    cats = pd.Index(arr.dictionary.to_pandas())
    return pd.Series(
        pd.Categorical.from_codes(codes, cats, ordered=bool(arr.type.ordered)), index=s.index
    )


def _is_datetime(dtype: Any) -> bool:
    """Date-times, dates (also Arrow's ``date32``) and durations: sorted by time."""
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return True
    if isinstance(dtype, pd.ArrowDtype):
        import pyarrow as pa

        t = dtype.pyarrow_dtype
        return pa.types.is_temporal(t) and not pa.types.is_time(t)
    return False


def _as_time_index(values: Any) -> pd.Index:
    """Distinct date-times or durations as a numpy-backed index (``asi8`` sorts them)."""
    idx = pd.Index(values)
    if isinstance(idx, (pd.DatetimeIndex, pd.TimedeltaIndex)):
        return idx
    if pd.api.types.is_timedelta64_dtype(idx.dtype) or (
        isinstance(idx.dtype, pd.ArrowDtype) and "duration" in str(idx.dtype)
    ):
        return pd.TimedeltaIndex(pd.to_timedelta(idx))
    return pd.DatetimeIndex(pd.to_datetime(idx))


def _number_labels(values: np.ndarray) -> np.ndarray:
    """R's labels of sorted numbers (vectorised for the whole-number case)."""
    if values.dtype.kind in "iu":
        return values.astype(str).astype(object)
    v = values.astype(float)
    whole = np.isfinite(v) & (v == np.trunc(v)) & (np.abs(v) < 2.0**63)
    out = np.empty(v.size, dtype=object)
    out[whole] = v[whole].astype(np.int64).astype(str)
    for i in np.flatnonzero(~whole):
        out[i] = r_label(v[i])
    return out


def _datetime_labels(values: pd.Index) -> np.ndarray:
    """R's ``as.character`` of sorted dates / date-times (whole seconds); durations
    as pandas prints them."""
    if not isinstance(values, pd.DatetimeIndex):
        return np.asarray(values.astype(str), dtype=object)
    if (values == values.normalize()).all():
        fmt = "%Y-%m-%d"
    else:
        fmt = "%Y-%m-%d %H:%M:%S"
    return np.asarray(values.strftime(fmt), dtype=object)


def _object_labels(uniques: np.ndarray) -> np.ndarray:
    """Labels of the distinct values of an object column (strings kept as they are).

    A column mixing logicals with numbers (and no strings) is numeric in R,
    so ``TRUE`` is labelled ``1`` there."""
    kinds = {type(u) for u in uniques}
    as_number = (
        any(issubclass(k, (bool, np.bool_)) for k in kinds)
        and not any(issubclass(k, str) for k in kinds)
        and not all(issubclass(k, (bool, np.bool_)) for k in kinds)
    )
    out = np.empty(len(uniques), dtype=object)
    for i, u in enumerate(uniques):
        if isinstance(u, str):
            out[i] = u
        elif as_number and isinstance(u, (bool, np.bool_)):
            out[i] = str(int(u))
        else:
            out[i] = r_label(u)
    return out


def _hash(s: pd.Series, name: str, dtype_note: str = "") -> tuple[np.ndarray, Any]:
    """``pd.factorize`` of a column, with a clear error for unhashable values."""
    dt = s.dtype
    try:
        if isinstance(dt, np.dtype) and dt.kind in "iufO":
            # the values themselves (pandas' Series wrapper triples the cost on small data)
            codes, uniques = pd.factorize(s.to_numpy(), use_na_sentinel=True)
        elif isinstance(dt, pd.StringDtype):
            codes, uniques = s.array.factorize(use_na_sentinel=True)
        else:
            codes, uniques = pd.factorize(s, use_na_sentinel=True)
    except TypeError as exc:
        sample = s.dropna()
        kind = type(sample.iloc[0]).__name__ if len(sample) else "unknown"
        raise DataError(
            f"column '{name}' holds {dtype_note or kind} values, which cannot be a variable "
            "of a model: use a column of numbers, strings or categories (unnest or extract "
            "the field you need first)"
        ) from exc
    return np.asarray(codes, dtype=np.intp), uniques


_FEW_LEVELS = 1000  # up to this many labels a Python set finds duplicates faster than pandas


def _merge_and_sort(
    codes: np.ndarray, labels: np.ndarray, order: np.ndarray | None, inplace: bool = False
) -> tuple[np.ndarray, list[str]]:
    """Remap row codes to levels: distinct values in ``order`` (``None``: sort the
    labels in R's collation), values with the same label merged into one level.
    ``inplace``: ``codes`` is a fresh array from hashing and may be overwritten."""
    k = len(labels)
    if order is None:
        lab = [str(x) for x in labels]
        if _code_point_order_is_r_order(lab):
            order = np.asarray(sorted(range(k), key=lab.__getitem__), dtype=np.intp)
        else:
            keys = [r_sort_key(x) for x in lab]
            order = np.asarray(sorted(range(k), key=keys.__getitem__), dtype=np.intp)
    sorted_labels = labels[order] if k else labels
    if k <= _FEW_LEVELS and len(set(sorted_labels.tolist())) == k:
        # distinct labels (the usual case): nothing to merge, no hashing through pandas
        level_of_sorted, uniq_labels = np.arange(k, dtype=np.intp), sorted_labels.tolist()
    else:
        level_of_sorted, uniq_labels = pd.factorize(pd.Index(sorted_labels, dtype=object))
    level_of = np.empty(k + 1, dtype=np.intp)
    level_of[order] = level_of_sorted
    level_of[k] = -1  # code −1 (missing) wraps to slot k and stays −1
    fresh = inplace and codes.flags.owndata and codes.flags.writeable
    out = codes if fresh else np.empty_like(codes)
    return np.take(level_of, codes, out=out, mode="wrap"), [str(x) for x in uniq_labels]


def to_categorical(s: pd.Series | np.ndarray, name: str = "", dtype_note: str = "") -> Categorical:
    """A column as a factor with R's level order and labels (see the module docstring).

    ``dtype_note`` names the column's original type in errors (e.g. a polars
    ``List``)."""
    if not isinstance(s, pd.Series):
        s = pd.Series(s)
    if _is_arrow_dictionary(s.dtype):
        s = _arrow_dictionary_as_categorical(s)
    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype):
        cats = dt.categories
        codes = np.asarray(s.array.codes, dtype=np.intp)  # the array's codes: no Series built
        if isinstance(cats.dtype, pd.StringDtype):
            # distinct strings are their own labels: the categories are the levels as they are
            if codes.base is not None or not codes.flags.writeable:
                codes = codes.copy()
            levels = cats.to_numpy(dtype=object).tolist()  # faster than Index.tolist()
            return Categorical(codes, levels, bool(dt.ordered))
        if _is_datetime(cats.dtype):
            labels = _datetime_labels(_as_time_index(cats))
        elif pd.api.types.is_bool_dtype(cats.dtype) or pd.api.types.is_numeric_dtype(cats.dtype):
            labels = np.array([r_label(c) for c in cats], dtype=object)
        else:
            labels = np.array([str(c) for c in cats.tolist()], dtype=object)
        # inplace: only a fresh, writable copy (codes widened to intp) is overwritten
        codes, levels = _merge_and_sort(codes, labels, np.arange(len(labels)), inplace=True)
        return Categorical(codes, levels, bool(dt.ordered))
    if pd.api.types.is_bool_dtype(dt):
        codes = np.where(s.isna(), -1, s.fillna(False).astype(bool).astype(np.intp))
        return Categorical(codes.astype(np.intp), ["FALSE", "TRUE"], logical=True)
    codes, uniques = _hash(s, name, dtype_note)
    if _is_datetime(dt):
        uniq = _as_time_index(uniques)
        order = np.argsort(uniq.asi8, kind="stable")
        labels = np.empty(len(uniq), dtype=object)
        labels[order] = _datetime_labels(uniq[order])
        codes, levels = _merge_and_sort(codes, labels, order, inplace=True)
        return Categorical(codes, levels)
    if pd.api.types.is_numeric_dtype(dt):
        values = np.asarray(uniques.to_numpy() if hasattr(uniques, "to_numpy") else uniques)
        order = np.argsort(values, kind="stable")
        labels = np.empty(len(values), dtype=object)
        labels[order] = _number_labels(values[order])
        codes, levels = _merge_and_sort(codes, labels, order, inplace=True)
        return Categorical(codes, levels)
    uniq = np.asarray(uniques, dtype=object)
    if len(uniq) and all(isinstance(u, (bool, np.bool_)) for u in uniq):
        flags = np.array([bool(u) for u in uniq] + [False])  # logical with NA (object dtype)
        out = np.where(codes >= 0, flags[codes].astype(np.intp), -1)
        return Categorical(out.astype(np.intp), ["FALSE", "TRUE"], logical=True)
    labels = _object_labels(uniq)
    codes, levels = _merge_and_sort(codes, labels, None, inplace=True)
    return Categorical(codes, levels, text=True)


def _code_point_order_is_r_order(levels: list[str]) -> bool:
    """True when R's collation cannot differ from a code-point sort: ASCII
    letters and digits only, and letters of a single case."""
    if not all(u.isascii() and u.isalnum() for u in levels):
        return False
    return not any(u != u.lower() for u in levels) or not any(u != u.upper() for u in levels)


def interaction(factors: list[Categorical]) -> Categorical:
    """R's ``a:b`` of factors with only the combinations that occur.

    Levels ``"a1:b1"`` ordered with the first factor varying slowest (R's
    order of ``interaction(a, b, lex.order = TRUE)`` after dropping unused
    combinations); a row missing in any factor is missing. The combined code
    of each row is hashed, so the cost is O(n) plus O(k log k) in the k
    combinations present, never the product of the numbers of levels.
    """
    if len(factors) == 1:
        return factors[0].drop_unused(keep_logical=False)
    missing = np.zeros(len(factors[0].codes), dtype=bool)
    for f in factors:
        missing |= f.codes < 0
    codes = factors[0].codes.astype(np.int64)
    parts: list[np.ndarray] = [np.arange(len(factors[0].levels))]  # level tuple of each code
    for f in factors[1:]:
        nb = len(f.levels)
        pair = codes * nb + np.maximum(f.codes, 0)
        pair[missing] = -1
        new, uniq = pd.factorize(pair)  # hashed: only the combinations present
        order = np.argsort(uniq, kind="stable")  # first factor slowest; −1 (missing) first
        lacking = int(uniq[order[0]] < 0) if len(uniq) else 0
        rank = np.empty(len(uniq), dtype=np.int64)
        rank[order] = np.arange(len(uniq)) - lacking
        codes = rank[new]
        combos = uniq[order][lacking:]
        parts = [p[combos // nb] for p in parts] + [combos % nb]
    per_factor = [[f.levels[i] for i in part.tolist()] for f, part in zip(factors, parts)]
    labels = [":".join(combo) for combo in zip(*per_factor)]
    return Categorical(codes.astype(np.intp), labels)


def numbers_as_text(levels: list[str]) -> bool:
    """True when every level of a factor reads as a number (a numeric column
    stored as text, e.g. read from a file with a stray quote)."""
    if not levels:
        return False
    parsed = pd.to_numeric(pd.Series(levels, dtype=object), errors="coerce")
    return bool(parsed.notna().all())
