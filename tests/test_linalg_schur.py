"""The Schur form of the criterion and its gradient (mixedmodels.linalg.schur)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.linalg.dense import DenseCriterion
from mixedmodels.linalg.schur import SchurCriterion, prefers_schur

CASES = [
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)"),
    ("Penicillin", "diameter ~ 1 + (1|plate) + (1|sample)"),
    ("Machines", "score ~ Machine + (Machine|Worker)"),
    ("Pastes", "strength ~ 1 + (1|batch/cask)"),
    ("sleepstudy", "Reaction ~ Days + (1|Subject) + (0 + Days|Subject)"),
    ("Dyestuff", "Yield ~ 1 + (1|Batch)"),
]


def _pair(ds: str, formula: str, reml: bool) -> tuple[mm.LinearMixedModel, DenseCriterion,
                                                      SchurCriterion]:
    m = mm.lmer(formula, mm.datasets.load(ds), REML=reml)
    tri = [t.tri_index for t in m.design.terms]
    return m, DenseCriterion(m.cp, tri, reml), SchurCriterion(m.cp, tri, reml)


def _thetas(m: mm.LinearMixedModel) -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    th = m._theta
    out = [th, th * (1.0 + 0.5 * rng.random(th.size)) + 0.1]
    out.append(np.where(m.lower == 0.0, 0.0, th + 0.2))  # every diagonal on its bound
    return out


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize(("ds", "formula"), CASES)
def test_equals_the_dense_criterion(ds: str, formula: str, reml: bool) -> None:
    m, dense, schur = _pair(ds, formula, reml)
    for theta in _thetas(m):
        L, lam = dense.factor(theta)
        f, _ = schur.factor(theta)
        np.testing.assert_allclose(schur.pieces(f), dense.pieces(L), rtol=1e-11, atol=1e-9)
        g = dense.gradient(L, lam)
        np.testing.assert_allclose(schur.gradient(f), g, rtol=1e-9,
                                   atol=1e-9 * max(1.0, np.abs(g).max()))
        np.testing.assert_allclose(schur.solution(f), dense.solution(L), rtol=1e-9,
                                   atol=1e-9)


@pytest.mark.parametrize(("ds", "formula"), CASES[:3])
def test_with_response_equals_a_new_criterion(ds: str, formula: str) -> None:
    m, _, schur = _pair(ds, formula, True)
    y = m.y + np.random.default_rng(4).normal(size=m.y.size) * m.sigma
    cp = m._crossprod(y - m.design.offset)
    fresh = SchurCriterion(cp, [t.tri_index for t in m.design.terms], True)
    reused = schur.with_response(cp)
    theta = m._theta + 0.1
    fa, _ = reused.factor(theta)
    fb, _ = fresh.factor(theta)
    np.testing.assert_allclose(reused.pieces(fa), fresh.pieces(fb), rtol=1e-12)
    np.testing.assert_allclose(reused.gradient(fa), fresh.gradient(fb), rtol=1e-9, atol=1e-9)


def _mid_size(S: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    nl, per = 80, 5
    g = np.repeat(np.arange(nl), per)
    x = rng.standard_normal(nl * per)
    y = (1.0 + x + rng.standard_normal(nl)[g] + (0.5 * rng.standard_normal(nl)[g] * x
         if S == 2 else 0.0) + rng.standard_normal(nl * per))
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g]})


@pytest.mark.parametrize("formula", ["y ~ x + (x | g)", "y ~ x + (1 | g)"])
def test_mid_size_fit_uses_it_and_matches_bobyqa(formula: str) -> None:
    S = 2 if "(x |" in formula else 1
    d = _mid_size(S)
    m = mm.lmer(formula, d)
    assert prefers_schur(m.cp)
    assert isinstance(m._dense, SchurCriterion)
    ref = mm.lmer(formula, d, control=mm.OptimizerControl(optimizer="bobyqa"))
    assert m.reml_criterion <= ref.reml_criterion + 1e-8 * abs(ref.reml_criterion)
    np.testing.assert_allclose(m.fixef, ref.fixef, rtol=1e-5)
    np.testing.assert_allclose(m.theta, ref.theta, rtol=1e-3, atol=1e-4)
