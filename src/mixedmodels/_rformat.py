"""Text output as R prints it (``format``, ``format.pval``, ``printCoefmat``, ``print``).

R formats a numeric vector with one layout for all elements (``formatReal``
in R's C sources): for each element the number of significant digits
(at most ``digits``) needed to show it to ``digits`` significant digits;
the fixed layout uses the largest number of decimals any element needs and
is chosen unless it is wider than the scientific layout with the largest
number of significant digits. Matrices and named vectors are printed in
columns at most 80 characters wide (``options(width = 80)``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "SIGNIF_LEGEND",
    "abbreviate",
    "cat_fill",
    "coef_matrix_lines",
    "format_coefmat",
    "format_column",
    "format_num",
    "format_pval",
    "print_coefmat",
    "print_matrix",
    "print_named",
    "signif_stars",
    "strwrap",
    "zapsmall",
]

SIGNIF_LEGEND = "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"
WIDTH = 80  # R's getOption("width")
EPS = float(np.finfo(float).eps)  # .Machine$double.eps
_KP_MAX = 27
_TBL = [np.longdouble(10) ** k for k in range(_KP_MAX + 1)]


def _scientific(x: float, digits: int) -> tuple[bool, int, int, bool]:
    """R's ``scientific()``: sign, exponent, significant digits needed, rounding widens.

    ``x = ±alpha · 10^kpower`` with ``1 ≤ alpha < 10``; ``nsig`` is the
    number of significant digits (≤ digits) left after dropping trailing
    zeros of alpha rounded to ``digits`` digits (in long double, as R).
    """
    if x == 0.0:
        return False, 0, 1, False
    neg = x < 0
    r = abs(x)
    kp = math.floor(math.log10(r)) - digits + 1
    r_prec = np.longdouble(r)
    if abs(kp) < 10:
        if kp > 0:
            r_prec /= _TBL[kp]
        elif kp < 0:
            r_prec *= _TBL[-kp]
    elif kp <= -307:
        r_prec = (r_prec * np.longdouble(1e303)) / np.longdouble(10) ** (kp + 303)
    else:
        r_prec /= np.longdouble(10) ** kp
    if r_prec < _TBL[digits - 1]:
        r_prec *= 10
        kp -= 1
    alpha = float(np.rint(r_prec))
    nsig = digits
    for _ in range(digits):
        alpha /= 10.0
        if alpha == math.floor(alpha):
            nsig -= 1
        else:
            break
    if nsig == 0 and digits > 0:
        nsig = 1
        kp += 1
    kpower = kp + digits - 1
    rgt = min(max(digits - kpower, 0), _KP_MAX)
    fuzz = 0.5 / float(_TBL[rgt])
    widens = 0 < kpower <= _KP_MAX and r < float(_TBL[kpower]) - fuzz
    return neg, kpower, nsig, widens


def format_info(x: Sequence[float], digits: int = 7, nsmall: int = 0) -> tuple[int, int, int]:
    """R's ``formatReal``: common width, decimals and exponent flag for a vector.

    Returns ``(w, d, e)``: ``e = 0`` is the fixed layout with ``d``
    decimals; ``e ≥ 1`` the scientific one with ``d`` mantissa decimals.
    Non-finite values only widen the field (``NA``, ``NaN``, ``Inf``).
    """
    vals = np.asarray(x, dtype=float).ravel()
    neg = False
    rgt = mxl = mxsl = mxns = -(10**9)
    mnl = 10**9
    w_na = 0
    for v in vals:
        if not np.isfinite(v):
            w_na = max(w_na, 2 if np.isnan(v) else (3 if v > 0 else 4))
            continue
        neg_i, kpower, nsig, widens = _scientific(float(v), digits)
        left = kpower + 1 - (1 if widens else 0)
        sleft = int(neg_i) + (1 if left <= 0 else left)
        right = nsig - left
        neg = neg or neg_i
        rgt = max(rgt, right)
        mxl = max(mxl, left)
        mnl = min(mnl, left)
        mxsl = max(mxsl, sleft)
        mxns = max(mxns, nsig)
    if mxl == -(10**9):
        return w_na, 0, 0
    if mxl < 0:
        mxsl = 1 + int(neg)
    rgt = max(rgt, 0)
    w_fixed = mxsl + rgt + (rgt != 0)
    e = 2 if (mxl > 100 or mnl <= -99) else 1
    d = mxns - 1
    w = int(neg) + (d > 0) + d + 4 + e
    if w_fixed <= w:
        e = 0
        if nsmall > rgt:
            rgt = nsmall
            w_fixed = mxsl + rgt + (rgt != 0)
        d, w = rgt, w_fixed
    return max(w, w_na), d, e


def encode_real(v: float, w: int, d: int, e: int, na: str = "NA") -> str:
    """One number in the layout ``(w, d, e)`` of :func:`format_info`, right-justified."""
    if np.isnan(v):
        return na.rjust(w)
    if not np.isfinite(v):
        return ("Inf" if v > 0 else "-Inf").rjust(w)
    if v == 0.0:
        v = 0.0  # R prints no sign on a negative zero
    s = f"{v:.{d}e}" if e else f"{v:.{d}f}"
    return s.rjust(w)


def format_num(
    x: Sequence[float], digits: int = 7, nsmall: int = 0, na: str = "NA"
) -> list[str]:
    """R's ``format(x, digits, nsmall)`` for a numeric vector: one common layout and width."""
    vals = np.asarray(x, dtype=float).ravel()
    w, d, e = format_info(vals, digits, nsmall)
    w = max(w, len(na)) if np.isnan(vals).any() else w
    return [encode_real(float(v), w, d, e, na) for v in vals]


def format_column(values: Sequence[float], digits: int = 4, na: str = "") -> list[str]:
    """R's ``format(x, digits = digits)`` without the padding to a common width."""
    out = [s.strip() for s in format_num(values, digits)]
    return [na if s == "NA" else s for s in out]


def format_pval(
    p: Sequence[float], digits: int = 3, eps: float = EPS, sep: str | None = None
) -> list[str]:
    """R's ``format.pval``.

    p-values of at least ``1e-4`` (``1e-3`` when ``digits == 1``) are
    formatted together in fixed notation, smaller ones together in
    scientific notation; those below ``eps`` print as ``< eps`` with eps
    to ``max(1, digits − 2)`` digits, written without the space only when
    that is 1 digit and no other value is wider than 6 characters
    (``sep`` given: that separator always).
    """
    pv = np.asarray(p, dtype=float).ravel()
    out = ["NA"] * pv.size
    ok = [i for i in range(pv.size) if not np.isnan(pv[i])]
    small = [i for i in ok if pv[i] < eps]
    rest = [i for i in ok if pv[i] >= eps]
    expo = {i: math.floor(math.log10(pv[i])) if pv[i] > 0 else -50 for i in rest}
    fixp = [i for i in rest if expo[i] >= -3 or (expo[i] == -4 and digits > 1)]
    scip = [i for i in rest if i not in fixp]
    for group in (fixp, scip):
        if group:
            for i, s in zip(group, format_num(pv[group], digits)):
                out[i] = s
    if small:
        dig = max(1, digits - 2)
        if rest:
            nc = max(len(out[i]) for i in rest)
            if dig > 1 and dig + 6 > nc:
                dig = max(1, nc - 7)
            gap = "" if dig == 1 and nc <= 6 else " "
        else:
            gap = "" if dig == 1 else " "
        text = "<" + (gap if sep is None else sep) + format_num([eps], dig)[0]
        for i in small:
            out[i] = text
    return out


def signif_stars(p: float) -> str:
    """Significance stars of R's ``printCoefmat`` (``symnum`` with its cut points)."""
    if not np.isfinite(p):
        return ""
    for cut, star in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p <= cut:
            return star
    return " "


def print_matrix(
    rownames: Sequence[str],
    colnames: Sequence[str],
    cells: Sequence[Sequence[str]],
    right: bool = True,
    gap: int = 1,
    width: int = WIDTH,
) -> list[str]:
    """Lines of R's ``print`` of a character matrix with ``quote = FALSE``.

    Row names are left-justified; each column is as wide as its widest
    entry or name, preceded by ``gap`` spaces, and justified right or left
    (``right``), its name with it. Columns that do not fit in ``width``
    continue in further blocks below.
    """
    rl = max((len(r) for r in rownames), default=0)
    ncol = len(colnames)
    cw = [max([len(colnames[j])] + [len(row[j]) for row in cells]) for j in range(ncol)]

    def just(s: str, w: int) -> str:
        return s.rjust(w) if right else s.ljust(w)

    blocks: list[range] = []
    jmin = 0
    while jmin < ncol:
        total, jmax = rl, jmin
        while jmax < ncol and (jmax == jmin or total + cw[jmax] + gap < width):
            total += cw[jmax] + gap
            jmax += 1
        blocks.append(range(jmin, jmax))
        jmin = jmax
    lines: list[str] = []
    for block in blocks or [range(0)]:
        lines.append(" " * rl + "".join(" " * gap + just(colnames[j], cw[j]) for j in block))
        for r, row in zip(rownames, cells):
            lines.append(r.ljust(rl) + "".join(" " * gap + just(row[j], cw[j]) for j in block))
    return lines


def print_named(
    names: Sequence[str], values: Sequence[str], gap: int = 1, width: int = WIDTH
) -> list[str]:
    """Lines of R's ``print`` of a named vector whose elements are already formatted.

    Names and values are right-justified to a common width, each followed
    by ``gap`` spaces, as many per line as fit in ``width``.
    """
    w = max([len(s) for s in names] + [len(s) for s in values])
    per_line = max(1, width // (w + gap))
    lines = []
    for start in range(0, len(values), per_line):
        chunk = range(start, min(start + per_line, len(values)))
        lines.append("".join(names[k].rjust(w) + " " * gap for k in chunk))
        lines.append("".join(values[k].rjust(w) + " " * gap for k in chunk))
    return lines


def cat_fill(items: Sequence[str], sep: str = " ", width: int = WIDTH) -> list[str]:
    """Lines of R's ``cat(..., sep = sep, fill = TRUE)``.

    Items are written with ``sep`` after each but the last; a new line is
    started before an item that would take the line past ``width``.
    """
    lines: list[str] = []
    cur = ""
    for k, item in enumerate(items):
        if k > 0 and len(cur) + len(item) + len(sep) > width:
            lines.append(cur)
            cur = ""
        cur += item
        if k < len(items) - 1:
            cur += sep
    lines.append(cur)
    return lines


def strwrap(text: str, width: int = 72, indent: int = 0, exdent: int = 0) -> list[str]:
    """R's ``strwrap`` of one paragraph: words joined by single spaces, greedily.

    A line takes words while their lengths plus one each stay within
    ``width − 1`` less the indentation (``indent`` on the first line,
    ``exdent`` on the others), and at least one word.
    """
    words = text.split()
    lines: list[str] = []
    pad = indent
    while words:
        total, k = 0, 0
        while k < len(words) and total + len(words[k]) + 1 <= width - pad - 1:
            total += len(words[k]) + 1
            k += 1
        k = max(k, 1)
        lines.append(" " * pad + " ".join(words[:k]))
        words = words[k:]
        pad = exdent
    return lines


def print_coefmat(rownames: Sequence[str], columns: dict[str, Sequence[float]],
                  *args: Any, **kwargs: Any) -> list[str]:
    """Lines of R's ``printCoefmat`` (legend included when stars are shown).

    The cells are those of :func:`format_coefmat`, which takes the same
    arguments (``digits``, ``cs_ind``, ``tst_ind``, ``zap_ind``, ``stars``,
    ``na_print``), printed as R's ``print`` of a character matrix.
    """
    colnames, cells, show_stars = format_coefmat(rownames, columns, *args, **kwargs)
    lines = print_matrix(list(rownames), colnames, cells, right=True)
    if show_stars:
        lines += ["---", SIGNIF_LEGEND]
    return lines


def format_coefmat(
    rownames: Sequence[str],
    columns: dict[str, Sequence[float]],
    digits: int = 4,
    cs_ind: Sequence[int] | None = None,
    tst_ind: Sequence[int] | None = None,
    zap_ind: Sequence[int] = (),
    stars: bool = True,
    na_print: str = "NA",
) -> tuple[list[str], list[list[str]], bool]:
    """The formatted cells of R's ``printCoefmat``: column names, cells, stars shown.

    When stars are shown the last column (named ``""``) holds them.

    A last column named ``Pr(...`` or ``p-v...`` (with at least 4 columns)
    holds p-values. By default the columns before the test statistic
    (``cs_ind``: estimates, standard errors, df) are rounded together to
    ``max(1, digits − digmin)`` decimals, digmin = 1 + ⌊log10⌋ of the
    smallest nonzero magnitude, and formatted together with ``digits``
    significant digits; the statistic (``tst_ind``, the column after them)
    is rounded to ``dig.tst = max(1, min(5, digits − 1))`` decimals and
    formatted with ``digits``; other columns are formatted alone;
    p-values through :func:`format_pval` with ``dig.tst`` digits.
    Significance stars (and the legend) appear when some p-value is below 0.1.
    """
    names = list(columns)
    xm = np.column_stack([np.asarray(columns[c], dtype=float) for c in names])
    nr, nc = xm.shape
    has_p = nc >= 4 and (names[-1][:3] in ("Pr(", "p-v"))
    if tst_ind is None:
        k = nc - int(has_p) - 1
        tst_ind = [k] if k < nc else []
    else:
        k = nc - int(has_p) - len(tst_ind)
    cs_ind = list(range(k)) if cs_ind is None else list(cs_ind)
    dig_tst = max(1, min(5, digits - 1))
    cf = [["" for _ in range(nc)] for _ in range(nr)]
    ina = np.isnan(xm)
    for j in zap_ind:
        xm[:, j] = zapsmall(xm[:, j], digits)

    def put(j: int, strs: list[str]) -> None:
        for i in range(nr):
            cf[i][j] = strs[i]

    if cs_ind:
        cse = xm[:, cs_ind]
        acs = np.abs(cse[np.isfinite(cse)])
        if acs.size:
            nz = acs[acs != 0]
            digmin = 1 + (math.floor(math.log10(nz.min())) if nz.size else 0)
            block = format_num(_round(cse.T.ravel(), max(1, digits - digmin)), digits)
            for n_j, j in enumerate(cs_ind):
                put(j, block[n_j * nr : (n_j + 1) * nr])
    for j in tst_ind:
        put(j, format_num(_round(xm[:, j], dig_tst), digits))
    for j in range(nc):
        if j not in cs_ind and j not in tst_ind and not (has_p and j == nc - 1):
            put(j, format_num(xm[:, j], digits))
    # entries printed as 0 that are not 0 (or the reverse) get digits − 1 significant digits
    okp = [(i, j) for j in range(nc - int(has_p)) if j not in tst_ind
           for i in range(nr) if not ina[i, j]]
    redo = [(i, j) for i, j in okp if (xm[i, j] == 0) != (float(cf[i][j]) == 0)]
    if redo:
        strs = format_num([xm[i, j] for i, j in redo], max(1, digits - 1))
        for (i, j), s in zip(redo, strs):
            cf[i][j] = s
    for i, j in zip(*np.nonzero(ina)):
        cf[i][j] = na_print
    show_stars = False
    if has_p:
        pv = xm[:, -1]
        okp_rows = [i for i in range(nr) if not ina[i, -1]]
        if okp_rows:
            for i, s in zip(okp_rows, format_pval(pv[okp_rows], dig_tst)):
                cf[i][-1] = s
            show_stars = stars and bool(np.any(pv[okp_rows] < 0.1))
    colnames = names
    if show_stars:
        sym = [signif_stars(float(v)) if np.isfinite(v) else "" for v in xm[:, -1]]
        ws = max(len(s) for s in sym)
        for i in range(nr):
            cf[i].append(sym[i].ljust(ws))
        colnames = names + [""]
    return colnames, cf, show_stars


def _round(x: np.ndarray, digits: int) -> np.ndarray:
    """R's ``round(x, digits)`` (non-finite values kept)."""
    with np.errstate(invalid="ignore"):
        return np.round(np.asarray(x, dtype=float), digits)


def zapsmall(x: np.ndarray, digits: int) -> np.ndarray:
    """R's ``zapsmall(x, digits)``: round to ``digits − log10(max |x|)`` decimals."""
    fin = np.abs(x[np.isfinite(x)])
    if fin.size == 0:
        return x
    mx = float(fin.max())
    d = max(0.0, digits - math.log10(mx)) if mx > 0 else digits
    return _round(x, int(math.floor(d + 0.5)))


def abbreviate(names: Sequence[str], minlength: int = 4) -> list[str]:
    """R's ``abbreviate(names, minlength)`` (``use.classes = TRUE``, ASCII names).

    Each name is shortened from the right until it has at most
    ``minlength`` characters: first lower-case vowels ending a word, then
    other lower-case vowels not starting a word, then lower-case letters
    ending a word, then other lower-case letters, then any character not
    starting a word. Names that collide are redone with ``minlength + 1``.
    """
    old = [s.strip(" ") for s in names]
    uniq = list(dict.fromkeys(old))
    out = list(uniq)
    redo = [True] * len(uniq)
    ml = minlength
    while True:
        for i, s in enumerate(uniq):
            if redo[i]:
                out[i] = _abbrev1(s, ml)
        seen: dict[str, int] = {}
        dup = [False] * len(out)
        for i, s in enumerate(out):
            if s in seen:
                dup[i] = True
            seen.setdefault(s, i)
        if not any(dup):
            break
        ml += 1
        dup_vals = {out[i] for i in range(len(out)) if dup[i]}
        redo = [d or out[i] in dup_vals for i, d in enumerate(dup)]
    table = dict(zip(uniq, out))
    return [table[s] for s in old]


def _abbrev1(name: str, minlen: int) -> str:
    """R's C ``stripchars`` for one name."""
    b = list(name.lstrip())
    if len(b) < minlen:
        return _drop_spaces(b, minlen)
    nspace = 0
    trailing = True
    for i in range(len(b) - 1, 0, -1):  # trailing blanks go, inner ones count as breaks
        if b[i].isspace():
            if trailing:
                del b[i]
            else:
                nspace += 1
        else:
            trailing = False
        if len(b) - nspace <= minlen:
            return _drop_spaces(b, minlen)

    def first(i: int) -> bool:
        return b[i - 1].isspace()

    def last(i: int) -> bool:
        return not b[i - 1].isspace() and (i + 1 >= len(b) or b[i + 1].isspace())

    def vowel(c: str) -> bool:
        return c in "aeiou"

    def lower(c: str) -> bool:
        return "a" <= c <= "z"

    rules = (
        lambda i: vowel(b[i]) and last(i),
        lambda i: vowel(b[i]) and not first(i),
        lambda i: lower(b[i]) and last(i),
        lambda i: lower(b[i]) and not first(i),
        lambda i: not first(i) and not b[i].isspace(),
    )
    upper = len(b) - 1
    for k, rule in enumerate(rules):
        if k == len(rules) - 1:
            upper = len(b) - 1
        for i in range(upper, 0, -1):
            if i < len(b) and rule(i):
                del b[i]
            if len(b) - nspace <= minlen:
                return _drop_spaces(b, minlen)
    return _drop_spaces(b, minlen)


def _drop_spaces(b: list[str], minlen: int) -> str:
    if len(b) > minlen:
        b = [b[0]] + [c for c in b[1:] if not c.isspace()]
    return "".join(b)


def coef_matrix_lines(
    names: Sequence[str],
    columns: dict[str, Sequence[float]],
    kinds: dict[str, str],
    digits: int = 4,
    stars: bool = True,
) -> list[str]:
    """Lines of a coefficient table in ``printCoefmat``'s layout, without the legend.

    ``kinds`` maps each column to ``"coef"`` (estimates and standard errors,
    rounded together to ``max(1, digits − digmin)`` decimals), ``"stat"``
    (test statistics, rounded to ``max(1, min(5, digits − 1))`` decimals),
    ``"df"`` (formatted alone), ``"int"`` (whole numbers) or ``"p"``
    (p-values, :func:`format_pval` with no space after ``<``). A column of
    significance stars follows the p-values whenever ``stars``.
    :func:`print_coefmat` is R's function itself.
    """
    cols = list(columns)
    formatted: dict[str, list[str]] = {}
    coef_cols = [c for c in cols if kinds[c] == "coef"]
    n = len(names)
    if coef_cols:
        block = np.concatenate([np.asarray(columns[c], float) for c in coef_cols])
        acs = np.abs(block[np.isfinite(block) & (block != 0)])
        rdig = int(max(1, digits - 1 - math.floor(math.log10(acs.min())))) if acs.size else digits
        fb = format_column(_round(block, rdig), digits)
        for k, c in enumerate(coef_cols):
            formatted[c] = fb[k * n : (k + 1) * n]
    dig_tst = max(1, min(5, digits - 1))
    pcol = None
    for c in cols:
        v = np.asarray(columns[c], float)
        if kinds[c] == "stat":
            formatted[c] = format_column(_round(v, dig_tst), digits)
        elif kinds[c] == "df":
            formatted[c] = format_column(v, digits)
        elif kinds[c] == "int":
            formatted[c] = ["" if not np.isfinite(x) else str(int(round(x))) for x in v]
        elif kinds[c] == "p":
            formatted[c] = [s.strip() for s in format_pval(v, dig_tst, sep="")]
            pcol = c
    rows = [[""] + cols]
    rows += [[str(nm)] + [formatted[c][i] for c in cols] for i, nm in enumerate(names)]
    if stars and pcol is not None:
        pv = np.asarray(columns[pcol], float)
        lines = _justify(rows)
        width = max(len(s) for s in lines)
        starred = [lines[0]]
        starred += [ln.ljust(width) + " " + signif_stars(float(p)) for ln, p in zip(lines[1:], pv)]
        return starred
    return _justify(rows)


def _justify(rows: list[list[str]]) -> list[str]:
    """Rows as lines: the first column left-justified, the others right-justified."""
    widths = [max(len(r[j]) for r in rows) for j in range(len(rows[0]))]
    return [
        " ".join(r[j].ljust(widths[j]) if j == 0 else r[j].rjust(widths[j]) for j in range(len(r)))
        .rstrip()
        for r in rows
    ]
