"""lme4's ``summary(lmerMod)`` and ``print(lmerMod)`` as text (and as numbers).

Layout of the summary (lme4's ``print.summary.merMod``): title; Formula,
Data, Weights and Offset lines; REML criterion (or the AIC/BIC/logLik/
deviance/df.resid table for ML fits); quantiles of the scaled residuals;
the random-effects table (Groups, Name, Variance, Std.Dev., Corr);
numbers of observations and groups; the fixed-effects table (R's
``printCoefmat``: Estimate, Std. Error, t value — with df and Pr(>|t|)
when a denominator-df method is chosen, as lmerTest); the correlation of
the fixed effects; the optimizer's messages.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from .._rformat import (
    abbreviate,
    cat_fill,
    format_num,
    print_coefmat,
    print_matrix,
    print_named,
    signif_stars,
    strwrap,
    zapsmall,
)

__all__ = ["LmerSummary", "abbreviate", "deparse_formula", "merMod_print_text", "signif_stars"]

LME4_OPTIMIZER = "nloptwrap"  # lme4's name for NLopt's BOBYQA, the optimizer used here
COR_MAX = 12  # getOption("lme4.summary.cor.max")


def method_title_lines(title: str, cls: str) -> list[str]:
    """lme4's ``.prt.methTit``: ``title ['cls']``, wrapped at 80 characters."""
    if len(title) + 5 + len(cls) > 80:
        return cat_fill(strwrap(title, width=78, exdent=2) + [" [", cls, "]"], sep="")
    return [f"{title} ['{cls}']"]


def call_lines(model: Any) -> list[str]:
    """lme4's ``.prt.call``: Formula, Data, Weights and Offset lines.

    The formula is deparsed as R does (``||`` expanded, R's spacing, lines
    broken past 60 characters); Data shows ``data_name``; Weights and
    Offset show the column names the model recorded (``weights_name``,
    ``offset_name``) when prior weights or an offset argument were given.
    """
    lines = cat_fill(["Formula:"] + deparse_formula(model.design.formula.text))
    if getattr(model, "data_name", None):
        lines += cat_fill(["   Data:", str(model.data_name)])
    if model.design.has_weights:
        name = getattr(model, "weights_name", None) or "(prior weights)"
        lines += cat_fill(["Weights:", str(name)])
    offset_name = getattr(model, "offset_name", None)
    if offset_name:
        lines += cat_fill([" Offset:", str(offset_name)])
    return lines


def is_reml(model: Any) -> bool:
    """Whether lme4 reports the fit as REML: REML was asked and X has columns.

    With no fixed effects the REML and ML criteria coincide and lme4 labels
    the fit as maximum likelihood.
    """
    return bool(model.REML) and len(model.fixef) > 0


def aic_lines(model: Any, digits: int = 1) -> list[str]:
    """lme4's ``.prt.aictab``: the REML criterion, or AIC, BIC, logLik, deviance, df.resid.

    Values are rounded to ``digits`` decimals and printed as R's ``cat``
    and ``print`` would (7 significant digits, trailing zeros dropped).
    """
    if is_reml(model):
        value = format_num([round(float(model.reml_criterion), digits)])[0]
        return cat_fill(["REML criterion at convergence:", value])
    vals = [model.aic, model.bic, model.loglik, model.deviance]
    df_resid = float(model.nobs - model.df_model)
    strs = format_num([round(float(v), digits) for v in vals] + [df_resid])
    strs[-1] = format_num([df_resid])[0]
    return print_named(["AIC", "BIC", "logLik", "deviance", "df.resid"], strs)


def groups_line(model: Any) -> list[str]:
    """lme4's ``.prt.grps``: numbers of observations and of levels per grouping factor."""
    groups = "; ".join(f"{g}, {n}" for g, n in model.ngroups.items())
    return cat_fill([f"Number of obs: {model.nobs}, groups: ", groups])


def fit_message_lines(model: Any) -> list[str]:
    """lme4's ``fit warnings:`` block (columns dropped from a rank-deficient X)."""
    k = len(model.design.dropped_columns)
    if not k:
        return []
    s = "s" if k > 1 else ""
    return [
        "fit warnings:",
        f"fixed-effect model matrix is rank deficient so dropping {k} column{s} / coefficient{s}",
    ]


def _optimizer_state(
    model: Any, optimizer: str = LME4_OPTIMIZER
) -> tuple[str, list[str], list[str]] | None:
    """lme4's convergence line, its messages (singular fit) and the optimizer's warnings.

    ``None`` when the optimizer succeeded and there is nothing to report.
    """
    msgs = list(getattr(model, "optinfo", {}).get("warnings", []))
    singular = [s for s in msgs if s.startswith("boundary (singular) fit")]
    others = [s for s in msgs if s not in singular]
    opt = getattr(model, "opt", None)
    ok = True if opt is None else bool(opt.ok)
    code = 0 if ok else int(opt.code)
    if code == 0 and not msgs:
        return None
    how = "(OK)" if code == 0 else f"({opt.message})"
    return f"optimizer ({optimizer}) convergence code: {code} {how}", singular, others


class LmerSummary:
    """Summary of a linear mixed model; ``str()`` gives lme4's (or lmerTest's) layout.

    Parameters
    ----------
    model:
        A fitted :class:`~mixedmodels.lmm.LinearMixedModel`.
    ddf:
        ``"Satterthwaite"`` (default) or ``"Kenward-Roger"`` (lmerTest: adds df
        and Pr(>|t|)), or ``None`` / ``"lme4"`` (lme4: t values only).
    correlation:
        Print the correlation of the fixed effects (up to 12 of them, as lme4).
    """

    optimizer_name: str = LME4_OPTIMIZER  # the name lme4 reports for the optimizer

    def __init__(
        self, model: Any, ddf: str | None = "Satterthwaite", correlation: bool = True
    ):
        from ..inference.ddf import coef_table, normalize_ddf

        self.model = model
        self.correlation = correlation
        if ddf is not None and normalize_ddf(ddf) == "lme4":
            ddf = None
        self.ddf = None if ddf is None else normalize_ddf(ddf)
        if self.ddf is None or len(model.fixef) == 0:
            fe = model.fixef
            se = model.fixef_se
            self.coefficients = pd.DataFrame({"Estimate": fe, "Std. Error": se, "t value": fe / se})
        else:
            self.coefficients = coef_table(model, self.ddf)
        self.varcorr = model.varcorr
        self.scaled_residuals = model.resid("scaled")

    @property
    def residual_quantiles(self) -> pd.Series:
        """Quantiles of the scaled residuals as lme4 prints them (``zapsmall(q, 5)``)."""
        q = np.quantile(self.scaled_residuals, [0, 0.25, 0.5, 0.75, 1.0])
        return pd.Series(zapsmall(q, 5), index=["Min", "1Q", "Median", "3Q", "Max"])

    def _title(self) -> list[str]:
        """Title, call lines, a blank line and the fit criteria."""
        m = self.model
        title = "Linear mixed model fit by " + ("REML" if is_reml(m) else "maximum likelihood ")
        cls = "lmerMod"
        if self.ddf is not None:
            title += f". t-tests use {self.ddf}'s method"
            cls = "lmerModLmerTest"
        return method_title_lines(title, cls) + call_lines(m) + [""] + aic_lines(m)

    def __str__(self) -> str:
        m = self.model
        lines = self._title() + ["", "Scaled residuals: "]
        q = self.residual_quantiles
        lines += print_named(list(q.index), format_num(q.to_numpy(), 4))
        lines += ["", "Random effects:"]
        lines += self.varcorr.table_lines(("Variance", "Std.Dev."), digits=4)
        lines += groups_line(m)
        p = len(self.coefficients)
        if p:
            lines += ["", "Fixed effects:"]
            cf = self.coefficients
            lines += print_coefmat(
                [str(i) for i in cf.index], {c: cf[c].to_numpy(dtype=float) for c in cf.columns}
            )
            if self.correlation:
                lines += self._correlation_lines()
        lines += fit_message_lines(m)
        state = _optimizer_state(m, self.optimizer_name)
        if state is not None:
            conv, singular, others = state
            lines += [conv, *singular, *others, ""]
        return "\n".join(lines)

    def _correlation_lines(self) -> list[str]:
        """lme4's correlation block: 3 decimals, names abbreviated as R's ``abbreviate``."""
        names = [str(i) for i in self.coefficients.index]
        p = len(names)
        if p > COR_MAX:
            return [
                "",
                f"Correlation matrix not shown by default, as p = {p} > {COR_MAX}.",
                "Use print(x, correlation=TRUE)  or",
                "    vcov(x)        if you need it",
                "",
            ]
        if p < 2:
            return []
        v = self.model.vcov.to_numpy()
        sd = np.sqrt(np.diag(v))
        corr = v / np.outer(sd, sd)
        cells = format_num(np.round(corr, 3).ravel(), nsmall=3)
        rows = abbreviate(names, 11)[1:]
        cols = abbreviate(names, 6)[:-1]
        table = [[cells[i * p + j] if j < i else "" for j in range(p - 1)] for i in range(1, p)]
        return ["", "Correlation of Fixed Effects:"] + print_matrix(rows, cols, table, right=False)

    def __repr__(self) -> str:
        return str(self)

    def to_markdown(self) -> str:
        """The summary's tables in Markdown."""
        m = self.model
        out = [f"**{self._title()[0]}**", "", f"`{m.design.formula.text}`", ""]
        vc = self.varcorr.to_frame()
        out.append("| Group | Name | Variance | Std.Dev. |")
        out.append("|---|---|---:|---:|")
        for _, r in vc[vc["var2"].isna()].iterrows():
            out.append(f"| {r.grp} | {r.var1 or ''} | {r.vcov:.4g} | {r.sdcor:.4g} |")
        out.append("")
        cols = list(self.coefficients.columns)
        out.append("| | " + " | ".join(cols) + " |")
        out.append("|---|" + "---:|" * len(cols))
        for name, row in self.coefficients.iterrows():
            out.append(f"| {name} | " + " | ".join(f"{v:.4g}" for v in row) + " |")
        return "\n".join(out) + "\n"


def merMod_print_text(model: Any) -> str:
    """lme4's ``print(m)`` of an lmer fit (``print.merMod``), without the final newline.

    Title; Formula, Data, Weights and Offset lines; the REML criterion
    rounded to 4 decimals (or the AIC table for ML fits); the random
    effects' standard deviations and correlations (4 significant digits);
    numbers of observations and groups; the fixed effects as R prints a
    named vector formatted with 4 significant digits (two spaces between
    columns, 80 characters a line); the fit warnings and a one-line
    optimizer report when the fit has messages.
    """
    m = model
    title = "Linear mixed model fit by " + ("REML" if is_reml(m) else "maximum likelihood ")
    lines = method_title_lines(title, "lmerMod") + call_lines(m) + aic_lines(m, 4)
    lines += ["Random effects:"] + m.varcorr.table_lines(("Std.Dev.",), digits=4)
    lines += groups_line(m)
    fe = m.fixef
    if len(fe):
        lines.append("Fixed Effects:")
        lines += print_named([str(i) for i in fe.index], format_num(fe.to_numpy(), 4), gap=2)
    else:
        lines.append("No fixed effect coefficients")
    lines += fit_message_lines(m)
    state = _optimizer_state(m)
    if state is not None:
        conv, singular, others = state
        lines.append(
            f"{conv} ; {len(others)} optimizer warnings; {len(singular)} lme4 warnings "
        )
    return "\n".join(lines)


# -- formulas as R deparses them ---------------------------------------------------
# An R expression is read into a small tree (R's operator precedence) and
# written back as R's ``deparse`` does: spaces around ``~ + - * | || & &&``,
# comparisons and ``%op%`` operators, none around ``: / ^ $ @ %% %/%``,
# ``f(a, b = 1)`` for calls, numbers with 15 significant digits, strings in
# double quotes; a line is broken after a spaced operator or a call's comma
# once it is longer than 60 characters, the rest indented by 4 spaces.

_TOKEN = re.compile(
    r"(?P<ws>\s+)|(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?L?)"
    r"|(?P<str>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')|(?P<bq>`[^`]+`)"
    r"|(?P<name>[A-Za-z.][A-Za-z0-9._]*)"
    r"|(?P<op>%[^%]*%|\|\||&&|==|!=|<=|>=|<-|[-+*/^:~|&<>!()=,$@])"
)
_BINARY = {
    "<-": (1, "right"), "~": (2, "left"), "||": (3, "left"), "|": (3, "left"),
    "&&": (4, "left"), "&": (4, "left"), "==": (6, "none"), "!=": (6, "none"),
    "<": (6, "none"), ">": (6, "none"), "<=": (6, "none"), ">=": (6, "none"),
    "+": (7, "left"), "-": (7, "left"), "*": (8, "left"), "/": (8, "left"),
    ":": (10, "left"), "^": (12, "right"), "$": (14, "left"), "@": (14, "left"),
}
_UNARY = {"-": 11, "+": 11, "!": 5, "~": 2}
_TIGHT = {":", "/", "^", "$", "@", "%%", "%/%"}
_RESERVED = {"if", "else", "repeat", "while", "function", "for", "next", "break", "TRUE",
             "FALSE", "NULL", "Inf", "NaN", "NA", "NA_integer_", "NA_real_",
             "NA_character_", "in"}

Node = tuple[Any, ...]


class _Parser:
    """Recursive-descent (precedence-climbing) reader of one R expression."""

    def __init__(self, text: str):
        self.toks: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:
                raise ValueError(f"cannot read {text[pos:]!r}")
            if m.lastgroup != "ws":
                self.toks.append((str(m.lastgroup), m.group()))
            pos = m.end()
        self.i = 0

    def peek(self) -> tuple[str, str]:
        return self.toks[self.i] if self.i < len(self.toks) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok[0] == "end" or (value is not None and tok[1] != value):
            raise ValueError(f"expected {value!r}, found {tok[1]!r}")
        self.i += 1
        return tok

    def parse(self) -> Node:
        node = self.expr(0)
        if self.peek()[0] != "end":
            raise ValueError(f"unexpected {self.peek()[1]!r}")
        return node

    def expr(self, rbp: int) -> Node:
        kind, val = self.take()
        if kind == "op" and val in _UNARY:
            left: Node = ("un", val, self.expr(_UNARY[val]))
        elif kind == "op" and val == "(":
            left = ("paren", self.expr(0))
            self.take(")")
        elif kind == "op":
            raise ValueError(f"unexpected {val!r}")
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


def _name_text(name: str) -> str:
    syntactic = re.fullmatch(r"(?:[A-Za-z]|\.(?![0-9]))[A-Za-z0-9._]*|\.", name)
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
            self.put(f"{int(float(text[:-1]))}L" if text.endswith("L")
                     else format_num([float(text)], 15)[0])
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
            if op in _TIGHT:
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
        if n[0] == "num" and float(n[1].rstrip("L")) in (0.0, 1.0):
            return [], float(n[1].rstrip("L")) == 1.0
        if n[0] == "un" and n[1] in "+-":
            terms, icpt = walk(n[2])
            return ([], None if icpt is None else not icpt) if n[1] == "-" else (terms, icpt)
        if n[0] != "bin" or n[1] not in ("+", "-", "*", ":", "/", "^", "%in%"):
            return [var(n)], None
        op = n[1]
        a, ia = walk(n[2])
        if op == "^":
            out = a
            for _ in range(int(float(n[3][1])) - 1 if n[3][0] == "num" else 0):
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
        node = _expand_double_verts(_Parser(text).parse())
    except (ValueError, IndexError):
        return [text]
    d = _Deparser(cutoff)
    d.write(node)
    return d.lines + [d.buf]
