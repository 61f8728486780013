"""Leverage, Cook's distance, VIF and binned residuals (lme4 1.1-31, performance 0.10.2)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import mixedmodels as mm
from analysis_fits import data, fit
from mixedmodels.errors import ModelSpecificationError


def test_leverage_and_cooks_distance_match_lme4():
    # R: m <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy, control = lmerControl(
    # optCtrl = list(xtol_abs = 1e-14, ftol_abs = 1e-14, xtol_rel = 1e-12))); hatvalues(m),
    # cooks.distance(m). With its default tolerances lme4 stops 1.5e-9 above the REML
    # optimum, which moves the leverages by 4e-6 relative.
    m = fit("m_sleep")
    h = mm.leverage(m)
    np.testing.assert_allclose(h[:6], [0.229303002393, 0.169729254845, 0.126823221343,
                                       0.100584901889, 0.0910142964808, 0.0981114051198],
                               rtol=1e-6)
    assert h.sum() == pytest.approx(29.0220672578, rel=1e-6)
    d = mm.cooks_distance(m)
    np.testing.assert_allclose(d[:6], [0.004963125826, 0.040205954106, 0.226097772916,
                                       0.0073132034798, 0.0505728612771, 0.361950571632],
                               rtol=1e-5)


def test_vif_matches_performance():
    # R: check_collinearity(lmer(angle ~ recipe * temp + (1 | replicate), cake))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.lmer("angle ~ recipe * temp + (1 | replicate)", data("cake"))
    tab = mm.vif(m)
    assert list(tab["Term"]) == ["recipe", "temp", "recipe:temp"]
    np.testing.assert_allclose(tab["VIF"], [19083.4489796, 3.0, 19359.7346939], rtol=1e-6)
    np.testing.assert_allclose(tab["Tolerance"], 1 / tab["VIF"])
    with pytest.raises(ModelSpecificationError, match="two fixed-effect terms"):
        mm.vif(fit("m_sleep"))


def test_binned_residuals_bins_as_performance():
    # R: binned_residuals(g) for the cbpp glmer: the bins (xbar, n, x.lo, x.hi) agree;
    # performance 0.10.2 subtracts μ̂ from the success counts of a cbind() response, here
    # from the proportions
    tab = mm.binned_residuals(fit("g_cbpp"))
    np.testing.assert_allclose(
        tab["xbar"], [0.0346394789555, 0.0477986402751, 0.0630115864881, 0.0816097133126,
                      0.1224957143047, 0.1666888605246, 0.2807138374376], rtol=2e-4)
    assert list(tab["n"]) == [8] * 7
    np.testing.assert_allclose(tab["x.hi"].iloc[:3], [0.0439263209673, 0.0511314339120,
                                                      0.0696834516705], rtol=2e-4)
    g = fit("g_cbpp")
    res = g.y - g.fitted
    assert tab["ybar"].mul(tab["n"]).sum() == pytest.approx(res.sum())


def test_group_cooks_distance_refits_without_each_group():
    m = fit("m_sleep")
    d = mm.group_cooks_distance(m, "Subject")
    assert d.index.name == "Subject" and len(d) == 18 and (d >= 0).all()
    sleep = data("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        without = mm.lmer("Reaction ~ Days + (Days | Subject)",
                          sleep[sleep["Subject"] != "308"])
    diff = m.fixef.to_numpy() - without.fixef.to_numpy()
    want = diff @ np.linalg.inv(m.vcov.to_numpy()) @ diff / 2
    assert d["308"] == pytest.approx(want, rel=1e-4)
    with pytest.raises(ModelSpecificationError, match="grouping factor"):
        mm.group_cooks_distance(m, "Days")
