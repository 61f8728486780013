"""The blocks of a one-term model of plain columns, summed per level by ``bincount`` in
reused buffers: the fast path of a Parquet file in ``lmer_dask``.

For ``y ~ X + (Z | g)`` with one random-effect term whose X and Z columns are each
the intercept or a numeric column of the data (:class:`PlainColumns`), and the
file's centering X̃_j = (x_j − m_j)/d_j (X̃_0 = 1 with an intercept),
ỹ = (y − c)/s, C = [X̃ ỹ]:

    A11[l, s, t]    = Σ_{i: g_i = l} z_is z_it       (raw Z, S × S per level)
    A21[j, l·S + s] = Σ_{i: g_i = l} c_ij z_is
    A22             = C'C                             (dot products, column sums, n)

each distinct product of two columns summed once (1·z and z·1 are one sum, 1·1 the
level count): for ``y ~ x + (x | g)`` the per-level n_l, Σx, Σx², Σx̃, Σx̃·x, Σỹ,
Σỹ·x, and n, Σx̃, Σx̃², Σỹ, Σx̃ỹ, Σỹ² overall. These are the sums
:func:`mixedmodels.crossprod.crossprod` forms for one term, by the same
:func:`mixedmodels.crossprod.blocks.one_term_blocks`, without a model matrix: the
columns are the file's own arrays, and the shifted columns and the products are
written into a :class:`Workspace` that the next file reuses (no
fresh memory per file, so no page faults on it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..crossprod import Centering
from ..crossprod.blocks import one_term_blocks as level_blocks
from ..crossprod.centering import SAMPLE_ROWS
from ..design.model_matrix import MatrixSpec

__all__ = ["PlainColumns", "Workspace", "one_term_blocks"]

class Workspace:
    """Named buffers reused from file to file; :meth:`get` gives the first n entries."""

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def get(self, name: str, n: int, dtype: Any = float) -> np.ndarray:
        buf = self._buffers.get(name)
        if buf is None or buf.size < n or buf.dtype != np.dtype(dtype):
            buf = np.empty(n, dtype=dtype)
            self._buffers[name] = buf
        return buf[:n]


def _plain(spec: MatrixSpec, raw: list[str]) -> list[str | None] | None:
    """The columns of a model matrix as data columns (None: the intercept), or None when
    some column is not a bare numeric column."""
    ts = spec.term_spec
    if ts.offsets or any(len(t) != 1 or t[0] not in raw for t in ts.terms):
        return None
    cols: list[str | None] = ([None] if ts.intercept else []) + [t[0] for t in ts.terms]
    return cols if len(cols) == len(spec.column_names) else None


@dataclass(frozen=True)
class PlainColumns:
    """X's and Z's columns as data columns (None: the intercept) and the response's."""

    x: list[str | None]
    z: list[str | None]
    response: str

    @classmethod
    def of(cls, fixed: MatrixSpec, bars: list[MatrixSpec], response: str, raw: list[str],
           weights: str | None) -> PlainColumns | None:
        """The plain columns of an unweighted one-term model, else None."""
        if len(bars) != 1 or weights is not None or response not in raw:
            return None
        x, z = _plain(fixed, raw), _plain(bars[0], raw)
        if x is None or z is None:
            return None
        return cls(x, z, response)

    def head(self, cols: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, None]:
        """The first :data:`SAMPLE_ROWS` rows (X, y, no weights), copied."""
        y = np.array(cols[self.response][:SAMPLE_ROWS], dtype=float)
        X = np.empty((y.size, len(self.x)))
        for j, c in enumerate(self.x):
            X[:, j] = 1.0 if c is None else cols[c][:SAMPLE_ROWS]
        return X, y, None

    def norms2(self, cols: dict[str, np.ndarray], n: int, shift: Centering) -> np.ndarray:
        """Σ_i (x_ij / d_j)² of each column of X (the rank check's scale)."""
        return np.array([n / shift.d[j] ** 2 if c is None
                         else float(np.dot(cols[c], cols[c])) / shift.d[j] ** 2
                         for j, c in enumerate(self.x)], dtype=float)


def one_term_blocks(
    codes: np.ndarray, nl: int, cols: dict[str, np.ndarray], plain: PlainColumns,
    shift: Centering, ws: Workspace,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A11, A21, A22) of the module docstring from the level ``codes`` (0..nl−1) and the
    data columns ``cols`` of complete rows."""
    n = codes.size
    z_cols: list[np.ndarray | None] = [None if c is None else cols[c] for c in plain.z]
    c_cols: list[np.ndarray | None] = []
    for j, c in enumerate(plain.x):
        if c is None:  # X̃_0 = 1: the intercept is the first column, unscaled
            c_cols.append(None)
        else:
            col = ws.get(f"x{j}", n)
            np.subtract(cols[c], shift.m[j], out=col)
            col /= shift.d[j]
            c_cols.append(col)
    yt = ws.get("y", n)
    np.subtract(cols[plain.response], shift.c, out=yt)
    yt /= shift.s
    c_cols.append(yt)
    return level_blocks(codes, nl, z_cols, c_cols, n, buffer=ws.get("product", n))
