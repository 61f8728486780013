"""R expressions in formulas, evaluated with R's semantics on numpy arrays.

A formula factor such as ``I((x + 1)^2)``, ``log(z, base = 2)``, ``I(!x)``,
``I(x > 3 & x < 7)`` or ``dummy(Sex, "Female")`` is R code. It is read into
R's parse tree (:func:`mixedmodels.formula.deparse.parse_r`, with R's operator
precedence) and evaluated node by node, as R would:

* numbers are doubles (``0x1F`` = 31, ``1e999`` = ``Inf``, ``1e-320`` a
  subnormal); ``^`` is ``pow`` on doubles, so ``2^2222`` and ``10^10^10`` are
  ``Inf`` (never Python's integer arithmetic);
* logical values are vectors of 1/0 with NaN for NA, with R's three-valued
  ``&``, ``|`` and ``!`` (``!x`` is ``x == 0`` for a number); a logical result
  becomes a FALSE/TRUE factor;
* a call goes to :data:`R_FUNCTIONS` with R's argument matching (by name,
  then by position); wrong arguments are a :class:`FormulaError` naming the
  function and the arguments it takes;
* a factor column may be compared with a string, converted (``as.numeric``
  gives its codes, as R) or expanded by lme4's ``dummy(f, levelsToKeep)``;
  arithmetic on it is an error, as in R.

Every failure while evaluating is a :class:`FormulaError` that names the
expression (no Python error text). Stateful transforms (``scale``,
``center``, ``poly``) store their fitted parameters in the
:class:`TransformState` so that ``predict`` on new data reuses them.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import FormulaError, MixedModelsError
from ..formula.deparse import Node, deparse_expr, parse_r, r_number, r_tokens
from .rfunctions import (
    CONSTANTS,
    R_FUNCTIONS,
    STATEFUL,
    Columns,
    Fail,
    Logical,
    Value,
    binary,
    lgl,
    num,
    scalar,
    truth,
    usage,
)

__all__ = [
    "R_FUNCTIONS",
    "Logical",
    "Columns",
    "TransformState",
    "evaluate_expression",
    "expression_names",
    "translate",
]


class TransformState(dict):
    """Parameters of stateful transforms (``scale``, ``center``, ``poly``) by call."""


# -- the evaluator ----------------------------------------------------------------


class _Evaluator:
    """Evaluate one parsed expression; ``column(name)`` gives a column's values
    (doubles, or a factor) or ``None`` when there is no such column."""

    def __init__(self, column: Callable[[str], Any], state: TransformState):
        self.column = column
        self.state = state

    def eval(self, node: Node) -> Value:
        kind = node[0]
        if kind == "num":
            return np.asarray(r_number(node[1]))
        if kind == "str":
            return node[1][1:-1]
        if kind in ("name", "bq"):
            return self.name(node[1][1:-1] if kind == "bq" else node[1], quoted=kind == "bq")
        if kind == "paren":
            return self.eval(node[1])
        if kind == "un":
            op, v = node[1], self.eval(node[2])
            if op == "!":
                return Logical(1.0 - lgl(v, "'!'"))
            if op in ("-", "+"):
                x = num(v, f"unary '{op}'")
                return -x if op == "-" else x
            raise Fail(f"'{op}' cannot be used inside an expression")
        if kind == "bin":
            return binary(node[1], self.eval(node[2]), self.eval(node[3]))
        return self.call(node)

    def name(self, name: str, quoted: bool) -> Value:
        value = self.column(name)
        if value is not None:
            return value
        if not quoted and name in CONSTANTS:
            return CONSTANTS[name]
        if name in R_FUNCTIONS or name in STATEFUL:
            raise Fail(f"'{name}' is a function: call it as {name}(...)")
        raise _NoColumn(name)

    def call(self, node: Node) -> Value:
        head = node[1]
        if head[0] not in ("name", "bq"):
            raise Fail(f"'{deparse_expr_node(head)}' is not a function name")
        fname = head[1].strip("`")
        if fname in STATEFUL:
            fn: Callable[..., Any] = getattr(self, f"_{fname}")
        elif fname in R_FUNCTIONS:
            fn = R_FUNCTIONS[fname]
        else:
            raise Fail(
                f"there is no function '{fname}' for formulas; known: "
                + ", ".join(sorted(set(R_FUNCTIONS) | STATEFUL))
            )
        args, kwargs = [], {}
        for arg_name, arg in node[2]:
            value = self.eval(arg)
            if arg_name is None:
                args.append(value)
            else:
                kwargs[arg_name.replace(".", "_")] = value
        params = inspect.signature(fn).parameters
        kwargs = {
            (k + "_" if k not in params and k + "_" in params else k): v for k, v in kwargs.items()
        }
        if fname in STATEFUL:
            kwargs["key"] = (fname, deparse_expr_node(node))
        try:
            bound = inspect.signature(fn).bind(*args, **kwargs)
        except TypeError:
            raise Fail(
                f"{fname}() is called with the wrong arguments in "
                f"'{deparse_expr_node(node)}'; it takes {usage(fname, fn)}"
            ) from None
        try:
            return fn(*bound.args, **bound.kwargs)
        except (Fail, _NoColumn, MixedModelsError):
            raise
        except MemoryError:
            raise Fail(f"'{deparse_expr_node(node)}' is too large to compute") from None
        except Exception:
            raise Fail(
                f"{fname}() cannot use these arguments in '{deparse_expr_node(node)}'; "
                f"it takes {usage(fname, fn)}"
            ) from None

    # stateful transforms: fitted parameters kept for new data
    def _scale(self, x: Value, center: Value = True, scale: Value = True, *, key: Any) -> Any:
        v = num(x, "scale()")
        if key not in self.state:
            mu = float(np.nanmean(v)) if truth(center) else 0.0
            ok = np.sum(~np.isnan(v))
            sd = float(np.sqrt(np.nansum((v - mu) ** 2) / (ok - 1))) if truth(scale) else 1.0
            self.state[key] = (mu, sd)
        mu, sd = self.state[key]
        return (v - mu) / sd

    def _center(self, x: Value, *, key: Any) -> Any:
        v = num(x, "center()")
        if key not in self.state:
            self.state[key] = float(np.nanmean(v))
        return v - self.state[key]

    def _poly(self, x: Value, degree: Value = 1.0, raw: Value = False, *, key: Any) -> Any:
        """R's ``poly``: orthonormal polynomials by the three-term recurrence.

        P₀ = 1, P₁ = x − a₀, P_{k+1} = (x − a_k) P_k − (N_k / N_{k−1}) P_{k−1} with
        N_k = Σ P_k², a_k = Σ x P_k² / N_k; columns P_k / √N_k, k = 1..degree.
        The (a, N) of the fit are reused for new data, as R's ``predict``.
        """
        v = np.asarray(num(x, "poly()"), dtype=float)
        d = scalar(degree, "the degree of poly()")
        if not (d >= 1 and d == math.floor(d)):
            raise Fail(f"'degree' of poly() must be a whole number of at least 1, not {d:g}")
        if key not in self.state and d >= max(v.size, 2):
            raise Fail(f"'degree' {d:g} of poly() must be less than the number of values")
        deg = int(d)
        if truth(raw):
            if self.state.setdefault(key, deg) != deg:
                raise Fail("poly() on new data must have the degree of the fit")
            return np.column_stack([v**k for k in range(1, deg + 1)])
        if key not in self.state:
            xs = v[~np.isnan(v)]
            if np.unique(xs).size <= deg:
                raise Fail("'degree' must be less than the number of unique points")
            a, N = [], [1.0, float(xs.size)]
            prev, cur = np.zeros_like(xs), np.ones_like(xs)
            for k in range(deg):
                a.append(float(np.sum(xs * cur**2) / N[-1]))
                nxt = (xs - a[k]) * cur - (N[-1] / N[-2]) * prev if k else xs - a[0]
                prev, cur = cur, nxt
                N.append(float(np.sum(cur**2)))
            self.state[key] = (a, N)
        a, N = self.state[key]
        if len(a) != deg:
            raise Fail("poly() on new data must have the degree of the fit")
        cols, prev, cur = [], np.zeros_like(v), np.ones_like(v)
        for k in range(deg):
            nxt = (v - a[k]) * cur - (N[k + 1] / N[k]) * prev if k else v - a[0]
            prev, cur = cur, nxt
            cols.append(cur / np.sqrt(N[k + 2]))
        return np.column_stack(cols)


class _NoColumn(Exception):
    """A name that is neither a column nor an R constant."""


def deparse_expr_node(node: Node) -> str:
    """R's text of a parse-tree node (for messages)."""
    from ..formula.deparse import _Deparser

    d = _Deparser(10**9)
    d.write(node)
    return " ".join(line.strip() for line in d.lines + [d.buf])


def _parse(expr: str) -> Node:
    try:
        return parse_r(expr)
    except ValueError as exc:
        raise FormulaError(f"cannot read the expression '{expr}': {exc}", expr) from None


def evaluate_expression(
    expr: str, column: Callable[[str], Any], state: TransformState, missing: Callable[[str], Any]
) -> Value:
    """Evaluate the R expression ``expr``.

    ``column(name)`` returns a column's values (doubles or a factor) or ``None``;
    ``missing(name)`` raises the caller's error for a name that is no column.
    Returns doubles (0-d, 1-d or 2-d), a :class:`Logical`, :class:`Columns` or
    a factor; raises :class:`FormulaError` naming ``expr`` on any failure.
    """
    node = _parse(expr)
    try:
        with np.errstate(all="ignore"):
            return _Evaluator(column, state).eval(node)
    except _NoColumn as exc:
        missing(str(exc))
        raise  # pragma: no cover - missing() raises
    except Fail as exc:
        raise FormulaError(f"cannot evaluate '{deparse_expr(expr)}': {exc}", expr) from None
    except RecursionError:
        raise FormulaError(f"cannot evaluate '{expr}': it is nested too deeply", expr) from None
    except MemoryError:
        raise FormulaError(f"cannot evaluate '{expr}': the result is too large", expr) from None


def expression_names(expr: str) -> list[str]:
    """Column names an expression refers to, in order of appearance (names in
    call position and R constants excluded)."""
    out: list[str] = []

    def walk(n: Node) -> None:
        kind = n[0]
        if kind in ("name", "bq"):
            name = n[1][1:-1] if kind == "bq" else n[1]
            is_constant = kind == "name" and name in CONSTANTS
            if not is_constant and name not in out:
                out.append(name)
        elif kind == "paren":
            walk(n[1])
        elif kind == "un":
            walk(n[2])
        elif kind == "bin":
            walk(n[2])
            walk(n[3])
        elif kind == "call":
            if n[1][0] not in ("name", "bq"):
                walk(n[1])
            for _, a in n[2]:
                walk(a)

    walk(_parse(expr))
    return out


# -- Python text of an R expression (for code that inspects calls with ``ast``) -----

_OPS = {"^": "**", "%%": "%", "%/%": "//", "&&": "&", "||": "|"}
_PY_CONSTANTS = {"TRUE": "True", "FALSE": "False", "Inf": "inf", "NA": "nan", "NaN": "nan"}


def _identifier(name: str, names: dict[str, str]) -> str:
    """A Python identifier standing for the R name ``name``."""
    import keyword

    if name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("mmr_"):
        return name
    for key, value in names.items():
        if value == name:
            return key
    key = f"mmr_{len(names)}"
    names[key] = name
    return key


def translate(expr: str) -> tuple[str, dict[str, str]]:
    """Python text of the R expression (token by token) and the placeholder → R
    name map; used to read the arguments of ``factor(...)`` calls with ``ast``."""
    try:
        toks = r_tokens(expr)
    except ValueError as exc:
        raise FormulaError(f"cannot read the expression '{expr}': {exc}", expr) from exc
    names: dict[str, str] = {}
    out: list[str] = []
    for kind, tok in toks:
        if kind in ("name", "bq"):
            name = tok[1:-1] if kind == "bq" else tok
            out.append(_PY_CONSTANTS.get(name) or _identifier(name, names))
        elif kind == "num":
            value = r_number(tok)
            out.append(repr(value) if math.isfinite(value) else "inf")
        elif kind == "op":
            if tok == "<-":
                raise FormulaError(f"assignment '<-' is not allowed in '{expr}'", expr)
            out.append("~" if tok == "!" else _OPS.get(tok, tok))
        else:
            out.append(tok)
    return " ".join(out), names
