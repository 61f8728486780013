"""Wald and bootstrap intervals, simulate, bootstrap, variance decomposition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mixedmodels.inference.intervals import confint, parameter_vector
from mixedmodels.inference.simulate import bootstrap, simulate
from mixedmodels.inference.variance import icc, variance_decomposition
from refcases import case_json, fit_case, lmer_cases_with

WALD = lmer_cases_with("confint.wald")


@pytest.mark.parametrize("case", WALD)
def test_wald_matches_lme4(case):
    ref = case_json(case)["confint"]["wald"]
    ci = confint(fit_case(case), "Wald")
    assert list(ci.index) == ref["parameters"]
    assert list(ci.columns) == ["2.5 %", "97.5 %"]
    for p in ref["parameters"]:
        lo, hi = ref["lower"][p], ref["upper"][p]
        if lo is None:
            assert np.isnan(ci.loc[p]).all()
        else:
            # SEs agree with lme4 to 1e-4 (machines: its θ differs by ~1e-5)
            assert ci.loc[p, "2.5 %"] == pytest.approx(lo, rel=1e-4)
            assert ci.loc[p, "97.5 %"] == pytest.approx(hi, rel=1e-4)


def test_parameter_names_follow_lme4():
    for case in lmer_cases_with("confint.profile"):
        ref = case_json(case)["confint"]["profile"]["parameters"]
        assert list(parameter_vector(fit_case(case)).index) == ref


def test_simulate_moments():
    m = fit_case("sleep_rs")
    ys = simulate(m, nsim=400, seed=1)
    assert ys.shape == (180, 400)
    # marginal mean Xβ; marginal variance at Days = 0: σ² + σ²_intercept
    mean = m.design.X @ m._beta
    # the per-row SE of a mean of 400 draws is about 2.6; allow ~5 SE
    assert np.abs(ys.mean(axis=1) - mean).max() < 13.0
    v0 = ys[m.design.X[:, 1] == 0].var()
    expected = m.sigma**2 + m.varcorr.terms[0].cov[0, 0]
    assert v0 == pytest.approx(expected, rel=0.15)
    np.testing.assert_array_equal(ys, simulate(m, nsim=400, seed=1))
    # use_u: only the residual noise varies around the fitted values
    yu = simulate(m, nsim=200, seed=2, use_u=True)
    assert np.abs(yu.mean(axis=1) - m.fitted).max() < 4 * m.sigma / np.sqrt(200) * 1.5


def test_bootstrap_and_boot_intervals():
    m = fit_case("dyestuff")
    draws = bootstrap(m, lambda f: f.fixef, nsim=30, seed=3)
    assert list(draws.columns) == ["(Intercept)"]
    assert draws.shape == (30, 1)
    assert draws["(Intercept)"].std() == pytest.approx(m.fixef_se.iloc[0], rel=0.5)
    ci = confint(m, "boot", nsim=30, seed=3)
    assert list(ci.index) == list(parameter_vector(m).index)
    assert (ci["2.5 %"] <= ci["97.5 %"]).all()
    assert ci.loc["(Intercept)", "2.5 %"] < m.fixef.iloc[0] < ci.loc["(Intercept)", "97.5 %"]


def test_confint_rejects_unknown_method():
    with pytest.raises(ValueError):
        confint(fit_case("dyestuff"), "bca")


def test_variance_decomposition_and_icc():
    m = fit_case("sleep_ri")
    vd = variance_decomposition(m)
    assert list(vd.columns) == ["Group", "Effect", "Variance", "SD", "Var_prop"]
    assert vd["Var_prop"].sum() == pytest.approx(1.0)
    ref = case_json("sleep_ri")
    sd_sub = ref["theta"]["Subject.(Intercept)"] * ref["sigma"]
    assert vd.loc[0, "SD"] == pytest.approx(sd_sub, rel=1e-6)
    assert icc(m)["Subject"] == pytest.approx(sd_sub**2 / (sd_sub**2 + ref["sigma"] ** 2),
                                              rel=1e-6)


@pytest.mark.parametrize("case", ["dyestuff", "pastes", "machines"])
def test_old_names_are_lme4s_default(case: str) -> None:
    ref = case_json(case)["confint"]["profile"]
    m = fit_case(case)
    ci = m.confint("Wald")
    assert list(ci.index) == ref["parameters"]
    assert list(m.confint("Wald", old_names=True).index) == ref["old_names"]


# -- t intervals with Satterthwaite / Kenward-Roger df --------------------------------


@pytest.mark.parametrize("name", ["m_cake_num", "m_sleep", "m_mach"])
@pytest.mark.parametrize("method", ["Satterthwaite", "Kenward-Roger"])
def test_confint_t_intervals_match_lmertest(name, method):
    # R: lmerTest 3.1-3 summary(m, ddf = method) β̂ ± qt(0.975, df) SE (analysis_fits)
    from analysis_fits import fit, ref_frame

    ref = ref_frame("confint", f"{name} {method}").set_index("term")
    m = fit(name)
    ci = m.confint("kr" if method == "Kenward-Roger" else method)
    got = ci.loc[list(ref.index)]
    np.testing.assert_allclose(got.iloc[:, 0], ref["lower"], rtol=2e-6)
    np.testing.assert_allclose(got.iloc[:, 1], ref["upper"], rtol=2e-6)
    assert ci.loc["sigma"].isna().all()


def test_confint_default_is_profile_for_lmer_and_wald_for_glmer():
    from analysis_fits import fit

    m = fit("m_sleep")
    pd.testing.assert_frame_equal(m.confint(), m.confint("profile"))
    g = fit("g_cbpp")
    pd.testing.assert_frame_equal(g.confint(), g.confint("Wald"))
    with pytest.raises(ValueError, match="glmer"):
        g.confint("kr")
