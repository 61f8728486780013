"""One scan of local Parquet files for ``lmer_dask``: Arrow tables reduced to keyed sums.

Each task reads a run of consecutive files with pyarrow
(:func:`~mixedmodels.scale.dask_frames.read_table`: the model's columns, string
grouping columns dictionary-encoded) and reduces each file f to the
:class:`~mixedmodels.scale.dask_onepass.KeyedSums` of its complete rows,

    A_f = [Z_1 … Z_K X̃ ỹ]' W [Z_1 … Z_K X̃ ỹ]    (the file's own centering),

formed by :meth:`OnePassPlan.sums <mixedmodels.scale.dask_onepass.OnePassPlan.sums>`
exactly as for a pandas partition: for ``y ~ x + (x | g)`` the per-level
``bincount`` sums n_l, Σx, Σx², Σx̃, Σx̃·x, Σỹ, Σỹ·x and [X̃ ỹ]'[X̃ ỹ]. No pandas
frame of the strings is built:

* a dictionary-encoded column's level codes are its dictionary indices (no
  string is hashed per row), its distinct values the dictionary entries met in
  complete rows; chunks that do not share one dictionary are unified first;
* any other grouping column is hashed (``pd.factorize``) as in a pandas
  partition, a categorical one keeping its categories (they order the levels);
* numeric columns go to numpy, nulls as NaN; a row with a null or NaN in any
  model column is left out.

A file whose numeric model columns are not all integers or floats is reduced as
a pandas frame instead (:meth:`OnePassPlan.reduce`, whose errors name the
column). The files of a task are added on its worker
(:func:`~mixedmodels.scale.dask_onepass.add_keyed_sums`: the union of their
values, the first file's centering), the tasks' sums in one last task; about
:data:`TASKS_PER_THREAD` tasks per worker thread, so that few O(levels) tables
cross the network.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from ..design.expressions import expression_names
from .dask_frames import read_table
from .dask_onepass import Adder, KeyedSums, OnePassPlan, add_keyed_sums, plain_values

__all__ = ["scan_files", "FileReducer", "reduce_table", "numeric_columns"]

TASKS_PER_THREAD = 2


def numeric_columns(plan: OnePassPlan) -> list[str]:
    """The raw columns read as numbers: those of the variables of X and Z, the
    response's and the weights."""
    names = {c for e in plan.infos for c in expression_names(e)}
    names.update(expression_names(plan.response))
    if plan.weights is not None:
        names.add(plan.weights)
    return [c for c in plan.raw if c in names]


def dictionary_codes(column: Any) -> tuple[np.ndarray, pd.Series]:
    """(codes, values) of a dictionary-encoded column: row i holds ``values[codes[i]]``,
    −1 for a null. ``values`` is the dictionary (entries possibly unused)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    chunks = column.chunks
    if not chunks:
        empty = pa.array([], type=column.type.value_type).to_pandas()
        return np.empty(0, dtype=np.intp), empty
    first = chunks[0].dictionary
    if any(not ch.dictionary.equals(first) for ch in chunks[1:]):
        chunks = column.unify_dictionaries().chunks
        first = chunks[0].dictionary
    indices = pa.chunked_array([ch.indices for ch in chunks], type=column.type.index_type)
    codes = pc.fill_null(indices, -1).to_numpy().astype(np.intp, copy=False)
    return codes, first.to_pandas()


def hashed_codes(table: Any, column: str) -> tuple[np.ndarray, Any, list[Any] | None]:
    """(codes, values, categories) of a column hashed as in a pandas partition
    (``pd.factorize``, −1 for a missing value); ``categories`` of a categorical."""
    s = table.select([column]).to_pandas()[column]
    codes, uniques = pd.factorize(s)
    cats = list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype) else None
    return codes.astype(np.intp, copy=False), plain_values(uniques), cats


def _used(codes: np.ndarray, values: Any) -> tuple[np.ndarray, pd.Series]:
    """Codes renumbered onto the values that occur (in their order) and those values."""
    values = pd.Series(values).reset_index(drop=True)
    used = np.flatnonzero(np.bincount(codes, minlength=len(values)))
    if used.size == len(values):
        return codes, values
    new = np.full(len(values), -1, dtype=np.intp)
    new[used] = np.arange(used.size)
    return new[codes], values.iloc[used].reset_index(drop=True)


def distinct_tuples(parts: list[tuple[np.ndarray, pd.Series]], key: tuple[str, ...]
                    ) -> tuple[np.ndarray, pd.DataFrame]:
    """(codes, distinct) of a key from its columns' (codes, values) on complete rows:
    row i holds the value tuple ``distinct.iloc[codes[i]]`` (only tuples that occur)."""
    used = [_used(c, v) for c, v in parts]
    codes, size = used[0][0], len(used[0][1])
    for cb, vb in used[1:]:
        codes, uniq = pd.factorize(codes.astype(np.int64) * max(len(vb), 1) + cb)
        size = len(uniq)
    if len(used) == 1:
        return codes, pd.DataFrame({key[0]: used[0][1]})
    rows = np.zeros(size, dtype=np.intp)
    rows[codes] = np.arange(codes.size)  # a row of each distinct tuple
    return codes, pd.DataFrame({c: v.iloc[cc[rows]].reset_index(drop=True)
                                for c, (cc, v) in zip(key, used)})


def _is_number(arrow_type: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type))


def reduce_table(table: Any, plan: OnePassPlan, numeric: list[str]) -> KeyedSums:
    """The :class:`KeyedSums` of one Arrow table (see the module docstring); ``numeric``:
    :func:`numeric_columns` of the plan."""
    import pyarrow as pa

    if not all(_is_number(table.schema.field(c).type) for c in numeric):
        return plan.reduce(table.to_pandas())
    n_input = table.num_rows
    arrays = {c: table.column(c).to_numpy() for c in numeric}
    ok = {c: ~np.isnan(a) for c, a in arrays.items() if a.dtype.kind == "f"}
    coded: dict[str, tuple[np.ndarray, Any]] = {}
    cats: dict[str, list[Any]] = {}
    for c in dict.fromkeys(c for k in plan.keys for c in k):
        column = table.column(c)
        if c in plan.encoded and pa.types.is_dictionary(column.type):
            coded[c] = dictionary_codes(column)
        else:
            codes, values, categories = hashed_codes(table, c)
            coded[c] = (codes, values)
            if categories is not None and c not in plan.encoded:
                cats[c] = categories
        ok[c] = ok[c] & (coded[c][0] >= 0) if c in ok else coded[c][0] >= 0
    present = np.array([int(ok[c].sum()) if c in ok else n_input for c in plan.raw],
                       dtype=np.int64)
    complete = np.logical_and.reduce(list(ok.values())) if ok else np.ones(n_input, bool)
    rows = None if complete.all() else np.flatnonzero(complete)

    def kept(a: np.ndarray) -> np.ndarray:
        return a if rows is None else a[rows]

    pdf = pd.DataFrame({c: kept(a) for c, a in arrays.items()}, copy=False)
    keyed = [distinct_tuples([(kept(coded[c][0]), coded[c][1]) for c in k], k)
             for k in plan.keys]
    return plan.sums(pdf, [c for c, _ in keyed], [v for _, v in keyed], n_input, present,
                     cats)


class FileReducer:
    """:func:`reduce_table` of a run of files, read one at a time, added on the worker;
    the plan (O(formula), no levels) travels inside each task, so that no task waits
    for it on another worker."""

    def __init__(self, plan: OnePassPlan):
        self.plan = plan
        self.numeric = numeric_columns(plan)

    def __call__(self, paths: list[str]) -> KeyedSums:
        plan = self.plan
        parts = [reduce_table(read_table(p, plan.raw, plan.encoded), plan, self.numeric)
                 for p in paths]
        return parts[0] if len(parts) == 1 else add_keyed_sums(plan, *parts)


def worker_threads() -> int:
    """Threads that run the tasks: the workers' of the ``dask.distributed`` client in
    scope, else one per core (Dask's local scheduler)."""
    try:
        from distributed import default_client

        return max(1, sum(default_client().nthreads().values()))
    except (ImportError, ValueError):
        return os.cpu_count() or 1


def scan_files(files: list[str], plan: OnePassPlan) -> KeyedSums:
    """The total :class:`KeyedSums` of ``files``: runs of consecutive files reduced by
    :class:`FileReducer` in parallel and added in file order, one compute."""
    import dask
    from dask import delayed

    tasks = min(len(files), TASKS_PER_THREAD * worker_threads())
    runs = [list(r) for r in np.array_split(np.asarray(files, dtype=object), tasks)]
    parts = [delayed(FileReducer(plan))(run) for run in runs]
    total = parts[0] if len(parts) == 1 else delayed(Adder(plan))(*parts)
    (got,) = dask.compute(total)
    return got
