"""Experimental designs for simulation: crossed and longitudinal layouts, and extension.

:func:`simulate_design` lays out the rows of a study — subjects, optionally
crossed with items and/or repeated over sessions, with between-subject,
between-item and within-cell factors — as a data frame without a response.
:func:`extend_design` is simr's ``extend``: more levels of a grouping
variable made by copying the rows of existing ones, or fewer by keeping the
first ones.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..design import as_pandas
from ..errors import DataError

__all__ = ["simulate_design", "extend_design", "along_levels"]


def _labels(prefix: str, n: int) -> list[str]:
    width = len(str(n))
    return [f"{prefix}{i + 1:0{width}d}" for i in range(n)]


def _count(name: str, value: int | None, minimum: int = 1) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise DataError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def _factors(name: str, spec: Mapping[str, Sequence[Any]] | None) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for fac, levels in (spec or {}).items():
        levels = list(levels)
        if len(levels) < 2 or len(set(map(str, levels))) != len(levels):
            raise DataError(f"{name}[{fac!r}] needs at least 2 distinct levels, got {levels}")
        out[str(fac)] = levels
    return out


def _assign(n_units: int, factors: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Balanced assignment: unit i gets combination i mod (number of combinations)."""
    combos = list(itertools.product(*factors.values()))
    return {fac: [combos[i % len(combos)][j] for i in range(n_units)]
            for j, fac in enumerate(factors)}


def simulate_design(
    n_subjects: int,
    n_items: int | None = None,
    n_sessions: int | None = None,
    between: Mapping[str, Sequence[Any]] | None = None,
    between_items: Mapping[str, Sequence[Any]] | None = None,
    within: Mapping[str, Sequence[Any]] | None = None,
    replicates: int = 1,
) -> pd.DataFrame:
    """The rows of a study design, one per observation (no response column).

    Every subject meets every item (crossed design, ``n_items``), at every
    session (longitudinal design, ``n_sessions``), in every combination of
    the ``within`` factors, ``replicates`` times. ``between`` factors are
    assigned to subjects and ``between_items`` factors to items in balanced
    rotation (unit i gets combination i mod K of the K level combinations),
    so a factor that varies within subjects but between items — the usual
    psycholinguistic layout — is ``between_items``.

    Parameters
    ----------
    n_subjects:
        Number of subjects (column ``subject``, levels ``s01``, ``s02``, ...).
    n_items:
        Number of items crossed with subjects (column ``item``: ``i01``, ...).
    n_sessions:
        Number of sessions per subject (numeric column ``session``: 0, 1, ...).
    between, between_items, within:
        Factors as ``{name: levels}``; they become categorical columns with
        the levels in the order given (the first is the reference level).
    replicates:
        Observations per cell (column ``rep`` when above 1).

    Returns
    -------
    pandas.DataFrame
        Rows ordered by subject, then item, session, within cell and
        replicate; ``subject`` and ``item`` are categorical.
    """
    n_subjects = _count("n_subjects", n_subjects, 2)
    n_items = _count("n_items", n_items)
    n_sessions = _count("n_sessions", n_sessions)
    replicates = _count("replicates", replicates)
    between_f = _factors("between", between)
    item_f = _factors("between_items", between_items)
    within_f = _factors("within", within)
    names = list(between_f) + list(item_f) + list(within_f)
    clash = {"subject", "item", "session", "rep"} & set(names)
    if clash or len(set(names)) != len(names):
        raise DataError(f"factor names must be distinct and not {sorted(clash) or names}")
    if item_f and n_items is None:
        raise DataError("between_items needs n_items")

    subjects = _labels("s", n_subjects)
    items = _labels("i", n_items) if n_items else [None]
    sessions = list(range(n_sessions)) if n_sessions else [None]
    cells = list(itertools.product(*within_f.values())) or [()]
    rows = list(itertools.product(range(n_subjects), range(len(items)), sessions,
                                  range(len(cells)), range(replicates)))
    subj_idx = np.array([r[0] for r in rows], dtype=np.intp)
    item_idx = np.array([r[1] for r in rows], dtype=np.intp)
    cell_idx = np.array([r[3] for r in rows], dtype=np.intp)
    cols: dict[str, Any] = {"subject": pd.Categorical.from_codes(subj_idx, subjects)}
    if n_items:
        cols["item"] = pd.Categorical.from_codes(item_idx, items)
    if n_sessions:
        cols["session"] = np.array([r[2] for r in rows], dtype=np.int64)
    for fac, per_subject in _assign(n_subjects, between_f).items():
        cols[fac] = pd.Categorical(np.asarray(per_subject, dtype=object)[subj_idx],
                                   categories=between_f[fac])
    if n_items:
        for fac, per_item in _assign(n_items, item_f).items():
            cols[fac] = pd.Categorical(np.asarray(per_item, dtype=object)[item_idx],
                                       categories=item_f[fac])
    for j, fac in enumerate(within_f):
        vals = np.array([cells[c][j] for c in cell_idx], dtype=object)
        cols[fac] = pd.Categorical(vals, categories=within_f[fac])
    if replicates > 1:
        cols["rep"] = np.array([r[4] for r in rows], dtype=np.int64) + 1
    return pd.DataFrame(cols)


def along_levels(data: pd.DataFrame, along: str) -> list[Any]:
    """The levels of ``along`` in order: categorical order, else sorted values present."""
    if along not in data.columns:
        raise DataError(f"no column {along!r} in the data; columns are {list(data.columns)}")
    col = data[along]
    if isinstance(col.dtype, pd.CategoricalDtype):
        present = set(col.dropna().unique())
        return [c for c in col.cat.categories if c in present]
    return sorted(col.dropna().unique().tolist())


def extend_design(data: Any, along: str, n: int) -> pd.DataFrame:
    """The data with exactly ``n`` levels of ``along`` (simr's ``extend``).

    ``n`` at most the current number keeps the rows of the first ``n``
    levels (see :func:`along_levels`). A larger ``n`` appends copies of the
    rows of existing levels, cycling through them, under new labels: a
    copy of level ``"308"`` is ``"308_2"``, ``"308_3"``, ... for text and
    categorical columns, and max + 1, max + 2, ... for numeric ones. Other
    columns are copied unchanged, so a new subject sees the same items,
    sessions and conditions as the subject it copies.
    """
    frame = as_pandas(data)
    n = int(_count("n", n))
    levels = along_levels(frame, along)
    if not levels:
        raise DataError(f"column {along!r} has no values")
    if n <= len(levels):
        keep = frame[along].isin(levels[:n]).to_numpy()
        out = frame.loc[keep].reset_index(drop=True)
        if isinstance(out[along].dtype, pd.CategoricalDtype):
            out[along] = out[along].cat.remove_unused_categories()
        return out
    col = frame[along]
    numeric = pd.api.types.is_numeric_dtype(col.dtype) and not isinstance(
        col.dtype, pd.CategoricalDtype)
    blocks = [frame]
    new_labels: list[Any] = []
    top = max(levels) if numeric else None
    for j in range(n - len(levels)):
        src = levels[j % len(levels)]
        copy = j // len(levels) + 2
        label = top + j + 1 if numeric else f"{src}_{copy}"
        block = frame.loc[(col == src).to_numpy()].copy()
        if isinstance(col.dtype, pd.CategoricalDtype):
            block[along] = block[along].astype(object)
        block[along] = label
        blocks.append(block)
        new_labels.append(label)
    out = pd.concat(blocks, ignore_index=True)
    if isinstance(col.dtype, pd.CategoricalDtype):
        out[along] = pd.Categorical(out[along].astype(object).to_numpy(),
                                    categories=list(col.cat.categories) + new_labels)
    return out
