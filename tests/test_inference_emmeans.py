"""Estimated marginal means and contrasts against R's emmeans 1.8.4-1 (see analysis_fits)."""

from __future__ import annotations

import numpy as np
import pytest

import mixedmodels as mm
from analysis_fits import assert_frame_close, fit, ref_frame, with_r_estimates
from mixedmodels.errors import ModelSpecificationError

RTOL_LMER = 5e-6  # both fits converge to ~1e-7 in θ; df and quantiles inherit it


def test_emmeans_kenward_roger_default_and_satterthwaite():
    e = mm.emmeans(fit("m_cake"), "recipe")
    assert_frame_close(e.to_frame(), ref_frame("emmeans", "cake_recipe_kr"), RTOL_LMER)
    s = mm.emmeans(fit("m_cake"), "recipe", ddf="Satterthwaite")
    assert_frame_close(s.to_frame(), ref_frame("emmeans", "cake_recipe_sat"), RTOL_LMER)
    assert "Results are averaged over the levels of: temperature" in str(e)


def test_pairs_tukey_holm_none_and_intervals():
    p = mm.emmeans(fit("m_cake"), "recipe").pairs()
    assert_frame_close(p.to_frame(), ref_frame("emmeans", "cake_recipe_pairs_tukey"), RTOL_LMER)
    assert_frame_close(p.confint(), ref_frame("emmeans", "cake_recipe_pairs_tukey_ci"), RTOL_LMER)
    assert_frame_close(p.to_frame(adjust="holm"), ref_frame("emmeans", "cake_recipe_pairs_holm"),
                       RTOL_LMER)
    assert_frame_close(p.to_frame(adjust="none"), ref_frame("emmeans", "cake_recipe_pairs_none"),
                       RTOL_LMER)
    assert "tukey method for comparing a family of 3 estimates" in str(p)
    holm = mm.emmeans(fit("m_cake"), "recipe").pairs(adjust="holm")
    assert_frame_close(holm.to_frame(adjust="tukey"),
                       ref_frame("emmeans", "cake_recipe_pairs_tukey"), RTOL_LMER)


def test_two_factor_grid_and_by_groups():
    e = mm.emmeans(fit("m_cake"), ["recipe", "temperature"])
    assert_frame_close(e.to_frame(), ref_frame("emmeans", "cake_recipe_temp"), RTOL_LMER)
    b = mm.emmeans(fit("m_cake"), "recipe", by="temperature")
    assert_frame_close(b.to_frame(), ref_frame("emmeans", "cake_recipe_by_temp"), RTOL_LMER)
    assert_frame_close(mm.pairs(b, adjust="holm").to_frame(),
                       ref_frame("emmeans", "cake_recipe_by_temp_pairs_holm"), RTOL_LMER)
    # the formula spelling is the same request
    f = mm.emmeans(fit("m_cake"), "~ recipe | temperature")
    np.testing.assert_allclose(f.to_frame()["emmean"], b.to_frame()["emmean"])


def test_covariate_at_mean_and_at_value():
    m = fit("m_cake_num")
    assert_frame_close(mm.emmeans(m, "recipe").to_frame(),
                       ref_frame("emmeans", "cake_num_recipe"), RTOL_LMER)
    assert_frame_close(mm.emmeans(m, "recipe", at={"temp": 200}).to_frame(),
                       ref_frame("emmeans", "cake_num_recipe_at"), RTOL_LMER)
    assert_frame_close(mm.emmeans(m, "recipe", at={"temp": 200}, ddf="Satterthwaite").to_frame(),
                       ref_frame("emmeans", "cake_num_recipe_at_sat"), RTOL_LMER)


def test_two_random_terms_kr_and_satterthwaite_tukey():
    m = fit("m_mach")
    e = mm.emmeans(m, "Machine")
    assert_frame_close(e.to_frame(), ref_frame("emmeans", "mach_kr"), RTOL_LMER)
    assert_frame_close(e.pairs().to_frame(), ref_frame("emmeans", "mach_pairs_tukey"), RTOL_LMER)
    s = mm.emmeans(m, "Machine", ddf="Satterthwaite")
    assert_frame_close(s.to_frame(), ref_frame("emmeans", "mach_sat"), RTOL_LMER)
    assert_frame_close(s.pairs().to_frame(), ref_frame("emmeans", "mach_pairs_sat_tukey"),
                       RTOL_LMER)
    assert_frame_close(s.pairs().confint(), ref_frame("emmeans", "mach_pairs_sat_tukey_ci"),
                       RTOL_LMER)


@pytest.mark.parametrize("use_r", [True, False])
def test_glmer_binomial_link_response_and_odds_ratios(use_r):
    # with R's β̂ and vcov the algebra agrees to 1e-8; with our own fit, to the optimum's 3e-5
    g = with_r_estimates("g_cbpp") if use_r else fit("g_cbpp")
    rtol = 1e-8 if use_r else 3e-5
    e = mm.emmeans(g, "period")
    assert_frame_close(e.to_frame(), ref_frame("emmeans", "cbpp_link"), rtol)
    assert_frame_close(e.pairs().to_frame(), ref_frame("emmeans", "cbpp_pairs_tukey"), rtol)
    r = mm.emmeans(g, "period", type="response")
    assert_frame_close(r.to_frame(), ref_frame("emmeans", "cbpp_response"), rtol)
    odds = r.pairs(adjust="none")
    assert_frame_close(odds.to_frame(), ref_frame("emmeans", "cbpp_pairs_or"), rtol)
    assert_frame_close(odds.confint(), ref_frame("emmeans", "cbpp_pairs_or_ci"), rtol)


@pytest.mark.parametrize("use_r", [True, False])
def test_glmer_poisson_rates_and_ratios(use_r):
    g = with_r_estimates("g_pois") if use_r else fit("g_pois")
    rtol = 1e-8 if use_r else 1e-4
    r = mm.emmeans(g, "trt", type="response")
    assert_frame_close(r.to_frame(), ref_frame("emmeans", "pois_response"), rtol)
    assert_frame_close(r.pairs().to_frame(), ref_frame("emmeans", "pois_pairs_ratio"), rtol)


def test_custom_contrast_and_sidak_for_non_pairwise():
    e = mm.emmeans(fit("m_cake"), "recipe")
    c = e.contrast({"A vs rest": [1.0, -0.5, -0.5]}, adjust="tukey")
    assert c.adjust == "sidak"  # Tukey applies to pairwise families only, as emmeans
    tab = e.to_frame()
    est = tab["emmean"].to_numpy() @ np.array([1.0, -0.5, -0.5])
    assert c.to_frame()["estimate"].iloc[0] == pytest.approx(est)
    rev = e.pairs(reverse=True).to_frame()
    assert list(rev["contrast"]) == ["B - A", "C - A", "C - B"]


def test_bad_requests_are_named():
    m = fit("m_cake")
    with pytest.raises(ModelSpecificationError, match="'Recipe' is not a variable"):
        mm.emmeans(m, "Recipe")
    with pytest.raises(ModelSpecificationError, match="level"):
        mm.emmeans(m, "recipe", at={"recipe": ["A", "Z"]})
    with pytest.raises(ModelSpecificationError, match="at names"):
        mm.emmeans(m, "recipe", at={"nope": 1})
    with pytest.raises(ValueError, match="asymptotic"):
        mm.emmeans(fit("g_cbpp"), "period", ddf="Kenward-Roger")
    with pytest.raises(ValueError, match="adjust"):
        mm.emmeans(m, "recipe").pairs(adjust="scheffe")


def test_weights_equal_proportional_cells():
    # R: cu <- cake[-(1:20), ]; m <- lmer(angle ~ recipe * temperature + (1 | replicate), cu)
    # emmeans(m, "recipe", weights = w) (emmeans 1.8.4-1, printed to 7 digits)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.lmer("angle ~ recipe * temperature + (1 | replicate)",
                    mm.datasets.load("cake").iloc[20:])
    want = {
        "equal": ([32.43518, 30.54762, 30.38095], [1.4604610, 1.4579428, 1.4579428]),
        "proportional": ([32.45622, 30.57514, 30.40600], [1.4603923, 1.4579541, 1.4579541]),
        "cells": ([32.49932, 30.54762, 30.38095], [1.4603257, 1.4579428, 1.4579428]),
    }
    for w, (est, se) in want.items():
        tab = mm.emmeans(m, "recipe", weights=w).to_frame()
        np.testing.assert_allclose(tab["emmean"], est, atol=6e-6)
        np.testing.assert_allclose(tab["SE"], se, rtol=1e-6)
    temp = mm.emmeans(m, "temperature", weights="cells").to_frame()
    np.testing.assert_allclose(temp["emmean"].iloc[:2], [26.81639, 29.20664], atol=6e-6)
    with pytest.raises(ValueError, match="weights"):
        mm.emmeans(m, "recipe", weights="outer")
