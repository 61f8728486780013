"""Rich display of results in notebooks: HTML and Markdown in lme4's layout.

Every result is first laid out as a list of parts — a title, lines of
text, tables whose cells are already formatted as R prints them (by
:mod:`mixedmodels._rformat`, :mod:`.summary` and :mod:`.varcorr`) — and
the parts are then rendered as HTML or Markdown. The HTML carries its
styles inline (no classes, no ``<style>`` sheet, no scripts), so it reads
the same in JupyterLab, VS Code, exported pages and dark themes (colours
are inherited; rules and stripes are translucent grey).

:class:`RichRepr` is the mixin that gives a class ``_repr_html_``,
``_repr_markdown_`` and IPython's ``_repr_pretty_`` (the plain-text
display, ``str(obj)``: R's printout).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._rformat import SIGNIF_LEGEND, format_coefmat, format_num

__all__ = ["Lines", "RichRepr", "Table", "Title", "render_html", "render_markdown", "parts_of"]

#: rows of a long table shown before and after the "…" row
HEAD_ROWS, TAIL_ROWS = 20, 5


# -- parts --------------------------------------------------------------------------
@dataclass
class Title:
    """The result's title, with R's class name as a tag (``lmerMod``)."""

    text: str
    tag: str = ""


@dataclass
class Heading:
    """The heading of a block (``Random effects:``)."""

    text: str


@dataclass
class Lines:
    """Lines of text; ``mono`` for code-like lines (formulas, R's printout)."""

    lines: list[str]
    mono: bool = True
    note: bool = False


@dataclass
class Table:
    """Cells formatted as R prints them; ``align`` per column ``"l"`` or ``"r"``."""

    colnames: list[str]
    cells: list[list[str]]
    rownames: list[str] | None = None
    align: list[str] | None = None
    total_rows: int | None = None  # rows before truncation (``…`` row shown when larger)


@dataclass
class Details:
    """A collapsed block (``<details>``), e.g. the correlation of the fixed effects."""

    summary: str
    parts: list[Any] = field(default_factory=list)


def truncated(
    cells: list[list[str]], rownames: list[str] | None, head: int = HEAD_ROWS, tail: int = TAIL_ROWS
) -> tuple[list[list[str]], list[str] | None, int]:
    """The first ``head`` and last ``tail`` rows of a long table, and its row count."""
    n = len(cells)
    if n <= head + tail + 1:
        return cells, rownames, n
    keep = list(range(head)) + list(range(n - tail, n))
    return [cells[i] for i in keep], None if rownames is None else [rownames[i] for i in keep], n


# -- HTML ---------------------------------------------------------------------------
_MONO = "font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,'Liberation Mono',monospace;"
_WRAP = (
    "font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Helvetica,Arial,sans-serif;"
    "font-size:13px;line-height:1.45;max-width:100%;overflow-x:auto;"
)
_TITLE = "font-weight:600;font-size:14px;margin:0 0 4px 0;"
_TAG = "font-weight:400;opacity:0.6;margin-left:8px;" + _MONO + "font-size:12px;"
_HEAD = "font-weight:600;margin:10px 0 2px 0;"
_LINE = "margin:0;white-space:pre-wrap;"
_NOTE = "margin:2px 0;opacity:0.75;font-size:12px;"
_TABLE = "border-collapse:collapse;margin:2px 0 6px 0;font-size:12px;border:none;" + _MONO
_TH = (
    "padding:2px 10px;border:none;border-bottom:1px solid rgba(127,127,127,0.6);"
    "font-weight:600;white-space:pre;background:transparent;"
)
_TD = "padding:1px 10px;border:none;white-space:pre;background:transparent;"
_STRIPE = "background:rgba(127,127,127,0.09);"


def _esc(s: str) -> str:
    return html.escape(str(s), quote=True)


def _align(t: Table, j: int) -> str:
    a = t.align[j] if t.align is not None and j < len(t.align) else "r"
    return "left" if a == "l" else "right"


def _table_html(t: Table) -> str:
    out = [f'<table style="{_TABLE}"><thead><tr>']
    if t.rownames is not None:
        out.append(f'<th style="{_TH}"></th>')
    for j, c in enumerate(t.colnames):
        out.append(f'<th style="{_TH}text-align:{_align(t, j)};">{_esc(c.strip())}</th>')
    out.append("</tr></thead><tbody>")
    n_shown = len(t.cells)
    total = t.total_rows if t.total_rows is not None else n_shown
    head = n_shown - TAIL_ROWS if total > n_shown else n_shown
    for i, row in enumerate(t.cells):
        if i == head:
            span = len(t.colnames) + (t.rownames is not None)
            out.append(
                f'<tr><td colspan="{span}" style="{_TD}text-align:center;opacity:0.6;">'
                f"… {total - n_shown} more rows …</td></tr>"
            )
        stripe = _STRIPE if i % 2 else ""
        out.append(f'<tr style="{stripe}">')
        if t.rownames is not None:
            out.append(
                f'<th style="{_TD}text-align:left;font-weight:600;">{_esc(t.rownames[i])}</th>'
            )
        for j, c in enumerate(row):
            out.append(f'<td style="{_TD}text-align:{_align(t, j)};">{_esc(c.strip())}</td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _part_html(p: Any) -> str:
    if isinstance(p, Title):
        tag = f'<span style="{_TAG}">[{_esc(p.tag)}]</span>' if p.tag else ""
        return f'<div style="{_TITLE}">{_esc(p.text)}{tag}</div>'
    if isinstance(p, Heading):
        return f'<div style="{_HEAD}">{_esc(p.text)}</div>'
    if isinstance(p, Lines):
        style = (_NOTE if p.note else _LINE) + (_MONO if p.mono else "")
        return "".join(f'<div style="{style}">{_esc(ln)}</div>' for ln in p.lines)
    if isinstance(p, Table):
        return _table_html(p)
    if isinstance(p, Details):
        inner = "".join(_part_html(q) for q in p.parts)
        return (
            f'<details style="margin:6px 0;"><summary style="cursor:pointer;{_HEAD}">'
            f"{_esc(p.summary)}</summary>{inner}</details>"
        )
    raise TypeError(f"not a display part: {p!r}")


def render_html(parts: Sequence[Any]) -> str:
    """The parts as one ``<div>`` of HTML with inline styles."""
    return f'<div style="{_WRAP}">' + "".join(_part_html(p) for p in parts) + "</div>"


# -- Markdown -----------------------------------------------------------------------
def _md(s: str) -> str:
    """Text safe inside Markdown (table cells included)."""
    s = str(s).strip()
    for ch in "\\|*_<>`[]":
        s = s.replace(ch, "\\" + ch)
    return s


def _table_md(t: Table) -> list[str]:
    cols = ([""] if t.rownames is not None else []) + [_md(c) for c in t.colnames]
    aligns = (["---"] if t.rownames is not None else []) + [
        ":---" if _align(t, j) == "left" else "---:" for j in range(len(t.colnames))
    ]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(aligns) + "|"]
    total = t.total_rows if t.total_rows is not None else len(t.cells)
    head = len(t.cells) - TAIL_ROWS if total > len(t.cells) else len(t.cells)
    for i, row in enumerate(t.cells):
        if i == head:
            lines.append("| " + " | ".join(["…"] * len(cols)) + " |")
        cells = ([f"**{_md(t.rownames[i])}**"] if t.rownames is not None else [])
        lines.append("| " + " | ".join(cells + [_md(c) for c in row]) + " |")
    return lines + [""]


def _part_md(p: Any) -> list[str]:
    if isinstance(p, Title):
        return [f"**{_md(p.text)}**" + (f" `[{p.tag}]`" if p.tag else ""), ""]
    if isinstance(p, Heading):
        return [f"*{_md(p.text)}*", ""]
    if isinstance(p, Lines):
        if p.mono:
            return ["```", *p.lines, "```", ""]
        return [_md(ln) + "  " for ln in p.lines] + [""]
    if isinstance(p, Table):
        return _table_md(p)
    if isinstance(p, Details):
        return [f"*{_md(p.summary)}*", ""] + [ln for q in p.parts for ln in _part_md(q)]
    raise TypeError(f"not a display part: {p!r}")


def render_markdown(parts: Sequence[Any]) -> str:
    """The parts as Markdown (pipe tables, code spans for formulas)."""
    return "\n".join(ln for p in parts for ln in _part_md(p)).rstrip() + "\n"


# -- parts of each result ------------------------------------------------------------
def _named_table(lines: list[str]) -> Table:
    """A one-row table from R's printout of a named vector (pairs of name / value lines)."""
    names: list[str] = []
    values: list[str] = []
    for k in range(0, len(lines) - 1, 2):
        names += lines[k].split()
        values += lines[k + 1].split()
    return Table(names, [values])


def _criteria_parts(lines: list[str]) -> list[Any]:
    """The REML criterion line, or the AIC / BIC / logLik / deviance / df.resid table."""
    lines = [ln for ln in lines if ln.strip()]
    if len(lines) == 1 and ":" in lines[0]:
        return [Lines(lines, mono=False)]
    return [_named_table(lines)] if lines else []


def _split_header(lines: list[str]) -> tuple[str, list[str]]:
    """Title text (wrapped title lines joined) and the Family / Formula / Data lines."""
    k = next(
        (i for i, ln in enumerate(lines) if ln.lstrip().startswith(("Formula:", "Family:"))),
        len(lines),
    )
    return " ".join(ln.strip() for ln in lines[:k]), lines[k:]


def _title_part(text: str) -> Title:
    """``title ['cls']`` as a Title with the class as its tag."""
    m = re.fullmatch(r"(.*?)\s*\[\s*'?([^'\]]*?)'?\s*\]", text.strip())
    return Title(m.group(1), m.group(2)) if m else Title(text)


def _coef_table(rownames: list[str], columns: dict[str, Any], digits: int = 4) -> list[Any]:
    """R's ``printCoefmat`` as a table, the legend as a note when stars are shown."""
    colnames, cells, stars = format_coefmat(rownames, columns, digits)
    align = ["r"] * len(colnames)
    if stars:
        align[-1] = "l"
    parts: list[Any] = [Table(colnames, cells, rownames, align)]
    if stars:
        parts.append(Lines([SIGNIF_LEGEND], note=True))
    return parts


def _varcorr_table(vc: Any, comp: tuple[str, ...], digits: int) -> Table:
    colnames, cells = vc.table_cells(comp, digits)
    align = ["l", "l"] + ["r"] * (len(colnames) - 2)
    return Table(colnames, cells, None, align)


def _optimizer_notes(model: Any, optimizer: str) -> list[Any]:
    from .summary import _optimizer_state, fit_message_lines

    notes = fit_message_lines(model)
    state = _optimizer_state(model, optimizer)
    if state is not None:
        conv, singular, others = state
        notes += [conv, *singular, *others]
    return [Lines(notes, mono=False, note=True)] if notes else []


def _summary_parts(s: Any) -> list[Any]:
    """lme4's ``summary(m)`` (lmer, glmer and sufficient-statistics fits)."""
    from .summary import COR_MAX, groups_line

    m = s.model
    head = s._title()
    blank = head.index("") if "" in head else len(head)
    title, meta = _split_header(head[:blank])
    parts: list[Any] = [_title_part(title), Lines(meta)]
    parts += _criteria_parts(head[blank + 1 :])
    q = s.residual_quantiles
    parts += [Heading("Scaled residuals:"), Table(list(q.index), [format_num(q.to_numpy(), 4)])]
    parts += [Heading("Random effects:"), _varcorr_table(s.varcorr, ("Variance", "Std.Dev."), 4)]
    parts.append(Lines(groups_line(m), mono=False, note=True))
    cf = s.coefficients
    if len(cf):
        parts.append(Heading("Fixed effects:"))
        parts += _coef_table(
            [str(i) for i in cf.index], {c: cf[c].to_numpy(dtype=float) for c in cf.columns}
        )
        if s.correlation and len(cf) > COR_MAX:
            cor = [ln for ln in s._correlation_lines() if ln]
            parts.append(Lines(cor, mono=False, note=True))
        elif s.correlation and len(cf) >= 2:
            rows, cols, table = s.correlation_cells()
            parts.append(Details("Correlation of Fixed Effects", [Table(cols, table, rows)]))
    return parts + _optimizer_notes(m, s.optimizer_name)


def _model_parts(m: Any) -> list[Any]:
    """lme4's ``print(m)`` of an lmer or glmer fit."""
    from .summary import (
        LME4_OPTIMIZER,
        aic_lines,
        call_lines,
        groups_line,
        is_reml,
    )

    if hasattr(m, "nAGQ"):
        from .glmer_summary import (
            _criteria,
            _family_lines,
            glmer_method_title,
            glmer_optimizer_name,
        )

        title, tag = glmer_method_title(m), "glmerMod"
        meta = _family_lines(m) + call_lines(m)
        crit = aic_lines(_criteria(m), 4)
        optimizer = glmer_optimizer_name(m)
    else:
        how = "REML" if is_reml(m) else "maximum likelihood"
        title, tag = f"Linear mixed model fit by {how}", "lmerMod"
        meta, crit, optimizer = call_lines(m), aic_lines(m, 4), LME4_OPTIMIZER
    parts: list[Any] = [Title(title, tag), Lines(meta)] + _criteria_parts(crit)
    parts += [Heading("Random effects:"), _varcorr_table(m.varcorr, ("Std.Dev.",), 4)]
    parts.append(Lines(groups_line(m), mono=False, note=True))
    fe = m.fixef
    if len(fe):
        parts += [
            Heading("Fixed Effects:"),
            Table([str(i) for i in fe.index], [format_num(fe.to_numpy(), 4)]),
        ]
    return parts + _optimizer_notes(m, optimizer)


def _varcorr_parts(vc: Any) -> list[Any]:
    """lme4's ``print(VarCorr(m))``: standard deviations (5 digits) and correlations."""
    return [_varcorr_table(vc, ("Std.Dev.",), 5)]


def _frame_table(df: Any, digits: int = 7) -> Table:
    """A DataFrame as R prints a data frame: each numeric column formatted alone."""
    cols = []
    for c in df.columns:
        v = df[c].to_numpy()
        if np.issubdtype(v.dtype, np.number) and v.dtype != bool:
            cols.append(format_num(v.astype(float), digits))
        else:
            cols.append([str(x) for x in v])
    cells = [[col[i] for col in cols] for i in range(len(df))]
    cells, rownames, n = truncated(cells, [str(i) for i in df.index])
    return Table([str(c) for c in df.columns], cells, rownames, total_rows=n)


def _group_tables_parts(r: Any) -> list[Any]:
    """``ranef(m)`` / ``coef(m)``: one table per grouping factor (long ones truncated)."""
    parts: list[Any] = []
    for g, df in r.items():
        parts += [Heading(f"${g}"), _frame_table(df)]
    condsd = getattr(r, "condsd", None)
    if condsd:
        names = ", ".join(f'"{g}"' for g in r)
        parts.append(Lines([f"with conditional variances for {names}"], mono=False, note=True))
    return parts


def _anova_parts(t: Any) -> list[Any] | None:
    """R's ``print.anova``: heading lines and the table (stars and legend as R)."""
    from ..inference.table import anova_table_args

    if not getattr(t, "kinds", None):
        return None
    cols = [c for c in t.columns if c in t.kinds]
    args = anova_table_args(
        [str(i) for i in t.index],
        {c: t[c].to_numpy(dtype=float) for c in cols},
        getattr(t, "digits", 5),
    )
    colnames, cells, stars = format_coefmat(*args)
    heading = [ln for ln in getattr(t, "heading", []) if ln.strip()]
    parts: list[Any] = []
    if heading:
        parts.append(Title(heading[0].strip()))
        parts.append(Lines(heading[1:]))
    align = ["r"] * len(colnames)
    if stars:
        align[-1] = "l"
    parts.append(Table(colnames, cells, [str(i) for i in t.index], align))
    if stars:
        parts.append(Lines([SIGNIF_LEGEND], note=True))
    return parts


def _lm_parts(m: Any) -> list[Any]:
    """R's ``print(lm)``: the call and the coefficients (4 significant digits)."""
    coef = m.coef
    return [
        Title("Linear model fit by least squares", "lm"),
        Lines([f"Formula: {m.formula}"]),
        Heading("Coefficients:"),
        Table([str(i) for i in coef.index], [format_num(coef.to_numpy(), 4)]),
        Lines(
            [f"Residual standard error: {m.sigma:.4g} on {m.df_resid} degrees of freedom; "
             f"R-squared: {m.r_squared:.4f}; n = {m.nobs}"],
            mono=False, note=True,
        ),
    ]


def _lm_summary_parts(s: Any) -> list[Any]:
    """R's ``summary(lm)``: residual quantiles, coefficient table, fit statistics."""
    m = s.model
    lines = str(s).split("\n")
    res = s._residual_lines()
    parts: list[Any] = [Title("Linear model fit by least squares", "summary.lm")]
    parts.append(Lines(s._call_lines()))
    parts.append(Heading(res[0]))
    parts.append(_named_table(res[1:]) if len(res) > 2 else Lines(res[1:], mono=False))
    coef = s._coefficient_lines()
    parts.append(Heading(coef[1]))
    ct = s.coefficients
    dropped = list(m.design.dropped_columns)
    names = [str(i) for i in ct.index] + dropped
    cols = {
        c: np.concatenate([ct[c].to_numpy(dtype=float), np.full(len(dropped), np.nan)])
        for c in ct.columns
    }
    if names:
        parts += _coef_table(names, cols, s.digits)
    k = next((i for i, ln in enumerate(lines) if ln.startswith("Residual standard error")), None)
    if k is not None:
        parts.append(Lines([ln.strip() for ln in lines[k:] if ln.strip()], mono=False))
    return parts


def _lmlist_parts(fits: Any) -> list[Any]:
    """R's ``print(lmList)``: per-group coefficients and the pooled residual SE."""
    return [
        Title("Separate least-squares fits per group", "lmList"),
        Lines([f"Formula: {fits.formula}"]),
        Heading("Coefficients:"),
        _frame_table(fits.coef),
        Lines(
            [f"Degrees of freedom: {fits.design.n} total; {fits.df_pooled} residual",
             f"Residual standard error: {fits.sigma_pooled:.7g}"],
            mono=False, note=True,
        ),
    ]


def _lmlist_summary_parts(s: Any) -> list[Any]:
    """R's ``summary(lmList)``: per coefficient a table over groups."""
    lines = str(s).split("\n")
    return [Title("Separate least-squares fits per group", "summary.lmList"), Lines(lines)]


def _power_parts(p: Any) -> list[Any]:
    """simr's ``print(powerSim)`` as a title and a two-column table."""
    from ..power.sim import _METHODS

    lo, hi = p.confint()
    eff = ", ".join(f"{v:.4g}" for v in p.effect)
    rows = [
        ("Power", f"{100 * p.power:.2f}%"),
        ("95% confidence interval", f"({100 * lo:.2f}, {100 * hi:.2f})"),
        ("Significant / trials", f"{p.successes} / {p.trials}"),
        ("Test", _METHODS[p.method]),
        (f"Effect size for {p.test}", eff),
        ("Simulations", f"{p.nsim} ({p.n_failed} failed, {p.n_singular} singular, "
                        f"{p.n_nonconverged} not converged)"),
        ("alpha", f"{p.alpha:g}"),
        ("nrow", str(p.nobs)),
        ("Time elapsed", f"{p.seconds:.2f} s"),
    ]
    return [
        Title(f"Power for predictor '{p.test}'", "powerSim"),
        Table(["value"], [[v] for _, v in rows], [k for k, _ in rows], ["l"]),
    ]


def _power_curve_parts(t: Any) -> list[Any]:
    """simr's ``print(powerCurve)``: power (95% CI) per number of levels."""
    rows = []
    for _, r in t.iterrows():
        rows.append([str(int(r["n"])), str(int(r["nobs"])),
                     f"{100 * r['power']:.2f}%",
                     f"({100 * r['ci_lower']:.2f}, {100 * r['ci_upper']:.2f})",
                     f"{int(r['successes'])} / {int(r['trials'])}"])
    along = str(t["along"].iloc[0]) if len(t) else "n"
    test = f" for predictor '{t['test'].iloc[0]}'" if len(t) else ""
    return [
        Title(f"Power{test} by number of levels of {along}", "powerCurve"),
        Table([along, "nrow", "power", "95% CI", "significant / trials"], rows),
    ]


#: class name -> builder of its parts (looked up along the class's MRO)
_BUILDERS: dict[str, Callable[[Any], list[Any] | None]] = {
    "LmerSummary": _summary_parts,
    "MixedModelResults": _model_parts,
    "VarCorr": _varcorr_parts,
    "GroupTables": _group_tables_parts,
    "AnovaTable": _anova_parts,
    "LinearModel": _lm_parts,
    "LmSummary": _lm_summary_parts,
    "LmList": _lmlist_parts,
    "LmListSummary": _lmlist_summary_parts,
    "PowerResult": _power_parts,
    "PowerCurve": _power_curve_parts,
}


def parts_of(obj: Any) -> list[Any] | None:
    """The display parts of a result (``None`` when the class has no layout here)."""
    for cls in type(obj).__mro__:
        build = _BUILDERS.get(cls.__name__)
        if build is not None:
            return build(obj)
    return None


class RichRepr:
    """Mixin: notebook display as HTML / Markdown in lme4's layout, text as ``str()``."""

    def _repr_html_(self) -> str | None:
        parts = parts_of(self)
        if parts is None:
            fallback = getattr(super(), "_repr_html_", None)
            return fallback() if fallback is not None else None
        return render_html(parts)

    def _repr_markdown_(self) -> str | None:
        parts = parts_of(self)
        return None if parts is None else render_markdown(parts)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self) if not cycle else f"<{type(self).__name__}>")
