"""The moment start (mixedmodels.start.MomentStart): for one term in a balanced design whose
fixed effects are Z's columns and columns within levels, it is the REML optimum and, with
ML's degrees of freedom, the ML optimum; a fit from it must equal the fit from lme4's start."""

from __future__ import annotations

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.start import MomentStart

BFGS_LME4_START = mm.OptimizerControl(start="lme4")

EXACT = {
    "slopes": ("sleepstudy", "Reaction ~ Days + (Days | Subject)"),
    "fixed_slope": ("sleepstudy", "Reaction ~ Days + (1 | Subject)"),
    "fixed_factor": ("ergoStool", "effort ~ Type + (1 | Subject)"),
    "machines": ("Machines", "score ~ Machine + (Machine | Worker)"),
}


@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
@pytest.mark.parametrize("case", list(EXACT))
def test_moment_start_is_the_optimum(case: str, reml: bool) -> None:
    name, formula = EXACT[case]
    data = mm.datasets.load(name)
    m = mm.lmer(formula, data, REML=reml)
    theta = MomentStart(m.design)(m.y, reml)
    dense = m._dense_criterion()
    L, lam = dense.factor(theta)
    assert np.max(np.abs(dense.gradient(L, lam))) < 1e-7
    ref = mm.lmer(formula, data, REML=reml, control=BFGS_LME4_START)
    np.testing.assert_allclose(theta, ref._theta, rtol=1e-6, atol=1e-8)
    assert m._crit <= ref._crit + 1e-10 * abs(ref._crit)
    assert m.optinfo["feval"] == 1


def test_ml_and_reml_starts_differ_by_their_degrees_of_freedom() -> None:
    """ML divides the between-level scatter by m, REML by m − 1: ML's variances are smaller."""
    m = mm.lmer("Reaction ~ Days + (1 | Subject)", mm.datasets.load("sleepstudy"))
    ms = MomentStart(m.design)
    assert ms.rank_within == 1  # Days varies within subjects, the intercept does not
    assert ms(m.y, False)[0] < ms(m.y, True)[0]


def test_ml_refit_of_a_reml_fit_reaches_the_ml_optimum() -> None:
    """anova() refits with ML from the REML fit; a fresh ML fit starts at ML's moment start:
    both end at the same optimum."""
    m = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    ml = m.refit(REML=False)
    ref = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"),
                  REML=False, control=BFGS_LME4_START)
    np.testing.assert_allclose(ml._theta, ref._theta, rtol=1e-6)
    assert ml.deviance == pytest.approx(ref.deviance, rel=1e-12)


def test_terms_on_one_factor_take_blocks_of_the_joint_estimate() -> None:
    """``(Days || Subject)``: both terms are regressed on together, so their start is the
    square root of the diagonal of the correlated model's Σ̂/σ₀² = T T'."""
    d = mm.datasets.load("sleepstudy")
    corr = mm.lmer("Reaction ~ Days + (Days | Subject)", d)
    uncorr = mm.lmer("Reaction ~ Days + (Days || Subject)", d)
    for reml in (True, False):
        t = MomentStart(corr.design)(corr.y, reml)
        T = np.array([[t[0], 0.0], [t[1], t[2]]])
        expected = np.sqrt(np.diag(T @ T.T))
        np.testing.assert_allclose(MomentStart(uncorr.design)(uncorr.y, reml), expected,
                                   rtol=1e-6)
    ref = mm.lmer("Reaction ~ Days + (Days || Subject)", d, control=BFGS_LME4_START)
    np.testing.assert_allclose(uncorr._theta, ref._theta, rtol=1e-6)
