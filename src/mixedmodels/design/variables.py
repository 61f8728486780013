"""Evaluate the variables of a formula on a data frame, R-style.

A *variable* is what one formula factor evaluates to: a numeric vector (or
matrix) or a categorical (integer codes into an ordered list of level
labels). Level order follows R: a pandas Categorical keeps its own order,
logical columns are ``FALSE < TRUE``, other columns are sorted (numbers
numerically, strings in R's collation order, see :mod:`.collation`) and
labelled as R prints them.
Expressions (``log(x)``, ``I(x^2)``, ``scale(x)``) are evaluated in a small
namespace of numpy functions; stateful transforms remember their
parameters so that ``predict`` on new data uses the fitted ones.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ColumnNotFoundError, DataError, FormulaError
from .collation import r_sort_key
from .expressions import (
    Columns,
    Logical,
    TransformState,
    evaluate_expression,
    expression_names,
    translate,
)

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
]


@dataclass
class Categorical:
    """A factor: ``codes[i]`` indexes ``levels`` (−1 marks a missing value)."""

    codes: np.ndarray
    levels: list[str]
    ordered: bool = False

    def take(self, rows: np.ndarray) -> Categorical:
        return Categorical(self.codes[rows], self.levels, self.ordered)

    def drop_unused(self) -> Categorical:
        """Drop levels that do not occur (R's ``drop.unused.levels``)."""
        present = np.zeros(len(self.levels), dtype=bool)
        present[self.codes[self.codes >= 0]] = True
        if present.all():
            return self
        remap = np.cumsum(present) - 1
        codes = np.where(self.codes >= 0, remap[np.maximum(self.codes, 0)], -1)
        levels = [lv for lv, keep in zip(self.levels, present) if keep]
        return Categorical(codes.astype(np.intp), levels, self.ordered)


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


def r_label(x: Any) -> str:
    """Label a level as R's ``as.character`` would (``2`` not ``2.0``)."""
    if isinstance(x, (bool, np.bool_)):
        return "TRUE" if x else "FALSE"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        if float(x).is_integer():
            return str(int(x))
        return f"{float(x):.15g}"
    return str(x)


def is_categorical_series(s: pd.Series) -> bool:
    """True for columns R would treat as factors (strings, categoricals, logicals)."""
    dt = s.dtype
    return (
        isinstance(dt, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(dt)
        or pd.api.types.is_object_dtype(dt)
        or pd.api.types.is_string_dtype(dt)
    )


def to_categorical(s: pd.Series | np.ndarray, name: str = "") -> Categorical:
    """Convert a column to a factor with R's level order."""
    if not isinstance(s, pd.Series):
        s = pd.Series(s)
    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype):
        categories = dt.categories
        if pd.api.types.is_numeric_dtype(categories.dtype) or pd.api.types.is_bool_dtype(
            categories.dtype
        ):
            cats = [r_label(c) for c in categories]
        else:
            cats = [str(c) for c in categories.tolist()]
        return Categorical(np.asarray(s.cat.codes, dtype=np.intp), cats, bool(dt.ordered))
    if pd.api.types.is_bool_dtype(dt):
        codes = np.where(s.isna(), -1, s.fillna(False).astype(bool).astype(np.intp))
        return Categorical(codes.astype(np.intp), ["FALSE", "TRUE"])
    missing = s.isna().to_numpy()
    present = s[~missing]
    if pd.api.types.is_numeric_dtype(dt):
        uniq = np.unique(present.to_numpy())
        labels = [r_label(u) for u in uniq]
        codes = np.full(len(s), -1, dtype=np.intp)
        codes[~missing] = np.searchsorted(uniq, present.to_numpy())
        return Categorical(codes, labels)
    if present.map(lambda v: isinstance(v, (bool, np.bool_))).all() and len(present):
        codes = np.full(len(s), -1, dtype=np.intp)  # logical with NA (object dtype)
        codes[~missing] = present.astype(bool).to_numpy().astype(np.intp)
        return Categorical(codes, ["FALSE", "TRUE"])
    values = present.map(lambda v: v if isinstance(v, str) else r_label(v)).to_numpy(dtype=str)
    uniq, inv = np.unique(values, return_inverse=True)
    levels = [str(u) for u in uniq]
    if not _code_point_order_is_r_order(levels):
        order = sorted(range(len(levels)), key=lambda i: r_sort_key(levels[i]))
        rank = np.empty(len(levels), dtype=np.intp)
        rank[order] = np.arange(len(levels))
        inv = rank[inv]
        levels = [levels[i] for i in order]
    codes = np.full(len(s), -1, dtype=np.intp)
    codes[~missing] = inv
    return Categorical(codes, levels)


def _code_point_order_is_r_order(levels: list[str]) -> bool:
    """True when R's collation cannot differ from a code-point sort: ASCII
    letters and digits only, and letters of a single case."""
    if not all(u.isascii() and u.isalnum() for u in levels):
        return False
    return not any(u != u.lower() for u in levels) or not any(u != u.upper() for u in levels)


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
        cat = to_categorical(col.astype("category") if not is_categorical_series(col) else col)
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


def _numeric_array(s: pd.Series, name: str) -> np.ndarray:
    try:
        return s.to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise DataError(f"column '{name}' could not be read as numbers") from exc


def evaluate(
    expr: str, data: pd.DataFrame, state: TransformState, where: str = "the formula"
) -> Variable:
    """Evaluate one formula factor (column name or expression) on ``data``."""
    name = expr.strip().strip("`")
    if name in data.columns:
        s = data[name]
        if is_categorical_series(s):
            return to_categorical(s, name)
        return Numeric(_numeric_array(s, name))
    factor = _factor_call(expr, data, where)
    if factor is not None:
        return factor
    def column(name: str) -> Any:
        if name not in data.columns:
            return None
        col = data[name]
        if is_categorical_series(col):
            return to_categorical(col, name)
        return _numeric_array(col, name)

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
        return Categorical(codes.astype(np.intp), ["FALSE", "TRUE"])
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
