"""The per-level blocks of a one-term model of plain columns equal crossprod's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mixedmodels.crossprod import Centering, crossprod
from mixedmodels.scale.dask_backend import read_formula
from mixedmodels.scale.dask_onepass import OnePassPlan
from mixedmodels.scale.level_moments import PlainColumns, Workspace, one_term_blocks

FRAME = pd.DataFrame({"y": [1.0, 2.0], "x": [0.5, 1.5], "z": [1, 2], "w": [1.0, 2.0],
                      "g": ["a", "b"], "h": ["u", "v"]})


def _plan(formula: str, weights: str | None = None) -> OnePassPlan:
    _, parsed, infos, raw, _ = read_formula(formula, FRAME, weights, None, None)
    return OnePassPlan.of(parsed, infos, raw, weights)


def _plain(formula: str, weights: str | None = None) -> PlainColumns | None:
    p = _plan(formula, weights)
    return PlainColumns.of(p.fixed, p.bars, p.response, p.raw, p.weights)


def test_plain_columns_of_simple_models_only() -> None:
    got = _plain("y ~ x + (x | g)")
    assert got is not None and got.x == [None, "x"] and got.z == [None, "x"]
    got = _plain("y ~ 0 + x + z + (0 + z | g)")
    assert got is not None and got.x == ["x", "z"] and got.z == ["z"]
    for formula in ["y ~ log(x) + (1 | g)", "y ~ x + (1 | g) + (1 | h)", "y ~ x * z + (1 | g)",
                    "y ~ x + (I(x^2) | g)", "log(y) ~ x + (1 | g)"]:
        assert _plain(formula) is None, formula
    assert _plain("y ~ x + (1 | g)", weights="w") is None


@pytest.mark.parametrize("formula", ["y ~ x + (x | g)", "y ~ 0 + x + z + (0 + z | g)",
                                     "y ~ x + z + (1 | g)"])
def test_blocks_equal_crossprod_in_a_reused_workspace(formula: str) -> None:
    """Two inputs of different lengths through one workspace (the second shorter, so stale
    entries sit past its end): each gives crossprod's blocks."""
    plain = _plain(formula)
    assert plain is not None
    ws = Workspace()
    rng = np.random.default_rng(5)
    for n, nl in [(5000, 40), (3000, 25)]:
        cols = {"y": 1e3 + rng.normal(size=n), "x": 50 + rng.normal(size=n),
                "z": rng.integers(0, 9, n).astype(float)}
        codes = rng.integers(0, nl, n).astype(np.intp)
        X = np.column_stack([np.ones(n) if c is None else cols[c] for c in plain.x])
        Z = np.column_stack([np.ones(n) if c is None else cols[c] for c in plain.z])
        shift = Centering.from_rows(X, cols["y"], None, plain.x[0] is None)
        A11, A21, A22 = one_term_blocks(codes, nl, cols, plain, shift, ws)
        ref = crossprod([codes], [Z], [nl], X, cols["y"], None, shift)
        np.testing.assert_allclose(A11, ref.A11, rtol=1e-13)
        np.testing.assert_allclose(A21, ref.A21, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(A22, ref.A22, rtol=1e-12, atol=1e-9)
        norms = plain.norms2(cols, n, shift)
        np.testing.assert_allclose(norms, ((X / shift.d) ** 2).sum(axis=0), rtol=1e-13)
