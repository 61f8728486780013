"""Out of core, crossed factors arrive as sparse level-pair triplets and feed the sparse path."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import mixedmodels as mm
from mixedmodels.linalg.sparse_rest import SparseRestCholesky
from mixedmodels.optimize import OptimizerControl

duckdb = pytest.importorskip("duckdb")
scale = pytest.importorskip("mixedmodels.scale")
pytest.importorskip("cvxopt")

FORMULA = "y ~ x + (1 | g) + (1 | h) + (1 | k)"


@pytest.fixture(scope="module")
def structured() -> pd.DataFrame:
    """g (2000 levels) meets h levels (400) from one of 20 blocks; k (12) crosses both."""
    rng = np.random.default_rng(7)
    n = 12_000
    g = rng.integers(0, 2000, n)
    h = rng.integers(0, 20, 2000)[g] * 20 + rng.integers(0, 20, n)
    k = rng.integers(0, 12, n)
    x = rng.normal(size=n)
    y = (0.5 * x + rng.normal(size=2000)[g] + 0.7 * rng.normal(size=400)[h]
         + 0.3 * rng.normal(size=12)[k] + rng.normal(size=n))
    return pd.DataFrame({"y": y, "x": x, "g": g, "h": h, "k": k})


def _same_rest(cp, ref) -> None:
    assert cp.rest_plan.kind == ref.rest_plan.kind == "sparse"
    assert sp.issparse(cp.A22) and sp.issparse(ref.A22)
    diff = abs(sp.csc_matrix(cp.A22) - sp.csc_matrix(ref.A22)).max()
    assert diff <= 1e-9 * abs(ref.A22).max()


def test_duckdb_feeds_the_sparse_path(structured: pd.DataFrame) -> None:
    r = mm.lmer(FORMULA, structured)
    assert isinstance(r.factor, SparseRestCholesky)
    cp, design, src = scale.crossprod_duckdb(FORMULA, structured)
    _same_rest(cp, r.cp)
    m = scale.SufficientStatsLMM(design, cp, src).fit()
    assert isinstance(m.factor, SparseRestCholesky)
    assert m.reml_criterion == pytest.approx(r.reml_criterion, rel=1e-9)
    np.testing.assert_allclose(m.fixef, r.fixef, rtol=1e-6)


def test_dask_sums_sparse_partitions(structured: pd.DataFrame) -> None:
    dd = pytest.importorskip("dask.dataframe")
    r = mm.lmer(FORMULA, structured)
    m = scale.lmer_dask(FORMULA, dd.from_pandas(structured, npartitions=3))
    _same_rest(m.cp, r.cp)
    assert m.reml_criterion == pytest.approx(r.reml_criterion, rel=1e-9)
    assert np.isfinite(m.fitted).all()  # the row pass pickles the model with its factor


def test_forced_dense_out_of_core(structured: pd.DataFrame) -> None:
    m = scale.lmer_duckdb(FORMULA, structured, control=OptimizerControl(rest="dense"))
    r = mm.lmer(FORMULA, structured)
    assert m.cp.rest_plan.kind == "dense" and isinstance(m.cp.A22, np.ndarray)
    assert m.reml_criterion == pytest.approx(r.reml_criterion, rel=1e-9)


def test_sparse_factor_pickles(structured: pd.DataFrame) -> None:
    r = mm.lmer(FORMULA, structured)
    f = pickle.loads(pickle.dumps(r.factor))
    np.testing.assert_allclose(f.beta(), r.factor.beta(), rtol=1e-12)
    assert f.update(r._theta) == pytest.approx(r.factor.update(r._theta), rel=1e-12)
