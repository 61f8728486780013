"""Case, residual (CGR) and parametric bootstrap (lmeresampler / bootMer semantics)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from analysis_fits import fit
from mixedmodels.errors import ModelSpecificationError
from mixedmodels.inference.bootstrap import BootstrapResult, case_resample_rows, refit_rows


def _quiet_lmer(formula, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.lmer(formula, data)


def test_case_rows_draw_whole_groups_then_rows_within():
    m = fit("m_sleep")
    subj = m.design.terms[0].factor.codes
    rng = np.random.default_rng(5)
    rows, draw = case_resample_rows(m, [True, False], rng)
    assert rows.size == m.nobs
    counts = np.bincount(subj[rows], minlength=18)
    assert set(counts) <= {0, 10, 20, 30, 40, 50}  # whole subjects, each 10 rows
    assert counts.sum() == 180 and (counts == 0).any()
    # every drawn copy keeps its rows in order (Days 0..9)
    days = m.design.X[rows, 1]
    np.testing.assert_array_equal(days.reshape(18, 10), np.tile(np.arange(10.0), (18, 1)))
    rows2, _ = case_resample_rows(m, [True, True], rng)
    days2 = m.design.X[rows2, 1].reshape(18, 10)
    assert any(len(set(r)) < 10 for r in days2)  # rows drawn with replacement within groups
    np.testing.assert_array_equal(np.bincount(subj[rows2], minlength=18) % 10, 0)


def test_case_bootstrap_se_near_model_se_when_copies_are_groups():
    m = fit("m_sleep")
    b = mm.bootstrap(m, type="case", resample=[True, False], nsim=150, seed=11, relabel=True)
    assert isinstance(b, BootstrapResult) and b.n_failed == 0
    assert list(b.replicates.columns) == ["(Intercept)", "Days"]
    se = b.summary()["std.error"]
    np.testing.assert_allclose(se, m.fixef_se, rtol=0.25)
    # lmeresampler's labels: copies of a subject merge, so the spread is smaller
    merged = mm.bootstrap(m, type="case", nsim=150, seed=11)
    assert merged.summary()["std.error"].iloc[0] < se.iloc[0]


def test_refit_rows_relabels_and_reuses_the_design():
    m = fit("m_sleep")
    rows = np.concatenate([np.arange(10), np.arange(10), np.arange(10, 180)])
    merged = refit_rows(m, rows)
    assert merged.ngroups == {"Subject": 18}
    codes = np.repeat(np.arange(19), 10)
    split = refit_rows(m, rows, {"Subject": codes})
    assert split.ngroups == {"Subject": 19}
    # the rows of the fit itself give the fit back
    same = refit_rows(m, np.arange(m.nobs))
    np.testing.assert_allclose(same.fixef, m.fixef, rtol=1e-6)
    np.testing.assert_allclose(same.theta, m.theta, rtol=1e-4)


def test_nested_and_crossed_grouping():
    pastes = mm.datasets.load("Pastes")
    m = _quiet_lmer("strength ~ 1 + (1 | batch/cask)", pastes)
    rng = np.random.default_rng(0)
    rows, draw = case_resample_rows(m, [True, True, False], rng)
    assert rows.size == m.nobs
    b = mm.bootstrap(m, type="case", resample=[True, False, False], nsim=5, seed=2)
    assert b.replicates.shape == (5, 1) and b.n_failed == 0
    with pytest.raises(ModelSpecificationError, match="3 values"):
        mm.bootstrap(m, type="case", resample=[True, False], nsim=2)
    pen = _quiet_lmer("diameter ~ 1 + (1 | plate) + (1 | sample)",
                      mm.datasets.load("Penicillin"))
    with pytest.raises(ModelSpecificationError, match="nested"):
        mm.bootstrap(pen, type="case", nsim=2)


def test_residual_bootstrap_centres_on_the_fit():
    m = fit("m_sleep")
    b = mm.bootstrap(m, type="residual", nsim=150, seed=4)
    s = b.summary()
    np.testing.assert_allclose(s["std.error"], m.fixef_se, rtol=0.3)
    assert abs(s.loc["Days", "bias"]) < 3 * s.loc["Days", "std.error"] / np.sqrt(150)
    with pytest.raises(ModelSpecificationError, match="linear mixed"):
        mm.bootstrap(fit("g_cbpp"), type="residual", nsim=2)


def test_glmer_case_bootstrap_and_parametric_api_kept():
    b = mm.bootstrap(fit("g_cbpp"), type="case", nsim=8, seed=3)
    assert b.replicates.shape == (8, 4)
    m = fit("m_sleep")
    old = mm.bootstrap(m, lambda f: f.sigma, nsim=5, seed=1)  # bootMer-style call
    assert old.shape == (5, 1) and old.type == "parametric"
    assert float(old[0].std()) > 0


def test_interval_methods():
    reps = pd.DataFrame({"a": np.arange(1.0, 101.0)})
    b = BootstrapResult(reps, pd.Series({"a": 40.0}), "case")
    perc = b.confint(0.9, "perc")
    np.testing.assert_allclose(perc.loc["a"], reps["a"].quantile([0.05, 0.95]))
    basic = b.confint(0.9, "basic")
    lo, hi = perc.loc["a"]
    np.testing.assert_allclose(basic.loc["a"], [80 - hi, 80 - lo])
    norm = b.confint(0.9, "norm")
    centre = 80 - reps["a"].mean()
    half = 1.6448536269514722 * reps["a"].std()
    np.testing.assert_allclose(norm.loc["a"], [centre - half, centre + half])
    with pytest.raises(ValueError, match="perc"):
        b.confint(method="bca")
    with pytest.raises(ValueError, match="type"):
        mm.bootstrap(fit("m_sleep"), type="wild")
