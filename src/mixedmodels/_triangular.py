"""Triangular solves op(A) x = b straight through LAPACK's dtrtrs.

scipy.linalg.solve_triangular validates and converts its arguments on every
call, which costs more than the solve itself for the small systems of a
mixed model (R_X, the blocks of L at θ̂): a refit does half a dozen of them.
This keeps scipy's behaviour where it matters (a non-finite input raises
ValueError, a zero on the diagonal LinAlgError) and only reads the triangle
named by ``lower``.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

__all__ = ["solve_triangular"]


def solve_triangular(
    a: np.ndarray, b: np.ndarray, lower: bool = False, trans: bool = False
) -> np.ndarray:
    """x with A x = b (A' x = b for ``trans``), A triangular (its ``lower`` or upper part)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("array must not contain infs or NaNs")
    if a.shape[0] == 0:
        return b.copy()
    x, info = lapack.dtrtrs(a, b, lower=int(lower), trans=int(trans))
    if info > 0:
        raise np.linalg.LinAlgError(f"singular matrix: zero on the diagonal at {info - 1}")
    if info < 0:
        raise ValueError(f"illegal value in argument {-info} of dtrtrs")
    return x
