"""A DataFrame that prints like R's ``anova`` tables (``print.anova``)."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from .._rformat import print_coefmat
from ..results.html import RichRepr

__all__ = ["AnovaTable", "anova_table_lines"]

_TEST_COLUMNS = ("F", "Cp", "Chisq")


def anova_table_lines(
    rownames: list[str], columns: dict[str, Any], digits: int = 5, stars: bool = True
) -> list[str]:
    """Lines of R's ``print.anova`` for a table (heading not included).

    As R: a last column whose name starts with ``P(`` or ``Pr(`` holds
    p-values; columns named ``... value``, ``F``, ``Cp`` or ``Chisq`` are
    test statistics (rounded to ``max(1, min(5, digits − 1))`` decimals,
    then formatted with ``digits`` significant digits); the other columns,
    except those whose name ends in ``Df``, go through ``zapsmall(x,
    digits)`` and each is formatted alone with ``digits`` significant
    digits; missing values print as blanks; everything through
    :func:`mixedmodels._rformat.print_coefmat` (``printCoefmat`` with
    ``cs.ind = NULL``), with significance stars and their legend when some
    p-value is below 0.1. (``print_coefmat`` recognises the p-value column
    of tables with at least 4 columns, as all the tables printed here have.)
    """
    return print_coefmat(*anova_table_args(rownames, columns, digits, stars))


def anova_table_args(
    rownames: list[str], columns: dict[str, Any], digits: int = 5, stars: bool = True
) -> tuple[Any, ...]:
    """Arguments of ``printCoefmat`` (and :func:`format_coefmat`) for ``print.anova``."""
    names = list(columns)
    nc = len(names)
    has_p = nc > 0 and re.match(r"^(P|Pr)\(", names[-1]) is not None
    zap = list(range(nc - 1 if has_p else nc))
    tst = [j for j, c in enumerate(names) if c[1:7] == " value"]
    tst += [j for j, c in enumerate(names) if c in _TEST_COLUMNS and j not in tst]
    zap = [j for j in zap if j not in tst and not names[j].endswith("Df")]
    return rownames, columns, digits, [], tst, zap, stars, ""


class AnovaTable(RichRepr, pd.DataFrame):
    """An ordinary DataFrame with R's printout.

    ``heading`` holds the lines printed above the table; ``kinds`` names the
    columns printed (with how each is read: ``"int"`` counts, ``"df"``
    plain numbers, ``"stat"`` test statistics, ``"p"`` p-values); the
    formatting itself follows R's ``print.anova`` from the column names
    (:func:`anova_table_lines`); ``digits`` is R's
    ``max(getOption("digits") − 2, 3)`` = 5 unless given.
    """

    _metadata = ["heading", "kinds", "digits"]

    @property
    def _constructor(self) -> type[AnovaTable]:
        return AnovaTable

    @classmethod
    def build(
        cls,
        frame: pd.DataFrame,
        heading: list[str],
        kinds: dict[str, str],
        digits: int = 5,
    ) -> AnovaTable:
        """The table ``frame`` with its heading lines, printed columns and digits."""
        out = cls(frame)
        out.heading = list(heading)
        out.kinds = dict(kinds)
        out.digits = digits
        return out

    def to_string(self, *args: Any, **kwargs: Any) -> str:  # noqa: D102
        if args or kwargs or not getattr(self, "kinds", None):
            return pd.DataFrame(self).to_string(*args, **kwargs)
        cols = [c for c in self.columns if c in self.kinds]
        lines = list(getattr(self, "heading", []))
        lines += anova_table_lines(
            [str(i) for i in self.index],
            {c: self[c].to_numpy(dtype=float) for c in cols},
            digits=getattr(self, "digits", 5),
        )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.to_string()

    def __str__(self) -> str:
        return self.to_string()
