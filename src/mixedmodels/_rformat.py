"""Number formatting as R prints tables (``format``, ``format.pval``, ``printCoefmat``).

R formats a numeric column with a common number of decimals: enough for
the element that needs the most decimals to show ``digits`` significant
digits (trailing zeros dropped), switching to scientific notation when the
fixed width would exceed the scientific one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["format_column", "format_pval", "signif_stars", "coef_matrix_lines", "SIGNIF_LEGEND"]

SIGNIF_LEGEND = "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"


def _sig_needed(x: float, digits: int) -> int:
    """Fewest significant digits (≤ digits) that represent x as digits would."""
    target = float(f"{x:.{digits - 1}e}")
    for s in range(1, digits + 1):
        if float(f"{x:.{s - 1}e}") == target:
            return s
    return digits


def format_column(values: Sequence[float], digits: int = 4, na: str = "") -> list[str]:
    """R's ``format(x, digits = digits)`` for one numeric vector (common decimals)."""
    x = np.asarray(values, dtype=float)
    fin = x[np.isfinite(x)]
    if fin.size == 0:
        return [na if not np.isfinite(v) else str(v) for v in x]
    decimals = 0
    sci_sig = 1
    for v in fin:
        if v == 0.0:
            continue
        r = float(f"{v:.{digits - 1}e}")
        s = _sig_needed(v, digits)
        e = math.floor(math.log10(abs(r)))
        decimals = max(decimals, s - 1 - e)
        sci_sig = max(sci_sig, s)
    decimals = min(decimals, 15)
    fixed = [f"{v:.{decimals}f}" for v in fin]
    sci = [_r_sci(v, sci_sig - 1) for v in fin]
    use_sci = max(map(len, fixed)) > max(map(len, sci))
    out = []
    for v in x:
        if not np.isfinite(v):
            out.append(na if np.isnan(v) else ("Inf" if v > 0 else "-Inf"))
        elif use_sci:
            out.append(_r_sci(v, sci_sig - 1))
        else:
            out.append(f"{v:.{decimals}f}")
    return out


def _r_sci(v: float, decimals: int) -> str:
    """Scientific notation as R writes it: ``1.2e-05``, ``3e+10``."""
    mant, exp = f"{v:.{decimals}e}".split("e")
    e = int(exp)
    return f"{mant}e{'-' if e < 0 else '+'}{abs(e):02d}"


def format_pval(p: Sequence[float], digits: int = 3, eps: float = 2.220446e-16) -> list[str]:
    """R's ``format.pval``: fixed notation from 1e-4 up, scientific below, ``<eps``."""
    p = np.asarray(p, dtype=float)
    out = [""] * p.size
    fix = [i for i, v in enumerate(p) if np.isfinite(v) and v >= eps
           and (v == 0 or math.floor(math.log10(v)) >= -4)]
    sci = [i for i, v in enumerate(p) if np.isfinite(v) and v >= eps and i not in fix]
    if fix:
        for i, s in zip(fix, format_column(p[fix], digits)):
            out[i] = s
    if sci:
        for i in sci:
            out[i] = _r_sci(p[i], _sig_needed(p[i], digits) - 1)
    for i, v in enumerate(p):
        if np.isfinite(v) and v < eps:
            out[i] = "<" + _r_sci(eps, 0)
    return out


def signif_stars(p: float) -> str:
    """Significance stars of R's ``printCoefmat``."""
    if not np.isfinite(p):
        return ""
    for cut, star in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p < cut:
            return star
    return " "


def _justify(rows: list[list[str]], left_first: bool = True) -> list[str]:
    widths = [max(len(r[j]) for r in rows) for j in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [
            r[j].ljust(widths[j]) if (j == 0 and left_first) else r[j].rjust(widths[j])
            for j in range(len(r))
        ]
        lines.append(" ".join(cells).rstrip())
    return lines


def coef_matrix_lines(
    names: Sequence[str],
    columns: dict[str, Sequence[float]],
    kinds: dict[str, str],
    digits: int = 4,
    stars: bool = True,
) -> list[str]:
    """Lines of a coefficient table laid out as R's ``printCoefmat``.

    ``kinds`` maps each column to ``"coef"`` (estimates and standard errors:
    rounded together to ``max(1, digits − digmin)`` decimals), ``"stat"``
    (test statistics, rounded to ``max(1, min(5, digits − 1))`` decimals),
    ``"df"`` (degrees of freedom),
    ``"int"`` or ``"p"`` (p-values through :func:`format_pval`). A trailing
    column of significance stars follows the p-value when ``stars``.
    """
    cols = list(columns)
    formatted: dict[str, list[str]] = {}
    coef_cols = [c for c in cols if kinds[c] == "coef"]
    if coef_cols:
        acs = np.abs(np.concatenate([np.asarray(columns[c], float) for c in coef_cols]))
        acs = acs[np.isfinite(acs) & (acs != 0)]
        if acs.size:
            digmin = 1 + np.floor(np.log10([acs.min(), acs.max()]))
            rdig = int(max(1, np.max(digits - digmin)))
        else:
            rdig = digits
        block = np.concatenate([np.round(np.asarray(columns[c], float), rdig) for c in coef_cols])
        fb = format_column(block, digits)
        n = len(names)
        for k, c in enumerate(coef_cols):
            formatted[c] = fb[k * n : (k + 1) * n]
    dig_tst = max(1, min(5, digits - 1))
    pcol = None
    for c in cols:
        kind = kinds[c]
        v = np.asarray(columns[c], float)
        if kind == "stat":
            formatted[c] = format_column(np.round(v, dig_tst), digits)
        elif kind == "df":
            formatted[c] = format_column(v, digits)
        elif kind == "int":
            formatted[c] = ["" if not np.isfinite(x) else str(int(round(x))) for x in v]
        elif kind == "p":
            formatted[c] = format_pval(v, dig_tst)
            pcol = c
    header = [""] + cols
    rows = [header]
    for i, nm in enumerate(names):
        rows.append([str(nm)] + [formatted[c][i] for c in cols])
    if stars and pcol is not None:
        pv = np.asarray(columns[pcol], float)
        rows[0].append("")
        for i in range(len(names)):
            rows[i + 1].append(signif_stars(pv[i]))
        lines = _justify([r[:-1] for r in rows])
        width = max(len(s) for s in lines)
        lines = [ln.ljust(width) + " " + r[-1] for ln, r in zip(lines, rows)]
        lines = [ln.rstrip() if i == 0 else ln for i, ln in enumerate(lines)]
        return lines
    return _justify(rows)
