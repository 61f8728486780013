"""A DataFrame that prints like R's ``anova`` tables (``print.anova``)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .._rformat import SIGNIF_LEGEND, coef_matrix_lines

__all__ = ["AnovaTable"]


class AnovaTable(pd.DataFrame):
    """An ordinary DataFrame with R's printout.

    ``heading`` holds the lines printed above the table; ``kinds`` maps each
    column to how R formats it (``"int"``, ``"df"`` for plain numbers,
    ``"stat"`` for test statistics, ``"p"`` for p-values); ``digits`` is
    R's ``max(getOption("digits") − 2, 3)`` = 5 unless given.
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
        body = coef_matrix_lines(
            [str(i) for i in self.index],
            {c: self[c].to_numpy(dtype=float) for c in cols},
            self.kinds,
            digits=getattr(self, "digits", 5),
        )
        lines += body
        if any(self.kinds.get(c) == "p" for c in cols):
            lines += ["---", SIGNIF_LEGEND]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.to_string()

    def __str__(self) -> str:
        return self.to_string()
