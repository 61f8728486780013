"""Variance components, as lme4's ``VarCorr``.

For term k the covariance of one level's random effects is
``Σ_k = σ² T_k T_k'``; the table reports each term's standard deviations
and correlations, then the residual standard deviation σ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._rformat import format_num, print_matrix
from ..errors import ArgumentError
from .html import RichRepr

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


class VarCorr(RichRepr):
    """All variance components of a fit; prints like lme4's ``print(VarCorr(m))``."""

    def __init__(self, terms: list[VarCorrTerm], sigma: float | None):
        self.terms = terms
        self.sigma = sigma

    def __getitem__(self, label: str) -> pd.DataFrame:
        for t in self.terms:
            if t.label == label:
                return pd.DataFrame(t.cov, index=t.names, columns=t.names)
        raise KeyError(label)

    def to_frame(self) -> pd.DataFrame:
        """lme4's ``as.data.frame(VarCorr(m))``: grp, var1, var2, vcov, sdcor.

        ``grp`` is the term's name, unique as lme4 makes it (``Subject``,
        ``Subject.1`` for a second term on the same factor).
        """
        rows = []
        for t in self.terms:
            sd, corr = t.sd, t.corr
            for i, nm in enumerate(t.names):
                rows.append((t.label, nm, None, t.cov[i, i], sd[i]))
            for j in range(len(t.names)):
                for i in range(j + 1, len(t.names)):
                    rows.append((t.label, t.names[j], t.names[i], t.cov[i, j], corr[i, j]))
        if self.sigma is not None:
            rows.append(("Residual", None, None, self.sigma**2, self.sigma))
        return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])

    def table_lines(
        self, comp: Sequence[str] = ("Variance", "Std.Dev."), digits: int = 4
    ) -> list[str]:
        """Lines of the random-effects table, as lme4's ``formatVC`` printed
        (the cells of :meth:`table_cells`)."""
        colnames, cells = self.table_cells(comp, digits)
        return print_matrix([""] * len(cells), colnames, cells, right=False)

    def table_cells(
        self, comp: Sequence[str] = ("Variance", "Std.Dev."), digits: int = 4
    ) -> tuple[list[str], list[list[str]]]:
        """Column names and cells of the random-effects table (lme4's ``formatVC``).

        Columns Groups, Name, then ``comp`` (``"Variance"`` and/or
        ``"Std.Dev."``, in that order), each formatted with ``digits``
        significant digits over all rows; then the correlations of each
        term rounded to ``max(2, digits − 2)`` decimals (lower triangle).
        """
        for c in comp:
            if c not in ("Variance", "Std.Dev."):
                raise ArgumentError("comp", c, "'Variance' and/or 'Std.Dev.'")
        groups: list[str] = []
        names: list[str] = []
        sds: list[float] = []
        blocks: list[np.ndarray] = []
        for t in self.terms:
            groups += [t.label] + [""] * (len(t.names) - 1)
            names += list(t.names)
            sds += list(t.sd)
            blocks.append(t.corr)
        if self.sigma is not None:
            groups.append("Residual")
            names.append("")
            sds.append(float(self.sigma))
        sd_arr = np.array(sds)
        colnames = ["Groups", "Name"]
        cols: list[list[str]] = [groups, names]
        for c in comp:
            colnames.append(c)
            cols.append(format_num(sd_arr**2 if c == "Variance" else sd_arr, digits))
        maxlen = max((len(b) for b in blocks), default=1)
        if maxlen > 1:
            dig = max(2, digits - 2)
            corr_rows: list[list[str]] = []
            for b in blocks:
                cells = format_num(np.round(b, dig).ravel(), nsmall=dig)
                k = len(b)
                for i in range(k):
                    row = [cells[i * k + j] if j < i else "" for j in range(k)]
                    corr_rows.append((row + [""] * maxlen)[: maxlen - 1])
            corr_rows += [[""] * (maxlen - 1)] * (len(groups) - len(corr_rows))
            colnames += ["Corr"] + [""] * (maxlen - 2)
            cols += [[r[j] for r in corr_rows] for j in range(maxlen - 1)]
        return colnames, [[col[i] for col in cols] for i in range(len(groups))]

    def to_string(self, comp: Sequence[str] = ("Std.Dev.",), digits: int = 5) -> str:
        """lme4's ``print(VarCorr(m), comp = comp, digits = digits)``.

        R's defaults: standard deviations only, 5 significant digits,
        correlations to 3 decimals.
        """
        return "\n".join(self.table_lines(comp, digits))

    def __str__(self) -> str:
        return self.to_string()

    def __repr__(self) -> str:
        return str(self)
