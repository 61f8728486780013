"""Dense or sparse rest block by predicted memory and time; refusals say what each needs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels import memory
from mixedmodels.crossprod import crossprod
from mixedmodels.errors import ModelTooLargeError
from mixedmodels.optimize import OptimizerControl

pytest.importorskip("cvxopt")


def _codes(n: int, nl1: int, nl2: int, blocks: int, seed: int = 0) -> list[np.ndarray]:
    """Level codes of two crossed factors; with ``blocks``, each level of the first meets
    levels of the second from one block only (a structured design)."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, nl1, n)
    if not blocks:
        return [g, rng.integers(0, nl2, n)]
    size = nl2 // blocks
    return [g, rng.integers(0, blocks, nl1)[g] * size + rng.integers(0, size, n)]


def _cp(codes: list[np.ndarray], nls: list[int], rest: str = "auto"):
    n = codes[0].size
    y = np.random.default_rng(1).normal(size=n)
    return crossprod(codes, [np.ones((n, 1))] * 2, nls, np.ones((n, 1)), y, rest=rest)


def test_structured_design_takes_the_sparse_path() -> None:
    cp = _cp(_codes(20_000, 4000, 1000, 20), [4000, 1000])
    plan = cp.rest_plan
    assert plan.sparse and plan.reason == "predicted faster"
    assert plan.counts.complete and plan.counts.nnz < 0.2 * 1000**2 / 2
    assert plan.sparse_seconds < plan.dense_seconds
    assert not isinstance(cp.A22, np.ndarray)


def test_random_crossing_with_dense_fill_stays_dense() -> None:
    """Every level of the second factor meets every other through the first: the
    factor fills in, and LAPACK on the dense block is predicted faster."""
    cp = _cp(_codes(40_000, 1000, 600, 0), [1000, 600])
    plan = cp.rest_plan
    assert plan.kind == "dense" and plan.counts is not None
    assert plan.counts.nnz > 0.9 * 600**2 / 2
    assert isinstance(cp.A22, np.ndarray)


def test_small_models_skip_the_analysis() -> None:
    cp = _cp(_codes(500, 50, 10, 0), [50, 10])
    assert cp.rest_plan.kind == "dense" and cp.rest_plan.counts is None


def test_forcing_each_path() -> None:
    codes = _codes(5000, 500, 100, 10)
    assert _cp(codes, [500, 100], "sparse").rest_plan.sparse
    assert _cp(codes, [500, 100], "dense").rest_plan.kind == "dense"


def test_refusal_names_both_estimates(monkeypatch) -> None:
    """Neither path fits in 16 MiB: the message gives r, both estimates and what to do."""
    monkeypatch.setattr(memory, "available_memory", lambda: 16 * 2**20)
    with pytest.raises(ModelTooLargeError) as info:
        _cp(_codes(20_000, 2000, 6000, 0), [2000, 6000])
    msg = str(info.value)
    assert "r = 6,002" in msg and "sparse factor (AMD ordering) would hold" in msg
    assert 'method="moments"' in msg and "more memory" in msg and "fewer levels" in msg


def test_sparse_path_fits_where_the_dense_block_cannot(monkeypatch) -> None:
    """1 GiB: the dense block of 20,000 rows needs 12 GiB, the sparse factor a few MiB."""
    monkeypatch.setattr(memory, "available_memory", lambda: 2**30)
    cp = _cp(_codes(60_000, 25_000, 20_000, 0), [25_000, 20_000])
    assert cp.rest_plan.sparse and cp.rest_plan.reason == "the dense block does not fit"


def test_verbose_reports_the_estimate(capsys) -> None:
    rng = np.random.default_rng(3)
    g, h = _codes(3000, 300, 200, 10)
    d = pd.DataFrame({"g": g, "h": h, "y": rng.normal(size=3000) + rng.normal(size=300)[g]})
    mm.lmer("y ~ 1 + (1|g) + (1|h)", d, verbose=True, control=OptimizerControl(rest="sparse"))
    out = capsys.readouterr().out
    assert "rest block: r = 202 rows" in out and "nnz(L) =" in out and "sparse (forced)" in out


def test_level_pairs_counted_before_they_are_enumerated(monkeypatch) -> None:
    """64 MiB: 3000 levels of the first factor with ~100 rows each give ~1.5e7 level
    pairs (~1 GiB to enumerate), and the dense block of 2,002 rows fits: dense."""
    monkeypatch.setattr(memory, "available_memory", lambda: 64 * 2**20)
    cp = _cp(_codes(300_000, 3000, 2000, 0), [3000, 2000])
    assert cp.rest_plan.kind == "dense" and cp.rest_plan.counts is None
    assert "level pairs" in cp.rest_plan.reason


def test_sparse_needs_a_clear_margin_to_replace_the_dense_tail_profile() -> None:
    """InstEval: the sparse factor is predicted somewhat cheaper per evaluation, but not
    by the margin that pays for losing the profiled tail (24 evaluations dense, 47 sparse),
    so the dense path is kept and the fit needs the dense path's evaluations."""
    from mixedmodels.linalg.rest_plan import _SPARSE_MARGIN

    d = mm.datasets.load("InstEval")
    with np.errstate(all="ignore"):
        m = mm.lmer("y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept:service)", d)
    plan = m.cp.rest_plan
    assert plan.kind == "dense" and plan.counts is not None
    assert plan.sparse_seconds < plan.dense_seconds < _SPARSE_MARGIN * plan.sparse_seconds
    assert m.optinfo["feval"] < 35
