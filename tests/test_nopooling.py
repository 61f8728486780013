"""No pooling (lmlist) and the pooling table (nopooling.py)."""

from __future__ import annotations

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.nopooling import lmlist, pooling_table


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
