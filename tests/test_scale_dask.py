"""lmer_dask: one map_partitions reduction per scan; the same fit on a dask.distributed cluster."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm

dd = pytest.importorskip("dask.dataframe")
scale = pytest.importorskip("mixedmodels.scale")

FORMULA = "y ~ x + (x | g)"


def _frame(n: int = 20_000, groups: int = 200, seed: int = 3) -> pd.DataFrame:
    """Random intercepts and slopes, string group ids as read from a file."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    x = rng.normal(size=n)
    b0, b1 = rng.normal(size=groups), 0.3 * rng.normal(size=groups)
    y = 1.0 + 0.5 * x + b0[g] + b1[g] * x + rng.normal(size=n)
    ids = pd.array([f"s{i}" for i in g], dtype="string")
    return pd.DataFrame({"y": y, "x": x, "g": ids})


def _assert_fit_equals_lmer(m, r) -> None:
    """The criterion and β̂ to 1e-8 relative; θ̂ to 1e-6 (the optimizer's stopping
    point moves with summation-order differences of 1e-15 in the blocks)."""
    assert m.reml_criterion == pytest.approx(r.reml_criterion, rel=1e-8)
    np.testing.assert_allclose(m.fixef, r.fixef, rtol=1e-8)
    np.testing.assert_allclose(m.theta, r.theta, rtol=0, atol=1e-6)
    assert m.sigma == pytest.approx(r.sigma, rel=1e-8)
    assert list(m.ranef["g"].index) == list(r.ranef["g"].index)


_CALLS: list[int] = []
_LOCK = threading.Lock()


def _counted(pdf: pd.DataFrame) -> pd.DataFrame:
    """The partition as it is, counting the reads."""
    with _LOCK:
        _CALLS.append(len(pdf))
    return pdf


def test_numeric_design_reads_every_partition_once() -> None:
    """Numeric X and Z: one pass (levels keyed by raw values, centering per partition),
    no pass for the levels, the centering, or per block or term."""
    d = _frame()
    _CALLS.clear()
    parts = 4
    ddf = dd.from_pandas(d, npartitions=parts).map_partitions(_counted, meta=d.iloc[:0])
    cp, _, _ = scale.crossprod_dask(FORMULA, ddf)
    assert len(_CALLS) == parts
    ref = mm.lmer(FORMULA, d).cp
    for a, b in [(cp.A11, ref.A11), (cp.A21, ref.A21), (cp.A22, ref.A22)]:
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12 * np.abs(b).max())


def test_factor_in_x_reads_levels_first() -> None:
    """A factor in X needs its levels before the blocks: one scan for the levels, one for
    the blocks (the centering's first rows come with the blocks)."""
    d = _frame()
    d["f"] = pd.array(np.where(d["x"] > 0.3, "hi", "lo"), dtype="string")
    _CALLS.clear()
    parts = 4
    ddf = dd.from_pandas(d, npartitions=parts).map_partitions(_counted, meta=d.iloc[:0])
    formula = "y ~ x + f + (x | g)"
    cp, _, _ = scale.crossprod_dask(formula, ddf)
    assert len(_CALLS) == 2 * parts
    ref = mm.lmer(formula, d).cp
    for a, b in [(cp.A11, ref.A11), (cp.A21, ref.A21), (cp.A22, ref.A22)]:
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12 * np.abs(b).max())


def test_numeric_column_coded_as_a_factor_in_x_from_files(tmp_path) -> None:
    """A numeric column made a two-level factor by ``levels=``, in X of a one-term model read
    from Parquet files: its contrast column, not the raw number."""
    d = _frame(n=4000, groups=40)
    d["k"] = np.arange(len(d)) % 2
    d["y"] += 3.0 * d["k"]
    for i in range(2):
        d.iloc[i * 2000:(i + 1) * 2000].to_parquet(tmp_path / f"p{i}.parquet")
    formula = "y ~ x + k + (1 | g)"
    r = mm.lmer(formula, d.assign(k=pd.Categorical(d["k"], categories=[1, 0])))
    m = scale.lmer_dask(formula, str(tmp_path / "*.parquet"), levels={"k": [1, 0]},
                        progress=False)
    assert list(m.fixef.index) == list(r.fixef.index)
    _assert_fit_equals_lmer(m, r)


@pytest.mark.parametrize("formula", [FORMULA, "y ~ x + (1 | g) + (1 | h)",
                                     "y ~ x + (1 | g) + (0 + x | g) + (1 | g:h)"])
def test_partitions_far_apart_add_exactly(formula: str) -> None:
    """Partitions sorted by x and shifted by 1e6 in y (each centred on its own rows, the
    totals moved onto the first one's centering), levels first seen in different
    partitions: the same fit as lmer."""
    d = _frame(n=6000, groups=60)
    d["y"] += 1e6
    d["h"] = pd.array([f"h{i % 7}" for i in range(len(d))], dtype="string")
    d["y"] += np.arange(len(d)) % 7 * 0.4
    d = d.sort_values("x", ignore_index=True)
    r = mm.lmer(formula, d)
    m = scale.lmer_dask(formula, dd.from_pandas(d, npartitions=5), progress=False)
    _assert_fit_equals_lmer(m, r)
    assert list(m.ranef) == list(r.ranef)


def test_parquet_files_read_group_ids_as_codes(tmp_path) -> None:
    """A glob of Parquet files: one partition per file, string group ids read
    dictionary-encoded, yet levels in R's order (not the files' order), NA ids left out,
    and the row passes (residuals) still work."""
    d = _frame(n=3000, groups=40)
    d["g"] = d["g"].str.replace("s1", "S1")  # upper and lower case: R's collation
    d.loc[[3, 400, 2999], "g"] = pd.NA
    for i in range(3):
        d.iloc[i * 1000:(i + 1) * 1000].to_parquet(tmp_path / f"p{i}.parquet")
    r = mm.lmer(FORMULA, d)
    m = scale.lmer_dask(FORMULA, str(tmp_path / "*.parquet"), progress=False)
    _assert_fit_equals_lmer(m, r)
    assert m.nobs == r.nobs == 2997
    np.testing.assert_allclose(m.resid(), r.resid(), rtol=0, atol=1e-6)


@pytest.mark.slow
def test_distributed_cluster_fit_equals_lmer() -> None:
    """Two worker processes of a LocalCluster: the workers code and sum their
    partitions, the client gets O(levels) sums back and optimizes."""
    distributed = pytest.importorskip("dask.distributed")
    d = _frame()
    r = mm.lmer(FORMULA, d)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster):
        m = scale.lmer_dask(FORMULA, dd.from_pandas(d, npartitions=4), progress=False)
        resid = m.resid()
    _assert_fit_equals_lmer(m, r)
    np.testing.assert_allclose(resid, r.resid(), rtol=0, atol=1e-6 * np.abs(r.resid()).max())
