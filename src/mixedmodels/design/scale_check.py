"""lme4's ``checkScaleX``: warn when fixed-effect predictors are on very different scales.

For the columns of X that are not all 0/1 (intercept and dummy columns are
skipped) with standard deviations s_j, lme4 warns when any
|log(s_i/s_j)| or any |log s_j| exceeds log(1000): a predictor with sd
above 1000 or below 0.001, or two predictors whose sds differ by more
than a factor 1000. The fit is not changed (lme4's ``check.scaleX =
"warning"``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

from ..errors import PredictorScaleWarning

__all__ = ["check_scale_x"]

SCALE_TOL = 1e3


def _binary(col: np.ndarray, lo: float, hi: float) -> bool:
    """Every entry 0 or 1 (an intercept, a dummy): from the extremes ``lo``, ``hi`` when
    they decide it."""
    if lo == hi:
        return bool(lo == 0.0 or lo == 1.0)
    if lo != 0.0 or hi != 1.0:
        return False
    return bool(((col == 0.0) | (col == 1.0)).all())


def _sd(col: np.ndarray) -> float:
    """R's ``sd``: √(Σ(x − x̄)²/(n − 1))."""
    d = col - col.mean()
    return math.sqrt(float(d @ d) / (col.shape[0] - 1))


def check_scale_x(
    X: np.ndarray, names: Sequence[str], tol: float = SCALE_TOL, stacklevel: int = 3
) -> bool:
    """Warn (:class:`PredictorScaleWarning`) as lme4 does; returns whether it warned."""
    if X.shape[0] < 2 or X.shape[1] == 0:
        return False
    los, his = X.min(axis=0).tolist(), X.max(axis=0).tolist()
    continuous = [not _binary(X[:, j], lo, hi) for j, (lo, hi) in enumerate(zip(los, his))]
    if not any(continuous):
        return False
    with np.errstate(all="ignore"):  # inf or huge entries give an inf/NaN sd, not a warning
        sd = np.array([_sd(X[:, j]) for j in np.flatnonzero(continuous)])
        logsd = np.log(sd)
    limit = math.log(tol)
    # |log s_j| beyond the limit, or two sds further apart: the largest spread of the
    # finite logs (an infinite one is beyond the limit itself; NaN compares false)
    finite = logsd[np.isfinite(logsd)]
    far = bool((np.abs(logsd) > limit).any())
    if not (far or (finite.size > 1 and float(finite.max() - finite.min()) > limit)):
        return False
    cols = [n for n, c in zip(names, continuous) if c]
    shown = ", ".join(f"{n} {s:.3g}" for n, s in zip(cols[:8], sd[:8]))
    warnings.warn(
        "Some predictor variables are on very different scales: consider rescaling "
        f"(standard deviations: {shown}{' ...' if len(cols) > 8 else ''}); "
        "for example scale(x) in the formula, or a change of units",
        PredictorScaleWarning,
        stacklevel=stacklevel,
    )
    return True
