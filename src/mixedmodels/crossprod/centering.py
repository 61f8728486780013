"""The shift and scale under which the cross-products are accumulated.

Forming A = [Z X y]'W[Z X y] from raw columns loses every digit that a
common offset shares: with y ≈ 1e9 the Schur complements of the factor
cancel catastrophically. The blocks are therefore accumulated for an
exactly reparameterized model. With the intercept in column 0 of X,

    X̃_0 = 1,   X̃_j = (X_j − m_j)/d_j,   so X = X̃ M,  M = [[d_0, m_1 … m_p−1],
                                                          [0,   diag(d_1 … d_p−1)]],
    ỹ = (y − c)/s.

Without an intercept (the constant not in col(X)) nothing is shifted
(c = m = 0); columns and y are only scaled. Z is never touched: that would
change the model. The reparameterized model has the same θ, and

    β = M⁻¹(s β̃ + c e₀),   b = s b̃,   u = s ũ,   σ = s σ̃,   pwrss = s² p̃,
    R_X = R̃_X M,   log|R_X|² = log|R̃_X|² + 2 Σ log d_j.

The transformation is exact for any (c, m, s, d), so the centers need only
be close: they come from the first rows (:data:`SAMPLE_ROWS`), which an
out-of-core backend reads before its single scan. s and d are powers of
two, so scaling itself adds no rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._triangular import solve_triangular

__all__ = ["Centering", "SAMPLE_ROWS"]

SAMPLE_ROWS = 10_000
"""Rows (from the top) whose weighted means and spreads give the shift and scale."""


def _pow2(x: float) -> float:
    """The power of two nearest to x > 0 (1.0 for 0, inf or NaN)."""
    if not (x > 0.0 and math.isfinite(x)):
        return 1.0
    return math.ldexp(1.0, round(math.log2(x)))


def _rms(v: np.ndarray, w: np.ndarray | None) -> float:
    """Weighted root mean square of v, without overflow or underflow."""
    if v.size == 0:
        return 0.0
    a = float(np.max(np.abs(v)))
    if not (a > 0.0 and math.isfinite(a)):
        return a if math.isfinite(a) else 0.0
    z = v / a
    return a * math.sqrt(float(np.average(z * z, weights=w)))


def _mean(v: np.ndarray, w: np.ndarray | None) -> float:
    """Weighted mean of v, taken on v/max|v| so that huge values cannot overflow."""
    a = float(np.max(np.abs(v))) if v.size else 0.0
    if not (a > 0.0 and math.isfinite(a)):
        return 0.0
    return a * float(np.average(v / a, weights=w))


def _column_means(V: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """:func:`_mean` of every column of V (F-ordered: each column's sum is the same
    pairwise sum as the column's alone, so the results are equal bit for bit)."""
    if V.shape[0] == 0:
        return np.zeros(V.shape[1])
    a = np.abs(V).max(axis=0)
    ok = (a > 0.0) & np.isfinite(a)
    a = np.where(ok, a, 1.0)
    return np.where(ok, a * np.average(V / a, axis=0, weights=w), 0.0)


def _column_rms(V: np.ndarray, w: np.ndarray | None) -> list[float]:
    """:func:`_rms` of every column of V (F-ordered, as :func:`_column_means`)."""
    if V.shape[0] == 0:
        return [0.0] * V.shape[1]
    a = np.abs(V).max(axis=0)
    ok = (a > 0.0) & np.isfinite(a)
    scale = np.where(ok, a, 1.0)
    z = V / scale
    ms = np.average(z * z, axis=0, weights=w)
    return [
        float(aj) * math.sqrt(float(mj)) if okj else (float(aj) if math.isfinite(aj) else 0.0)
        for aj, mj, okj in zip(a.tolist(), ms.tolist(), ok.tolist())
    ]


def _response_shift(ys: np.ndarray, ws: np.ndarray | None, intercept: bool) -> tuple[float, float]:
    """(c, s) of ỹ = (y − c)/s: the weighted mean (with an intercept, else 0) and the
    power of two near the RMS of y − c.

    By direct sums, c = Σwy/Σw and Σw(y − c)²/Σw (four numpy calls: a refit loop
    computes this per response); by the overflow-safe :func:`_mean` and :func:`_rms`
    where a sum is not finite or the spread underflows."""
    sw = (float(ws.sum()) if ws is not None else float(ys.size)) if ys.size else 0.0
    if sw > 0.0:
        with np.errstate(over="ignore", invalid="ignore"):
            # numpy's sums (BLAS dot products round by the operands' alignment)
            c = (float((ys * ws).sum()) if ws is not None else float(ys.sum())) / sw \
                if intercept else 0.0
            if math.isfinite(c):
                e = ys - c
                ss = float((e * e * ws).sum()) if ws is not None else float((e * e).sum())
                if math.isfinite(ss) and ss > 0.0:
                    return c, _pow2(math.sqrt(ss / sw))
    c = _mean(ys, ws) if intercept else 0.0
    return c, _pow2(_rms(ys - c, ws))


@dataclass(frozen=True)
class Centering:
    """X̃ = (X − 1m')/d with X̃_0 = 1 (when ``intercept``), ỹ = (y − c)/s."""

    c: float
    s: float
    m: np.ndarray  # (p,), m[0] = 0
    d: np.ndarray  # (p,), > 0
    intercept: bool

    @classmethod
    def identity(cls, p: int) -> Centering:
        return cls(0.0, 1.0, np.zeros(p), np.ones(p), False)

    @classmethod
    def from_rows(
        cls,
        X: np.ndarray,
        y: np.ndarray,
        w: np.ndarray | None = None,
        intercept: bool | None = None,
    ) -> Centering:
        """Centers and scales from the first :data:`SAMPLE_ROWS` rows of (X, y, w).

        ``intercept=None`` detects it: column 0 constant and nonzero on every
        row of X. Scales are powers of two near the weighted RMS of the
        centered columns (1 where that is zero or not finite).
        """
        n, p = X.shape
        if intercept is None:
            intercept = p > 0 and n > 0 and X[0, 0] != 0.0 and bool(np.all(X[:, 0] == X[0, 0]))
        Xs, ys = X[:SAMPLE_ROWS], y[:SAMPLE_ROWS]
        ws = None if w is None else w[:SAMPLE_ROWS]
        if ws is not None and not float(np.sum(ws)) > 0.0:
            ws = None
        m = np.zeros(p)
        d = np.ones(p)
        start = 0
        if intercept:
            d[0] = float(Xs[0, 0]) if Xs.size else 1.0
            start = 1
        if start < p:
            V = np.asfortranarray(Xs[:, start:])  # columns contiguous: column-wise sums
            if intercept:
                m[start:] = _column_means(V, ws)
                V = V - m[start:]
            d[start:] = [_pow2(r) for r in _column_rms(V, ws)]
        c, s = _response_shift(ys, ws, bool(intercept))
        return cls(c, s, m, d, bool(intercept))

    def with_response(self, y: np.ndarray, w: np.ndarray | None = None) -> Centering:
        """The same X̃ with the c and s that :meth:`from_rows` gives a new response."""
        ws = None if w is None else w[:SAMPLE_ROWS]
        if ws is not None and not float(np.sum(ws)) > 0.0:
            ws = None
        c, s = _response_shift(y[:SAMPLE_ROWS], ws, self.intercept)
        return Centering(c, s, self.m, self.d, self.intercept)

    # -- the data side ------------------------------------------------------------
    def transform(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(X̃, ỹ) = ((X − 1m')/d, (y − c)/s), with column 0 of X̃ exactly 1 (intercept)."""
        Xt = (X - self.m) / self.d
        if self.intercept:
            Xt[:, 0] = 1.0
        return Xt, (y - self.c) / self.s

    def subset(self, keep: np.ndarray) -> Centering:
        """The centering of the X columns ``keep`` (column 0 must stay if it is the intercept)."""
        keep = np.asarray(keep, dtype=np.intp)
        icpt = self.intercept and keep.size > 0 and keep[0] == 0
        return Centering(self.c if icpt else 0.0, self.s, self.m[keep], self.d[keep], icpt)

    # -- back to the original units -----------------------------------------------
    @property
    def M(self) -> np.ndarray:
        """Upper-triangular M with X = X̃ M."""
        M = np.diag(self.d)
        if self.intercept and self.d.size:
            M[0, 1:] = self.m[1:]
        return M

    @property
    def log_s(self) -> float:
        return math.log(self.s)

    @property
    def log_det_M(self) -> float:
        """log|det M| = Σ log d_j (the shift of log|R_X|² is twice this)."""
        return float(np.sum(np.log(np.abs(self.d))))

    def beta(self, beta_t: np.ndarray) -> np.ndarray:
        """β = M⁻¹(s β̃ + c e₀)."""
        v = self.s * np.asarray(beta_t, dtype=float)
        if not v.size:
            return v
        if self.intercept:
            v[0] += self.c
        return solve_triangular(self.M, v, lower=False)

    def rx(self, rx_t: np.ndarray) -> np.ndarray:
        """R_X = R̃_X M (upper triangular)."""
        return rx_t @ self.M if rx_t.size else rx_t

    def rx_inverse(self, rx_t: np.ndarray) -> np.ndarray:
        """R_X⁻¹ = M⁻¹ R̃_X⁻¹, by two triangular solves (never forming R_X)."""
        if not rx_t.size:
            return rx_t
        rinv = solve_triangular(rx_t, np.eye(rx_t.shape[0]), lower=False)
        return solve_triangular(self.M, rinv, lower=False)

    def rx_inverse_scaled(self, rx_t: np.ndarray) -> np.ndarray:
        """D R_X⁻¹ = (M D⁻¹)⁻¹ R̃_X⁻¹, well scaled for any d (D = diag d)."""
        if not rx_t.size:
            return rx_t
        rinv = solve_triangular(rx_t, np.eye(rx_t.shape[0]), lower=False)
        return solve_triangular(self.M / self.d[None, :], rinv, lower=False)
