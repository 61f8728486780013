"""Simulated data of the GLMM benchmark (fixed seeds; the generator ships, not the data).

* ``crossed_logistic(rows, subjects, items)``: binary y of
  ``y ~ x + cond + (1 | subj) + (1 | item)``; each row pairs a random subject
  with a random item (every level used), x ~ N(0, 1), cond ∈ {0, 1},
  logit P(y = 1) = −0.5 + 0.4 x + 0.6 cond + b_subj + b_item with
  b_subj ~ N(0, 1), b_item ~ N(0, 0.6²).
* ``crossed_poisson(rows, subjects, items)``: counts of
  ``y ~ x + (1 | subj) + (1 | item)``, log μ = 0.5 + 0.3 x + b_subj + b_item
  with b_subj ~ N(0, 0.5²), b_item ~ N(0, 0.3²).
* ``logistic_slope(groups, per_group)``: binary y of ``y ~ x + (x | g)``,
  logit P = 0.2 + 0.8 x + b0_g + b1_g x, (b0, b1) ~ N(0, [[1, 0.15], [0.15, 0.25]]).

Every function returns a pandas DataFrame; ``write_csv`` writes one for R.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["crossed_logistic", "crossed_poisson", "logistic_slope", "write_csv"]


def _crossed_codes(rng: np.random.Generator, rows: int, levels: int) -> np.ndarray:
    """Codes 0..levels-1 for `rows` rows, every level used at least once."""
    c = np.concatenate([np.arange(levels), rng.integers(0, levels, rows - levels)])
    rng.shuffle(c)
    return c


def _labels(prefix: str, codes: np.ndarray, levels: int) -> pd.Categorical:
    width = len(str(levels))
    names = np.array([f"{prefix}{i:0{width}d}" for i in range(1, levels + 1)])
    return pd.Categorical.from_codes(codes, categories=names)


def crossed_logistic(rows: int, subjects: int, items: int, seed: int = 20261206) -> pd.DataFrame:
    """Crossed logistic design (see the module docstring)."""
    rng = np.random.default_rng(seed + rows)
    s = _crossed_codes(rng, rows, subjects)
    i = _crossed_codes(rng, rows, items)
    bs = rng.normal(0.0, 1.0, subjects)
    bi = rng.normal(0.0, 0.6, items)
    x = rng.standard_normal(rows)
    cond = rng.integers(0, 2, rows).astype(float)
    eta = -0.5 + 0.4 * x + 0.6 * cond + bs[s] + bi[i]
    y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
    return pd.DataFrame({"y": y, "x": x, "cond": cond, "subj": _labels("s", s, subjects),
                         "item": _labels("i", i, items)})


def crossed_poisson(rows: int, subjects: int, items: int, seed: int = 20261207) -> pd.DataFrame:
    """Crossed Poisson design (see the module docstring)."""
    rng = np.random.default_rng(seed + rows)
    s = _crossed_codes(rng, rows, subjects)
    i = _crossed_codes(rng, rows, items)
    bs = rng.normal(0.0, 0.5, subjects)
    bi = rng.normal(0.0, 0.3, items)
    x = rng.standard_normal(rows)
    y = rng.poisson(np.exp(0.5 + 0.3 * x + bs[s] + bi[i])).astype(float)
    return pd.DataFrame({"y": y, "x": x, "subj": _labels("s", s, subjects),
                         "item": _labels("i", i, items)})


def logistic_slope(groups: int, per_group: int, seed: int = 20261208) -> pd.DataFrame:
    """Logistic random-slope design (see the module docstring)."""
    rng = np.random.default_rng(seed + groups * per_group)
    g = np.repeat(np.arange(groups), per_group)
    b = rng.multivariate_normal([0.0, 0.0], [[1.0, 0.15], [0.15, 0.25]], size=groups)
    x = rng.standard_normal(g.size)
    eta = 0.2 + 0.8 * x + b[g, 0] + b[g, 1] * x
    y = (rng.random(g.size) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
    return pd.DataFrame({"y": y, "x": x, "g": _labels("g", g, groups)})


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write a simulated frame as CSV (factor levels as their labels)."""
    df.to_csv(path, index=False, float_format="%.17g")
