"""R's text of formulas and their expressions, and calls kept whole.

R names a model-matrix column after the deparsed expression (``I((x + 1)^2)``,
``log(z, base = 2)``, ``exp(x/3)``) and prints the deparsed formula on the
summary's ``Formula:`` line: spaces around ``+ - * == < & |`` and
``%in%``-style operators, none around ``/ ^ : %% %/%``, ``, `` between
arguments, ``" = "`` for named arguments, numbers as R prints them, strings
in double quotes, ``||`` expanded as lme4's ``expandDoubleVerts``.
:func:`deparse_formula` reads the text into a tree with R's operator
precedence and writes it back as R's ``deparse`` (line breaks included);
:func:`deparse_expr` is the same on one line.

The term structure of a formula is read by formulaic, which re-prints the
code inside function calls in Python's grammar (``I((x+1)^2)`` would become
``I(x + 1 ^ 2)``). :func:`protect_calls` therefore replaces every call by a
placeholder name before formulaic sees the text and returns the deparsed
originals to put back. :func:`r_tokens` is the R tokenizer that
:mod:`mixedmodels.design.expressions` translates to Python.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

__all__ = [
    "deparse_expr",
    "deparse_formula",
    "protect_calls",
    "r_tokens",
    "r_number",
    "parse_r",
    "PLACEHOLDER",
]

PLACEHOLDER = "mmcall{}_"

_TOKEN = re.compile(
    r"(?P<ws>\s+)|(?P<num>0[xX][0-9a-fA-F]+L?|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?L?)"
    r"|(?P<str>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')|(?P<bq>`[^`]*`)"
    r"|(?P<name>(?:[^\W\d_]|\.)[\w.]*)"
    r"|(?P<op>%[^%]*%|\*\*|\|\||&&|==|!=|<=|>=|<-|[-+*/^:~|&<>!()=,$@\[\]?])"
)


def r_tokens(text: str) -> list[tuple[str, str]]:
    """R's tokens of ``text`` as (kind, text): ``num``, ``str``, ``bq`` (a
    backquoted name), ``name`` or ``op``; raises ``ValueError`` on anything else."""
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"cannot read {text[pos:]!r}")
        if m.lastgroup != "ws":
            out.append((str(m.lastgroup), m.group()))
        pos = m.end()
    return out


def r_number(tok: str) -> float:
    """The value of an R numeric literal: decimal (``1e-320`` is a subnormal,
    ``1e999`` is ``Inf``), hexadecimal (``0x1F`` = 31), optional ``L`` suffix."""
    tok = tok[:-1] if tok.endswith("L") else tok
    if tok[:2] in ("0x", "0X"):
        whole = int(tok, 16)
        return float(whole) if whole.bit_length() <= 1024 else math.inf
    return float(tok)


def _number(tok: str) -> str:
    """A numeric literal as R deparses it: the shorter of fixed and scientific
    notation (fixed on a tie), e.g. ``1e3`` → ``1000``, ``1e5`` → ``1e+05``,
    ``0x1F`` → ``31``, ``1e999`` → ``Inf``."""
    value = r_number(tok)
    if tok.endswith("L"):
        return f"{int(value)}L" if math.isfinite(value) else "Inf"
    if not math.isfinite(value):
        return "Inf"
    if re.fullmatch(r"\d+", tok) and len(tok.lstrip("0")) <= 15:
        value = float(int(tok))
    fixed = format(Decimal(repr(value)), "f")
    if "." in fixed:
        fixed = fixed.rstrip("0").rstrip(".")
    mant, exp = f"{value:.14e}".split("e")
    mant = mant.rstrip("0").rstrip(".")
    sci = f"{mant}e{exp[0]}{int(exp[1:]):02d}"
    return fixed if len(fixed) <= len(sci) else sci


def deparse_expr(text: str) -> str:
    """``text`` with R's deparse spacing (see the module docstring), on one line."""
    return " ".join(line.strip() for line in deparse_formula(text.strip(), cutoff=10**9))


_CALL = re.compile(r"((?:[^\W\d_]|\.)[\w.]*)\s*\(")


def _close(text: str, open_at: int) -> int:
    depth = 0
    quote = ""
    for i in range(open_at, len(text)):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
            continue
        if ch in "\"'`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
    return len(text) - 1


def protect_calls(text: str) -> tuple[str, dict[str, str]]:
    """Replace each function call by a placeholder; return the text and the
    placeholder → deparsed call map. ``a %in% b`` becomes ``a:b`` (R's terms
    read it as the interaction)."""
    out: list[str] = []
    calls: dict[str, str] = {}
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "`":  # a backquoted name, kept whole (`0` is a column, not the number 0)
            end = text.find("`", i + 1)
            end = len(text) - 1 if end < 0 else end
            key = PLACEHOLDER.format(len(calls))
            calls[key] = text[i : end + 1]
            out.append(key)
            i = end + 1
            continue
        m = _CALL.match(text, i)
        if m is not None and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] in "._")):
            end = _close(text, m.end() - 1)
            key = PLACEHOLDER.format(len(calls))
            calls[key] = deparse_expr(text[i : end + 1])
            out.append(key)
            i = end + 1
            continue
        out.append(ch)
        i += 1
    protected = _expand_powers(_formula_constants("".join(out), text), text)
    return re.sub(r"%in%", ":", protected), calls


_POWER = re.compile(r"\^\s*(\d+)")
_VARIABLE = re.compile(r"(?:[^\W\d]|\.)[\w.]*")


def _expand_powers(text: str, original: str) -> str:
    """``X^p`` written as the product ``(X*X*...*X)``, R's meaning of a power in a
    formula (all interactions up to order p). The power is capped at the number
    of variables in ``X``, where the expansion stops growing (formulaic expands
    powers in time exponential in p)."""
    from ..errors import FormulaError

    if re.search(r"\^\s*(?!\d)", text) is not None:
        at = original.find("^")
        raise FormulaError(
            "invalid power in formula: '^' must be followed by a whole number, as in "
            "(a + b)^2",
            original,
            at if at >= 0 else None,
        )
    while (m := _POWER.search(text)) is not None:
        end = len(text[: m.start()].rstrip())
        if end and text[end - 1] == ")":
            depth, start = 0, end - 1
            for start in range(end - 1, -1, -1):
                depth += {")": 1, "(": -1}.get(text[start], 0)
                if depth == 0:
                    break
        else:
            start = end
            while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "._`"):
                start -= 1
        operand = text[start:end]
        power = min(int(m.group(1)), max(len(set(_VARIABLE.findall(operand))), 1))
        text = text[:start] + "(" + "*".join([operand] * power) + ")" + text[m.end() :]
    return text


_CONSTANT = re.compile(
    r"(?<![\w.])(0[xX][0-9a-fA-F]+L?|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?L?|TRUE|FALSE)(?![\w.])"
)


def _formula_constants(protected: str, original: str) -> str:
    """R's rule for constants among formula terms: ``1``/``TRUE`` (however
    written: ``1.0``, ``1e0``, ``0x1``, ``1L``) keeps the intercept, ``0``/``FALSE``
    drops it, a power after ``^`` is the expansion order, and any other number
    is R's "invalid model formula" (a :class:`FormulaError`)."""
    from ..errors import FormulaError

    def one(m: re.Match[str]) -> str:
        tok = m.group(1)
        before = protected[: m.start()].rstrip()
        if before.endswith("^"):
            value = 1.0 if tok == "TRUE" else 0.0 if tok == "FALSE" else r_number(tok)
            if not (math.isfinite(value) and value >= 1):
                at = re.search(rf"\^\s*{re.escape(tok)}", original)
                raise FormulaError(
                    f"invalid power in formula: '^{tok}' must be a whole number of at "
                    "least 1, as in (a + b)^2",
                    original,
                    at.start() if at else None,
                )
            return str(int(value))
        value = 1.0 if tok == "TRUE" else 0.0 if tok == "FALSE" else r_number(tok)
        if value in (0.0, 1.0):
            return str(int(value))
        at = re.search(rf"(?<![\w.]){re.escape(tok)}(?![\w.])", original)
        raise FormulaError(
            f"the number {tok} cannot be a term of a model formula (R: invalid model "
            "formula): only 1 (keep the intercept) and 0 or -1 (drop it) may stand "
            f"alone; for a constant column write I({tok}), to scale a term write "
            f"I({tok} * x)",
            original,
            at.start() if at else None,
        )

    return _CONSTANT.sub(one, protected)


# -- formulas as R deparses them ---------------------------------------------------
# An R expression is read into a small tree (R's operator precedence) and
# written back as R's ``deparse`` does: spaces around ``~ + - * | || & &&``,
# comparisons and ``%op%`` operators, none around ``: / ^ $ @ %% %/%``,
# ``f(a, b = 1)`` for calls, numbers with 15 significant digits, strings in
# double quotes; a line is broken after a spaced operator or a call's comma
# once it is longer than 60 characters, the rest indented by 4 spaces.

_BINARY = {
    "<-": (1, "right"), "~": (2, "left"), "||": (3, "left"), "|": (3, "left"),
    "&&": (4, "left"), "&": (4, "left"), "==": (6, "none"), "!=": (6, "none"),
    "<": (6, "none"), ">": (6, "none"), "<=": (6, "none"), ">=": (6, "none"),
    "+": (7, "left"), "-": (7, "left"), "*": (8, "left"), "/": (8, "left"),
    ":": (10, "left"), "^": (12, "right"), "$": (14, "left"), "@": (14, "left"),
}
_UNARY = {"-": 11, "+": 11, "!": 5, "~": 2}
_FORMULA_TIGHT = {":", "/", "^", "$", "@", "%%", "%/%"}
_RESERVED = {"if", "else", "repeat", "while", "function", "for", "next", "break", "TRUE",
             "FALSE", "NULL", "Inf", "NaN", "NA", "NA_integer_", "NA_real_",
             "NA_character_", "in"}

_R_CONSTANTS = {"TRUE", "FALSE", "NULL", "Inf", "NaN", "NA", "NA_integer_", "NA_real_",
                "NA_character_"}
Node = tuple[Any, ...]


class _Parser:
    """Recursive-descent (precedence-climbing) reader of one R expression."""

    def __init__(self, text: str):
        # R reads ** as ^
        self.toks = [(k, "^" if t == "**" else t) for k, t in r_tokens(text)]
        self.i = 0

    def peek(self) -> tuple[str, str]:
        return self.toks[self.i] if self.i < len(self.toks) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok[0] == "end":
            raise ValueError("it ends where more is expected" + (f" ('{value}')" if value else ""))
        if value is not None and tok[1] != value:
            raise ValueError(f"'{value}' expected where '{tok[1]}' is")
        self.i += 1
        return tok

    def parse(self) -> Node:
        node = self.expr(0)
        if self.peek()[0] != "end":
            raise ValueError(f"unexpected '{self.peek()[1]}'")
        return node

    def expr(self, rbp: int) -> Node:
        kind, val = self.take()
        if kind == "op" and val in _UNARY:
            left: Node = ("un", val, self.expr(_UNARY[val]))
        elif kind == "op" and val == "(":
            left = ("paren", self.expr(0))
            self.take(")")
        elif kind == "op":
            raise ValueError(f"unexpected '{val}'")
        else:
            left = (kind, val)
        while True:
            kind, val = self.peek()
            if kind != "op":
                return left
            if val == "(":
                self.take()
                left = ("call", left, self.args())
                continue
            lbp, assoc = _BINARY.get(val, (9, "left") if val.startswith("%") else (-1, ""))
            if lbp <= rbp:
                return left
            self.take()
            left = ("bin", val, left, self.expr(lbp - 1 if assoc == "right" else lbp))

    def args(self) -> list[tuple[str | None, Node]]:
        out: list[tuple[str | None, Node]] = []
        if self.peek()[1] == ")":
            self.take()
            return out
        while True:
            name = None
            if self.peek()[0] in ("name", "bq", "str") and self.i + 1 < len(self.toks) \
                    and self.toks[self.i + 1][1] == "=":
                name = self.take()[1].strip("`\"'")
                self.take("=")
            out.append((name, self.expr(0)))
            if self.take()[1] == ")":
                return out


def parse_r(text: str) -> Node:
    """R's parse tree of one expression: ``("num", "1e5")``, ``("str", '"a"')``,
    ``("name", "x")``, ``("bq", "`my var`")``, ``("paren", e)``, ``("un", op, e)``,
    ``("bin", op, left, right)``, ``("call", function, [(arg name or None, e), ...])``.

    Raises ``ValueError`` saying what is wrong when ``text`` is not one R expression.
    """
    try:
        return _Parser(text).parse()
    except RecursionError:
        raise ValueError("it is nested too deeply") from None


def _name_text(name: str) -> str:
    syntactic = re.fullmatch(r"(?:[^\W\d_]|\.(?![0-9]))[\w.]*|\.", name)
    if name in _R_CONSTANTS:
        return name
    return name if syntactic and name not in _RESERVED else f"`{name}`"


class _Deparser:
    """R's ``deparse`` buffer: lines, indentation and the line-break rule."""

    def __init__(self, cutoff: int = 60):
        self.cutoff = cutoff
        self.lines: list[str] = []
        self.buf = ""
        self.indent = 0
        self.start = True

    def put(self, s: str) -> None:
        if self.start:
            self.start = False
            self.buf += "".join("    " if k < 4 else "  " for k in range(self.indent))
        self.buf += s

    def linebreak(self, state: list[bool]) -> None:
        if len(self.buf) > self.cutoff:
            if not state[0]:
                state[0] = True
                self.indent += 1
            self.lines.append(self.buf)
            self.buf, self.start = "", True

    def write(self, node: Node) -> None:
        kind = node[0]
        if kind == "num":
            text = node[1]
            self.put(_number(text))
        elif kind == "str":
            body = re.sub(r"\\(.)", r"\1", node[1][1:-1])
            self.put('"' + body.replace("\\", "\\\\").replace('"', '\\"') + '"')
        elif kind in ("name", "bq"):
            self.put(_name_text(node[1].strip("`")))
        elif kind == "paren":
            self.put("(")
            self.write(node[1])
            self.put(")")
        elif kind == "un":
            self.put(node[1])
            self.write(node[2])
        elif kind == "call":
            self.write(node[1])
            self.put("(")
            state = [False]
            for k, (name, arg) in enumerate(node[2]):
                if name is not None:
                    self.put(_name_text(name) + " = ")
                self.write(arg)
                if k < len(node[2]) - 1:
                    self.put(", ")
                    self.linebreak(state)
            if state[0]:
                self.indent -= 1
            self.put(")")
        else:
            op, left, right = node[1], node[2], node[3]
            self.write(left)
            if op in _FORMULA_TIGHT:
                self.put(op)
                self.write(right)
                return
            self.put(f" {op} ")
            state = [False]
            if op != "<-":
                self.linebreak(state)
            self.write(right)
            if state[0]:
                self.indent -= 1


def _bar_terms(node: Node) -> tuple[list[Node], bool]:
    """R's ``terms()`` of a one-sided formula: term nodes (by order) and the intercept."""
    keys: list[str] = []
    var_nodes: list[Node] = []

    def var(n: Node) -> frozenset[int]:
        d = _Deparser(10**9)
        d.write(n)
        if d.buf not in keys:
            keys.append(d.buf)
            var_nodes.append(n)
        return frozenset([keys.index(d.buf)])

    def union(a: list[frozenset[int]], b: list[frozenset[int]]) -> list[frozenset[int]]:
        return a + [t for t in b if t not in a]

    def walk(n: Node) -> tuple[list[frozenset[int]], bool | None]:
        if n[0] == "paren":
            return walk(n[1])
        if n[0] == "num" and r_number(n[1]) in (0.0, 1.0):
            return [], r_number(n[1]) == 1.0
        if n[0] == "name" and n[1] in ("TRUE", "FALSE"):  # R's terms: TRUE is 1
            return [], n[1] == "TRUE"
        if n[0] == "un" and n[1] in "+-":
            terms, icpt = walk(n[2])
            return ([], None if icpt is None else not icpt) if n[1] == "-" else (terms, icpt)
        if n[0] != "bin" or n[1] not in ("+", "-", "*", ":", "/", "^", "%in%"):
            return [var(n)], None
        op = n[1]
        a, ia = walk(n[2])
        if op == "^":
            out = a
            power = r_number(n[3][1]) if n[3][0] == "num" else 1.0
            # the expansion saturates once the power reaches the number of variables
            power = min(power, float(len(keys) + 1)) if power == power else 1.0
            for _ in range(max(int(power) - 1, 0)):
                out = union(out, [s | t for s in out for t in a])
            return out, ia
        b, ib = walk(n[3])
        if op == "+":
            return union(a, b), ib if ib is not None else ia
        if op == "-":
            return [t for t in a if t not in b], (not ib) if ib is not None else ia
        prods = [s | t for s in a for t in b]
        if op in (":", "%in%"):
            return list(dict.fromkeys(prods)), None
        if op == "*":
            return union(union(a, b), prods), None
        whole = frozenset().union(*a) if a else frozenset()
        return union(a, [whole | t for t in b]), None

    terms, icpt = walk(node)
    terms = sorted(terms, key=len)
    out = []
    for t in terms:
        parts = [var_nodes[i] for i in sorted(t)]
        term = parts[0]
        for p in parts[1:]:
            term = ("bin", ":", term, p)
        out.append(term)
    return out, icpt is not False


def _expand_double_verts(node: Node) -> Node:
    """lme4's ``expandDoubleVerts``: ``(x || g)`` becomes ``((1 | g) + (0 + x | g))``."""
    kind = node[0]
    if kind == "paren":
        return ("paren", _expand_double_verts(node[1]))
    if kind == "bin" and node[1] == "||":
        terms, icpt = _bar_terms(node[2])
        group = node[3]
        bars = [("paren", ("bin", "|", ("num", "1"), group))] if icpt else []
        bars += [("paren", ("bin", "|", ("bin", "+", ("num", "0"), t), group)) for t in terms]
        out = bars[0]
        for b in bars[1:]:
            out = ("bin", "+", out, b)
        return out
    if kind == "bin":
        return ("bin", node[1], _expand_double_verts(node[2]), _expand_double_verts(node[3]))
    if kind == "un":
        return ("un", node[1], _expand_double_verts(node[2]))
    if kind == "call":
        args = list(node[2])
        for k in range(min(len(args), 2 if len(args) == 2 else 1)):
            args[k] = (args[k][0], _expand_double_verts(args[k][1]))
        return ("call", node[1], args)
    return node


def deparse_formula(text: str, cutoff: int = 60) -> list[str]:
    """The lines of ``deparse(formula)`` for the formula lme4 keeps from ``text``.

    ``||`` terms are expanded as lme4's ``expandDoubleVerts``; spacing,
    numbers and strings are written as R's ``deparse`` writes them, with
    its line breaks (``cutoff`` 60). Text that is not an R expression is
    returned as it is.
    """
    try:
        node = _expand_double_verts(parse_r(text))
        d = _Deparser(cutoff)
        d.write(node)
    except (ValueError, IndexError, RecursionError):
        return [text]
    return d.lines + [d.buf]
