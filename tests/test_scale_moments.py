"""method="moments" out of memory: the group sums from DuckDB and Dask give the in-memory fit.

Each backend reduces the rows to the same GroupSums (mixedmodels.scale.moments_sums);
the estimates then agree to rounding (1e-8 relative is asked; ~1e-14 is seen).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import ArgumentError, RankDeficiencyWarning

duckdb = pytest.importorskip("duckdb")
dd = pytest.importorskip("dask.dataframe")

F3 = "y ~ x + trt + (1 | g) + (1 | h) + (1 | k)"


def frame(n: int = 5000, seed: int = 4) -> pd.DataFrame:
    """Three crossed factors (numeric, string, numeric codes), a treatment factor, NAs."""
    rng = np.random.default_rng(seed)
    g, h, k = rng.integers(0, 150, n), rng.integers(0, 40, n), rng.integers(0, 12, n)
    x = rng.normal(size=n)
    trt = np.array(["a", "b", "c"])[rng.integers(0, 3, n)]
    y = (2.0 + 0.4 * x + 0.3 * (trt == "b") + rng.normal(0, 0.9, 150)[g]
         + rng.normal(0, 0.6, 40)[h] + rng.normal(0, 0.4, 12)[k] + rng.normal(size=n))
    d = pd.DataFrame({"y": y, "x": x, "trt": trt, "g": g, "h": [f"h{i:02d}" for i in h],
                      "k": k})
    d.loc[rng.choice(n, 30, replace=False), "x"] = np.nan
    return d


def _same(a: mm.moments.MomentsFit, b: mm.moments.MomentsFit, tol: float = 1e-8) -> None:
    assert list(a.fixef.index) == list(b.fixef.index)
    assert np.allclose(a.fixef, b.fixef, rtol=tol, atol=0)
    assert np.allclose(a.vcov, b.vcov, rtol=tol, atol=0)
    va, vb = a.varcorr.to_frame()["vcov"], b.varcorr.to_frame()["vcov"]
    assert np.allclose(va, vb, rtol=tol, atol=0)
    for g in a.ranef:
        ra, rb = a.ranef[g], b.ranef[g]
        assert list(ra.index) == list(rb.index)
        assert np.allclose(ra, rb, rtol=tol, atol=tol * np.abs(ra.to_numpy()).max())
    assert a.nobs == b.nobs


def test_duckdb_and_dask_equal_in_memory(tmp_path) -> None:
    d = frame()
    mem = mm.lmer(F3, d, method="moments")
    path = tmp_path / "rows.parquet"
    d.to_parquet(path)
    duck = mm.scale.lmer_duckdb(F3, str(path), method="moments")
    dsk = mm.scale.lmer_dask(F3, dd.from_pandas(d, npartitions=3), method="moments")
    _same(mem, duck)
    _same(mem, dsk)
    assert "NOT lme4's (RE)ML" in str(duck.summary())
    # row-level results computed where the rows are
    assert np.allclose(duck.fitted, mem.fitted, rtol=1e-10)
    assert np.allclose(dsk.resid(), mem.resid(), rtol=1e-8, atol=1e-10)
    assert np.allclose(duck.predict(d.head(5)), mem.predict(d.head(5)), rtol=1e-10)


def test_dependent_column_dropped_alike() -> None:
    d = frame(n=2000).assign(x2=lambda f: 2.0 * f["x"])
    f = "y ~ x + x2 + (1 | g) + (1 | h)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficiencyWarning)
        mem = mm.lmer(f, d, method="moments")
        with pytest.warns(RankDeficiencyWarning, match="x2"):
            duck = mm.scale.lmer_duckdb(f, d, method="moments")
    assert list(duck.fixef.index) == ["(Intercept)", "x"]
    _same(mem, duck)


def test_out_of_memory_refusals() -> None:
    d = frame(n=500)
    with pytest.raises(ArgumentError, match=r"\(x \| g\) has random slopes"):
        mm.scale.lmer_duckdb("y ~ x + (x | g) + (1 | h)", d, method="moments")
    with pytest.raises(ArgumentError, match="weights"):
        mm.scale.lmer_dask("y ~ x + (1 | g)", d.assign(w=1.0), weights="w", method="moments")
    with pytest.raises(ArgumentError, match="'moments'"):
        mm.scale.lmer_duckdb("y ~ x + (1 | g)", d, method="em")
