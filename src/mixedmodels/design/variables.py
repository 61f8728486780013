"""Evaluate the variables of a formula on a data frame, R-style.

A *variable* is what one formula factor evaluates to: a numeric vector (or
matrix) or a categorical (integer codes into an ordered list of level
labels, coded by hashing in :mod:`.factors`: a pandas Categorical keeps its
own order, logical columns are ``FALSE < TRUE``, other columns are sorted
as R sorts them and labelled as R prints them). Date and time columns are
refused as numbers (their unit would be pandas' storage unit).
Expressions (``log(x)``, ``I(x^2)``, ``scale(x)``) are evaluated in a small
namespace of numpy functions; stateful transforms remember their
parameters so that ``predict`` on new data uses the fitted ones.
"""

from __future__ import annotations

import ast
import datetime
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ColumnNotFoundError, DataError, FormulaError
from .expressions import (
    Columns,
    Logical,
    TransformState,
    evaluate_expression,
    expression_names,
    translate,
)
from .factors import Categorical, is_categorical_series, r_label, to_categorical

__all__ = [
    "Categorical",
    "Numeric",
    "Variable",
    "to_categorical",
    "is_categorical_series",
    "r_label",
    "evaluate",
    "expression_names",
    "TransformState",
    "numeric_column",
    "SOURCE_DTYPES",
]


@dataclass
class Numeric:
    """A numeric variable: ``values`` is (n,) or (n, k) with column ``suffixes``."""

    values: np.ndarray
    suffixes: list[str] = field(default_factory=lambda: [""])

    def take(self, rows: np.ndarray) -> Numeric:
        return Numeric(self.values[rows], self.suffixes)

    @property
    def matrix(self) -> np.ndarray:
        v = self.values
        return v[:, None] if v.ndim == 1 else v


Variable = Categorical | Numeric


_FACTOR_CALL = re.compile(r"\s*(factor|ordered|as\.factor|as_factor|C|relevel)\s*\(")


def _factor_call(expr: str, data: pd.DataFrame, where: str) -> Categorical | None:
    """``factor(x)``, ``factor(x, levels = c(...))``, ``ordered(x)``, ``as.factor(x)``,
    ``relevel(x, ref = "b")``: a factor built from a column, or ``None``."""
    m = _FACTOR_CALL.match(expr)
    if m is None:
        return None
    code, py_names = translate(expr)
    try:
        call = ast.parse(code, mode="eval").body
    except SyntaxError as exc:
        raise FormulaError(f"cannot read the expression '{expr}': {exc.msg}", expr) from exc
    if not isinstance(call, ast.Call) or not call.args:
        return None
    inner = ast.unparse(call.args[0])
    arg = call.args[0]
    if isinstance(arg, ast.Name):
        name = py_names.get(arg.id, arg.id)
        col = _column(data, name, where)
        cat = to_categorical(col, name, _dtype_note(data, name))
    elif isinstance(arg, ast.Call):
        text = ast.get_source_segment(code, arg) or inner
        for key, r_name in py_names.items():
            text = re.sub(rf"\b{key}\b", r_name, text)
        sub = _factor_call(text, data, where)
        if sub is None:
            return None
        cat = sub
    else:
        return None
    kwargs = {k.arg: k.value for k in call.keywords}
    fn = m.group(1)
    second = call.args[1] if len(call.args) > 1 else None
    want = kwargs.get("levels") or (second if fn != "relevel" else None)
    if fn == "relevel":
        ref = kwargs.get("ref") or second
        if not isinstance(ref, ast.Constant):
            raise FormulaError(f"relevel() needs ref = \"level\" in '{expr}'", expr)
        want_levels = [str(ref.value)] + [lv for lv in cat.levels if lv != str(ref.value)]
    elif want is not None:
        want_levels = _string_vector(want, expr)
    else:
        want_levels = list(cat.levels)
    unknown = [lv for lv in want_levels if lv not in cat.levels]
    if fn == "relevel" and unknown:
        raise DataError(f"'ref' level {unknown[0]!r} is not a level of {inner} in '{expr}'")
    pos = {lv: i for i, lv in enumerate(want_levels)}
    remap = np.array([pos.get(lv, -1) for lv in cat.levels] + [-1], dtype=np.intp)
    codes = remap[np.where(cat.codes >= 0, cat.codes, len(cat.levels))]
    ordered = fn == "ordered" or (fn != "factor" and cat.ordered)
    return Categorical(codes, want_levels, ordered)


def _string_vector(node: ast.AST, expr: str) -> list[str]:
    """The labels of ``c("a", "b")`` (or a single constant) in a factor call."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "c":
        items = node.args
    else:
        items = [node]
    out = []
    for item in items:
        if not isinstance(item, ast.Constant):
            raise FormulaError(f"levels must be constants, as c(\"a\", \"b\"), in '{expr}'", expr)
        v = item.value
        out.append(r_label(v) if not isinstance(v, str) else v)
    return out


def _column(data: pd.DataFrame, name: str, where: str) -> pd.Series:
    if name not in data.columns:
        raise ColumnNotFoundError(name, data.columns, where)
    return data[name]


#: ``DataFrame.attrs`` key: original types of columns converted from another
#: library (e.g. a polars ``List``), named in errors
SOURCE_DTYPES = "mixedmodels.source_dtypes"


def _dtype_note(data: pd.DataFrame, name: str) -> str:
    return str(data.attrs.get(SOURCE_DTYPES, {}).get(name, ""))


def _holds_dates(s: pd.Series) -> bool:
    """Dates or date-times: a datetime/period dtype, or Python dates in an object column."""
    dt = s.dtype
    if pd.api.types.is_datetime64_any_dtype(dt) or isinstance(dt, pd.PeriodDtype):
        return True
    if not pd.api.types.is_object_dtype(dt):
        return False
    first = s.first_valid_index()
    return first is not None and isinstance(s.loc[first], (datetime.date, np.datetime64))


def _plain_numbers(dt: Any) -> bool:
    """A numpy integer or floating dtype: the column is its numbers (no NA marker other
    than NaN, no dates), read without further checks."""
    return isinstance(dt, np.dtype) and dt.kind in "fiu"


def numeric_column(s: pd.Series, name: str, what: str = "column") -> np.ndarray:
    """A column as float64 (NA as NaN); dates and times are refused, since their
    numbers would be in pandas' storage unit (a slope per nanosecond)."""
    dt = s.dtype
    if _plain_numbers(dt):
        return np.array(s.to_numpy(), dtype=float)
    if _holds_dates(s):
        t = f"d['{name}']"
        if pd.api.types.is_object_dtype(dt):
            t = f"pd.to_datetime({t})"
        raise DataError(
            f"{what} '{name}' holds dates/times ({dt}), which cannot be used as a number: "
            f"convert it in the unit you mean, e.g. days since the first date: "
            f"d['{name}'] = ({t} - {t}.min()).dt.days"
        )
    if pd.api.types.is_timedelta64_dtype(dt) or "duration" in str(dt):
        raise DataError(
            f"{what} '{name}' holds durations ({dt}), which cannot be used as a number: "
            f"convert it in the unit you mean, e.g. days: "
            f"d['{name}'] = d['{name}'].dt.total_seconds() / 86400"
        )
    try:
        return s.to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what} '{name}' could not be read as numbers") from exc


def evaluate(
    expr: str, data: pd.DataFrame, state: TransformState, where: str = "the formula"
) -> Variable:
    """Evaluate one formula factor (column name or expression) on ``data``."""
    name = expr.strip().strip("`")
    if name in data.columns:
        s = data[name]
        if _plain_numbers(s.dtype):
            return Numeric(np.array(s.to_numpy(), dtype=float))  # NaN stays NaN
        if is_categorical_series(s) and not _holds_dates(s):
            return to_categorical(s, name, _dtype_note(data, name))
        return Numeric(numeric_column(s, name))
    factor = _factor_call(expr, data, where)
    if factor is not None:
        return factor
    def column(name: str) -> Any:
        if name not in data.columns:
            return None
        col = data[name]
        if is_categorical_series(col) and not _holds_dates(col):
            return to_categorical(col, name, _dtype_note(data, name))
        return numeric_column(col, name)

    def missing(name: str) -> None:
        raise ColumnNotFoundError(name, data.columns, where)

    value = evaluate_expression(expr, column, state, missing)
    return _as_variable(value, expr, len(data))


def _as_variable(value: Any, expr: str, n: int) -> Variable:
    """An evaluated expression as a model-frame variable of ``n`` rows (R's
    "variable lengths differ" for anything else)."""
    if isinstance(value, Categorical):
        if len(value.codes) != n:
            raise FormulaError(f"'{expr}' gives {len(value.codes)} values for {n} rows", expr)
        return value
    if isinstance(value, Logical):  # R codes a logical as a FALSE/TRUE factor
        flags = np.asarray(value.values, dtype=float)
        if flags.ndim != 1 or flags.shape[0] != n:
            raise FormulaError(
                f"'{expr}' gives {flags.size} logical value{'s' if flags.size != 1 else ''} "
                f"for {n} rows: an expression in a formula must give one value per row",
                expr,
            )
        codes = np.where(np.isnan(flags), -1, flags == 1)
        return Categorical(codes.astype(np.intp), ["FALSE", "TRUE"], logical=True)
    names: list[str] | None = None
    if isinstance(value, Columns):
        value, names = value.values, value.names
    if value is None or isinstance(value, (str, list)):
        raise FormulaError(
            f"'{expr}' is not a numeric or factor variable: a formula term must give one "
            "number or level per row",
            expr,
        )
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0 or arr.shape[0] != n:
        shown = f" ({_r_value(float(arr.ravel()[0]))})" if arr.size == 1 else ""
        raise FormulaError(
            f"'{expr}' gives {arr.size if arr.ndim < 2 else arr.shape[0]} "
            f"value{'s' if arr.size != 1 else ''}{shown} for {n} rows (R: variable lengths "
            "differ): an expression in a formula must give one value per row; a constant "
            "adds nothing next to the intercept",
            expr,
        )
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim == 1:
        return Numeric(arr)
    return Numeric(arr, names or [str(j + 1) for j in range(arr.shape[1])])


def _r_value(x: float) -> str:
    if np.isnan(x):
        return "NaN"
    if np.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    return f"{x:.15g}"
