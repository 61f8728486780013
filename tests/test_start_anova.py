"""The ANOVA start (mixedmodels.start_anova): on a balanced design with positive variance
estimates it is the REML optimum, so it must equal the fit from lme4's start and have a
zero gradient; off balanced designs it must decline and the fit fall back."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.start_anova import anova_start

LME4_PATH = mm.OptimizerControl(start="lme4", optimizer="bobyqa")
BFGS_LME4_START = mm.OptimizerControl(start="lme4")


def _crossed_with_cells(seed: int = 3, a: int = 6, b: int = 4, reps: int = 3,
                        sd: tuple[float, float, float] = (2.0, 1.5, 1.0)) -> pd.DataFrame:
    """y = μ + α_i + β_j + γ_ij + ε, every cell (i, j) ``reps`` times."""
    rng = np.random.default_rng(seed)
    i, j, _ = np.meshgrid(np.arange(a), np.arange(b), np.arange(reps), indexing="ij")
    i, j = i.ravel(), j.ravel()
    y = (10 + rng.normal(0, sd[0], a)[i] + rng.normal(0, sd[1], b)[j]
         + rng.normal(0, sd[2], (a, b))[i, j] + rng.normal(0, 0.7, i.size))
    return pd.DataFrame({"y": y, "A": [f"a{k}" for k in i], "B": [f"b{k}" for k in j]})


def _nested_three(seed: int = 5, sd: tuple[float, float, float] = (3.0, 2.0, 1.0)
                  ) -> pd.DataFrame:
    """y = μ + a_i + b_ij + c_ijk + ε: 5 A, 3 B per A, 2 C per B, 2 rows per C."""
    rng = np.random.default_rng(seed)
    i, j, k, _ = np.meshgrid(np.arange(5), np.arange(3), np.arange(2), np.arange(2),
                             indexing="ij")
    i, j, k = i.ravel(), j.ravel(), k.ravel()
    y = (rng.normal(0, sd[0], 5)[i] + rng.normal(0, sd[1], (5, 3))[i, j]
         + rng.normal(0, sd[2], (5, 3, 2))[i, j, k] + rng.normal(0, 0.5, i.size))
    return pd.DataFrame({"y": y, "A": i.astype(str), "B": (i * 3 + j).astype(str),
                         "C": (i * 6 + j * 2 + k).astype(str)})


BALANCED = {
    "penicillin": ("diameter ~ 1 + (1|plate) + (1|sample)", mm.datasets.load("Penicillin")),
    "pastes": ("strength ~ 1 + (1|batch/cask)", mm.datasets.load("Pastes")),
    "crossed_cells": ("y ~ 1 + (1|A) + (1|B) + (1|A:B)", _crossed_with_cells()),
    "nested_three": ("y ~ 1 + (1|A) + (1|B) + (1|C)", _nested_three()),
}


@pytest.mark.parametrize("case", list(BALANCED))
def test_anova_start_is_the_reml_optimum(case: str) -> None:
    formula, data = BALANCED[case]
    m = mm.lmer(formula, data)
    start = anova_start(m.design)
    assert start is not None
    theta = start(m.y)
    assert theta is not None
    dense = m._dense_criterion()
    L, lam = dense.factor(theta)
    grad = dense.gradient(L, lam)
    assert np.max(np.abs(grad)) < 1e-8  # a first-order optimum
    # the fits from lme4's start (BFGS, and lme4's own BOBYQA path) end there too
    ref = mm.lmer(formula, data, control=BFGS_LME4_START)
    np.testing.assert_allclose(theta, ref._theta, rtol=1e-6)
    slow = mm.lmer(formula, data, control=LME4_PATH)
    np.testing.assert_allclose(theta, slow._theta, rtol=2e-4)
    assert m._criterion(*dense.pieces(L), True) <= slow.reml_criterion + 1e-10
    assert m.optinfo["feval"] == 1  # the fit starts at its optimum
    np.testing.assert_allclose(m._theta, theta, rtol=1e-12)


@pytest.mark.parametrize("case", ["pastes", "nested_three"])
def test_ml_anova_start_of_nested_factors_is_the_ml_optimum(case: str) -> None:
    """One factor coarser than all others: ML's mean stratum shares its eigenvalue."""
    formula, data = BALANCED[case]
    m = mm.lmer(formula, data, REML=False)
    theta = anova_start(m.design)(m.y, False)
    dense = m._dense_criterion()
    assert np.max(np.abs(dense.gradient(*dense.factor(theta)))) < 1e-8
    ref = mm.lmer(formula, data, REML=False, control=BFGS_LME4_START)
    np.testing.assert_allclose(theta, ref._theta, rtol=1e-6)
    assert m.optinfo["feval"] == 1


def test_ml_anova_start_of_crossed_factors_is_a_start_only() -> None:
    """Crossed factors: no closed-form ML optimum; the REML solution starts the fit, which
    must still end at the ML optimum."""
    formula, data = BALANCED["penicillin"]
    m = mm.lmer(formula, data, REML=False)
    start = anova_start(m.design)
    np.testing.assert_allclose(start(m.y, False), start(m.y, True), rtol=0)
    ref = mm.lmer(formula, data, REML=False, control=BFGS_LME4_START)
    np.testing.assert_allclose(m._theta, ref._theta, rtol=1e-6)
    assert m.deviance <= ref.deviance + 1e-10 * ref.deviance


def test_refits_start_from_the_anova_estimates_of_the_new_response() -> None:
    formula, data = BALANCED["penicillin"]
    m = mm.lmer(formula, data)
    rng = np.random.default_rng(1)
    y = m.y + rng.normal(0, 0.3, m.y.size)
    r = m.refit(y)
    assert r.optinfo["feval"] == 1
    new = data.assign(diameter=y)
    np.testing.assert_allclose(r._theta, mm.lmer(formula, new, control=BFGS_LME4_START)._theta,
                               rtol=1e-6)


def test_dyestuff2_boundary_optimum_in_one_evaluation() -> None:
    """Dyestuff2: the between-batch mean square is below the residual one, so the
    stationary point has a negative variance; the optimum (REML and ML) is θ = 0."""
    data = mm.datasets.load("Dyestuff2")
    for reml in (True, False):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = mm.lmer("Yield ~ 1 + (1|Batch)", data, REML=reml)
            ref = mm.lmer("Yield ~ 1 + (1|Batch)", data, REML=reml, control=LME4_PATH)
        start = anova_start(m.design)
        assert start._solve(m.y - m.y.mean(), reml) is None  # not an interior optimum
        np.testing.assert_array_equal(start(m.y, reml), [0.0])
        assert m._theta[0] == 0.0 and m.optinfo["feval"] == 1
        assert m._crit <= ref._crit + 1e-12 * ref._crit


# small true components: many of these have their optimum on a face (some θ_k = 0)
FACES = [("y ~ 1 + (1|A) + (1|B) + (1|A:B)", True, _crossed_with_cells(s, reps=2,
                                                                      sd=(0.7, 0.15, 0.2)))
         for s in range(8)]
FACES += [("y ~ 1 + (1|A) + (1|B) + (1|C)", reml, _nested_three(s, sd=(0.3, 0.2, 0.25)))
          for s in range(4) for reml in (True, False)]


@pytest.mark.parametrize("formula, reml, data", FACES)
def test_boundary_optimum_is_the_best_face(formula: str, reml: bool, data: pd.DataFrame) -> None:
    """The face search finds the optimum that lme4's BOBYQA path finds, in one evaluation,
    with a criterion no worse."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.lmer(formula, data, REML=reml)
        ref = mm.lmer(formula, data, REML=reml, control=LME4_PATH)
    assert m.optinfo["feval"] == 1
    assert m._crit <= ref._crit + 1e-10 * abs(ref._crit)
    np.testing.assert_allclose(m._theta, ref._theta, atol=5e-4)


def test_faces_are_searched_in_some_boundary_cases() -> None:
    """The face cases above include optima on the boundary (else the search is untested)."""
    on_face = 0
    for formula, reml, data in FACES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = mm.lmer(formula, data, REML=reml)
        e = m.y - m.y.mean()
        on_face += anova_start(m.design)._solve(e, reml) is None
    assert on_face >= 4


def test_unbalanced_or_other_designs_are_declined() -> None:
    formula, data = BALANCED["penicillin"]
    assert anova_start(mm.lmer(formula, data.iloc[1:]).design) is None  # one cell missing
    d = data.assign(x=np.arange(len(data)) % 7)
    assert anova_start(mm.lmer("diameter ~ x + (1|plate) + (1|sample)", d).design) is None
    w = np.where(np.arange(len(data)) % 2 == 0, 1.0, 2.0)
    assert anova_start(mm.lmer(formula, data, weights=w).design) is None
    # equal level counts, but B neither crossed with A in equal cells nor nested in it
    cells = _crossed_with_cells()
    cells = cells.assign(B=cells.B.to_numpy()[np.random.default_rng(0).permutation(len(cells))])
    assert anova_start(mm.lmer("y ~ 1 + (1|A) + (1|B)", cells).design) is None


def test_equal_weights_and_offsets_keep_the_exact_start() -> None:
    formula, data = BALANCED["penicillin"]
    base = mm.lmer(formula, data)
    w = mm.lmer(formula, data, weights=np.full(len(data), 2.0))
    assert w.optinfo["feval"] == 1
    # residual variance σ²/2 with the same random effects: θ = σ_b/σ shrinks by √2
    np.testing.assert_allclose(w._theta, base._theta / np.sqrt(2.0), rtol=1e-10)
    np.testing.assert_allclose(w._theta, mm.lmer(formula, data, weights=np.full(len(data), 2.0),
                                                 control=BFGS_LME4_START)._theta, rtol=1e-6)
    off = np.full(len(data), 1.25)
    o = mm.lmer(formula, data, offset=off)
    assert o.optinfo["feval"] == 1
    np.testing.assert_allclose(o._theta, base._theta, rtol=1e-10)
