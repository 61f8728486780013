"""Pre-flight memory check: a model whose dense rest block cannot fit is refused early."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels import memory
from mixedmodels.crossprod import crossprod
from mixedmodels.errors import MixedModelsError, ModelTooLargeError


def _crossed(n: int, nl1: int, nl2: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": rng.integers(0, nl1, n).astype(str),
            "b": rng.integers(0, nl2, n).astype(str),
            "y": rng.normal(size=n),
        }
    )


def test_available_memory_is_positive() -> None:
    assert memory.available_memory() > 2**20


def test_estimate() -> None:
    assert memory.dense_rest_bytes(1000) == memory.DENSE_COPIES * 8 * 10**6
    memory.check_dense_rest(100, [(10, 1), (90, 1)], 9)  # small: no system figures needed


def test_large_second_factor_refused_quickly(monkeypatch) -> None:
    """A second crossed factor with ~20,000 levels, 1 GiB available and the dense rest
    block asked for: refused before any r × r array is formed (numpy would ask for
    ~3 GiB per matrix). The sparse path fits this model (tests/test_linalg_rest_plan.py)."""
    monkeypatch.setattr(memory, "available_memory", lambda: 2**30)
    d = _crossed(60_000, 25_000, 20_000)
    start = time.perf_counter()
    with pytest.raises(ModelTooLargeError) as info:
        mm.lmer("y ~ 1 + (1 | a) + (1 | b)", d, control=mm.OptimizerControl(rest="dense"))
    assert time.perf_counter() - start < 3.0
    msg = str(info.value)
    assert "r = 19," in msg and "1 GiB is available" in msg
    assert "term 2 with 19," in msg and "fewer levels" in msg and "flops" in msg
    assert isinstance(info.value, MixedModelsError) and isinstance(info.value, MemoryError)


def test_crossprod_refuses_before_allocating(monkeypatch) -> None:
    monkeypatch.setattr(memory, "available_memory", lambda: 10 * 2**20)
    n = 5000
    rng = np.random.default_rng(1)
    codes = [rng.integers(0, 50, n), np.arange(n) % 4000]
    Zs = [np.ones((n, 1)), np.ones((n, 1))]
    with pytest.raises(ModelTooLargeError, match="r = 4,002"):
        crossprod(codes, Zs, [50, 4000], np.ones((n, 1)), rng.normal(size=n))


@pytest.mark.filterwarnings("ignore::mixedmodels.errors.SingularFitWarning")
def test_model_that_fits_is_not_refused(monkeypatch) -> None:
    monkeypatch.setattr(memory, "available_memory", lambda: 2**30)
    d = _crossed(3000, 60, 40)
    m = mm.lmer("y ~ 1 + (1 | a) + (1 | b)", d)
    assert m.nobs == 3000


def test_duckdb_backend_refuses_before_allocating(monkeypatch) -> None:
    duckdb = pytest.importorskip("duckdb")
    from mixedmodels import scale

    monkeypatch.setattr(memory, "available_memory", lambda: 10 * 2**20)
    con = duckdb.connect()
    con.register("t", _crossed(12_000, 5000, 4000, seed=2))  # r about 3,800
    with pytest.raises(ModelTooLargeError, match="r = 3,"):
        scale.lmer_duckdb("y ~ 1 + (1 | a) + (1 | b)", "t", con=con)
