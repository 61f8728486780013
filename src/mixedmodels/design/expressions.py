"""R expressions in formulas, evaluated with numpy.

A formula factor such as ``I((x + 1)^2)``, ``log(z, base = 2)``,
``as.numeric(x > 0)`` or ``I(Days - mean(Days))`` is R code. It is
translated token by token to Python: ``^`` → ``**``, ``%%`` → ``%``,
``%/%`` → ``//``, unary ``!`` → ``~``, ``&&``/``||`` → ``&``/``|``,
``TRUE``/``FALSE`` → ``True``/``False``, and names that are not Python
identifiers (``Sepal.Length``, ```my var```, ``as.numeric``) are mapped to
placeholders. :data:`R_FUNCTIONS` holds the vectorized R functions the
translated code may call (R's semantics: ``sd`` and ``var`` with n − 1,
``log(x, base)``, ``pmin``/``pmax`` elementwise, ``ifelse``).
Stateful transforms (``scale``, ``center``, ``poly``) are added by
:func:`mixedmodels.design.variables.evaluate`.
"""

from __future__ import annotations

import ast
import functools
import keyword
import math
from typing import Any

import numpy as np

from ..errors import FormulaError
from ..formula.deparse import r_tokens

__all__ = ["R_FUNCTIONS", "expression_names", "translate"]


def _log(x: Any, base: float = math.e) -> Any:
    return np.log(x) if base == math.e else np.log(x) / np.log(base)


def _reduce(op: Any) -> Any:
    return lambda *args: functools.reduce(op, args)


R_FUNCTIONS: dict[str, Any] = {
    "log": _log,
    "log2": np.log2,
    "log10": np.log10,
    "log1p": np.log1p,
    "exp": np.exp,
    "expm1": np.expm1,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "floor": np.floor,
    "ceiling": np.ceil,
    "trunc": np.trunc,
    "round": lambda x, digits=0: np.round(x, int(digits)),
    "sign": np.sign,
    "mean": np.mean,
    "median": np.median,
    "sd": lambda x: np.std(x, ddof=1),
    "var": lambda x: np.var(x, ddof=1),
    "min": np.min,
    "max": np.max,
    "sum": np.sum,
    "pmin": _reduce(np.minimum),
    "pmax": _reduce(np.maximum),
    "ifelse": np.where,
    "as.numeric": lambda x: np.asarray(x, dtype=float),
    "as.double": lambda x: np.asarray(x, dtype=float),
    "as.integer": lambda x: np.trunc(np.asarray(x, dtype=float)),
    "plogis": lambda x: 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float))),
    "qlogis": lambda p: np.log(p / (1.0 - p)),
    "is.na": lambda x: np.isnan(np.asarray(x, dtype=float)),
    "I": lambda x: x,
    "pi": np.pi,
}

_OPS = {"^": "**", "%%": "%", "%/%": "//", "&&": "&", "||": "|"}
_CONSTANTS = {"TRUE": "True", "FALSE": "False", "Inf": "inf", "NA": "nan", "NaN": "nan"}


def _identifier(name: str, names: dict[str, str]) -> str:
    """A Python identifier standing for the R name ``name``."""
    if name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("mmr_"):
        return name
    for key, value in names.items():
        if value == name:
            return key
    key = f"mmr_{len(names)}"
    names[key] = name
    return key


def translate(expr: str) -> tuple[str, dict[str, str]]:
    """Python code for the R expression and the placeholder → R name map."""
    try:
        toks = r_tokens(expr)
    except ValueError as exc:
        raise FormulaError(f"cannot read the expression '{expr}': {exc}", expr) from exc
    names: dict[str, str] = {}
    out: list[str] = []
    for kind, tok in toks:
        if kind in ("name", "bq"):
            name = tok[1:-1] if kind == "bq" else tok
            out.append(_CONSTANTS.get(name) or _identifier(name, names))
        elif kind == "num":
            out.append(tok.rstrip("L"))
        elif kind == "op":
            if tok == "<-":
                raise FormulaError(f"assignment '<-' is not allowed in '{expr}'", expr)
            out.append("~" if tok == "!" else _OPS.get(tok, tok))
        else:
            out.append(tok)
    return " ".join(out), names


def expression_names(expr: str) -> list[str]:
    """Column names an expression refers to, in order of appearance."""
    code, names = translate(expr)
    try:
        tree = ast.parse(code, mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"cannot read the expression '{expr}': {exc.msg}", expr) from exc
    called = {
        n.func.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    }
    out: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Name) or node.id in called:
            continue
        r_name = names.get(node.id, node.id)
        if r_name in R_FUNCTIONS or node.id in ("True", "False", "inf", "nan"):
            continue
        if r_name not in out:
            out.append(r_name)
    return out
