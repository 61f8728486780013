"""lme4's ``summary(lmerMod)`` as text (and as numbers).

Layout: title and formula; REML criterion (or the AIC/BIC/logLik/deviance
table for ML fits); quantiles of the scaled residuals; the random-effects
table (Groups, Name, Variance, Std.Dev., Corr); numbers of observations and
groups; the fixed-effects table (Estimate, Std. Error, t value — with df
and Pr(>|t|) when a denominator-df method is chosen, as lmerTest); the
correlation of the fixed effects.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._rformat import format_pval, signif_stars
from .varcorr import _format_column

__all__ = ["LmerSummary", "abbreviate", "format_coef_table", "signif_stars"]


def abbreviate(name: str, minlength: int = 6) -> str:
    """R's ``abbreviate``: drop lower-case vowels, then lower-case letters, from the right."""
    if len(name) <= minlength:
        return name
    chars = list(name)

    def drop(pred: Any) -> None:
        i = len(chars) - 1
        while len(chars) > minlength and i > 0:
            if pred(chars[i]):
                del chars[i]
            i -= 1

    drop(lambda c: c in "aeiou")
    drop(lambda c: c.islower())
    if len(chars) > minlength:
        chars = chars[:minlength]
    return "".join(chars)


def format_coef_table(table: pd.DataFrame, digits: int = 4, stars: bool = True) -> list[str]:
    """Format a coefficient table like R's ``printCoefmat``.

    Estimate and Std. Error share a number of decimals; statistics get 3
    decimals; df 2 decimals; p-values in R's style with significance stars.
    """
    est_cols = [c for c in table.columns if c in ("Estimate", "Std. Error")]
    vals = np.abs(table[est_cols].to_numpy(dtype=float)).ravel()
    vals = vals[np.isfinite(vals) & (vals > 0)]
    dec = 0
    if vals.size:
        dec = max(0, digits - 1 - int(np.floor(np.log10(vals.min()))))
        dec = min(dec, 8)
    cols: dict[str, list[str]] = {}
    pcol = None
    for c in table.columns:
        x = table[c].to_numpy(dtype=float)
        if c in est_cols:
            cols[c] = [f"{v:.{dec}f}" for v in x]
        elif c == "df":
            cols[c] = [f"{v:.3f}" if np.isfinite(v) else "NA" for v in x]
        elif c.startswith("Pr("):
            cols[c] = format_pval(x, digits=3)
            pcol = c
        else:
            cols[c] = [f"{v:.3f}" if np.isfinite(v) else "NA" for v in x]
    names = [str(i) for i in table.index]
    wn = max(len(n) for n in names) if names else 0
    widths = {c: max([len(c)] + [len(v) for v in cols[c]]) for c in cols}
    header = " " * wn + " " + " ".join(c.rjust(widths[c]) for c in cols)
    lines = [header]
    for i, n in enumerate(names):
        row = n.ljust(wn) + " " + " ".join(cols[c][i].rjust(widths[c]) for c in cols)
        if stars and pcol is not None:
            row += " " + signif_stars(float(table[pcol].iloc[i]))
        lines.append(row.rstrip())
    if stars and pcol is not None:
        lines.append("---")
        lines.append("Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1")
    return lines


class LmerSummary:
    """Summary of a linear mixed model; ``str()`` gives lme4's layout.

    Parameters
    ----------
    model:
        A fitted :class:`~mixedmodels.lmm.LinearMixedModel`.
    ddf:
        ``"Satterthwaite"`` (default) or ``"Kenward-Roger"`` (lmerTest: adds df
        and Pr(>|t|)), or ``None`` / ``"lme4"`` (lme4: t values only).
    """

    def __init__(
        self, model: Any, ddf: str | None = "Satterthwaite", correlation: bool = True
    ):
        self.model = model
        self.ddf = ddf
        self.correlation = correlation
        if ddf is not None and ddf.lower() == "lme4":
            ddf = None
        self.ddf = ddf
        if ddf is None or len(model.fixef) == 0:
            fe = model.fixef
            se = model.fixef_se
            self.coefficients = pd.DataFrame({"Estimate": fe, "Std. Error": se, "t value": fe / se})
        else:
            from ..inference.ddf import coef_table

            self.coefficients = coef_table(model, ddf)
        self.varcorr = model.varcorr
        self.scaled_residuals = model.resid("scaled")

    @property
    def residual_quantiles(self) -> pd.Series:
        q = np.quantile(self.scaled_residuals, [0, 0.25, 0.5, 0.75, 1.0])
        # R's zapsmall(q, digits + 1) as lme4 prints them: round(q, 5 − log10(max|q|)),
        # R rounding the non-integer number of digits
        big = np.max(np.abs(q))
        if big > 0:
            q = np.round(q, max(0, int(np.round(5 - np.log10(big)))))
        return pd.Series(q, index=["Min", "1Q", "Median", "3Q", "Max"])

    def _title(self) -> list[str]:
        m = self.model
        how = "REML" if m.REML else "maximum likelihood "
        title = f"Linear mixed model fit by {how} ['lmerMod']"
        if self.ddf is not None:
            title = (
                f"Linear mixed model fit by {'REML' if m.REML else 'maximum likelihood'}. "
                f"t-tests use {self.ddf}'s method ['lmerModLmerTest']"
            )
        lines = [title, f"Formula: {m.design.formula.text}"]
        if m.design.has_weights:
            lines.append("Weights: (prior weights)")
        if m.data_name:
            lines.append(f"   Data: {m.data_name}")
        lines.append("")
        if m.REML:
            lines.append(f"REML criterion at convergence: {m.reml_criterion:.1f}")
        else:
            vals = [m.aic, m.bic, m.loglik, m.deviance, m.nobs - m.df_model]
            names = ["AIC", "BIC", "logLik", "deviance", "df.resid"]
            strs = [f"{v:.1f}" for v in vals[:4]] + [str(int(vals[4]))]
            w = max(len(x) for x in names + strs)  # R prints the vector at one width
            lines.append(" ".join(n.rjust(w) for n in names))
            lines.append(" ".join(x.rjust(w) for x in strs))
        return lines

    def __str__(self) -> str:
        m = self.model
        lines = self._title()
        lines.append("")
        lines.append("Scaled residuals: ")
        q = self.residual_quantiles
        qs = _format_column(q.to_numpy())
        w = max(max(len(s) for s in qs), 7)
        lines.append(" ".join(n.rjust(w) for n in q.index))
        lines.append(" ".join(s.rjust(w) for s in qs))
        lines.append("")
        lines.append("Random effects:")
        lines.extend(self.varcorr.table_lines())
        groups = "; ".join(f"{g}, {n}" for g, n in m.ngroups.items())
        lines.append(f"Number of obs: {m.nobs}, groups:  {groups}")
        if m.design.n_omitted:
            lines.append(f"({m.design.n_omitted} observations deleted due to missingness)")
        lines.append("")
        if len(self.coefficients):
            lines.append("Fixed effects:")
            lines.extend(format_coef_table(self.coefficients))
        else:
            lines.append("No fixed effect coefficients")
        if self.correlation and len(m.fixef) > 1:
            lines.extend(self._correlation_lines())
        msgs = m.optinfo.get("warnings", [])
        if m.design.dropped_columns:
            k = len(m.design.dropped_columns)
            lines.append(
                f"fit warnings:\nfixed-effect model matrix is rank deficient so dropping {k} "
                f"column{'s' if k > 1 else ''} / coefficient{'s' if k > 1 else ''}"
            )
        if msgs:
            lines.append("optimizer (bobyqa) convergence code: 0 (OK)" if m.opt.ok else "")
            lines.extend(msgs)
        return "\n".join(lines).rstrip() + "\n"

    def _correlation_lines(self) -> list[str]:
        v = self.model.vcov.to_numpy()
        sd = np.sqrt(np.diag(v))
        corr = v / np.outer(sd, sd)
        names = list(self.model.fixef.index)
        p = len(names)
        if p > 12:
            return [
                "",
                f"Correlation matrix not shown by default, as p = {p} > 12.",
                "Use m.vcov to see it.",
            ]
        short = [abbreviate(n) for n in names]
        wn = max(len(n) for n in names[1:])
        cells = [[f"{corr[i, j]:.3f}" for j in range(i)] for i in range(1, p)]
        widths = [max(len(short[j]), 6) for j in range(p - 1)]
        lines = ["", "Correlation of Fixed Effects:"]
        lines.append(" " * wn + " " + " ".join(short[j].ljust(widths[j]) for j in range(p - 1)))
        for i in range(1, p):
            row = (
                names[i].ljust(wn)
                + " "
                + " ".join(cells[i - 1][j].rjust(widths[j]) for j in range(i))
            )
            lines.append(row.rstrip())
        return lines

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
