"""Profile-likelihood intervals (lme4's confint(m, method = "profile"))."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import mixedmodels as mm
from mixedmodels.inference.intervals import confint, parameter_vector
from mixedmodels.inference.profile import _Trace
from mixedmodels.inference.profile_problems import (
    ProfiledDeviance,
    _angles_from_unit,
    _unit_from_angles,
)
from refcases import case_data, case_json, fit_case, lmer_cases_with

PROFILE = [
    c for c in lmer_cases_with("confint.profile")
    if not case_json(c)["confint"]["profile"].get("unreliable")
]

# lme4 1.1-31 profiles the correlations of a 3 × 3 term through safe_chol, which
# accepts correlation matrices that are not positive definite (its minimum at
# cor_MachineC.(Intercept) = -0.999 has eigenvalues 2.01, 1.22, -0.23), and
# reports "non-monotonic profile" / "bad spline fit" warnings for this model.
# The targets for those rows are the ends of the profile restricted to valid
# covariance matrices, checked in R: minimizing lme4's own ML deviance
# as.function(refitML(m)) over (sds, the two other correlations), with chol()
# rejecting non-positive-definite matrices and 40 random BOBYQA starts, gives
# sqrt(deviance - min deviance) = 1.959964 at each of these values.
MACHINES_CORS = {
    "cor_MachineB.(Intercept)|Worker": (-0.3235428, 0.8867526),
    "cor_MachineC.(Intercept)|Worker": (-0.8475104, 0.4518562),
    "cor_MachineC.MachineB|Worker": (-0.5110302, 0.8252629),
}


def _close(got: float, want: float) -> bool:
    """1e-3 relative, or 1e-3 absolute for values within 1 of 0 (lme4 interpolates a spline)."""
    return abs(got - want) <= 1e-3 * max(abs(want), 1.0)


@pytest.mark.parametrize("case", PROFILE)
def test_profile_matches_lme4(case):
    ref = case_json(case)["confint"]["profile"]
    ci = confint(fit_case(case), "profile")
    assert list(ci.index) == ref["parameters"]
    assert list(ci.columns) == ["2.5 %", "97.5 %"]
    for p in ref["parameters"]:
        lo, hi = ref["lower"][p], ref["upper"][p]
        if case == "machines" and p in MACHINES_CORS:
            lo, hi = MACHINES_CORS[p]
            assert ci.loc[p, "2.5 %"] == pytest.approx(lo, abs=2e-6), p
            assert ci.loc[p, "97.5 %"] == pytest.approx(hi, abs=2e-6), p
            continue
        assert _close(ci.loc[p, "2.5 %"], lo), (p, ci.loc[p, "2.5 %"], lo)
        assert _close(ci.loc[p, "97.5 %"], hi), (p, ci.loc[p, "97.5 %"], hi)


def test_singular_fit_sd_interval_starts_at_zero():
    ci = confint(fit_case("dyestuff2"), "profile")
    assert ci.loc["sd_(Intercept)|Batch", "2.5 %"] == 0.0
    assert ci.loc["sd_(Intercept)|Batch", "97.5 %"] == pytest.approx(2.08404348901022, rel=1e-3)


def test_profile_level():
    # R: confint(lmer(Reaction ~ Days + (1 | Subject), sleepstudy), method = "profile",
    #            level = 0.9, oldNames = FALSE)
    want = {
        "sd_(Intercept)|Subject": (27.3236624468, 49.4977142808),
        "sigma": (28.2736044148, 33.9490087625),
        "(Intercept)": (235.316288463, 267.493921445),
        "Days": (9.14302373169, 11.7915481875),
    }
    ci = fit_case("sleep_ri").confint("profile", level=0.9)
    assert list(ci.columns) == ["5 %", "95 %"]
    for p, (lo, hi) in want.items():
        assert _close(ci.loc[p, "5 %"], lo), p
        assert _close(ci.loc[p, "95 %"], hi), p


def test_zeta_at_the_ends_is_the_normal_quantile():
    m = fit_case("sleep_rs")
    ci = confint(m, "profile")
    prof = ProfiledDeviance(m.refit(REML=False))
    z = stats.norm.ppf(0.975)
    for par in prof.parameters():
        tr = _Trace(prof, par)
        assert tr.zeta(ci.loc[par.name, "2.5 %"]) == pytest.approx(-z, abs=1e-6), par.name
        assert tr.zeta(ci.loc[par.name, "97.5 %"]) == pytest.approx(z, abs=1e-6), par.name
        assert tr.zeta(par.estimate) == pytest.approx(0.0, abs=1e-4)


def test_profile_is_computed_on_the_ml_fit_and_leaves_the_model_alone():
    m = fit_case("sleep_rs")
    theta, beta = m.theta.copy(), m.fixef.copy()
    ml = m.refit(REML=False)
    ci_reml = confint(m, "profile")
    ci_ml = confint(ml, "profile")
    np.testing.assert_allclose(ci_reml.to_numpy(), ci_ml.to_numpy(), rtol=1e-6)
    np.testing.assert_array_equal(m.theta, theta)
    np.testing.assert_array_equal(m.fixef, beta)
    # the ML estimates lie inside their intervals
    est = parameter_vector(ml)
    assert ((ci_ml["2.5 %"] < est) & (est < ci_ml["97.5 %"])).all()


def test_weighted_fixed_effect_profiles_are_close_to_wald():
    # lme4 1.1-31 gives broken profiles with prior weights (reference flagged
    # unreliable); the profile intervals of β should be near the Wald ones.
    m = fit_case("sleep_rs_w")
    prof = confint(m, "profile")
    wald = confint(m.refit(REML=False), "Wald")
    for p in ["(Intercept)", "Days"]:
        width = wald.loc[p, "97.5 %"] - wald.loc[p, "2.5 %"]
        assert abs(prof.loc[p, "2.5 %"] - wald.loc[p, "2.5 %"]) < 0.1 * width
        assert abs(prof.loc[p, "97.5 %"] - wald.loc[p, "97.5 %"]) < 0.1 * width


def test_glmm_profile_has_lme4_rows():
    # the values are checked against lme4 in test_inference_intervals
    data = case_data("cbpp")
    case = case_json("cbpp")
    g = mm.glmer(case["formula"], data, family="binomial")
    ci = confint(g, "profile")
    assert list(ci.index) == case["confint"]["wald"]["parameters"]
    wald = confint(g, "Wald")
    fixed = list(g.fixef.index)
    assert (ci.loc[fixed, "2.5 %"] < wald.loc[fixed, "2.5 %"]).all()  # longer lower tails


def test_angles_round_trip():
    rng = np.random.default_rng(4)
    for m in (2, 3, 5):
        u = rng.normal(size=m)
        u /= np.linalg.norm(u)
        np.testing.assert_allclose(_unit_from_angles(_angles_from_unit(u)), u, atol=1e-12)
        assert math.isclose(float(np.linalg.norm(_unit_from_angles(rng.normal(size=m - 1)))),
                            1.0)
