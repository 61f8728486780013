"""lmer_dask: one map_partitions reduction per scan; the same fit on a dask.distributed cluster."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.crossprod.centering import SAMPLE_ROWS

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


def test_each_scan_reads_every_partition_once() -> None:
    """Levels (one pass), the centering (the first partitions, up to SAMPLE_ROWS rows),
    the blocks (one pass): no pass per block or per term."""
    d = _frame()
    _CALLS.clear()
    parts = 4
    ddf = dd.from_pandas(d, npartitions=parts).map_partitions(_counted, meta=d.iloc[:0])
    cp, _, _ = scale.crossprod_dask(FORMULA, ddf)
    first = -(-SAMPLE_ROWS // (len(d) // parts))  # partitions read for the centering
    assert len(_CALLS) == 2 * parts + first
    ref = mm.lmer(FORMULA, d).cp
    for a, b in [(cp.A11, ref.A11), (cp.A21, ref.A21), (cp.A22, ref.A22)]:
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12 * np.abs(b).max())


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
