"""Likelihood-ratio tests: anova (lme4), ranova (lmerTest), drop1."""

from __future__ import annotations

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.inference import anova, drop1, ranova
from refcases import case_data, case_json, fit_case

COLS = ["npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df", "Pr(>Chisq)"]


def _check_rows(table, rows, rtol=1e-6):
    """Criteria within rtol; Chisq is a difference of deviances ~1e3, so its error is
    absolute (deviance rtol × deviance); p-values follow within 1e-4 relative."""
    assert len(table) == len(rows)
    for i, ref in enumerate(rows):
        for c in COLS:
            want = ref[c]
            got = table.iloc[i][c]
            if want is None:
                assert np.isnan(got)
            elif c == "Chisq":
                assert got == pytest.approx(want, abs=2 * rtol * abs(ref["deviance"])), (c, i)
            elif c == "Pr(>Chisq)":
                assert got == pytest.approx(want, rel=1e-4), (c, i)
            else:
                assert got == pytest.approx(want, rel=rtol), (c, i)


@pytest.mark.parametrize("key", ["sleep_ri_vs_sleep_rs", "sleep_uncorr_vs_sleep_rs"])
def test_sleep_lrt_matches_lme4(key, capsys):
    comp = case_json("sleep_lrt")["comparisons"][key]
    data = case_data("sleep_lrt")
    m_simple = mm.lmer(comp["simpler"]["formula"], data)
    m_complex = mm.lmer(comp["complex"]["formula"], data)
    # given in the "wrong" order: rows are ordered by npar
    tab = anova(m_complex, m_simple)
    assert "refitting model(s) with ML (instead of REML)" in capsys.readouterr().err
    _check_rows(tab, comp["rows"])
    assert list(tab.index) == [comp["simpler"]["formula"], comp["complex"]["formula"]]


@pytest.mark.parametrize("case", ["machines", "seed_sim_rs"])
def test_case_lrt_matches_lme4(case):
    lrt = case_json(case)["lrt"]
    data = case_data(case)
    m_simple = mm.lmer(lrt["simpler"]["formula"], data)
    m_complex = fit_case(case)
    tab = anova(m_simple, m_complex, names=["simple", "complex"], verbose=False)
    # machines: 10 parameters, lme4's optimum is reproduced to ~1e-6 in the deviance
    _check_rows(tab, lrt["rows"], rtol=1e-5)
    text = str(tab)
    assert text.startswith("Models:\nsimple: ")
    assert "Signif. codes" in text


def test_anova_refuses_different_rows():
    full = case_data("sleep_ri")
    m1 = mm.lmer("Reaction ~ Days + (1 | Subject)", full)
    m2 = mm.lmer("Reaction ~ Days + (1 | Subject)", full.iloc[:170])
    with pytest.raises(mm.errors.DataError, match="same number of observations"):
        anova(m1, m2)
    shifted = full.copy()
    shifted.loc[0, "Reaction"] = np.nan
    shifted2 = full.copy()
    shifted2.loc[1, "Reaction"] = np.nan
    with pytest.raises(mm.errors.DataError, match="different rows"):
        anova(mm.lmer("Reaction ~ Days + (1 | Subject)", shifted),
              mm.lmer("Reaction ~ Days + (1 | Subject)", shifted2))


def test_anova_needs_two_models_or_one_lmer():
    with pytest.raises(ValueError, match="two or more models"):
        anova(mm.lm("Reaction ~ Days", case_data("sleep_ri")))
    # one lmer: lmerTest's type III F table (sleep_ri's Days: F = t² of the summary)
    m = fit_case("sleep_ri")
    table = anova(m)
    t = m.summary().coefficients.loc["Days", "t value"]
    assert table.loc["Days", "F value"] == pytest.approx(t**2, rel=1e-10)


def test_ranova_matches_lmertest():
    # lmerTest::ranova(lmer(Reaction ~ Days + (Days | Subject), sleepstudy))
    data = case_data("sleep_rs")
    m = fit_case("sleep_rs")
    tab = ranova(m, data=data)
    assert list(tab.index) == ["<none>", "Days in (1 + Days | Subject)"]
    assert tab["logLik"].tolist() == pytest.approx([-871.81, -893.23], abs=5e-3)
    assert tab.iloc[1]["LRT"] == pytest.approx(42.837, abs=5e-4)
    assert tab.iloc[1]["Df"] == 2
    assert tab.iloc[1]["Pr(>Chisq)"] == pytest.approx(4.99e-10, rel=1e-3)
    # REML criterion of the reduced model equals the sleep_ri reference fit
    ri = case_json("sleep_ri")
    assert tab.iloc[1]["logLik"] == pytest.approx(ri["logLik"], rel=1e-8)


def test_ranova_removes_last_term_to_lm():
    data = case_data("sleep_ri")
    m = fit_case("sleep_ri")
    tab = ranova(m, data=data)
    assert list(tab.index) == ["<none>", "(1 | Subject)"]
    # lm's restricted log-likelihood: R's logLik(lm(Reaction ~ Days), REML = TRUE)
    f = mm.lm("Reaction ~ Days", data)
    n, p = 180, 2
    rss = f.sigma**2 * (n - p)
    x = np.column_stack([np.ones(n), data["Days"]])
    ll = -0.5 * ((n - p) * (np.log(2 * np.pi * rss / (n - p)) + 1)
                 + np.linalg.slogdet(x.T @ x)[1])
    assert tab.iloc[1]["logLik"] == pytest.approx(ll, rel=1e-10)
    assert tab.iloc[1]["LRT"] == pytest.approx(2 * (tab.iloc[0]["logLik"] - ll), rel=1e-10)


def test_ranova_needs_data():
    import copy

    m = copy.copy(fit_case("sleep_ri"))
    m.data = None  # a model built without keeping its data
    with pytest.raises(ValueError, match="data"):
        ranova(m)


def test_ranova_uses_the_data_kept_by_lmer():
    m = mm.lmer("Reaction ~ Days + (1 | Subject)", case_data("sleep_ri"))
    tab = ranova(m)
    assert list(tab.index)[0] == "<none>"


def test_drop1_equals_explicit_lrt(capsys):
    data = case_data("sleep_rs")
    m = fit_case("sleep_rs")
    tab = drop1(m, data=data)
    assert list(tab.index) == ["<none>", "Days"]
    m0 = mm.lmer("Reaction ~ 1 + (1 + Days | Subject)", data)
    ref = anova(m0, m)
    assert tab.iloc[1]["LRT"] == pytest.approx(ref.iloc[1]["Chisq"], rel=1e-6)
    assert tab.iloc[1]["Pr(Chi)"] == pytest.approx(ref.iloc[1]["Pr(>Chisq)"], rel=1e-5)
    assert tab.iloc[0]["AIC"] == pytest.approx(1763.93934446321, rel=1e-8)


def test_drop1_respects_marginality():
    data = case_data("cake")
    m = fit_case("cake")
    tab = drop1(m, data=data, test="none")
    assert list(tab.index) == ["<none>", "recipe:temperature"]
    assert list(tab.columns) == ["npar", "AIC"]
