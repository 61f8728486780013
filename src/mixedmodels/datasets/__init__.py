"""Datasets of lme4 and nlme, bundled so that examples run without R.

>>> import mixedmodels as mm
>>> d = mm.datasets.load("sleepstudy")
>>> mm.datasets.list()[:3]
['cake', 'cbpp', 'Dyestuff']

Every dataset is the exact data R holds, with R's column types: factors are
``pandas.Categorical`` with R's level order (ordered factors have
``ordered=True``), R numeric columns are ``float64`` and R integer columns
``int64``. Names are matched without regard to case.
"""

from __future__ import annotations

import builtins
import gzip
import io
import json
import textwrap
from dataclasses import dataclass
from functools import cache
from importlib import resources

import pandas as pd

from ..errors import DataError
from ._catalog import CATALOG, DatasetText
from ._simulate import simulate_slopes

# ``list`` (the R-style alias of list_datasets, defined at the end) is left out
# of __all__ so that ``from mixedmodels.datasets import *`` cannot shadow the
# builtin in the importing module; ``mm.datasets.list()`` works as usual.
__all__ = ["load", "list_datasets", "describe", "info", "DatasetInfo", "simulate_slopes"]

_FACTOR_TYPES = {"factor", "ordered factor"}


@dataclass(frozen=True)
class DatasetInfo:
    """Facts about one bundled dataset.

    Attributes
    ----------
    name:
        The dataset's name, spelled as in R.
    title:
        One-line summary.
    rows:
        Number of rows.
    columns:
        Column name -> R type (``numeric``, ``integer``, ``factor``,
        ``ordered factor``).
    levels:
        Factor column name -> its levels in R's order.
    text:
        Description, source and the meaning of each variable.
    """

    name: str
    title: str
    rows: int
    columns: dict[str, str]
    levels: dict[str, builtins.list[str]]
    text: DatasetText


@cache
def _metadata() -> dict[str, dict]:
    """The parsed ``data/datasets.json`` (file, rows, column types, levels)."""
    raw = resources.files(__package__).joinpath("data", "datasets.json").read_text("utf-8")
    return json.loads(raw)


def list_datasets() -> builtins.list[str]:
    """Names of the bundled datasets, sorted alphabetically (ignoring case).

    Returns
    -------
    list of str
        Names as R spells them, e.g. ``"sleepstudy"``, ``"InstEval"``.
    """
    return sorted(_metadata(), key=str.lower)


def _canonical(name: str) -> str:
    """The bundled spelling of ``name``; raise DataError for unknown names."""
    if not isinstance(name, str):
        raise DataError(f"dataset name must be a string, not {type(name).__name__}")
    lookup = {key.lower(): key for key in _metadata()}
    try:
        return lookup[name.strip().lower()]
    except KeyError:
        known = ", ".join(list_datasets())
        raise DataError(f"no bundled dataset named '{name}'; available: {known}") from None


def info(name: str) -> DatasetInfo:
    """Facts about the dataset ``name``: title, rows, column types, levels, text."""
    key = _canonical(name)
    meta = _metadata()[key]
    cols = meta["columns"]
    return DatasetInfo(
        name=key,
        title=CATALOG[key].title,
        rows=int(meta["rows"]),
        columns={col: spec["type"] for col, spec in cols.items()},
        levels={
            col: builtins.list(spec["levels"]) for col, spec in cols.items() if "levels" in spec
        },
        text=CATALOG[key],
    )


def describe(name: str) -> str:
    """A help page for the dataset ``name``, like R's ``?sleepstudy``.

    Returns
    -------
    str
        Title, description, the variables with their types and meaning,
        the number of rows, notes and the source.
    """
    meta = info(name)
    text = meta.text
    width = max(len(col) for col in meta.columns)
    lines = [f"{meta.name}: {text.title}", "", _fill(text.about), ""]
    lines.append(f"A data frame with {meta.rows} rows and {len(meta.columns)} columns:")
    for col, rtype in meta.columns.items():
        kind = rtype
        if col in meta.levels:
            kind = f"{rtype}, {len(meta.levels[col])} levels"
        entry = f"  {col:<{width}}  {text.variables.get(col, '')} [{kind}]"
        lines.append(_fill(entry, indent=" " * (width + 4)))
    if text.notes:
        lines += ["", _fill(f"Note: {text.notes}")]
    lines += ["", _fill(f"Source: {text.source}")]
    return "\n".join(lines)


def _fill(paragraph: str, indent: str = "") -> str:
    """Wrap ``paragraph`` at 79 columns, continuation lines indented by ``indent``."""
    return textwrap.fill(paragraph, width=79, subsequent_indent=indent, break_on_hyphens=False)


@cache
def _read(key: str) -> pd.DataFrame:
    """Parse the bundled CSV of ``key`` with R's column types (cached)."""
    meta = _metadata()[key]
    blob = resources.files(__package__).joinpath("data", meta["file"]).read_bytes()
    if meta["file"].endswith(".gz"):
        blob = gzip.decompress(blob)
    cols = meta["columns"]
    dtypes = {
        col: (str if spec["type"] in _FACTOR_TYPES else "float64") for col, spec in cols.items()
    }
    frame = pd.read_csv(io.BytesIO(blob), dtype=dtypes, keep_default_na=False, na_values=[""])
    out: dict[str, object] = {}
    for col, spec in cols.items():
        values = frame[col]
        rtype = spec["type"]
        if rtype in _FACTOR_TYPES:
            levels = spec["levels"]
            cat = pd.Categorical(values, categories=levels, ordered=rtype == "ordered factor")
            if (cat.codes < 0).sum() != values.isna().sum():
                bad = sorted(set(values.dropna()) - set(levels))
                raise DataError(f"dataset '{key}': column '{col}' has unknown labels {bad[:5]}")
            out[col] = cat
        elif rtype == "integer" and not values.isna().any():
            out[col] = values.astype("int64")
        else:
            out[col] = values.astype("float64")
    return pd.DataFrame(out)


def load(name: str) -> pd.DataFrame:
    """Load a bundled dataset as a pandas DataFrame.

    Parameters
    ----------
    name:
        Dataset name, any case (``"sleepstudy"``, ``"instEval"``...); see
        :func:`list_datasets`.

    Returns
    -------
    pandas.DataFrame
        A fresh copy (safe to modify) with R's column types and factor
        level orders.

    Raises
    ------
    DataError
        If there is no dataset of that name.
    """
    return _read(_canonical(name)).copy()


# R-style alias, ``mm.datasets.list()``. Defined last: inside this module the
# builtin is always reached as ``builtins.list``.
list = list_datasets
