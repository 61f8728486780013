"""Model matrix columns that the fit cannot use: infinite values and overflowing sums.

R stops on ``NA/NaN/Inf in 'x'``; here the error names the column, the
term and the number of rows. Columns whose sums (fixed effects) or squares
(random-effect terms) overflow double precision are refused with the
rescaling to apply. The cheap test reads one max and one min per column.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import DataError

__all__ = ["check_columns", "check_finite", "infinite_column_error"]


def check_finite(M: np.ndarray, names: list[str], where: str, formula: str) -> None:
    """R's "NA/NaN/Inf in 'x'": a model matrix column with ±Inf (``log(0)``,
    ``1/0``, an overflow such as ``x * 1e308``) is an error naming the column."""
    bad = ~np.isfinite(M)
    if not bad.any():
        return
    j = int(np.flatnonzero(bad.any(axis=0))[0])
    raise infinite_column_error(names[j], where, int(bad[:, j].sum()), M.shape[0], formula)


def infinite_column_error(name: str, where: str, count: int, n: int, formula: str) -> DataError:
    """The error for ``count`` infinite values (of ``n`` rows) in column ``name`` of a
    model matrix (``where``: "the fixed effects", "the random-effect term (x | g)")."""
    return DataError(
        f"column '{name}' of {where} has {count} infinite value{'s' if count > 1 else ''} "
        f"(of {n} rows) in '{formula}': a model matrix must be finite (R: "
        "NA/NaN/Inf in 'x'); change the expression (e.g. log(x + 1) for x >= 0) or drop "
        "those rows"
    )


def check_columns(
    M: np.ndarray,
    names: list[str],
    where: str,
    formula: str,
    squared: bool,
    known: dict[str, float] | None = None,
) -> dict[str, float]:
    """:func:`check_finite` and :func:`_check_magnitude` of a model matrix from its
    column extremes (one max and one min per column, no n×p temporaries; columns
    named in ``known`` take their max|v| from there). Only when a column fails are
    the exact checks run, for their messages. Returns max|v| per column name."""
    n, p = M.shape
    if n == 0 or p == 0:
        check_finite(M, names, where, formula)
        _check_magnitude(M, names, where, squared)
        return {}
    known = known or {}
    big: list[float] = [known.get(nm, math.nan) for nm in names]
    todo = [j for j, nm in enumerate(names) if nm not in known]
    if todo:
        sub = M if len(todo) == p else M[:, todo]
        extremes = np.maximum(sub.max(axis=0), -sub.min(axis=0)).tolist()  # NaN propagates
        for j, v in zip(todo, extremes):
            big[j] = v
    # p Python floats (overflow gives inf, NaN compares false): Σ|v| ≤ n·max|v|
    limit = _Z_SQUARED_SUM_LIMIT if squared else math.inf
    if not all(math.isfinite(v) and (v * v * n if squared else v * n) < limit for v in big):
        check_finite(M, names, where, formula)
        _check_magnitude(M, names, where, squared)
    return dict(zip(names, big))


# Z enters the cross-products unscaled, and the fit multiplies their per-level sums
# by θ² and by each other (determinants of S×S blocks): a column of size z over n
# rows keeps the fit finite while n·z² stays far below the double range.
_Z_SQUARED_SUM_LIMIT = 1e150


def _check_magnitude(M: np.ndarray, names: list[str], where: str, squared: bool) -> None:
    """Refuse columns whose sums (fixed effects, ``Σ|x|`` must be finite) or squares
    (random-effect terms, ``n·max|z|²`` below 1e150) overflow double precision."""
    with np.errstate(over="ignore"):
        big = np.abs(M).max(axis=0) if squared else np.abs(M).sum(axis=0)
        if squared:
            big = big * big * M.shape[0]
    limit = _Z_SQUARED_SUM_LIMIT if squared else np.inf
    bad = np.flatnonzero(~(big < limit))
    if bad.size == 0:
        return
    j = int(bad[0])
    raise DataError(
        f"column '{names[j]}' of {where} has values as large as "
        f"{float(np.abs(M[:, j]).max()):.3g}: "
        f"{'their squares overflow' if squared else 'their sum overflows'} double precision "
        "during the fit; rescale the variable (e.g. divide by a power of 10)"
    )
