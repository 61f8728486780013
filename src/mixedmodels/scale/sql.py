"""Formula expressions and column recipes as DuckDB SQL.

A numeric formula expression (``Days``, ``log(x)``, ``I(x^2)``, ``x*y``) is
parsed as Python (R's ``^`` read as ``**``) and written back as SQL over
quoted column names; a factor's coding column is a ``CASE`` on the
factor's level code, and a model-matrix column the product of its pieces.
"""

from __future__ import annotations

import ast
import re

from ..errors import FormulaError
from .design import Piece

__all__ = ["ident", "sql_expr", "column_sql", "literal"]

_FUNCS = {
    "log": "ln({})",
    "log2": "log2({})",
    "log10": "log10({})",
    "log1p": "ln(1.0 + {})",
    "exp": "exp({})",
    "expm1": "(exp({}) - 1.0)",
    "sqrt": "sqrt({})",
    "abs": "abs({})",
    "sin": "sin({})",
    "cos": "cos({})",
    "tan": "tan({})",
    "I": "({})",
}
_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(x: float) -> str:
    """A double literal that round-trips exactly."""
    return f"CAST({float(x)!r} AS DOUBLE)"


def _node(node: ast.AST, expr: str) -> str:
    if isinstance(node, ast.Name):
        if node.id == "pi":
            return "pi()"
        return f"CAST({ident(node.id)} AS DOUBLE)"
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return literal(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = "-" if isinstance(node.op, ast.USub) else "+"
        return f"({sign}{_node(node.operand, expr)})"
    if isinstance(node, ast.BinOp):
        a, b = _node(node.left, expr), _node(node.right, expr)
        if isinstance(node.op, ast.Pow):
            return f"pow({a}, {b})"
        if type(node.op) in _OPS:
            return f"({a} {_OPS[type(node.op)]} {b})"
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCS
        and len(node.args) == 1
        and not node.keywords
    ):
        return _FUNCS[node.func.id].format(_node(node.args[0], expr))
    raise FormulaError(
        f"'{expr}' cannot be computed in SQL: use columns, numbers, + - * / ^ and "
        f"{', '.join(sorted(_FUNCS))}(); or add the column to the source",
        expr,
    )


def sql_expr(expr: str) -> str:
    """SQL for one numeric formula expression."""
    text = re.sub(r"`([^`]+)`", r"\1", expr.replace("^", "**"))
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"cannot read the expression '{expr}': {exc.msg}", expr) from exc
    return _node(tree.body, expr)


def _piece_sql(piece: Piece, code_col: dict[str, str]) -> str:
    if piece.coding is None:
        return sql_expr(piece.expr)
    code = code_col[piece.expr]
    cases = " ".join(
        f"WHEN {lvl} THEN {literal(v)}" for lvl, v in enumerate(piece.coding) if v != 0.0
    )
    if not cases:
        return literal(0.0)
    return f"(CASE {code} {cases} ELSE {literal(0.0)} END)"


def column_sql(pieces: list[Piece], code_col: dict[str, str]) -> str:
    """SQL of one model-matrix column: the product of its pieces (1 for none).

    ``code_col`` maps a factor's expression to the SQL column holding its
    0-based level code.
    """
    if not pieces:
        return literal(1.0)
    return " * ".join(_piece_sql(pc, code_col) for pc in pieces)
