"""Fits do not depend on the centre and scale of a random-slope column.

(x | g) with an unstructured covariance is the same model for x → k·x + b:
Z' = Z B, B = [[1, b], [0, k]], so b' = B⁻¹b and Σ' = B⁻¹ΣB⁻ᵀ, and the ML
optimum is the same. The shifted optimum is a narrow ridge in lme4's raw
coordinates (lme4 1.1-31 reports −6329.5, a singular fit, for the shifted
``_frame`` below, against −6224.58 unshifted: lme4 is ill-conditioned here);
:mod:`mixedmodels.crossprod.reparam` fits in centred coordinates instead.
A diagonal covariance ((x || g)) is invariant only to scaling. Shifted data
are compared with the fit of the values they actually hold, (fl(k·x + b) − b)/k.
(Days·1e-3 + 1e5 is not a case: its spread, 3e-8 of its size, is below the rank
tolerance, and the column is dropped as collinear with the intercept, as in lme4.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.crossprod import reparam

sys.path.insert(0, str(Path(__file__).parent))
from test_scale_dask_files import _frame  # noqa: E402

TOL = 1e-7
pytestmark = pytest.mark.filterwarnings("ignore::mixedmodels.errors.PredictorScaleWarning")


def _held(d: pd.DataFrame, col: str, k: float, b: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(data with col → k·col + b, data with col → the value it holds, mapped back)."""
    moved = d.copy()
    moved[col] = k * d[col].to_numpy(float) + b
    base = d.copy()
    base[col] = (moved[col].to_numpy() - b) / k
    return base, moved


def _cov(m: mm.LinearMixedModel, k: int = 0) -> np.ndarray:
    return m._term_cov(k)


def _check_pair(
    m0: mm.LinearMixedModel, m1: mm.LinearMixedModel, B: np.ndarray, dy: float = 0.0
) -> None:
    """m1 fits Z B where m0 fits Z: same criterion, Σ₁ = B⁻¹Σ₀B⁻ᵀ, b₁ = B⁻¹b₀, same fit."""
    assert m1.loglik == pytest.approx(m0.loglik, rel=TOL)
    Bi = np.linalg.inv(B)
    S0 = Bi @ _cov(m0) @ Bi.T
    S1 = _cov(m1)
    scale = np.sqrt(np.outer(np.diag(S0), np.diag(S0)))
    assert np.max(np.abs(S1 - S0) / scale) < 1e-5
    b0 = m0._b[0] @ Bi.T
    assert np.max(np.abs(m1._b[0] - b0)) < 1e-5 * np.max(np.abs(b0))
    f0 = m0.fitted
    assert np.max(np.abs(m1.fitted - dy - f0)) < 1e-7 * np.max(np.abs(f0))
    # θ is the lower Cholesky factor of Σ/σ² (lme4's parametrization)
    L = np.linalg.cholesky(S1 / m1.sigma**2)
    th = np.asarray(m1.theta, dtype=float)
    assert np.allclose(th, L[m1.design.terms[0].tri_index], rtol=1e-5,
                       atol=1e-6 * np.abs(th).max())


def test_frame_shifted_slope_not_singular() -> None:
    d = _frame()
    base, moved = _held(d, "x", 1.0, 1e4)
    moved["y"] = moved["y"] + 1e6
    m0 = mm.lmer("y ~ x + (x | g)", base)
    m1 = mm.lmer("y ~ x + (x | g)", moved)
    assert not m1.is_singular
    _check_pair(m0, m1, np.array([[1.0, 1e4], [0.0, 1.0]]), dy=1e6)


@pytest.mark.parametrize(("k", "b"), [(1.0, 1e4), (1e3, 0.0), (1e-3, 1e3)])
def test_sleepstudy_slope_shift_scale(k: float, b: float) -> None:
    sleep = mm.datasets.load("sleepstudy")
    base, moved = _held(sleep, "Days", k, b)
    f = "Reaction ~ Days + (Days | Subject)"
    m0 = mm.lmer(f, base, REML=False)
    m1 = mm.lmer(f, moved, REML=False)
    _check_pair(m0, m1, np.array([[1.0, b], [0.0, k]]))
    cv0 = np.linalg.inv(np.array([[1.0, b], [0.0, k]]))
    V0 = np.einsum("ij,ljk,mk->lim", cv0, m0._cond_var()[0], cv0)
    assert np.allclose(m1._cond_var()[0], V0, rtol=1e-5, atol=1e-9 * np.abs(V0).max())


def test_three_column_term() -> None:
    rng = np.random.default_rng(7)
    d = _frame()
    d["z"] = rng.normal(size=len(d))
    d["y"] = d["y"] + 0.3 * d["z"] * (d["g"].astype("category").cat.codes % 3)
    base, moved = _held(d, "x", 1.0, 1e4)
    f = "y ~ x + z + (x + z | g)"
    m0 = mm.lmer(f, base, REML=False)
    m1 = mm.lmer(f, moved, REML=False)
    assert m1.loglik == pytest.approx(m0.loglik, rel=TOL)
    B = np.eye(3)
    B[0, 1] = 1e4
    Bi = np.linalg.inv(B)
    S0 = Bi @ _cov(m0) @ Bi.T
    scale = np.sqrt(np.outer(np.diag(S0), np.diag(S0)))
    assert np.max(np.abs(_cov(m1) - S0) / scale) < 1e-5
    assert np.allclose(m1.fitted, m0.fitted, rtol=1e-7)


def test_diagonal_term_scale_only() -> None:
    d = _frame()
    base, moved = _held(d, "x", 1e4, 0.0)
    f = "y ~ x + (x || g)"
    m0 = mm.lmer(f, base, REML=False)
    m1 = mm.lmer(f, moved, REML=False)
    assert m1.loglik == pytest.approx(m0.loglik, rel=TOL)
    sd0 = np.sqrt([_cov(m0, k)[0, 0] for k in range(2)])
    sd1 = np.sqrt([_cov(m1, k)[0, 0] for k in range(2)])
    slope = [k for k, t in enumerate(m0.design.terms) if t.names == ["x"]][0]
    sd0[slope] /= 1e4
    assert np.allclose(sd1, sd0, rtol=1e-5)


def test_theta_maps_are_inverse() -> None:
    A = np.array([[1.0, 1e4, -3.0], [0.0, 8.0, 0.0], [0.0, 0.0, 0.5]])
    tri = (np.array([0, 1, 2, 1, 2, 2]), np.array([0, 0, 0, 1, 1, 2]))
    th = np.array([0.8, 0.03, -0.2, 0.29, 0.1, 0.4])
    back = reparam.theta_from_tilde(reparam.theta_to_tilde(th, [A], [tri]), [A], [tri])
    assert np.allclose(back, th, rtol=1e-9)


@pytest.mark.parametrize("backend", ["duckdb", "dask"])
def test_out_of_core_shifted_slope(backend: str) -> None:
    """The fits from sufficient statistics: Z̃'Z̃ from the scanned sums (A⁻ᵀ Z'Z A⁻¹)."""
    from mixedmodels import scale

    d = _frame()
    base, moved = _held(d, "x", 1.0, 1e4)
    moved["y"] = moved["y"] + 1e6
    f = "y ~ x + (x | g)"
    if backend == "duckdb":
        m1 = scale.lmer_duckdb(f, moved, progress=False)
    else:
        import dask.dataframe as dd

        m1 = scale.lmer_dask(f, dd.from_pandas(moved, npartitions=3), progress=False)
    m0 = mm.lmer(f, base)
    assert not m1.is_singular
    assert m1.loglik == pytest.approx(m0.loglik, rel=TOL)
    Bi = np.linalg.inv(np.array([[1.0, 1e4], [0.0, 1.0]]))
    S0 = Bi @ _cov(m0) @ Bi.T
    scale_ = np.sqrt(np.outer(np.diag(S0), np.diag(S0)))
    assert np.max(np.abs(_cov(m1) - S0) / scale_) < 1e-5
    b0 = m0._b[0] @ Bi.T
    assert np.max(np.abs(m1._b[0] - b0)) < 1e-5 * np.max(np.abs(b0))


def test_profile_confint_of_centred_fit() -> None:
    """σ, β and the slope's sd are profiled in the centred coordinates and agree with
    the unshifted fit's intervals; the intercept's sd and correlation have no such map
    and come back NaN with a warning (never the raw, ill-conditioned profile)."""
    sleep = mm.datasets.load("sleepstudy")
    base, moved = _held(sleep, "Days", 1.0, 1e4)
    f = "Reaction ~ Days + (Days | Subject)"
    ci0 = mm.lmer(f, base).confint(method="profile")
    with pytest.warns(UserWarning, match="not computed"):
        ci1 = mm.lmer(f, moved).confint(method="profile")
    for name in ("sd_Days|Subject", "sigma", "Days"):
        assert np.allclose(ci1.loc[name], ci0.loc[name], rtol=1e-4)
    assert ci1.loc[["sd_(Intercept)|Subject", "cor_Days.(Intercept)|Subject"]].isna().all().all()


@pytest.mark.parametrize("ddf", ["Satterthwaite", "Kenward-Roger"])
def test_denominator_df_of_centred_fit(ddf: str) -> None:
    """df depend on the model, not on how Σ is parametrized: the slope's t-test of the
    shifted fit equals the unshifted one."""
    from mixedmodels.inference import coef_table

    sleep = mm.datasets.load("sleepstudy")
    base, moved = _held(sleep, "Days", 1.0, 1e4)
    f = "Reaction ~ Days + (Days | Subject)"
    t0 = coef_table(mm.lmer(f, base), ddf=ddf)
    t1 = coef_table(mm.lmer(f, moved), ddf=ddf)
    assert np.allclose(t1.loc["Days"].to_numpy(float), t0.loc["Days"].to_numpy(float),
                       rtol=1e-5)


def test_refits_of_centred_fit() -> None:
    """refit(y), refit(REML=False) and the bootstrap's refits go through the same centred
    fit: the criteria equal those of the unshifted model's refits."""
    sleep = mm.datasets.load("sleepstudy")
    base, moved = _held(sleep, "Days", 1.0, 1e4)
    f = "Reaction ~ Days + (Days | Subject)"
    m0, m1 = mm.lmer(f, base), mm.lmer(f, moved)
    y = m0.y + np.random.default_rng(1).normal(scale=5.0, size=m0.y.size)
    assert m1.refit(y=y).loglik == pytest.approx(m0.refit(y=y).loglik, rel=TOL)
    assert m1.refit(REML=False).loglik == pytest.approx(m0.refit(REML=False).loglik, rel=TOL)


@pytest.mark.parametrize("backend", ["duckdb", "dask"])
@pytest.mark.parametrize(("k", "b"), [(1.0, 1e4), (1e3, 0.0)])
def test_out_of_core_sleepstudy(backend: str, k: float, b: float) -> None:
    from mixedmodels import scale

    sleep = mm.datasets.load("sleepstudy")
    base, moved = _held(sleep, "Days", k, b)
    f = "Reaction ~ Days + (Days | Subject)"
    if backend == "duckdb":
        m1 = scale.lmer_duckdb(f, moved, REML=False, progress=False)
    else:
        import dask.dataframe as dd

        m1 = scale.lmer_dask(f, dd.from_pandas(moved, npartitions=2), REML=False,
                             progress=False)
    m0 = mm.lmer(f, base, REML=False)
    assert m1.loglik == pytest.approx(m0.loglik, rel=TOL)
    Bi = np.linalg.inv(np.array([[1.0, b], [0.0, k]]))
    S0 = Bi @ _cov(m0) @ Bi.T
    scale_ = np.sqrt(np.outer(np.diag(S0), np.diag(S0)))
    assert np.max(np.abs(_cov(m1) - S0) / scale_) < 1e-5
