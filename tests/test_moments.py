"""lmer(method="moments"): Gao–Owen moments + backfitting GLS (mixedmodels.moments).

* balanced designs (crossed Penicillin, nested Pastes, one-way Dyestuff): the
  moment equations are an invertible transform of the ANOVA ones, whose
  solution is the REML estimate when positive, so the fit is the REML optimum;
* simulated data with known truth: over seeded replicates the components are
  unbiased within Monte Carlo error, and one fit lies within a few sampling
  SDs of the truth and of the exact REML fit; β within a few plug-in SEs;
* backfitting solves the same system as a direct solve; invariance to
  shifts and scales of y and x; the errors and the labels of the result.
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import mixedmodels as mm
from mixedmodels.crossprod import Centering
from mixedmodels.errors import ArgumentError, SingularFitWarning
from mixedmodels.moments import NotLikelihoodError, fit_moments, group_sums
from mixedmodels.moments.estimator import backfit
from refcases import case_data, case_json

SD = {"g": 1.0, "h": 0.7, "e": 1.2}
BETA = np.array([1.0, 0.5])
F2 = "y ~ x + (1 | g) + (1 | h)"


def simulate(seed: int, n: int = 3000, qg: int = 60, qh: int = 40, sd_h: float = SD["h"],
             k: int | None = None) -> pd.DataFrame:
    """Random crossing of g and h (and k when given), a covariate x."""
    rng = np.random.default_rng(seed)
    g, h = rng.integers(0, qg, n), rng.integers(0, qh, n)
    x = rng.normal(size=n)
    y = (BETA[0] + BETA[1] * x + rng.normal(0, SD["g"], qg)[g] + rng.normal(0, sd_h, qh)[h]
         + rng.normal(0, SD["e"], n))
    d = pd.DataFrame({"y": y, "x": x, "g": g, "h": [f"h{i}" for i in h]})
    if k is not None:
        kk = rng.integers(0, k, n)
        d["k"] = kk
        d["y"] += rng.normal(0, 0.5, k)[kk]
    return d


def _fast_fit(d: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(β, σ² (g, h, e), SE(β)) from the sums directly (the replicates' fast path)."""
    X = np.column_stack([np.ones(len(d)), d["x"].to_numpy()])
    y = d["y"].to_numpy()
    gc = d["g"].to_numpy()
    hc = pd.factorize(d["h"])[0]
    shift = Centering.from_rows(X, y, None, True)
    sums = group_sums([gc, hc], [gc.max() + 1, hc.max() + 1], X, y, shift)
    est = fit_moments(sums, ["g", "h"])
    Minv = np.linalg.inv(shift.M)
    vcov = shift.s**2 * Minv @ est.vcov_t @ Minv.T
    return shift.beta(est.beta_t), shift.s**2 * est.sigma2_t, np.sqrt(np.diag(vcov))


@cache
def replicates(r: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """β̂, σ̂² and SE(β̂) over ``r`` seeded replicates of the 3000-row design."""
    out = [_fast_fit(simulate(100 + i)) for i in range(r)]
    return tuple(np.array([o[j] for o in out]) for j in range(3))  # type: ignore[return-value]


@pytest.mark.parametrize("case", ["penicillin", "pastes", "dyestuff"])
def test_balanced_designs_give_the_reml_optimum(case: str) -> None:
    """Balanced crossed (Penicillin), nested (Pastes) and one-way (Dyestuff) designs: the
    moment equations are an invertible transform of the ANOVA ones, whose solution is the
    REML optimum when positive (lme4 stops within its tolerance of it, ~1e-5)."""
    d = case_data(case)
    ref = case_json(case)
    m = mm.lmer(ref["formula"], d, method="moments")
    e = mm.lmer(ref["formula"], d)
    # the REML criterion at the moment estimate is no worse than at the optimizer's θ̂
    crit = e.objective(m.theta.to_numpy())
    assert crit <= e.reml_criterion + 1e-9
    assert crit <= ref["REML_criterion"] * (1 + 1e-12)
    v = {r["grp"]: r["vcov"] for r in ref["varcorr"]["as_data_frame"]}
    got = m.varcorr.to_frame().set_index("grp")["vcov"]
    for g in v:
        assert got[g] == pytest.approx(v[g], rel=1e-4)
    assert m.fixef["(Intercept)"] == pytest.approx(ref["fixef"]["(Intercept)"], rel=1e-8)
    assert m.fixef_se["(Intercept)"] == pytest.approx(ref["fixef_se"]["(Intercept)"], rel=1e-4)
    assert m.sigma == pytest.approx(ref["sigma"], rel=1e-5)


def test_components_unbiased_and_beta_within_se() -> None:
    beta, s2, se = replicates()
    truth = np.array([SD["g"] ** 2, SD["h"] ** 2, SD["e"] ** 2])
    mc_sd = s2.std(axis=0, ddof=1)
    # the mean over replicates within 4 Monte Carlo standard errors of the truth
    assert np.all(np.abs(s2.mean(axis=0) - truth) < 4 * mc_sd / np.sqrt(len(s2)))
    assert np.all(np.abs(beta.mean(axis=0) - BETA) < 4 * beta.std(axis=0) / np.sqrt(len(s2)))
    # the plug-in GLS SE matches the replicates' spread of β̂ to Monte Carlo accuracy
    ratio = se.mean(axis=0) / beta.std(axis=0, ddof=1)
    assert np.all((ratio > 0.7) & (ratio < 1.4)), ratio
    # one seeded fit: within 4 sampling SDs of the truth
    m = mm.lmer(F2, simulate(7), method="moments")
    got = m.varcorr.to_frame().set_index("grp")["vcov"]
    assert np.all(np.abs(got[["g", "h", "Residual"]].to_numpy() - truth) < 4 * mc_sd)
    assert np.all(np.abs(m.fixef.to_numpy() - BETA) < 4 * m.fixef_se.to_numpy())


def test_against_exact_reml() -> None:
    d = simulate(7)
    m = mm.lmer(F2, d, method="moments")
    e = mm.lmer(F2, d)
    _, s2, _ = replicates()
    mc_sd = s2.std(axis=0, ddof=1)
    vm = m.varcorr.to_frame().set_index("grp")["vcov"][["g", "h", "Residual"]].to_numpy()
    ve = e.varcorr.to_frame().set_index("grp")["vcov"][["g", "h", "Residual"]].to_numpy()
    assert np.all(np.abs(vm - ve) < 2 * mc_sd)
    # both are GLS estimates of β at nearby components: far closer than one SE
    assert np.all(np.abs(m.fixef - e.fixef) < 0.25 * e.fixef_se)
    assert np.allclose(m.fixef_se, e.fixef_se, rtol=0.05)
    assert np.corrcoef(m.ranef["g"].iloc[:, 0], e.ranef["g"].iloc[:, 0])[0, 1] > 0.999


def test_three_factors() -> None:
    d = simulate(11, n=6000, k=30)
    m = mm.lmer("y ~ x + (1 | g) + (1 | h) + (1 | k)", d, method="moments")
    e = mm.lmer("y ~ x + (1 | g) + (1 | h) + (1 | k)", d)
    vm = m.varcorr.to_frame().set_index("grp")["sdcor"]
    ve = e.varcorr.to_frame().set_index("grp")["sdcor"]
    assert np.allclose(vm[["g", "h", "k", "Residual"]], ve[["g", "h", "k", "Residual"]],
                       rtol=0.25)
    assert np.all(np.abs(m.fixef - e.fixef) < 0.25 * e.fixef_se)


def test_backfitting_solves_the_normal_equations() -> None:
    d = simulate(3, n=800, qg=30, qh=20)
    X = np.column_stack([np.ones(len(d)), d["x"]])
    gc, hc = d["g"].to_numpy(), pd.factorize(d["h"])[0]
    shift = Centering.from_rows(X, d["y"].to_numpy(), None, True)
    sums = group_sums([gc, hc], [30, 20], X, d["y"].to_numpy(), shift)
    sig = np.array([0.8, 0.3, 1.1])
    B, sweeps = backfit(sums, sig, sums.S)
    Z = sp.hstack([sp.csr_matrix((np.ones(len(d)), (np.arange(len(d)), c)), shape=(len(d), q))
                   for c, q in ((gc, 30), (hc, 20))]).toarray()
    lam = np.concatenate([np.full(30, sig[2] / sig[0]), np.full(20, sig[2] / sig[1])])
    direct = np.linalg.solve(Z.T @ Z + np.diag(lam), np.vstack(sums.S))
    assert np.allclose(np.vstack(B), direct, atol=1e-8 * np.abs(direct).max())
    assert sweeps < 100


def test_invariant_to_shifts_and_scales() -> None:
    d = simulate(5)
    m = mm.lmer(F2, d, method="moments")
    d2 = d.assign(y=1e4 + 50.0 * d["y"], x=-3e3 + 1e-3 * d["x"])
    m2 = mm.lmer(F2, d2, method="moments")
    # y2 = 1e4 + 50 y, x2 = -3e3 + 1e-3 x: slope ×5e4, intercept follows
    b1 = m.fixef["x"] * 50.0 / 1e-3
    assert m2.fixef["x"] == pytest.approx(b1, rel=1e-9)
    b0 = 1e4 + 50.0 * m.fixef["(Intercept)"] + b1 * 3e3
    assert m2.fixef["(Intercept)"] == pytest.approx(b0, rel=1e-9)
    assert m2.fixef_se["x"] == pytest.approx(m.fixef_se["x"] * 5e4, rel=1e-8)
    v1 = m.varcorr.to_frame()["vcov"].to_numpy()
    v2 = m2.varcorr.to_frame()["vcov"].to_numpy()
    assert np.allclose(v2, 2500.0 * v1, rtol=1e-8)
    assert np.allclose(m2.ranef["g"], 50.0 * m.ranef["g"], rtol=1e-8, atol=1e-9)


def test_negative_component_is_set_to_zero() -> None:
    d = simulate(8, sd_h=0.0)
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        m = mm.lmer(F2, d, method="moments")
    vc = m.varcorr.to_frame().set_index("grp")["vcov"]
    if m.est.raw_sigma2_t[1] < 0:  # the seed gives a negative moment estimate
        assert vc["h"] == 0.0
        assert any(issubclass(w.category, SingularFitWarning) for w in got)
        assert np.all(m.ranef["h"].to_numpy() == 0.0)
    assert vc["h"] < 0.05


def test_result_labels_and_accessors() -> None:
    d = simulate(9)
    m = mm.lmer(F2, d, method="moments")
    text = str(m.summary())
    assert "method of moments" in text and "backfitting GLS" in text
    assert "NOT lme4's (RE)ML" in text
    assert "not lme4's (RE)ML" in repr(m)
    for attr in ("loglik", "aic", "bic", "deviance", "reml_criterion"):
        with pytest.raises(NotLikelihoodError, match="method-of-moments fit"):
            getattr(m, attr)
    with pytest.raises(NotLikelihoodError):
        m.anova()
    with pytest.raises(NotLikelihoodError):
        mm.anova(m, mm.lmer("y ~ 1 + (1 | g) + (1 | h)", d, method="moments"))
    assert np.allclose(m.predict(d), m.fitted)
    assert np.allclose(m.resid(), d["y"] - m.fitted)
    new = d.head(2).assign(g=[10_000, 3])
    with pytest.raises(mm.errors.DataError, match="new level"):
        m.predict(new)
    p = m.predict(new, allow_new_levels=True)
    assert p[0] == pytest.approx(m.fixef["(Intercept)"] + m.fixef["x"] * new["x"].iloc[0]
                                 + m.ranef["h"].loc[new["h"].iloc[0]].iloc[0])
    assert np.allclose(m.coef["g"]["(Intercept)"],
                       m.fixef["(Intercept)"] + m.ranef["g"]["(Intercept)"])
    assert m.theta.to_numpy() == pytest.approx(
        m.varcorr.to_frame()["sdcor"].to_numpy()[:2] / m.sigma)
    assert m.ngroups == {"g": 60, "h": 40}


@pytest.mark.parametrize(
    ("formula", "kwargs", "match"),
    [
        ("y ~ x + (x | g) + (1 | h)", {}, r"\(x \| g\) has random slopes"),
        ("y ~ x + (1 | g) + (0 + x | g)", {}, r"\(0 \+ x \| g\) has random slopes"),
        ("y ~ x + (1 | g) + (1 | g)", {}, "one term per grouping factor"),
        ("y ~ x + (1 | g) + (1 | h)", {"weights": "w"}, "weights"),
        ("cbind(s, f) ~ x + (1 | g)", {}, "GLMM: use mm.glmer"),
    ],
)
def test_unsupported_models_are_refused(formula: str, kwargs: dict, match: str) -> None:
    d = simulate(1, n=300).assign(w=1.0, s=1, f=2)
    with pytest.raises(ArgumentError, match=match):
        mm.lmer(formula, d, method="moments", **kwargs)


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ArgumentError, match="'moments'"):
        mm.lmer(F2, simulate(1, n=300), method="anova")


def test_na_exclude_pads_fitted_and_residuals_as_the_exact_fit() -> None:
    """na_action="exclude": fitted values, residuals and predict() on every input row,
    NaN where a value was missing, as the exact lmer fit pads them (R's naresid)."""
    d = simulate(9, n=800, qg=30, qh=20)
    d.loc[[3, 17, 400], "y"] = np.nan
    d.loc[[250], "x"] = np.nan
    missing = np.zeros(len(d), bool)
    missing[[3, 17, 250, 400]] = True
    m = mm.lmer(F2, d, method="moments", na_action="na.exclude")
    e = mm.lmer(F2, d, na_action="exclude")
    omitted = mm.lmer(F2, d, method="moments")
    for got, ref in [(m.fitted, e.fitted), (m.resid(), e.resid()), (m.predict(), e.predict())]:
        assert got.shape == ref.shape == (len(d),)
        assert np.array_equal(np.isnan(got), missing) and np.array_equal(np.isnan(ref), missing)
    assert np.array_equal(m.fitted[~missing], omitted.fitted)
    assert np.array_equal(m.resid("pearson")[~missing], omitted.resid("pearson"))
    assert np.allclose(m.resid()[~missing], d["y"].to_numpy()[~missing] - omitted.fitted)
    assert m.nobs == omitted.nobs == len(d) - 4
    with pytest.raises(ArgumentError, match="na_action='pass'"):
        mm.lmer(F2, d, method="moments", na_action="pass")
