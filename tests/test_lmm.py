"""LinearMixedModel: results accessors, predictions, refits and printing."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import DataError, SingularFitWarning


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return mm.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def fit(sleep: pd.DataFrame) -> mm.LinearMixedModel:
    return mm.lmer("Reaction ~ Days + (Days | Subject)", sleep)


def test_shapes(fit: mm.LinearMixedModel) -> None:
    assert isinstance(fit.fixef, pd.Series)
    assert isinstance(fit.vcov, pd.DataFrame)
    assert list(fit.theta.index) == [
        "Subject.(Intercept)",
        "Subject.Days.(Intercept)",
        "Subject.Days",
    ]
    assert isinstance(fit.sigma, float) and isinstance(fit.nobs, int)
    assert fit.ngroups == {"Subject": 18}
    assert set(fit.ranef) == {"Subject"} and fit.ranef["Subject"].shape == (18, 2)
    assert fit.ranef.condsd["Subject"].shape == (18, 2)
    assert fit.coef["Subject"].shape == (18, 2)
    np.testing.assert_allclose(
        fit.coef["Subject"].to_numpy(), fit.ranef["Subject"].to_numpy() + fit.fixef.to_numpy()
    )


def test_fitted_residuals_and_pwrss(fit: mm.LinearMixedModel) -> None:
    r = fit.resid()
    np.testing.assert_allclose(fit.fitted + r, fit.y)
    np.testing.assert_allclose(fit.resid("scaled"), r / fit.sigma)
    # penalized residual sum of squares = ||y - fit||² + ||u||²
    pwrss = np.sum(r**2) + sum(np.sum(u**2) for u in fit._u)
    assert fit.sigma**2 * (fit.nobs - 2) == pytest.approx(pwrss, rel=1e-8)
    with pytest.raises(ValueError, match="type must be"):
        fit.resid("bogus")


def test_predict_newdata_re_form_and_new_levels(fit: mm.LinearMixedModel, sleep) -> None:
    np.testing.assert_allclose(fit.predict(sleep), fit.fitted, rtol=1e-12)
    pop = fit.predict(sleep, re_form="~0")
    np.testing.assert_allclose(pop, fit.fixef["(Intercept)"] + fit.fixef["Days"] * sleep["Days"])
    np.testing.assert_allclose(fit.predict(sleep, re_form="~(Days | Subject)"), fit.fitted)
    new = pd.DataFrame({"Days": [0.0, 5.0], "Subject": ["308", "new"]})
    with pytest.raises(DataError, match="allow_new_levels=True"):
        fit.predict(new)
    p = fit.predict(new, allow_new_levels=True)
    assert p[0] == pytest.approx(fit.coef["Subject"].loc["308", "(Intercept)"])
    assert p[1] == pytest.approx(fit.fixef["(Intercept)"] + 5 * fit.fixef["Days"])
    nan_row = pd.DataFrame({"Days": [np.nan], "Subject": ["308"]})
    assert np.isnan(fit.predict(nan_row)[0])


def test_refit_with_new_response_and_ml(fit: mm.LinearMixedModel) -> None:
    same = fit.refit(fit.y)
    assert same.reml_criterion == pytest.approx(fit.reml_criterion, rel=1e-10)
    ml = fit.refit(REML=False)
    assert not ml.REML
    assert ml.deviance == pytest.approx(1751.9393444647, rel=1e-8)  # lme4, sleep_rs_ml
    y2 = fit.y + 10.0
    shifted = fit.refit(y2)
    assert shifted.fixef["(Intercept)"] == pytest.approx(fit.fixef["(Intercept)"] + 10, rel=1e-6)


def test_singular_fit_warns() -> None:
    with pytest.warns(SingularFitWarning, match="boundary"):
        m = mm.lmer("Yield ~ 1 + (1 | Batch)", mm.datasets.load("Dyestuff2"))
    assert m.is_singular


def test_offset_argument_equals_formula_offset(sleep) -> None:
    a = mm.lmer("Reaction ~ Days + offset(2 * Days) + (1 | Subject)", sleep)
    b = mm.lmer("Reaction ~ Days + (1 | Subject)", sleep, offset=2 * sleep["Days"].to_numpy())
    assert a.reml_criterion == pytest.approx(b.reml_criterion, rel=1e-12)
    c = mm.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    assert a.fixef["Days"] == pytest.approx(c.fixef["Days"] - 2, rel=1e-8)


def test_summary_layout(fit: mm.LinearMixedModel) -> None:
    text = str(fit.summary(ddf=None))
    assert text.startswith("Linear mixed model fit by REML ['lmerMod']")
    for piece in (
        "REML criterion at convergence: 1743.6",
        "Scaled residuals:",
        " Subject  (Intercept) 612.09   24.740",
        "Residual",
        "Number of obs: 180, groups:  Subject, 18",
        "(Intercept)  251.405      6.825",
        "Correlation of Fixed Effects:",
        "Days -0.138",
    ):
        assert piece in text, piece
    lt = str(fit.summary())
    assert "Satterthwaite" in lt and "Pr(>|t|)" in lt
    ml = str(fit.refit(REML=False).summary(ddf=None))
    assert "maximum likelihood" in ml and "df.resid" in ml and "1751.9" in ml
    assert "Subject" in repr(fit)


def test_tidy_glance_augment_to_dict(fit: mm.LinearMixedModel, sleep) -> None:
    t = fit.tidy()
    assert list(t["term"]) == [
        "(Intercept)", "Days", "sd__(Intercept)", "cor__(Intercept).Days", "sd__Days",
        "sd__Observation",
    ]  # fmt: skip
    coefs = fit.summary().coefficients
    np.testing.assert_allclose(t["statistic"][:2], coefs["t value"])  # not the df column
    np.testing.assert_allclose(t["df"][:2], coefs["df"])
    assert t["statistic"][0] == pytest.approx(36.838, abs=1e-3)  # broom.mixed: 36.8
    g = fit.glance()
    assert g.loc[0, "REMLcrit"] == pytest.approx(fit.reml_criterion)
    a = fit.augment(sleep)
    np.testing.assert_allclose(a[".fitted"], fit.fitted)
    d = json.loads(json.dumps(fit.to_dict()))
    assert d["fixef"]["Days"] == pytest.approx(fit.fixef["Days"])
    assert d["ngroups"] == {"Subject": 18}
    vc = fit.varcorr.to_frame()
    assert list(vc["grp"]) == ["Subject", "Subject", "Subject", "Residual"]


def test_no_fixed_effects_and_expression_response(sleep) -> None:
    # lme4: REMLcrit(lmer(Reaction ~ 0 + (1|Subject))) = 1985.68;
    # fixef(lmer(log(Reaction) ~ Days + (Days|Subject))) = 5.53006481, 0.03366804
    m = mm.lmer("Reaction ~ 0 + (1 | Subject)", sleep)
    assert m.reml_criterion == pytest.approx(1985.6797, abs=1e-3)
    assert len(m.fixef) == 0
    assert "No fixed effect coefficients" in str(m)  # print(m); the summary omits it
    assert "fit by maximum likelihood" in str(m.summary())  # lme4: no X, so ML
    m = mm.lmer("log(Reaction) ~ Days + (Days | Subject)", sleep)
    np.testing.assert_allclose(m.fixef, [5.53006481, 0.03366804], rtol=1e-6)


def test_residual_types_as_lme4(sleep) -> None:
    """residuals(m, type, scaled): with prior weights, scaled=TRUE divides the response
    residuals by σ̂, while the summary's scaled residuals are pearson / σ̂."""
    d = sleep.assign(w=np.linspace(0.5, 2.0, len(sleep)))
    m = mm.lmer("Reaction ~ Days + (Days | Subject)", d, weights="w")
    r = m.y - m.fitted
    np.testing.assert_allclose(m.resid(), r)
    np.testing.assert_allclose(m.resid("working"), r)
    np.testing.assert_allclose(m.resid(scaled=True), r / m.sigma)
    np.testing.assert_allclose(m.resid("deviance"), r * np.sqrt(d["w"]))
    np.testing.assert_allclose(m.resid("scaled"), m.resid("pearson", scaled=True))
    with pytest.raises(ValueError, match="type must be"):
        m.resid("partial")


def test_coef_puts_random_only_columns_first(sleep) -> None:
    """lme4: coef(lmer(Reaction ~ 0 + Days + (1|Subject), sleepstudy))$Subject["308", ]."""
    m = mm.lmer("Reaction ~ 0 + Days + (1 | Subject)", sleep)
    cf = m.coef["Subject"]
    assert list(cf.columns) == ["(Intercept)", "Days"]
    np.testing.assert_allclose(cf.loc["308"], [293.6696169, 10.67193052], rtol=1e-6)


def test_augment_without_data_is_the_model_frame(sleep) -> None:
    m = mm.lmer("log(Reaction) ~ Days + (Days | Subject)", sleep)
    a = m.augment()
    assert list(a.columns[:3]) == ["Reaction", "Days", "Subject"]
    np.testing.assert_allclose(a[".fitted"], m.fitted)
    np.testing.assert_allclose(a[".resid"], m.resid())
