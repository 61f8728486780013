"""Multiplicity adjustments of p-values and interval levels within a family, as R's emmeans.

For m tests in a family (k estimates for pairwise comparisons), with
unadjusted two-sided p-values pᵢ, statistics tᵢ and degrees of freedom νᵢ:

* ``"tukey"`` (pairwise comparisons of k estimates): pᵢ = P(Q_{k,νᵢ} > √2 |tᵢ|)
  with Q the studentized range; interval half-width q_{k,νᵢ}(level)/√2 · SE;
* ``"holm"``: the step-down Bonferroni, p₍ⱼ₎ = max_{i≤j} min(1, (m − i + 1) p₍ᵢ₎)
  (intervals: Bonferroni's, as emmeans);
* ``"bonferroni"``: min(1, m pᵢ); intervals at level 1 − (1 − level)/m;
* ``"sidak"``: 1 − (1 − pᵢ)^m; intervals at level level^{1/m};
* ``"none"``.

ν = ∞ (asymptotic tests) uses the normal and the studentized range with
infinite degrees of freedom.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ..errors import ArgumentError

__all__ = ["ADJUSTMENTS", "adjust_p", "critical_value", "normalize_adjust"]

ADJUSTMENTS = ("tukey", "holm", "bonferroni", "sidak", "none")


def normalize_adjust(adjust: str | None, pairwise: bool) -> str:
    """The adjustment's canonical name; Tukey's applies to pairwise comparisons only
    (for other families emmeans switches to Šidák, and so does this)."""
    key = "none" if adjust is None else str(adjust).lower()
    if key not in ADJUSTMENTS:
        raise ArgumentError("adjust", adjust, f"one of {', '.join(ADJUSTMENTS)}")
    if key == "tukey" and not pairwise:
        return "sidak"
    return key


def _t_sf2(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Two-sided P(|T_ν| > |t|), normal where ν = ∞."""
    at = np.abs(t)
    return np.where(np.isinf(df), 2.0 * stats.norm.sf(at), 2.0 * stats.t.sf(at, np.where(
        np.isinf(df), 1.0, df)))


def adjust_p(t: np.ndarray, df: np.ndarray, adjust: str, family: np.ndarray, k: int) -> np.ndarray:
    """Adjusted p-values of the statistics ``t``; ``family`` labels each test's family
    (the ``by`` group), ``k`` is the number of estimates compared (Tukey)."""
    t = np.asarray(t, dtype=float)
    df = np.asarray(df, dtype=float)
    p = _t_sf2(t, df)
    if adjust == "none":
        return p
    if adjust == "tukey":
        return np.asarray(stats.studentized_range.sf(np.sqrt(2.0) * np.abs(t), k, df), float)
    out = np.empty_like(p)
    for f in np.unique(family):
        idx = np.flatnonzero(family == f)
        m = idx.size
        pf = p[idx]
        if adjust == "bonferroni":
            out[idx] = np.minimum(1.0, m * pf)
        elif adjust == "sidak":
            out[idx] = 1.0 - (1.0 - pf) ** m
        else:  # holm
            order = np.argsort(pf, kind="stable")
            stepped = np.maximum.accumulate((m - np.arange(m)) * pf[order])
            res = np.empty(m)
            res[order] = np.minimum(1.0, stepped)
            out[idx] = res
    return out


def critical_value(df: np.ndarray, level: float, adjust: str, m: int, k: int) -> np.ndarray:
    """Multiplier of the SE for a two-sided interval at ``level`` under the adjustment
    (m estimates in the family; k compared estimates for Tukey)."""
    df = np.asarray(df, dtype=float)
    if adjust == "tukey":
        return np.asarray(stats.studentized_range.ppf(level, k, df), float) / np.sqrt(2.0)
    if adjust in ("bonferroni", "holm"):
        q = 1.0 - (1.0 - level) / (2.0 * m)
    elif adjust == "sidak":
        q = (1.0 + level ** (1.0 / m)) / 2.0
    else:
        q = (1.0 + level) / 2.0
    finite = np.where(np.isinf(df), 1.0, df)
    return np.where(np.isinf(df), stats.norm.ppf(q), stats.t.ppf(q, finite))
