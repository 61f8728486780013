"""Variance components, as lme4's ``VarCorr``.

For term k the covariance of one level's random effects is
``Σ_k = σ² T_k T_k'``; the table reports each term's standard deviations
and correlations, then the residual standard deviation σ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["VarCorrTerm", "VarCorr"]


@dataclass
class VarCorrTerm:
    """Covariance of one random-effect term."""

    label: str  # unique term name ("Subject", "Subject.1")
    group: str  # grouping factor
    names: list[str]
    cov: np.ndarray

    @property
    def sd(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.cov), 0.0, None))

    @property
    def corr(self) -> np.ndarray:
        sd = self.sd
        with np.errstate(invalid="ignore", divide="ignore"):
            c = self.cov / np.outer(sd, sd)
        c[~np.isfinite(c)] = 0.0  # lme4 reports 0 where an SD is 0
        np.fill_diagonal(c, 1.0)
        return c


class VarCorr:
    """All variance components of a fit; prints like lme4's ``VarCorr``."""

    def __init__(self, terms: list[VarCorrTerm], sigma: float | None):
        self.terms = terms
        self.sigma = sigma

    def __getitem__(self, label: str) -> pd.DataFrame:
        for t in self.terms:
            if t.label == label:
                return pd.DataFrame(t.cov, index=t.names, columns=t.names)
        raise KeyError(label)

    def to_frame(self) -> pd.DataFrame:
        """lme4's ``as.data.frame(VarCorr(m))``: grp, var1, var2, vcov, sdcor."""
        rows = []
        for t in self.terms:
            sd, corr = t.sd, t.corr
            for i, nm in enumerate(t.names):
                rows.append((t.group, nm, None, t.cov[i, i], sd[i]))
            for j in range(len(t.names)):
                for i in range(j + 1, len(t.names)):
                    rows.append((t.group, t.names[j], t.names[i], t.cov[i, j], corr[i, j]))
        if self.sigma is not None:
            rows.append(("Residual", None, None, self.sigma**2, self.sigma))
        return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])

    def table_lines(self, comp: tuple[str, ...] = ("Variance", "Std.Dev.")) -> list[str]:
        """Formatted lines of the random-effects table (lme4's print layout)."""
        groups, names, var, sds, corrs = [], [], [], [], []
        for t in self.terms:
            sd, corr = t.sd, t.corr
            for i, nm in enumerate(t.names):
                groups.append(t.group if i == 0 else "")
                names.append(nm)
                var.append(t.cov[i, i])
                sds.append(sd[i])
                corrs.append([corr[i, j] for j in range(i)])
        if self.sigma is not None:
            groups.append("Residual")
            names.append("")
            var.append(self.sigma**2)
            sds.append(self.sigma)
            corrs.append([])
        var_s = _format_column(np.array(var))
        sd_s = _format_column(np.array(sds))
        cols = [("Groups", groups, "<"), ("Name", names, "<")]
        if "Variance" in comp:
            cols.append(("Variance", var_s, ">"))
        cols.append(("Std.Dev.", sd_s, ">"))
        ncorr = max((len(c) for c in corrs), default=0)
        cw = max((len(f"{c:.2f}") for cs in corrs for c in cs), default=4)
        out_cols = []
        for title, vals, align in cols:
            w = max(len(title), *(len(v) for v in vals))
            if align == ">":  # numbers: right-aligned among themselves, left under the title
                nw = max(len(v) for v in vals)
                vals = [v.rjust(nw) for v in vals]
            out_cols.append([title.ljust(w)] + [v.ljust(w) for v in vals])
        lines = []
        for r in range(len(groups) + 1):
            line = " " + " ".join(col[r] for col in out_cols)
            if ncorr:
                if r == 0:
                    line += " Corr"
                else:
                    cs = corrs[r - 1]
                    line += " " + " ".join(f"{c:.2f}".rjust(cw) for c in cs)
            lines.append(line.rstrip() if r > 0 else line)
        return lines

    def __str__(self) -> str:
        return "\n".join(self.table_lines(("Std.Dev.",)))

    def __repr__(self) -> str:
        return str(self)


def _format_column(x: np.ndarray, digits: int = 4) -> list[str]:
    """R's ``format(x, digits = 4)``: one number of decimals for the whole column.

    Each value needs the decimals of its ``digits``-significant-digit form
    (trailing zeros dropped); the column uses the largest such count.
    """
    decimals = 0
    for v in np.asarray(x, dtype=float):
        if not np.isfinite(v) or v == 0:
            continue
        s = f"{abs(v):.{digits}g}"
        if "e" in s:
            mant, exp = s.split("e")
            frac = len(mant.split(".")[1]) if "." in mant else 0
            decimals = max(decimals, max(0, frac - int(exp)))
        elif "." in s:
            decimals = max(decimals, len(s.split(".")[1]))
    decimals = min(decimals, 15)
    return [f"{v:.{decimals}f}" for v in np.asarray(x, dtype=float)]
