"""Parse lme4 model formulas into a fixed part and random-effect bars.

The grammar is lme4's::

    response ~ fixed_terms + (expr | group) + (expr || group) + ...

* ``(expr | g)``: one random-effect term with a full (correlated) covariance
  for the columns of ``expr``'s model matrix (intercept included unless
  ``0 +`` or ``- 1``).
* ``(expr || g)``: one term per formula term of ``expr``, uncorrelated
  (lme4's ``expandDoubleVerts``): ``(x || g)`` = ``(1 | g) + (0 + x | g)``.
* ``g`` may be ``a``, ``a:b`` (interaction factor) or ``a/b`` (nesting,
  ``= a + b:a`` as lme4 expands it).

The fixed part is returned as text for :mod:`formulaic` to parse; the
random parts as :class:`RandomBar` objects with their positions in the
original text so that errors can point at them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from ..errors import FormulaError
from .deparse import protect_calls

__all__ = ["RandomBar", "ParsedFormula", "parse_formula", "split_top_level"]


@dataclass(frozen=True)
class RandomBar:
    """One random-effect term ``(expr | group)`` after ``||`` and ``/`` expansion.

    Attributes
    ----------
    expr:
        Right-hand side of the bar, a formula for the raw model matrix of
        the term (``"1 + Days"``, ``"0 + Machine"``...).
    group:
        The grouping factor as lme4 names it (``"Subject"``, ``"cask:batch"``).
    group_vars:
        The variables whose interaction forms the grouping factor,
        slowest-varying first (``("cask", "batch")`` for ``cask:batch``).
    text:
        The bar as written (for messages).
    position:
        Offset of the bar in the formula text.
    """

    expr: str
    group: str
    group_vars: tuple[str, ...]
    text: str
    position: int


@dataclass(frozen=True)
class ParsedFormula:
    """A parsed lme4 formula."""

    text: str
    response: str
    fixed: str
    bars: tuple[RandomBar, ...] = field(default_factory=tuple)

    @property
    def has_random(self) -> bool:
        return len(self.bars) > 0


_NAME = re.compile(r"^(?:[^\W\d]|\.)[\w.]*$|^`[^`]+`$")  # R allows the locale's letters


_QUOTED = re.compile(r"`[^`]*`|\"[^\"]*\"|'[^']*'")
_CALL_BEFORE = re.compile(r"((?:[^\W\d]|\.)[\w.]*|`[^`]*`)\s*$")


def _matching_paren(text: str, start: int, formula: str, offset: int) -> int:
    """Index of the ``)`` matching ``text[start] == '('``."""
    depth = 0
    for i in range(start, len(text)):
        ch = text[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
    raise FormulaError("unbalanced '(': no matching ')'", formula, offset + start)


def split_top_level(text: str, sep: str) -> list[tuple[str, int]]:
    """Split ``text`` at ``sep`` characters outside parentheses, brackets and quotes
    (``'…'``, ``"…"``, backticks).

    Returns the pieces with their start offsets.
    """
    pieces: list[tuple[str, int]] = []
    depth = 0
    start = 0
    quote = ""
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"`":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == sep and depth == 0:
            pieces.append((text[start:i], start))
            start = i + 1
    pieces.append((text[start:], start))
    return pieces


def _check_parens(text: str) -> None:
    depth = 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise FormulaError("unexpected ')' without a matching '('", text, i)
    if depth > 0:
        pos = text.rfind("(")
        raise FormulaError("unbalanced '(': no matching ')'", text, pos)


_DANGLING = re.compile(r"([-+*/:^~])\s*(\)|\||$)")
_ADJACENT = re.compile(r"([A-Za-z0-9_.]+|`[^`]*`|\))[ \t]+([A-Za-z_.][A-Za-z0-9_.]*|`[^`]*`|\d)")


def _check_operators(text: str) -> None:
    """R's syntax errors a formula can hit: an operator with nothing after it
    ('y ~ x +'), and two names with no operator between them ('(x g)')."""
    shown = text
    text = re.sub(r"`[^`]*`|\"[^\"]*\"|'[^']*'", lambda q: "q" * len(q.group(0)), text)
    m = _DANGLING.search(text)
    if m is not None:
        what = "the formula ends" if not m.group(2) else f"'{m.group(2)}' follows"
        raise FormulaError(
            f"'{m.group(1)}' has nothing after it ({what}): a term is missing", shown, m.start(1)
        )
    for m in _ADJACENT.finditer(text):
        left, right = m.group(1), m.group(2)
        if "in" in (left.lower(), right.lower()):
            continue
        # inside parentheses that hold no '|': probably a bar term without its bar
        opened = text.rfind("(", 0, m.start()) > text.rfind(")", 0, m.start())
        close = text.find(")", m.end())
        inside = text[m.start() : close if close >= 0 else len(text)]
        bar_missing = opened and "|" not in inside
        hint = f"; for a random effect write ({left} | {right})" if bar_missing else ""
        raise FormulaError(
            f"'{right}' follows '{left}' with no operator between them{hint}", shown, m.start(2)
        )


def _find_bar(inner: str) -> tuple[int, int] | None:
    """Position and width (1 or 2) of the top-level ``|`` / ``||`` in ``inner``."""
    depth = 0
    i = 0
    while i < len(inner):
        ch = inner[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            if i + 1 < len(inner) and inner[i + 1] == "|":
                return i, 2
            return i, 1
        i += 1
    return None


_AS_FACTOR = re.compile(r"^(?:as\.)?factor\(\s*(.+?)\s*\)$")


def _outer_parens_off(text: str) -> str:
    """``text`` without parentheses that enclose all of it (``((a))`` -> ``a``)."""
    text = text.strip()
    while text.startswith("(") and text.endswith(")") and _closes_at_end(text):
        text = text[1:-1].strip()
    return text


def _closes_at_end(text: str) -> bool:
    depth = 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            return i == len(text) - 1
    return False


def grouping_column(written: str, formula: str, pos: int = 0) -> str:
    """The data column behind one grouping variable: ``Subject`` or
    ``factor(Subject)`` / ``as.factor(Subject)`` (a grouping factor is a factor
    anyway, so the call changes only the name lme4 prints)."""
    m = _AS_FACTOR.match(written)
    column = m.group(1) if m else written
    if not _NAME.match(column):
        raise FormulaError(
            f"grouping factor '{written}' must be a column name, factor(column) or names joined "
            "by ':' or '/'; for a computed grouping factor add it to the data as a column",
            formula,
            pos,
        )
    return column.strip("`")


def _group_parts(group: str, formula: str, pos: int) -> list[tuple[str, tuple[str, ...]]]:
    """Expand a grouping expression into (lme4 name, interaction variables).

    ``a`` -> [("a", (a,))]; ``a:b`` -> [("a:b", (a, b))]; ``a/b`` ->
    [("a", (a,)), ("b:a", (b, a))]; ``a/b/c`` adds ``("c:(b:a)", (c, b, a))``,
    the names lme4 gives nested factors.
    """
    nest = [p.strip() for p in group.split("/")]
    out: list[tuple[str, tuple[str, ...]]] = []
    prefix: tuple[str, ...] = ()
    prev_name = ""
    for part in nest:
        if not part:
            raise FormulaError("empty grouping factor in random-effect term", formula, pos)
        written = tuple(n.strip() for n in _outer_parens_off(part).split(":"))
        names = tuple(grouping_column(n, formula, pos + max(group.find(n), 0)) for n in written)
        part_name = ":".join(n.strip("`") if _NAME.match(n) else n for n in written)
        if not prev_name:
            name = part_name
        elif ":" in prev_name:
            name = f"{part_name}:({prev_name})"
        else:
            name = f"{part_name}:{prev_name}"
        prefix = names + prefix
        out.append((name, prefix))
        prev_name = name
    return out


def _expand_double_bar(expr: str, formula: str, pos: int) -> list[str]:
    """lme4's ``expandDoubleVerts``: one ``0 + term`` per term of ``expr``."""
    from formulaic import Formula

    protected, calls = protect_calls(expr)
    try:
        parsed = Formula(protected)
    except Exception as exc:  # formulaic raises many types
        raise FormulaError(f"cannot parse '{expr}' inside '||': {exc}", formula, pos) from exc
    exprs: list[str] = []
    for term in parsed:
        name = ":".join(calls.get(str(f.expr), str(f.expr)) for f in term.factors)
        if name == "1":
            exprs.append("1")
        else:
            exprs.append("0 + " + name)
    if not exprs:
        raise FormulaError(
            f"the random-effect term ({expr} || ...) has no terms and no intercept: "
            "write (1 | g) for a random intercept",
            formula,
            pos,
        )
    return exprs


def _parse_bar(inner: str, formula: str, offset: int) -> list[RandomBar]:
    found = _find_bar(inner)
    assert found is not None
    at, width = found
    expr = inner[:at].strip()
    group = inner[at + width :].strip()
    text = "(" + inner + ")"
    if not expr:
        raise FormulaError(
            "random-effect term has nothing left of '|'; write (1 | g) for a random intercept",
            formula,
            offset + at,
        )
    if not group:
        raise FormulaError(
            "random-effect term has no grouping factor right of '|'", formula, offset + len(inner)
        )
    if _find_bar(group) is not None:
        raise FormulaError("more than one '|' in a random-effect term", formula, offset + at + 1)
    groups = _group_parts(group, formula, offset + at + width + 1)
    exprs = _expand_double_bar(expr, formula, offset) if width == 2 else [expr]
    bars = []
    for gname, gvars in groups:
        for e in exprs:
            bars.append(RandomBar(e, gname, gvars, text, offset - 1))
    return bars


@lru_cache(maxsize=256)
def parse_formula(text: str) -> ParsedFormula:
    """Split an lme4 formula into response, fixed part and random bars.

    Raises :class:`FormulaError` pointing at the offending text.
    """
    if not isinstance(text, str):
        raise FormulaError(f"formula must be a string like 'y ~ x + (1 | g)', got {text!r}")
    _check_parens(text)
    tilde = [p for p, _ in split_top_level(text, "~")]
    if len(tilde) != 2:
        if len(tilde) == 1:
            raise FormulaError(
                "formula needs a response and a '~', as in 'y ~ x + (1 | g)'", text, 0
            )
        second = text.find("~", text.find("~") + 1)
        raise FormulaError("formula has more than one '~'", text, second)
    _check_operators(text)
    lhs, rhs = tilde
    rhs_off = len(lhs) + 1
    response = lhs.strip()
    if not response:
        raise FormulaError("formula has no response left of '~'", text, 0)

    fixed_parts: list[str] = []
    bars: list[RandomBar] = []
    # Walk the right-hand side, lifting out top-level parenthesised bar terms.
    i = 0
    buf_start = 0
    pieces: list[tuple[str, int]] = []
    while i < len(rhs):
        ch = rhs[i]
        if ch == "(":
            close = _matching_paren(rhs, i, text, rhs_off)
            inner = rhs[i + 1 : close]
            bar_inside = "|" in _QUOTED.sub(lambda q: "q" * len(q.group()), inner)
            call = _CALL_BEFORE.search(rhs[:i])
            if call is not None and bar_inside:
                fname = call.group(1)
                raise FormulaError(
                    f"'|' inside the call {fname}(...): lme4 reads 'a | b' inside a function "
                    "call as a random-effect term and cannot use it there; write each "
                    "random-effect term on its own, as '+ (a | b)' (R's logical OR cannot "
                    "be used inside an lme4 formula)",
                    text,
                    rhs_off + i + 1 + inner.index("|"),
                )
            if call is None and bar_inside and _find_bar(inner) is None:
                # parentheses around terms that hold a bar: lme4's findbars looks
                # inside them, so '(x + (1 | g))' is 'x + (1 | g)'
                rhs = rhs[:i] + " " + inner + " " + rhs[close + 1 :]
                continue
            if _find_bar(inner) is not None:
                # a bar term: it must be a top-level summand
                before = rhs[buf_start:i].rstrip()
                if before and not before.endswith("+"):
                    op = before[-1]
                    raise FormulaError(
                        f"random-effect term must be added with '+', found '{op}' before it",
                        text,
                        rhs_off + i,
                    )
                pieces.append((rhs[buf_start:i], buf_start))
                bars.extend(_parse_bar(inner, text, rhs_off + i + 1))
                buf_start = close + 1
                after = rhs[buf_start:].lstrip()
                if after and not after.startswith(("+", "-")):
                    raise FormulaError(
                        f"random-effect term must be followed by '+', found '{after[0]}'",
                        text,
                        rhs_off + close + 1,
                    )
                i = close + 1
                continue
            i = close + 1
            continue
        if ch == "|":
            raise FormulaError(
                "'|' outside parentheses: random-effect terms are written (expr | group)",
                text,
                rhs_off + i,
            )
        i += 1
    pieces.append((rhs[buf_start:], buf_start))
    for piece, _ in pieces:
        p = piece.strip()
        # remove dangling '+' left where bars were lifted out
        p = re.sub(r"^\+|\+$", "", p.strip()).strip()
        p = re.sub(r"^\+|\+$", "", p).strip()
        if p:
            fixed_parts.append(p)
    fixed = " ".join(
        p if i == 0 or p.startswith("-") else f"+ {p}" for i, p in enumerate(fixed_parts)
    )
    # normalise dangling operators such as "x +  + z"
    fixed = re.sub(r"\+\s*\+", "+", fixed).strip()
    if fixed == "" or re.fullmatch(r"[+\s]*", fixed):
        fixed = "1"
    return ParsedFormula(text=text, response=response, fixed=fixed, bars=tuple(bars))
