"""Profiling the trailing terms out: the tail criterion equals the full one, and fits agree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.linalg import TailProfile, tail_split
from mixedmodels.optimize import OptimizerControl


def crossed_frame(seed: int = 1) -> pd.DataFrame:
    """Two large crossed factors and a small one with a random slope (r ≈ 270)."""
    rng = np.random.default_rng(seed)
    n, n1, n2, n3 = 3000, 400, 250, 6
    g1, g2, g3 = rng.integers(0, n1, n), rng.integers(0, n2, n), rng.integers(0, n3, n)
    x = rng.normal(size=n)
    y = (
        1.0
        + 0.5 * x
        + rng.normal(0, 0.8, n1)[g1]
        + rng.normal(0, 0.5, n2)[g2]
        + rng.normal(0, 0.7, n3)[g3]
        + rng.normal(0, 0.3, n3)[g3] * x
        + rng.normal(0, 1.0, n)
    )
    return pd.DataFrame(
        {"y": y, "x": x, "a": [f"a{i}" for i in g1], "b": [f"b{i}" for i in g2], "c": g3}
    )


FORMULAS = ["y ~ x + (1|a) + (1|b) + (1|c)", "y ~ x + (1|a) + (1|b) + (x|c)"]


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("REML", [True, False])
def test_tail_criterion_equals_the_full_criterion(formula: str, REML: bool) -> None:
    m = mm.lmer(formula, crossed_frame(), REML=REML)
    k = tail_split(m.factor)
    assert k == 2  # terms a, b in the head; c (and X, y) in the tail
    profile = TailProfile(
        m.factor, k, lambda ld_z, ld_x, pwrss: m._criterion(ld_z, ld_x, pwrss, REML)
    )
    rng = np.random.default_rng(3)
    for _ in range(4):
        theta = m.theta.to_numpy() * rng.uniform(0.5, 1.5, m.theta.size)
        if theta.size == 5:
            theta[3] = rng.normal(0, 0.3)  # the slope-intercept entry may be negative
        profile.set_head(theta[: profile.n_head])
        got = profile.objective(theta[profile.n_head :])
        want = m.objective(theta, REML=REML)
        np.testing.assert_allclose(got, want, rtol=1e-11)


@pytest.mark.parametrize("formula", FORMULAS)
def test_profiled_and_joint_optimization_reach_the_same_optimum(formula: str) -> None:
    data = crossed_frame()
    prof = mm.lmer(formula, data)
    joint = mm.lmer(formula, data, control=OptimizerControl(profile_tail=False))
    assert prof.optinfo["inner_feval"] > 0
    assert joint.optinfo["inner_feval"] == 0
    assert prof.reml_criterion <= joint.reml_criterion + 1e-7 * abs(joint.reml_criterion)
    np.testing.assert_allclose(prof.reml_criterion, joint.reml_criterion, rtol=1e-8)
    sd = lambda m: m.varcorr.to_frame()["sdcor"].to_numpy()  # noqa: E731
    np.testing.assert_allclose(sd(prof), sd(joint), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(prof.fixef, joint.fixef, rtol=1e-5)


def test_no_tail_split_for_small_or_two_term_models() -> None:
    sleep = mm.lmer("Reaction ~ Days + (Days|Subject)", mm.datasets.load("sleepstudy"))
    assert tail_split(sleep.factor) is None
    two = mm.lmer("y ~ x + (1|a) + (1|b)", crossed_frame())
    assert tail_split(two.factor) is None
    assert two.optinfo["inner_feval"] == 0


def test_refits_use_the_profile_and_agree() -> None:
    """Bootstrap/anova refits go through the same profiled optimization."""
    m = mm.lmer(FORMULAS[0], crossed_frame())
    again = m.refit(m.y)
    assert again.optinfo["inner_feval"] > 0
    assert again.reml_criterion == pytest.approx(m.reml_criterion, rel=1e-10)
    ml = m.refit(REML=False)
    joint = mm.lmer(FORMULAS[0], crossed_frame(), REML=False,
                    control=OptimizerControl(profile_tail=False))
    assert ml.deviance == pytest.approx(joint.deviance, rel=1e-9)
