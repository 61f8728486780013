"""The response of a linear mixed model: numeric, and with variance left to estimate.

A factor response is an error that says what to use instead; a constant
response, or one the fixed effects reproduce exactly, has no variance to
estimate and is refused before the fit (lme4 would fail to converge).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import DataError
from .factors import numbers_as_text
from .rank import normalized_pivots
from .variables import Categorical, Numeric

if TYPE_CHECKING:
    from .frame import Design

__all__ = ["numeric_response", "check_response_varies"]


def numeric_response(design: Design) -> np.ndarray:
    """The response as a numeric vector, or a clear error."""
    r = design.response
    if isinstance(r, Categorical) or (isinstance(r, Numeric) and r.values.ndim != 1):
        name = design.formula.response
        hint = (
            f"; its values are numbers stored as text: convert the column with "
            f"d['{name}'] = pd.to_numeric(d['{name}'])"
            if isinstance(r, Categorical) and numbers_as_text(r.levels)
            else " (use mm.glmer(..., family='binomial') for a binary outcome)"
        )
        raise DataError(
            f"the response '{name}' must be a numeric column for a linear mixed model; "
            f"it is categorical{hint}"
        )
    return design.y


def check_response_varies(design: Design, xy_gram: np.ndarray | None = None) -> None:
    """A linear mixed model of a constant response (after the offset), or of a
    response the fixed effects reproduce exactly (‖y − Xβ̂‖ ≤ 1e-10 ‖y − ȳ‖), has
    no variance to estimate: a clear error rather than a degenerate fit.

    ``xy_gram``: the unweighted [X̃ ỹ]'[X̃ ỹ] of the cross-products
    (:mod:`mixedmodels.crossprod`), if at hand; when its Cholesky factor shows the
    residual far from zero (see :func:`_residual_clearly_nonzero`) no least squares
    on the rows is needed."""
    if isinstance(design.response, Categorical) or design.y.ndim != 1:
        return  # numeric_response names the problem
    z = design.y - design.offset if design.has_offset else design.y
    if design.n > 1 and np.ptp(z) == 0:
        value = float(design.y[0] - design.offset[0])
        after = " after the offset" if design.has_offset else ""
        raise DataError(
            f"the response '{design.formula.response}' is constant (every one of the "
            f"{design.n} values used is {value:.15g}{after}): "
            "a linear mixed model cannot estimate variances from it (lme4 fails to converge "
            "on it); check the response column"
        )
    if 0 < design.p < design.n and not (
        xy_gram is not None and _residual_clearly_nonzero(xy_gram)
    ):
        with np.errstate(all="ignore"):
            coef = np.linalg.lstsq(design.X, z, rcond=None)[0]
            r = float(np.linalg.norm(z - design.X @ coef))
            spread = float(np.linalg.norm(z - z.mean()))
        if r <= 1e-10 * spread:
            raise DataError(
                f"the fixed effects {design.x_names} reproduce the response "
                f"'{design.formula.response}' exactly (the residuals are zero), so no "
                "variance is left to estimate; is a predictor computed from the response?"
            )


def _residual_clearly_nonzero(T: np.ndarray, margin: float = 1e-6) -> bool:
    """From T = [X̃ ỹ]'[X̃ ỹ]: True when ‖ỹ − X̃β̂‖² > ``margin``·ỹ'ỹ with the X̃ block
    well conditioned (every normalized Cholesky pivot² > 1e-4), so that the
    Cholesky factor's error, about p·ε·cond·ỹ'ỹ, cannot matter. Then the exact
    test (‖y − Xβ̂‖ ≤ 1e-10 ‖y − ȳ‖, scale-free) certainly passes."""
    pivots = normalized_pivots(T, 0.0, np.inf)
    return pivots is not None and bool(np.all(pivots[:-1] > 1e-4) and pivots[-1] > margin)
