"""R's text of formula expressions: ``deparse`` spacing, and calls kept whole.

R names a model-matrix column after the deparsed expression (``I((x + 1)^2)``,
``log(z, base = 2)``, ``exp(x/3)``): spaces around ``+ - * == < & |`` and
``%in%``-style operators, none around ``/ ^ : %% %/%``, ``, `` between
arguments, ``" = "`` for named arguments, numbers as R prints them and
strings in double quotes. :func:`deparse_expr` reproduces that.

The term structure of a formula is read by formulaic, which re-prints the
code inside function calls in Python's grammar (``I((x+1)^2)`` would become
``I(x + 1 ^ 2)``). :func:`protect_calls` therefore replaces every call by a
placeholder name before formulaic sees the text and returns the deparsed
originals to put back.
"""

from __future__ import annotations

import re
from decimal import Decimal

__all__ = ["deparse_expr", "protect_calls", "PLACEHOLDER"]

PLACEHOLDER = "mmcall{}_"

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?L?)
  | (?P<name>[A-Za-z.][A-Za-z0-9._]*|`[^`]*`)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op>%[^%]*%|==|!=|<=|>=|&&|\|\||<-|\*\*|[-+*/^:<>&|!~=,()\[\]$@?])
    )""",
    re.VERBOSE,
)
_SPACED = {"+", "-", "*", "==", "!=", "<", ">", "<=", ">=", "&", "&&", "|", "||", "~", "<-", "="}
_TIGHT = {"/", "^", ":", "$", "@", "%%", "%/%"}
_UNARY_BEFORE = {None, "(", "[", ",", "=", "!"} | _SPACED | _TIGHT | {"**"}


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"cannot read {text[pos:]!r}")
        kind = m.lastgroup or "op"
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _number(tok: str) -> str:
    """A numeric literal as R deparses it: the shorter of fixed and scientific
    notation (fixed on a tie), e.g. ``1e3`` → ``1000``, ``1e5`` → ``1e+05``."""
    if tok.endswith("L"):
        return tok
    if re.fullmatch(r"\d+", tok) and len(tok.lstrip("0")) <= 15:
        tok = str(float(int(tok)))
    value = float(tok)
    fixed = format(Decimal(repr(value)), "f")
    if "." in fixed:
        fixed = fixed.rstrip("0").rstrip(".")
    mant, exp = f"{value:.14e}".split("e")
    mant = mant.rstrip("0").rstrip(".")
    sci = f"{mant}e{exp[0]}{int(exp[1:]):02d}"
    return fixed if len(fixed) <= len(sci) else sci


def deparse_expr(text: str) -> str:
    """``text`` with R's deparse spacing (see the module docstring)."""
    try:
        toks = _tokens(text)
    except ValueError:
        return text.strip()
    out: list[str] = []
    prev: str | None = None
    for kind, tok in toks:
        if kind == "num":
            piece = _number(tok)
        elif kind == "str":
            piece = '"' + tok[1:-1].replace('"', '\\"') + '"' if tok[0] == "'" else tok
        elif kind == "name":
            piece = tok
        elif tok == "**":
            piece = "^"
        elif tok in ("-", "+", "!") and prev in _UNARY_BEFORE:
            piece = tok  # unary: no space after it
            out.append(piece)
            prev = "!"  # the operand follows directly
            continue
        elif tok == ",":
            piece = ", "
        elif tok.startswith("%") and tok not in _TIGHT or tok in _SPACED:
            piece = f" {tok} "
        else:
            piece = tok
        out.append(piece)
        prev = tok if kind == "op" else kind
    return "".join(out).strip()


_CALL = re.compile(r"([A-Za-z.][A-Za-z0-9._]*)\s*\(")


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
        if ch == "`":
            end = text.find("`", i + 1)
            end = len(text) - 1 if end < 0 else end
            out.append(text[i : end + 1])
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
    return re.sub(r"%in%", ":", "".join(out)), calls
