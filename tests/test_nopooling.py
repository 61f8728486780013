"""No pooling (lmlist) and the pooling table (nopooling.py)."""

from __future__ import annotations

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.nopooling import glm_irls, glm_nopool, lmlist, pooling_table


@pytest.fixture(scope="module")
def sleep():
    return mm.datasets.load("sleepstudy")


def test_lmlist_matches_r(sleep):
    # R: coef(lmList(Reaction ~ Days | Subject, sleepstudy)); summary(...)
    L = lmlist("Reaction ~ Days | Subject", sleep)
    c = L.coef
    assert list(c.index[:3]) == ["308", "309", "310"]
    np.testing.assert_allclose(c.loc["308"], [244.192669, 21.764702], rtol=1e-7)
    np.testing.assert_allclose(c.loc["309"], [205.054945, 2.261785], rtol=1e-6)
    assert L.df_pooled == 144
    assert L.sigma_pooled == pytest.approx(25.59182, rel=1e-6)
    tab = L.coef_table()
    row = tab[(tab["Subject"] == "308") & (tab["term"] == "Days")].iloc[0]
    assert row["Std. Error"] == pytest.approx(25.59182 * np.sqrt(1 / 82.5), rel=1e-6)
    assert "Residual standard error: 25.59182 on 144 degrees of freedom" in str(L.summary())


def test_lmlist_needs_group(sleep):
    with pytest.raises(mm.errors.FormulaError):
        lmlist("Reaction ~ Days", sleep)


def test_pooling_table(sleep):
    m = mm.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    t = pooling_table(sleep, "Reaction ~ Days", "Subject", model=m)
    assert len(t) == 3 * 18
    assert list(t.columns) == ["Subject", "pooling", "(Intercept)", "Days"]
    part = t[t["pooling"] == "partial"].set_index("Subject")
    np.testing.assert_allclose(part.loc["308", "Days"], m.coef["Subject"].loc["308", "Days"])
    comp = t[t["pooling"] == "complete"]
    np.testing.assert_allclose(comp["Days"], 10.467285959596, rtol=1e-10)
    none = t[t["pooling"] == "none"].set_index("Subject")
    assert none.loc["308", "(Intercept)"] == pytest.approx(244.192669, rel=1e-7)
    # shrinkage: partial-pooling slopes spread less about the pooled slope than the own fits
    pooled = comp["Days"].iloc[0]
    assert np.sum((part["Days"] - pooled) ** 2) < np.sum((none["Days"] - pooled) ** 2)
    w = pooling_table(sleep, wide=True)
    assert w.shape == (18, 6)


def test_lmlist_fitted_resid_predict_match_lme4(sleep):
    # R: lme4 1.1-31, l <- lmList(Reaction ~ Days | Subject, sleepstudy)
    fits = lmlist("Reaction ~ Days | Subject", sleep)
    np.testing.assert_allclose(fits.fitted[:6], [244.192669091, 265.957371515, 287.722073939,
                                                 309.486776364, 331.251478788, 353.016181212])
    np.testing.assert_allclose(fits.resid()[:3], [5.36733090909, -7.25267151515,
                                                  -36.92147393939], rtol=1e-10)
    np.testing.assert_allclose(fits.residuals, sleep["Reaction"] - fits.fitted)
    new = sleep.iloc[:0].reindex(range(2))
    new["Days"] = [2.5, 7.0]
    new["Subject"] = ["309", "372"]
    # predict(l, data.frame(Days = c(2.5, 7), Subject = c("309", "372")))
    np.testing.assert_allclose(fits.predict(new), [210.709409091, 346.131313333])
    np.testing.assert_allclose(fits.predict(), fits.fitted)
    new["Subject"] = ["309", "999"]
    with pytest.raises(mm.errors.DataError, match="999"):
        fits.predict(new)


# -- one GLM per group ------------------------------------------------------------------
def _cbpp_rows(herds):
    d = mm.datasets.load("cbpp")
    return d[d["herd"].astype(str).isin(herds)].reset_index(drop=True)


def _design(d, rhs):
    return mm.lm(f"incidence ~ {rhs}", d).design.X


def test_glm_irls_matches_r_glm():
    fam = mm.family.make_family("binomial")
    d = _cbpp_rows(["2"])
    X = _design(d, "period")
    trials = d["size"].to_numpy(float)
    y = d["incidence"].to_numpy(float) / trials
    # R: coef(glm(cbind(incidence, size - incidence) ~ period, subset(cbpp, herd == 2),
    #             family = binomial)); a repeated column is aliased: NA, as in R
    fit = glm_irls(fam, np.column_stack([X, X[:, 1]]), y, trials, None)
    np.testing.assert_allclose(fit.coef[:3], [-1.845826690498, -0.987386653558,
                                              -1.149905583055], rtol=1e-7)
    assert np.isnan(fit.coef[3]) and fit.converged and not fit.separated
    # R: glm(incidence ~ period + herd + offset(log(size)), subset(cbpp, herd %in% c(2, 5)),
    #        family = poisson)
    d = _cbpp_rows(["2", "5"])
    d["herd"] = d["herd"].astype(str)
    X = _design(d, "period + herd")
    fit = glm_irls(mm.family.make_family("poisson"), X, d["incidence"].to_numpy(float),
                   np.ones(len(d)), np.log(d["size"].to_numpy(float)))
    np.testing.assert_allclose(fit.coef, [-1.662893185269, -2.166846409413, -2.206817613143,
                                          0.161466592426, 0.115132231723], rtol=1e-6)
    assert fit.converged and not fit.separated


def test_glm_nopool_marks_separated_groups():
    cbpp = mm.datasets.load("cbpp")
    m = mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
                 family="binomial")
    coef, separated = glm_nopool(m, "herd")
    assert list(coef.columns) == list(m.fixef.index) and list(coef.index) == list(
        m.coef["herd"].index.astype(str))
    # herd 2 identifies three coefficients, as R's glm on its rows above
    assert not separated["2"] and coef.loc["2", "(Intercept)"] == pytest.approx(-1.8458267)
    # herd 1 has no case in period 4: the maximum-likelihood estimate is -inf
    assert separated["1"] and coef.loc["1", "period4"] < -15
    assert separated.sum() == 13
    with pytest.raises(mm.errors.DataError, match="no random effects for 'period'"):
        glm_nopool(m, "period")


def test_factor_of_an_integer_id_groups_as_the_id_column_does(sleep):
    d = sleep.copy()
    d["id"] = d["Subject"].astype(str).astype(int)
    m = mm.lmer("Reaction ~ Days + (Days | factor(id))", d)
    ref = mm.lmer("Reaction ~ Days + (Days | Subject)", d)
    np.testing.assert_allclose(m.theta, ref.theta, rtol=1e-8)
    assert "factor(id)" in m.coef
    assert "groups:  factor(id), 18" in str(m.summary())
    np.testing.assert_allclose(m.predict(d.head(7)), ref.predict(d.head(7)), rtol=1e-10)
    fits = lmlist("Reaction ~ Days | factor(id)", d)
    expected = lmlist("Reaction ~ Days | Subject", d)
    np.testing.assert_allclose(fits.predict(d), expected.predict(d), rtol=1e-12)
