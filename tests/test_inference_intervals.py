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


def test_confint_default_is_profile_as_lme4():
    from analysis_fits import fit

    m = fit("m_sleep")
    pd.testing.assert_frame_equal(m.confint(), m.confint("profile"))
    g = fit("g_cbpp")
    assert list(g.confint(old_names=True).index) == [".sig01", "(Intercept)", "period2",
                                                     "period3", "period4"]
    with pytest.raises(ValueError, match="glmer"):
        g.confint("kr")


# R: lme4 1.1-31 confint(g) (profile; lme4 interpolates ζ with a spline, ~1e-3)
GLMER_PROFILE = {
    "g_cbpp": {
        "sd_(Intercept)|herd": (0.3460732033, 1.0999746482),
        "(Intercept)": (-1.9012119549, -0.9477540060),
        "period2": (-1.6167832557, -0.4077630678),
        "period3": (-1.8010243656, -0.5115360713),
        "period4": (-2.5007505630, -0.8007553153),
    },
    "g_pois_olre": {
        "sd_(Intercept)|obs": (0.1222699319, 0.6553288068),
        "sd_(Intercept)|grp": (0.0, 0.6157261825),
        "(Intercept)": (0.3161620125, 0.7617928961),
        "x": (0.1231585703, 0.4793274455),
    },
}


@pytest.mark.parametrize("name", sorted(GLMER_PROFILE))
def test_glmer_profile_matches_lme4(name):
    from analysis_fits import fit

    ci = fit(name).confint("profile")
    want = GLMER_PROFILE[name]
    assert list(ci.index) == list(want)
    for p, (lo, hi) in want.items():
        assert ci.loc[p, "2.5 %"] == pytest.approx(lo, abs=1e-3 * max(abs(lo), 1.0)), p
        assert ci.loc[p, "97.5 %"] == pytest.approx(hi, abs=1e-3 * max(abs(hi), 1.0)), p


def test_glmer_profile_level_and_unsupported_models():
    from analysis_fits import data, fit

    # R: confint(g, level = 0.9)
    ci = fit("g_cbpp").confint("profile", level=0.9)
    assert ci.loc["period2", "5 %"] == pytest.approx(-1.5128258592, abs=2e-3)
    assert ci.loc["sd_(Intercept)|herd", "95 %"] == pytest.approx(1.0076376839, abs=2e-3)
    import warnings

    import mixedmodels as mm

    d = data("pois").assign(x2=lambda f: f["x"] ** 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = mm.glmer("y ~ x + (x | grp)", d, family="poisson")
    with pytest.raises(mm.errors.ModelSpecificationError, match="scalar"):
        g.confint("profile")
    assert g.confint().loc["x"].notna().all()  # the default falls back to Wald
