"""Fits do not depend on where the data sit: y → a·y + b and X_j → k·X_j.

The cross-products are accumulated for shifted and scaled columns
(:mod:`mixedmodels.crossprod.centering`) and every result is mapped back
exactly, so θ and σ/a agree to 1e-6 relative (lme4's own agreement), β,
predictions and random effects transform accordingly, and the criteria
move by the exact constants: REML by 2(n − p) log a + 2 Σ log k_j, ML by
2n log a. Huge shifts are compared with the fit of the data they actually
hold, fl(y + b) − b (exact by Sterbenz's lemma), so that only the
arithmetic of the fit is measured, not the rounding of the input.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels import scale
from mixedmodels.crossprod import Centering, crossprod

SLEEP = "Reaction ~ Days + (Days | Subject)"
PENICILLIN = "diameter ~ 1 + (1 | plate) + (1 | sample)"
TOL = 1e-6


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return mm.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def penicillin() -> pd.DataFrame:
    return mm.datasets.load("Penicillin")


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    """max |a − b| / max |b| (θ has near-zero entries: measured on the vector's scale)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def assert_transformed(
    fit: mm.LinearMixedModel,
    ref: mm.LinearMixedModel,
    a: float = 1.0,
    b: float = 0.0,
    k: dict[str, float] | None = None,
    summary: bool = True,
) -> None:
    """``fit`` is ``ref`` on y·a + b with X column j multiplied by k[j]."""
    k = k or {}
    assert _rel(fit.theta, ref.theta) < TOL
    assert fit.sigma / a == pytest.approx(ref.sigma, rel=TOL)
    kv = np.array([k.get(nm, 1.0) for nm in ref.fixef.index])
    beta = fit.fixef.to_numpy() * kv / a
    if "(Intercept)" in ref.fixef.index:
        beta[0] = (fit.fixef.iloc[0] - b) / a
    # the intercept carries the absolute rounding of y + b, eps·|b|, in y's units
    eps = np.finfo(float).eps
    tol_beta = TOL * np.abs(ref.fixef.to_numpy()) + 8 * eps * abs(b / a)
    np.testing.assert_array_less(np.abs(beta - ref.fixef.to_numpy()), tol_beta + 1e-300)
    n, p = ref.nobs, len(ref.fixef)
    log_k = sum(math.log(v) for v in kv)
    if ref.REML:
        shift = 2 * (n - p) * math.log(a) + 2 * log_k
    else:
        shift = 2 * n * math.log(a)
    assert fit.reml_criterion - shift == pytest.approx(ref.reml_criterion, rel=TOL)
    # fitted values near b hold eps·|b| absolute
    fitted = (fit.fitted - b) / a
    err = np.abs(fitted - ref.fitted)
    np.testing.assert_array_less(err, TOL * np.abs(ref.fitted).max() + 8 * eps * abs(b / a))
    for g, re in ref.ranef.items():
        assert _rel(fit.ranef[g].to_numpy() / a, re.to_numpy()) < TOL
    if summary:
        c, c0 = fit.summary().coefficients, ref.summary().coefficients
        se = c["Std. Error"].to_numpy() * kv / a
        assert _rel(se, c0["Std. Error"].to_numpy()) < TOL
        np.testing.assert_allclose(c["df"], c0["df"], rtol=1e-4)
        if b == 0.0:
            np.testing.assert_allclose(c["t value"], c0["t value"], rtol=TOL)


def _shifted(d: pd.DataFrame, col: str, a: float = 1.0, b: float = 0.0) -> pd.DataFrame:
    out = d.copy()
    out[col] = out[col] * a + b
    return out


def _held(d: pd.DataFrame, col: str, b: float) -> pd.DataFrame:
    """The data y + b actually hold, moved back: fl(y + b) − b, exact."""
    out = d.copy()
    out[col] = (out[col] + b) - b
    return out


@pytest.mark.parametrize("REML", [True, False])
@pytest.mark.parametrize("b", [1e6, 1e8, 1e9])
def test_sleepstudy_shift(sleep: pd.DataFrame, b: float, REML: bool) -> None:
    ref = mm.lmer(SLEEP, sleep, REML=REML)
    fit = mm.lmer(SLEEP, _shifted(sleep, "Reaction", b=b), REML=REML)
    assert_transformed(fit, ref, b=b)


@pytest.mark.parametrize("REML", [True, False])
def test_sleepstudy_shift_1e12_sd(sleep: pd.DataFrame, REML: bool) -> None:
    b = 1e12 * float(sleep["Reaction"].std())
    ref = mm.lmer(SLEEP, _held(sleep, "Reaction", b), REML=REML)
    fit = mm.lmer(SLEEP, _shifted(sleep, "Reaction", b=b), REML=REML)
    assert_transformed(fit, ref, b=b)


@pytest.mark.parametrize(
    "a,b", [(1e100, 0.0), (1e-100, 0.0), (-3.0, 0.0), (1e-10, 1.0), (1e100, 1e105), (7e-90, -3e-78)]
)
def test_sleepstudy_scale(sleep: pd.DataFrame, a: float, b: float) -> None:
    ref = mm.lmer(SLEEP, sleep)
    fit = mm.lmer(SLEEP, _shifted(sleep, "Reaction", a=a, b=b))
    if a < 0:  # y → −3y: β scales by −3, σ by 3, θ is unchanged
        assert _rel(fit.theta, ref.theta) < TOL
        assert fit.sigma / -a == pytest.approx(ref.sigma, rel=TOL)
        np.testing.assert_allclose(fit.fixef / a, ref.fixef, rtol=TOL)
        return
    if b:  # measured against the fit of the a·y that a·y + b holds
        ref = mm.lmer(SLEEP, _held(_shifted(sleep, "Reaction", a=a), "Reaction", b))
        assert_transformed(fit, ref, b=b)
        return
    assert_transformed(fit, ref, a=a)


def test_one_plus_tiny_multiple(sleep: pd.DataFrame) -> None:
    """lme4 gives σ̂/k = 25.59 for y = 1 + 1e-10·Reaction (the issue's example)."""
    fit = mm.lmer(SLEEP, _shifted(sleep, "Reaction", a=1e-10, b=1.0))
    assert fit.sigma / 1e-10 == pytest.approx(25.5918, rel=1e-4)
    ref = mm.lmer(SLEEP, sleep)
    assert _rel(fit.theta, ref.theta) < 1e-5  # the data hold ~6 digits of Reaction


@pytest.mark.parametrize("REML", [True, False])
@pytest.mark.parametrize("b", [1e6, 1e8, 1e9])
def test_penicillin_shift(penicillin: pd.DataFrame, b: float, REML: bool) -> None:
    ref = mm.lmer(PENICILLIN, penicillin, REML=REML)
    fit = mm.lmer(PENICILLIN, _shifted(penicillin, "diameter", b=b), REML=REML)
    assert_transformed(fit, ref, b=b)


@pytest.mark.parametrize("k", [1e100, 1e-100, 1e200, 1e-200, 3.0])
def test_predictor_rescaled(sleep: pd.DataFrame, k: float) -> None:
    """A fixed-effect predictor at any scale is kept, its coefficient scales exactly."""
    f = "Reaction ~ Days + (1 | Subject)"
    ref = mm.lmer(f, sleep)
    fit = mm.lmer(f, _shifted(sleep, "Days", a=k))
    assert list(fit.fixef.index) == ["(Intercept)", "Days"]
    assert_transformed(fit, ref, k={"Days": k})


def test_predictor_shifted_and_rescaled_with_slope(sleep: pd.DataFrame) -> None:
    f = "Reaction ~ Days + I(Days^2) + (Days | Subject)"
    ref = mm.lmer(f, sleep)
    d = sleep.assign(Reaction=sleep["Reaction"] * 1e-50)
    fit = mm.lmer(f, d)
    assert_transformed(fit, ref, a=1e-50)


def test_refit_new_response_is_invariant(sleep: pd.DataFrame) -> None:
    """refit(y) re-centers the new response (compared with a refit from the same start)."""
    m = mm.lmer(SLEEP, sleep)
    y = sleep["Reaction"].to_numpy()
    ref = m.refit(y)
    fit = m.refit(y + 1e9)
    assert_transformed(fit, ref, b=1e9)


def test_weighted_fit_shift(sleep: pd.DataFrame) -> None:
    w = np.linspace(0.5, 2.0, len(sleep))
    ref = mm.lmer(SLEEP, sleep, weights=w)
    fit = mm.lmer(SLEEP, _shifted(sleep, "Reaction", b=1e9), weights=w)
    assert_transformed(fit, ref, b=1e9)


def test_centering_is_exact_and_recorded() -> None:
    """The blocks hold X̃ = X M⁻¹ and ỹ = (y − c)/s; β and R_X map back exactly."""
    rng = np.random.default_rng(1)
    n = 50
    X = np.column_stack([np.ones(n), rng.normal(1e6, 3.0, n), rng.normal(size=n) * 1e-80])
    y = rng.normal(1e9, 2.0, n)
    sh = Centering.from_rows(X, y)
    assert sh.intercept and sh.s == 2.0 ** round(math.log2(sh.s))
    Xt, yt = sh.transform(X, y)
    np.testing.assert_allclose(Xt @ sh.M, X, rtol=1e-12)
    beta_t = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(
        X @ sh.beta(beta_t), sh.s * (Xt @ beta_t) + sh.c, rtol=1e-12
    )
    codes = [rng.integers(0, 5, n)]
    cp = crossprod(codes, [np.ones((n, 1))], [5], X, y)
    assert cp.shift is not None and cp.shift.c == pytest.approx(float(np.mean(y)))
    assert abs(cp.A22[0, -1]) < 1e-6 * n  # Σ ỹ ≈ 0: no uncentered block reaches the factor
    none = Centering.from_rows(X[:, 1:], y)
    assert not none.intercept and none.c == 0.0 and np.all(none.m == 0.0)


@pytest.fixture(scope="module")
def shifted_parquet(tmp_path_factory: pytest.TempPathFactory, sleep: pd.DataFrame) -> str:
    path = tmp_path_factory.mktemp("inv") / "sleep_shifted.parquet"
    _shifted(sleep, "Reaction", b=1e9).to_parquet(path)
    return str(path)


def test_duckdb_shifted(sleep: pd.DataFrame, shifted_parquet: str) -> None:
    ref = mm.lmer(SLEEP, sleep)
    fit = scale.lmer_duckdb(SLEEP, shifted_parquet)
    assert _rel(fit.theta, ref.theta) < TOL
    assert fit.sigma == pytest.approx(ref.sigma, rel=TOL)
    assert fit.reml_criterion == pytest.approx(ref.reml_criterion, rel=TOL)
    np.testing.assert_allclose(fit.fixef.iloc[1], ref.fixef.iloc[1], rtol=TOL)
    assert fit.fixef.iloc[0] - 1e9 == pytest.approx(ref.fixef.iloc[0], rel=TOL)
    np.testing.assert_allclose(fit.fitted - 1e9, ref.fitted, rtol=TOL)


def test_dask_shifted(sleep: pd.DataFrame, shifted_parquet: str) -> None:
    dd = pytest.importorskip("dask.dataframe")
    ref = mm.lmer(SLEEP, sleep)
    fit = scale.lmer_dask(SLEEP, dd.read_parquet(shifted_parquet).repartition(npartitions=3))
    assert _rel(fit.theta, ref.theta) < TOL
    assert fit.sigma == pytest.approx(ref.sigma, rel=TOL)
    assert fit.reml_criterion == pytest.approx(ref.reml_criterion, rel=TOL)
    assert fit.fixef.iloc[0] - 1e9 == pytest.approx(ref.fixef.iloc[0], rel=TOL)


def test_duckdb_predictor_at_1e200_is_kept(tmp_path, sleep: pd.DataFrame) -> None:
    path = tmp_path / "big.parquet"
    _shifted(sleep, "Days", a=1e200).to_parquet(path)
    f = "Reaction ~ Days + (1 | Subject)"
    fit = scale.lmer_duckdb(f, str(path))
    ref = mm.lmer(f, sleep)
    assert list(fit.fixef.index) == ["(Intercept)", "Days"]
    assert fit.fixef["Days"] * 1e200 == pytest.approx(ref.fixef["Days"], rel=TOL)
    assert _rel(fit.theta, ref.theta) < TOL
