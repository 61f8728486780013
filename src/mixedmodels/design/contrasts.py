"""R's contrast matrices: ``contr.treatment`` and ``contr.poly``.

A contrast matrix C (k levels × k−1 columns) codes a factor with k levels
into k−1 model-matrix columns: row ``level`` of C is the coding of that
level. Column suffixes are R's (level labels for treatment, ``.L .Q .C ^4``
for polynomial contrasts) so that coefficient names read as in R
(``MachineB``, ``temperature.L``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["coding_matrix", "contr_treatment", "contr_poly", "poly_suffixes", "full_dummy"]


def contr_treatment(levels: list[str]) -> tuple[np.ndarray, list[str]]:
    """Treatment contrasts: level 1 is the baseline; columns are levels 2..k."""
    k = len(levels)
    return np.eye(k)[:, 1:], list(levels[1:])


def full_dummy(levels: list[str]) -> tuple[np.ndarray, list[str]]:
    """Indicator coding, one column per level (R's coding without intercept)."""
    return np.eye(len(levels)), list(levels)


def poly_suffixes(k: int) -> list[str]:
    """R's names for the k−1 polynomial contrast columns: .L .Q .C ^4 ^5 ..."""
    base = [".L", ".Q", ".C"]
    return [base[i] if i < 3 else f"^{i + 1}" for i in range(k - 1)]


@lru_cache(maxsize=64)
def _poly_matrix(k: int) -> np.ndarray:
    scores = np.arange(1, k + 1, dtype=float)
    x = scores - scores.mean()
    vander = np.vander(x, k, increasing=True)
    q, r = np.linalg.qr(vander)
    # Gram-Schmidt of 1, x, x^2, ... with each column's leading coefficient positive,
    # normalised to unit length (R's make.poly); drop the constant column.
    q = q * np.sign(np.diag(r))
    out = q[:, 1:]
    out.setflags(write=False)
    return out


def contr_poly(levels: list[str]) -> tuple[np.ndarray, list[str]]:
    """Orthogonal polynomial contrasts for an ordered factor (R's ``contr.poly``).

    Column j is the degree-j orthonormal polynomial in the equally spaced
    scores 1..k, orthogonal to the constant.
    """
    k = len(levels)
    return np.array(_poly_matrix(k)), poly_suffixes(k)


def coding_matrix(levels: list[str], ordered: bool, coding: str) -> tuple[np.ndarray, list[str]]:
    """The columns coding a factor in a model matrix, as R's ``model.matrix``:
    indicators of every level (``coding == "full"``), else ``contr.poly`` for
    an ordered factor and ``contr.treatment`` otherwise; with column suffixes."""
    if coding == "full":
        return full_dummy(levels)
    if ordered:
        return contr_poly(levels)
    return contr_treatment(levels)
