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


# -- printed tables (R's print.anova) -------------------------------------------------
LEGEND = "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"


def test_anova_prints_as_lme4(capsys):
    # R (options(useFancyQuotes = FALSE)):
    #   m0 <- lmer(Reaction ~ Days + (1 | Subject), sleepstudy)
    #   m1 <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy); anova(m0, m1)
    # R's heading also has "Data: sleepstudy" between the message and "Models:".
    data = mm.datasets.load("sleepstudy")
    m0 = mm.lmer("Reaction ~ Days + (1 | Subject)", data)
    m1 = mm.lmer("Reaction ~ Days + (Days | Subject)", data)
    tab = anova(m0, m1, names=["m0", "m1"])
    assert capsys.readouterr().err == "refitting model(s) with ML (instead of REML)\n"
    assert str(tab) == "\n".join([
        "Models:",
        "m0: Reaction ~ Days + (1 | Subject)",
        "m1: Reaction ~ Days + (Days | Subject)",
        "   npar    AIC    BIC  logLik deviance  Chisq Df Pr(>Chisq)    ",
        "m0    4 1802.1 1814.8 -897.04   1794.1                         ",
        "m1    6 1763.9 1783.1 -875.97   1751.9 42.139  2  7.072e-10 ***",
        "---",
        LEGEND,
    ])
    # rows named by formula: R's print of the same table with these row names
    # (rownames(a) <- formulas; attr(a, "heading") <- NULL; print(a)) wraps at 80
    assert str(anova(m0, m1, verbose=False)) == "\n".join([
        "                                   npar    AIC    BIC  logLik deviance  Chisq",
        "Reaction ~ Days + (1 | Subject)       4 1802.1 1814.8 -897.04   1794.1       ",
        "Reaction ~ Days + (Days | Subject)    6 1763.9 1783.1 -875.97   1751.9 42.139",
        "                                   Df Pr(>Chisq)    ",
        "Reaction ~ Days + (1 | Subject)                     ",
        "Reaction ~ Days + (Days | Subject)  2  7.072e-10 ***",
        "---",
        LEGEND,
    ])


RANOVA_HEAD = ["ANOVA-like table for random-effects: Single term deletions", "", "Model:"]


@pytest.mark.parametrize(("formula", "data", "reml", "body"), [
    # lmerTest: ranova(lmer(Reaction ~ Days + (Days | Subject), sleepstudy))
    ("Reaction ~ Days + (Days | Subject)", "sleepstudy", True, [
        "                         npar  logLik    AIC    LRT Df Pr(>Chisq)    ",
        "<none>                      6 -871.81 1755.6                         ",
        "Days in (Days | Subject)    4 -893.23 1794.5 42.837  2   4.99e-10 ***",
    ]),
    # ranova(lmer(score ~ Machine + (Machine | Worker), Machines))
    ("score ~ Machine + (Machine | Worker)", "Machines", True, [
        "                              npar  logLik    AIC    LRT Df Pr(>Chisq)    ",
        "<none>                          10 -104.16 228.31                         ",
        "Machine in (Machine | Worker)    5 -143.44 296.88 78.567  5  1.673e-15 ***",
    ]),
    # ranova(lmer(Reaction ~ Days + (1 | Subject), sleepstudy, REML = FALSE))
    ("Reaction ~ Days + (1 | Subject)", "sleepstudy", False, [
        "              npar  logLik    AIC    LRT Df Pr(>Chisq)    ",
        "<none>           4 -897.04 1802.1                         ",
        "(1 | Subject)    3 -950.15 1906.3 106.21  1  < 2.2e-16 ***",
    ]),
])
def test_ranova_prints_as_lmertest(formula, data, reml, body):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.lmer(formula, mm.datasets.load(data), REML=reml)
        tab = ranova(m)
    assert str(tab) == "\n".join(RANOVA_HEAD + [formula] + body + ["---", LEGEND])


def test_ranova_table_body_of_cake_prints_as_lmertest():
    # ranova(lmer(angle ~ recipe * temperature + (1 | recipe:replicate), cake)); lmerTest's
    # Model line deparses the expanded formula
    # (angle ~ recipe + temperature + (1 | recipe:replicate) + recipe:temperature)
    tab = ranova(mm.lmer("angle ~ recipe * temperature + (1 | recipe:replicate)",
                         mm.datasets.load("cake")))
    assert str(tab).splitlines()[4:] == [
        "                       npar  logLik    AIC    LRT Df Pr(>Chisq)    ",
        "<none>                   20 -819.31 1678.6                         ",
        "(1 | recipe:replicate)   19 -905.28 1848.5 171.93  1  < 2.2e-16 ***",
        "---",
        LEGEND,
    ]


def test_drop1_table_prints_with_print_anova_rules():
    # lme4:::drop1.merMod(m, test = "Chisq") for lmer(Reaction ~ Days + (Days | Subject),
    # sleepstudy): npar is the number of parameters dropped
    tab = drop1(fit_case("sleep_rs"), data=case_data("sleep_rs"))
    assert str(tab).splitlines()[2:] == [
        "Model:",
        "Reaction ~ 1 + Days + (1 + Days | Subject)",  # the reference case's formula
        "       npar    AIC    LRT   Pr(Chi)    ",
        "<none>      1763.9                     ",
        "Days      1 1785.5 23.537 1.226e-06 ***",
        "---",
        LEGEND,
    ]


def test_anova_and_ranova_headings_as_r():
    """anova(m0, m) prints Data: and the deparsed Models:; lmerTest's ranova labels a
    removed slope-only term "Days in (0 + Days | Subject)"."""
    d = case_data("sleep_rs")
    m = mm.lmer("Reaction ~ Days + (Days|Subject)", d, data_name="sleepstudy")
    m0 = mm.lmer("Reaction ~ Days + (1|Subject)", d, data_name="sleepstudy")
    text = str(anova(m0, m, names=["m0", "m"], verbose=False)).splitlines()
    assert text[:4] == [
        "Data: sleepstudy",
        "Models:",
        "m0: Reaction ~ Days + (1 | Subject)",
        "m: Reaction ~ Days + (Days | Subject)",
    ]
    m2 = mm.lmer("Reaction ~ Days + (1|Subject) + (0+Days|Subject)", d)
    rows = ranova(m2, d).index.tolist()
    assert rows == ["<none>", "(1 | Subject)", "Days in (0 + Days | Subject)"]
    assert "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)" in str(ranova(m2, d))
