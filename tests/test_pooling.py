"""Complete pooling (lm), no pooling (lmlist) and the pooling table."""

from __future__ import annotations

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.pooling import lm, lmlist, pooling_table


@pytest.fixture(scope="module")
def sleep():
    return mm.datasets.load("sleepstudy")


def test_lm_matches_r_summary(sleep):
    # R: summary(lm(Reaction ~ Days, sleepstudy)) printed values
    f = lm("Reaction ~ Days", sleep)
    np.testing.assert_allclose(f.coef, [251.405104848485, 10.467285959596], rtol=1e-10)
    np.testing.assert_allclose(f.se, [6.610, 1.238], rtol=5e-4)
    assert f.df_resid == 178
    assert f.sigma == pytest.approx(47.71, rel=2e-4)
    assert f.r_squared == pytest.approx(0.2865, abs=5e-5)
    assert f.adj_r_squared == pytest.approx(0.2825, abs=5e-5)
    fstat, d1, d2 = f.fstatistic
    assert (round(fstat, 2), d1, d2) == (71.46, 1, 178)
    text = str(f.summary())
    assert "Residual standard error: 47.71 on 178 degrees of freedom" in text
    assert "(Intercept)  251.405      6.610  38.033   <2e-16 ***" in text
    assert "F-statistic: 71.46 on 1 and 178 DF,  p-value: 9.894e-15" in text


def test_weighted_lm_equals_scaled_lstsq(sleep):
    w = np.tile([1.0, 2.0], 90)
    f = lm("Reaction ~ Days", sleep, weights=w)
    X = np.column_stack([np.ones(180), sleep["Days"]])
    sw = np.sqrt(w)
    b, rss, *_ = np.linalg.lstsq(X * sw[:, None], sleep["Reaction"] * sw, rcond=None)
    np.testing.assert_allclose(f.coef, b, rtol=1e-12)
    assert f.sigma == pytest.approx(np.sqrt(rss[0] / 178), rel=1e-12)
    assert "Weighted Residuals:" in str(f.summary())


def test_lm_rank_deficient_drops_column(sleep):
    d = sleep.assign(D2=2 * sleep["Days"])
    with pytest.warns(mm.errors.RankDeficiencyWarning, match="D2"):
        f = lm("Reaction ~ Days + D2", d)
    assert "D2" not in f.coef.index
    assert f.coef["Days"] == pytest.approx(10.467285959596, rel=1e-10)


def test_lm_refuses_random_terms(sleep):
    with pytest.raises(mm.errors.FormulaError):
        lm("Reaction ~ Days + (1 | Subject)", sleep)


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
