"""Simulated designs, responses from specified models, and power by simulation."""

from __future__ import annotations

import runpy
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import DataError, ModelSpecificationError
from mixedmodels.power import clopper_pearson, spec_from_model

EXAMPLE = Path(__file__).parents[1] / "examples" / "power_analysis.py"
SLOPES = "y ~ session + (session | subject)"
SLOPES_VC = {"subject": {"(Intercept)": 50.0, "session": 25.0, "corr": 0.2}}
# R 4.2, lme4 + lmerTest: simulate(~ session + (session | subject), newparams = the truth)
# on 30 subjects x sessions 0-4, refit, Satterthwaite t-test of session: 1477 of 3000 p < 0.05
R_SLOPE_POWER = 1477 / 3000


def slopes_spec(n_subjects: int = 30, n_sessions: int = 5) -> mm.LmmSpec:
    """simulate_slopes' defaults as a spec: beta (600, -10), SDs 50 and 25, rho 0.2, sigma 30."""
    design = mm.simulate_design(n_subjects, n_sessions=n_sessions)
    return mm.make_lmer(SLOPES, design, {"(Intercept)": 600.0, "session": -10.0},
                        SLOPES_VC, 30.0)


@pytest.fixture(scope="module")
def sleep_fit() -> mm.LinearMixedModel:
    return mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))


# -- designs ---------------------------------------------------------------------
def test_crossed_design_is_balanced() -> None:
    d = mm.simulate_design(8, n_items=6, between={"group": ["ctl", "trt"]},
                           between_items={"cond": ["a", "b", "c"]}, within={"task": ["x", "y"]})
    assert len(d) == 8 * 6 * 2
    assert list(d.columns) == ["subject", "item", "group", "cond", "task"]
    assert d.groupby("subject", observed=True)["group"].nunique().eq(1).all()
    assert d.groupby("item", observed=True)["cond"].nunique().eq(1).all()
    assert d.drop_duplicates("subject")["group"].value_counts().tolist() == [4, 4]
    assert d.drop_duplicates("item")["cond"].value_counts().tolist() == [2, 2, 2]
    assert list(d["group"].cat.categories) == ["ctl", "trt"]
    with pytest.raises(DataError):
        mm.simulate_design(4, between_items={"cond": ["a", "b"]})


def test_longitudinal_design_and_replicates() -> None:
    d = mm.simulate_design(3, n_sessions=4, replicates=2)
    assert len(d) == 24
    assert d["session"].tolist()[:8] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert d["rep"].max() == 2
    assert list(d["subject"].cat.categories) == ["s1", "s2", "s3"]


def test_extend_design_adds_and_keeps_levels() -> None:
    s = mm.datasets.load("sleepstudy")
    big = mm.extend_design(s, "Subject", 25)
    assert big["Subject"].nunique() == 25 and len(big) == 250
    first = s["Subject"].cat.categories[0]
    np.testing.assert_array_equal(big.loc[big["Subject"] == f"{first}_2", "Days"],
                                  s.loc[s["Subject"] == first, "Days"])
    small = mm.extend_design(s, "Subject", 4)
    assert list(small["Subject"].cat.categories) == list(s["Subject"].cat.categories[:4])
    num = mm.extend_design(pd.DataFrame({"id": [1, 1, 2, 2], "x": [0, 1, 0, 1]}), "id", 3)
    assert num["id"].tolist() == [1, 1, 2, 2, 3, 3]


# -- specified models and simulated responses -------------------------------------
def test_spec_of_a_fit_reproduces_model_simulate(sleep_fit) -> None:
    spec = spec_from_model(sleep_fit)
    np.testing.assert_array_equal(spec.simulate(3, seed=11), sleep_fit.simulate(3, seed=11))
    np.testing.assert_allclose(spec.theta, sleep_fit.theta.to_numpy())


def test_make_lmer_theta_matches_the_fit(sleep_fit) -> None:
    spec = spec_from_model(sleep_fit)
    cov = spec.covariances()["Subject"]
    sd = np.sqrt(np.diag(cov))
    d = mm.datasets.load("sleepstudy").drop(columns="Reaction")
    again = mm.make_lmer(
        "Reaction ~ Days + (Days | Subject)", d, dict(sleep_fit.fixef),
        {"Subject": {"(Intercept)": sd[0], "Days": sd[1], "corr": cov[0, 1] / (sd[0] * sd[1])}},
        sleep_fit.sigma)
    np.testing.assert_allclose(again.theta, spec.theta, rtol=1e-12)
    cov_form = mm.make_lmer("Reaction ~ Days + (Days | Subject)", d, list(sleep_fit.fixef),
                            {"Subject": cov}, sleep_fit.sigma)
    np.testing.assert_allclose(cov_form.theta, spec.theta, rtol=1e-12)


def test_varcorr_forms_and_errors() -> None:
    d = mm.simulate_design(10, n_sessions=3)
    f2 = "y ~ session + (session || subject)"
    spec = mm.make_lmer(f2, d, [1.0, 2.0], {"subject": {"(Intercept)": 3.0, "session": 0.5}}, 2.0)
    np.testing.assert_allclose(spec.theta, [1.5, 0.25])
    by_label = mm.make_lmer(f2, d, [1.0, 2.0], {"subject": 3.0, "subject.1": 0.5}, 2.0)
    np.testing.assert_allclose(by_label.theta, spec.theta)
    singular = mm.make_lmer(SLOPES, d, [0, 0], {"subject": {"sd": [2.0, 1.0], "corr": 1.0}}, 1.0)
    np.testing.assert_allclose(singular.theta, [2.0, 1.0, 0.0], atol=1e-12)
    with pytest.raises(ModelSpecificationError, match="session"):
        mm.make_lmer(SLOPES, d, {"(Intercept)": 1.0}, SLOPES_VC, 1.0)
    with pytest.raises(ModelSpecificationError, match="varcorr"):
        mm.make_lmer(SLOPES, d, [0, 0], {"item": 1.0}, 1.0)
    with pytest.raises(ModelSpecificationError, match="positive semi-definite"):
        mm.make_lmer(SLOPES, d, [0, 0], {"subject": np.array([[1.0, 2.0], [2.0, 1.0]])}, 1.0)


def test_simulate_response_on_data_with_missing_rows() -> None:
    d = mm.simulate_design(6, n_sessions=4)
    d["session"] = d["session"].astype(float)
    d.loc[3, "session"] = np.nan
    y = mm.simulate_response(SLOPES, d, fixef=[10.0, 1.0], varcorr={"subject": [1.0, 0.5]},
                             sigma=1.0, seed=1)
    assert y.shape == (24,) and np.isnan(y[3]) and np.isfinite(np.delete(y, 3)).all()
    ys = mm.simulate_response(SLOPES, d, fixef=[10.0, 1.0], varcorr={"subject": [1.0, 0.5]},
                              sigma=1.0, seed=1, nsim=3)
    np.testing.assert_array_equal(ys[:, 0], y)
    with pytest.raises(ModelSpecificationError):
        mm.simulate_response(SLOPES, d, fixef=[10.0, 1.0])


def test_simulate_response_recovers_parameters() -> None:
    """Mean estimates over 40 fits of 60 subjects x 8 sessions lie within 4 MC SEs of the truth."""
    spec = slopes_spec(60, 8)
    data = spec.data.copy()
    est = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for s in range(40):
            data["y"] = mm.simulate_response(spec, seed=s)
            fit = mm.lmer(SLOPES, data)
            vc = spec_from_model(fit).covariances()["subject"]
            sd = np.sqrt(np.diag(vc))
            est.append([*fit.fixef, sd[0], sd[1], vc[0, 1] / (sd[0] * sd[1]), fit.sigma])
    est = np.array(est)
    truth = np.array([600.0, -10.0, 50.0, 25.0, 0.2, 30.0])
    mc_se = est.std(axis=0, ddof=1) / np.sqrt(len(est))
    assert np.all(np.abs(est.mean(axis=0) - truth) < 4 * mc_se + 0.01 * np.abs(truth)), (
        est.mean(axis=0), mc_se)


def test_crossed_response_recovers_variance_components() -> None:
    d = mm.simulate_design(40, n_items=20, between_items={"cond": ["a", "b"]})
    f = "y ~ cond + (1 | subject) + (1 | item)"
    spec = mm.make_lmer(f, d, {"(Intercept)": 5.0, "condb": 1.0},
                        {"subject": 2.0, "item": 1.0}, 1.5)
    est = []
    for s in range(20):
        fit = mm.lmer(f, d.assign(y=mm.simulate_response(spec, seed=s)))
        sd = np.sqrt([v[0, 0] for v in spec_from_model(fit).covariances().values()])
        est.append([*fit.fixef, *sd, fit.sigma])
    est = np.array(est)
    truth = np.array([5.0, 1.0, 2.0, 1.0, 1.5])  # lme4 order: subject (40) before item (20)
    mc_se = est.std(axis=0, ddof=1) / np.sqrt(len(est))
    assert np.all(np.abs(est.mean(axis=0) - truth) < 4 * mc_se + 0.02 * truth)


# -- power -------------------------------------------------------------------------
def test_clopper_pearson_matches_r_binom_test() -> None:
    # R: binom.test(196, 400)$conf.int; binom.test(0, 50)$conf.int
    np.testing.assert_allclose(clopper_pearson(196, 400), (0.4399921285, 0.5401568738), rtol=1e-8)
    np.testing.assert_allclose(clopper_pearson(0, 50), (0.0, 0.07112173646), rtol=1e-8)


def test_power_is_alpha_without_an_effect(sleep_fit) -> None:
    res = mm.power_sim(sleep_fit, test="Days", nsim=300, seed=3, effect=0.0)
    assert res.trials == 300 and res.effect.tolist() == [0.0]
    lo, hi = res.confint(0.999)
    assert lo < 0.05 < hi, res
    assert abs(np.nanmean(res.estimates)) < 4 * np.nanstd(res.estimates) / np.sqrt(300)


def test_power_is_reproducible_and_independent_of_n_jobs(sleep_fit) -> None:
    a = mm.power_sim(sleep_fit, nsim=24, seed=9, effect=3.0)
    b = mm.power_sim(sleep_fit, nsim=24, seed=9, effect=3.0)
    c = mm.power_sim(sleep_fit, nsim=24, seed=9, effect=3.0, n_jobs=2)
    assert a.test == "Days"
    np.testing.assert_array_equal(a.pvalues, b.pvalues)
    np.testing.assert_allclose(a.pvalues, c.pvalues, rtol=1e-12)
    assert "Power for predictor 'Days'" in str(a) and a.to_frame().shape == (24, 4)


def test_satterthwaite_pvalues_match_lmertest_on_the_same_responses() -> None:
    """R: lmerTest::lmer on the responses of slopes_spec().simulate(400, seed=7), columns 1-8."""
    r_p = [0.004212608, 0.0002310063, 3.028106e-05, 0.002311726, 0.01716028, 0.008104625,
           0.4504445, 0.2495344]
    spec = slopes_spec()
    res = mm.power_sim(spec, test="session", nsim=8, seed=7)
    np.testing.assert_allclose(res.pvalues, r_p, rtol=2e-3)


def test_slope_power_agrees_with_lme4_lmertest_simulation() -> None:
    """Power for the slope of simulate_slopes' default design.

    R (lme4 simulate with the true parameters, lmerTest Satterthwaite t-test,
    3000 simulations) gives R_POWER; ours with 600 simulations must agree
    within the Monte-Carlo error of both.
    """
    r_power, r_nsim = R_SLOPE_POWER, 3000
    res = mm.power_sim(slopes_spec(), test="session", nsim=600, seed=2024)
    se = np.sqrt(r_power * (1 - r_power) * (1 / r_nsim + 1 / res.trials))
    assert abs(res.power - r_power) < 3.5 * se, (res.power, r_power)


def test_methods_agree_roughly_and_term_tests(sleep_fit) -> None:
    powers = {m: mm.power_sim(sleep_fit, nsim=60, seed=5, effect=4.0, method=m).power
              for m in ("satterthwaite", "kr", "z", "lrt")}
    assert powers["z"] >= powers["satterthwaite"] - 1e-12
    assert max(powers.values()) - min(powers.values()) < 0.2
    d = mm.simulate_design(20, n_items=12, between_items={"cond": ["a", "b", "c"]})
    f = "y ~ cond + (1 | subject) + (1 | item)"
    spec = mm.make_lmer(f, d, [0.0, 0.5, 1.0], {"subject": 1.0, "item": 0.5}, 1.0)
    term = mm.power_sim(spec, test="cond", nsim=30, seed=1)
    assert term.test == "cond" and term.effect.tolist() == [0.5, 1.0] and term.power > 0.3
    lrt = mm.power_sim(spec, test="cond", nsim=30, seed=1, method="lrt", effect=[0.0, 0.0])
    assert lrt.power < 0.3
    with pytest.raises(ModelSpecificationError):
        mm.power_sim(spec, test="nope", nsim=2)
    with pytest.raises(ModelSpecificationError):
        mm.power_sim(spec, test="cond", nsim=2, effect=1.0)


def test_power_curve_increases_with_subjects() -> None:
    curve = mm.power_curve(slopes_spec(), test="session", along="subject",
                           breaks=[6, 20, 45], nsim=80, seed=1)
    assert curve["n"].tolist() == [6, 20, 45]
    assert curve["nobs"].tolist() == [30, 100, 225]
    assert curve["power"].is_monotonic_increasing and curve["power"].iloc[-1] > 0.5
    assert {"ci_lower", "ci_upper", "n_singular", "n_failed"} <= set(curve.columns)
    again = mm.power_curve(slopes_spec(), test="session", along="subject",
                           breaks=[6, 20, 45], nsim=80, seed=1)
    pd.testing.assert_frame_equal(curve.drop(columns="seconds"), again.drop(columns="seconds"))


def test_power_curve_from_a_fit(sleep_fit) -> None:
    curve = mm.power_curve(sleep_fit, breaks=[4, 24], nsim=20, seed=2, effect=5.0)
    assert curve["along"].iloc[0] == "Subject" and curve["nobs"].tolist() == [40, 240]
    assert curve["power"].iloc[1] >= curve["power"].iloc[0]


def test_example_runs(capsys) -> None:
    runpy.run_path(str(EXAMPLE), run_name="not_main")["main"](20)
    out = capsys.readouterr().out
    assert "Power for predictor 'session'" in out and "rejection rate with no effect" in out



# -- glmer fits -------------------------------------------------------------------------


@pytest.mark.slow
def test_power_sim_with_glmer_fits():
    from analysis_fits import fit
    from mixedmodels.power.glmm import simulate_glmm

    g = fit("g_cbpp")
    ys = simulate_glmm(g, 3, np.random.default_rng(0))
    trials = g.response.trials[:, None]
    np.testing.assert_allclose(ys * trials, np.rint(ys * trials))  # whole successes
    assert ((ys >= 0) & (ys <= 1)).all()
    null = mm.power_sim(g, test="period2", nsim=20, seed=2, effect=0.0)
    assert null.method == "z" and null.trials == 20
    assert null.power <= 0.2  # the level, up to simulation error
    strong = mm.power_sim(g, test="period", nsim=20, seed=2, method="lrt")
    assert strong.power >= 0.8 and list(strong.effect) == list(g.fixef.iloc[1:])
    counts = simulate_glmm(fit("g_pois"), 2, np.random.default_rng(1))
    np.testing.assert_array_equal(counts, np.rint(counts))
    with pytest.raises(ValueError, match="'z' or 'lrt'"):
        mm.power_sim(g, test="period2", nsim=2, method="kr")
    # powerCurve along herds: the fit's θ̂ and β̂ on fewer or more (copied) herds
    curve = mm.power_curve(g, test="period", along="herd", breaks=[4, 30], nsim=5, seed=1)
    assert list(curve["nobs"]) == [15, 112] and set(curve["method"]) == {"z"}
    assert curve["power"].iloc[1] >= curve["power"].iloc[0]
