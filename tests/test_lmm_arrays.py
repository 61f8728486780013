"""A fitted lmer holds each per-row array once: X (Z shares it), y and the group codes,
no copies of the response, no vectors of unit weights, zero offsets or row positions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

import mixedmodels as mm


def _frame(n: int, groups: int) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    g = rng.integers(0, groups, n)
    x = rng.normal(size=n)
    y = 1.0 + 0.5 * x + rng.normal(size=groups)[g] + 0.3 * rng.normal(size=groups)[g] * x
    return pd.DataFrame({"y": y + rng.normal(size=n), "x": x, "g": [f"g{k}" for k in g]})


def _row_buffers(obj: Any, n: int, skip: set[int]) -> dict[int, tuple[str, int]]:
    """The distinct memory blocks of at least n elements reachable from ``obj``'s
    attributes (containers, dataclasses, plain objects), as {id: (path, bytes)}.
    Views share their base's entry; stride-0 views of one number hold no n values."""
    found: dict[int, tuple[str, int]] = {}
    seen = set(skip)
    stack = [(obj, "model")]
    while stack:
        x, path = stack.pop()
        if id(x) in seen or isinstance(x, (str, bytes, int, float, type, pd.Index)):
            continue
        seen.add(id(x))
        if isinstance(x, np.ndarray):
            base = x
            while isinstance(base.base, np.ndarray):
                base = base.base
            if base.size >= n and all(s != 0 for s in base.strides):
                found.setdefault(id(base), (path, base.nbytes))
            continue
        if isinstance(x, dict):
            stack.extend((v, f"{path}[{k!r}]") for k, v in x.items())
        elif isinstance(x, (list, tuple)):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(x))
        elif hasattr(x, "__dict__"):
            stack.extend((v, f"{path}.{k}") for k, v in vars(x).items())
    return found


def test_fitted_model_holds_each_row_array_once() -> None:
    n = 20_000
    data = _frame(n, 400)
    m = mm.lmer("y ~ x + (x | g)", data)
    held = _row_buffers(m, n, {id(data)})
    paths = sorted(path for path, _ in held.values())
    # X (n × 2, Z a view of it), y, the codes of g: nothing else of n rows
    assert len(held) == 3, paths
    assert sum(b for _, b in held.values()) <= n * (8 * 2 + 8 + 8), paths
    assert np.shares_memory(m.design.X, m.design.terms[0].Z)
    assert m.design.row_positions is None
    np.testing.assert_array_equal(m.design.rows, np.arange(n))
    # fitted values are computed when first read and then kept: one more array
    fitted = m.fitted
    assert len(_row_buffers(m, n, {id(data)})) == 4
    np.testing.assert_allclose(m.resid(), m.y - fitted)


def test_rows_dropped_for_missing_values_are_recorded() -> None:
    data = _frame(500, 20)
    data.loc[[3, 70], "x"] = np.nan
    m = mm.lmer("y ~ x + (1 | g)", data)
    assert m.design.row_positions is not None
    np.testing.assert_array_equal(m.design.rows, np.setdiff1d(np.arange(500), [3, 70]))
