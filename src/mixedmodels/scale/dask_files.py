"""One scan of local Parquet files for ``lmer_dask``: Arrow tables reduced to keyed sums.

Each task reads a run of consecutive files with pyarrow
(:func:`~mixedmodels.scale.dask_frames.read_table`: the model's columns, string
grouping columns dictionary-encoded) and reduces each file f to the
:class:`~mixedmodels.scale.dask_onepass.KeyedSums` of its complete rows,

    A_f = [Z_1 … Z_K X̃ ỹ]' W [Z_1 … Z_K X̃ ỹ]    (the file's own centering),

for ``y ~ x + (x | g)`` the per-level ``bincount`` sums n_l, Σx, Σx², Σx̃, Σx̃·x,
Σỹ, Σỹ·x and [X̃ ỹ]'[X̃ ỹ]. An unweighted one-term model whose X and Z columns are
the intercept or data columns takes them straight from the file's arrays into
:func:`~mixedmodels.scale.level_moments.one_term_blocks` (buffers reused from
file to file); any other model goes through a frame of the numeric columns and
:meth:`OnePassPlan.sums <mixedmodels.scale.dask_onepass.OnePassPlan.sums>`, as
a pandas partition does. No pandas frame of the strings is built:

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
values, the first file's centering), the tasks' sums in one last task;
:data:`TASKS_PER_THREAD` task per worker thread, so that few O(levels) tables
cross the network and each worker fills its buffers once.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import pandas as pd

from ..crossprod import Centering
from ..design.expressions import expression_names
from .dask_frames import read_table
from .dask_onepass import Adder, KeyedSums, OnePassPlan, OneTerm, add_keyed_sums, plain_values
from .level_moments import PlainColumns, Workspace, one_term_blocks

__all__ = ["scan_files", "FileReducer", "reduce_table", "numeric_columns"]

TASKS_PER_THREAD = 1


def numeric_columns(plan: OnePassPlan) -> list[str]:
    """The raw columns read as numbers: those of the variables of X and Z, the
    response's and the weights."""
    names = {c for e in plan.infos for c in expression_names(e)}
    names.update(expression_names(plan.response))
    if plan.weights is not None:
        names.add(plan.weights)
    return [c for c in plan.raw if c in names]


def dictionary_codes(column: Any, out: np.ndarray | None = None
                     ) -> tuple[np.ndarray, pd.Series]:
    """(codes, values) of a dictionary-encoded column: row i holds ``values[codes[i]]``,
    −1 for a null. ``values`` is the dictionary (entries possibly unused); ``out``: a
    buffer of the column's length for the codes."""
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
    codes = np.empty(len(column), dtype=np.intp) if out is None else out
    at = 0
    for ch in chunks:
        idx = ch.indices if ch.null_count == 0 else pc.fill_null(ch.indices, -1)
        codes[at:at + len(ch)] = idx.to_numpy()
        at += len(ch)
    return codes, first.to_pandas()


def numeric_array(column: Any, ws: Workspace, name: str) -> np.ndarray:
    """A numeric column as one numpy array (nulls as NaN): float64 chunks copied into a
    reused buffer, a single chunk without nulls not copied at all."""
    if column.null_count or column.type.bit_width != 64 or not _is_float(column.type):
        return column.to_numpy()
    if column.num_chunks == 1:
        return column.chunk(0).to_numpy()
    out = ws.get(name, len(column))
    at = 0
    for ch in column.chunks:
        out[at:at + len(ch)] = ch.to_numpy()
        at += len(ch)
    return out


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


def _is_float(arrow_type: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_floating(arrow_type))


def reduce_table(table: Any, plan: OnePassPlan, numeric: list[str],
                 plain: PlainColumns | None = None, ws: Workspace | None = None) -> KeyedSums:
    """The :class:`KeyedSums` of one Arrow table (see the module docstring); ``numeric``:
    :func:`numeric_columns` of the plan; ``plain``: its columns when it is a one-term
    model of plain columns (:func:`~mixedmodels.scale.level_moments.one_term_blocks`
    then forms the sums); ``ws``: buffers to reuse."""
    import pyarrow as pa

    if not all(_is_number(table.schema.field(c).type) for c in numeric):
        return plan.reduce(table.to_pandas())
    ws = Workspace() if ws is None else ws
    n_input = table.num_rows
    arrays = {c: numeric_array(table.column(c), ws, f"column {c}") for c in numeric}
    missing = {c: np.isnan(a, out=ws.get(f"nan {c}", n_input, bool))
               for c, a in arrays.items() if a.dtype.kind == "f"}
    coded: dict[str, tuple[np.ndarray, Any]] = {}
    cats: dict[str, list[Any]] = {}
    for c in dict.fromkeys(c for k in plan.keys for c in k):
        column = table.column(c)
        if c in plan.encoded and pa.types.is_dictionary(column.type):
            coded[c] = dictionary_codes(column, ws.get(f"codes {c}", n_input, np.intp))
        else:
            codes, values, categories = hashed_codes(table, c)
            coded[c] = (codes, values)
            if categories is not None and c not in plan.encoded:
                cats[c] = categories
        na = np.less(coded[c][0], 0, out=ws.get(f"na {c}", n_input, bool))
        missing[c] = missing[c] | na if c in missing else na
    counts = {c: int(np.count_nonzero(m)) for c, m in missing.items()}
    present = np.array([n_input - counts.get(c, 0) for c in plan.raw], dtype=np.int64)
    rows = None
    if any(counts.values()):
        rows = np.flatnonzero(~np.logical_or.reduce([m for m in missing.values()]))

    def kept(a: np.ndarray) -> np.ndarray:
        return a if rows is None else a[rows]

    keyed = [distinct_tuples([(kept(coded[c][0]), coded[c][1]) for c in k], k)
             for k in plan.keys]
    key_codes, values = [c for c, _ in keyed], [v for _, v in keyed]
    if plain is None:
        pdf = pd.DataFrame({c: kept(a) for c, a in arrays.items()}, copy=False)
        return plan.sums(pdf, key_codes, values, n_input, present, cats)
    cols = {c: kept(a) for c, a in arrays.items()}
    n = n_input if rows is None else rows.size
    if n == 0:
        return KeyedSums(values, None, None, None, None, 0, 0.0, n_input, present,
                         math.inf, cats)
    head = plain.head(cols)
    shift = Centering.from_rows(*head, intercept=plan.intercept)
    codes = key_codes[plan.bar_key[0]]
    A11, A21, A22 = one_term_blocks(codes, len(values[plan.bar_key[0]]), cols, plain,
                                    shift, ws)
    p = len(plain.x)
    return KeyedSums(values, OneTerm(A11, A21, A22), shift, A22[:p, :p].copy(),
                     plain.norms2(cols, n, shift), n, 0.0, n_input, present, math.inf,
                     cats, head)


class FileReducer:
    """:func:`reduce_table` of a run of files, read one at a time, added on the worker;
    the plan (O(formula), no levels) travels inside each task, so that no task waits
    for it on another worker."""

    def __init__(self, plan: OnePassPlan):
        self.plan = plan
        self.numeric = numeric_columns(plan)
        self.plain = None if plan.codes else PlainColumns.of(  # a factor in X or Z: coded
            plan.fixed, plan.bars, plan.response, plan.raw, plan.weights)

    def __call__(self, paths: list[str]) -> KeyedSums:
        plan, ws = self.plan, Workspace()
        parts = [reduce_table(read_table(p, plan.raw, plan.encoded), plan, self.numeric,
                              self.plain, ws) for p in paths]
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
