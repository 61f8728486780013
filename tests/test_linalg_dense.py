"""The dense criterion and its analytic gradient (mixedmodels.linalg.dense)."""

from __future__ import annotations

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.linalg.dense import DenseCriterion

CASES = [
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)"),
    ("Penicillin", "diameter ~ 1 + (1|plate) + (1|sample)"),
    ("Machines", "score ~ Machine + (Machine|Worker)"),
    ("Pastes", "strength ~ 1 + (1|batch/cask)"),
    ("sleepstudy", "Reaction ~ Days + (1|Subject) + (0 + Days|Subject)"),
]


def _setup(ds: str, formula: str, reml: bool) -> tuple[mm.LinearMixedModel, DenseCriterion]:
    m = mm.lmer(formula, mm.datasets.load(ds), REML=reml)
    return m, DenseCriterion(m.cp, [t.tri_index for t in m.design.terms], reml)


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize(("ds", "formula"), CASES)
def test_value_and_gradient(ds: str, formula: str, reml: bool) -> None:
    m, dc = _setup(ds, formula, reml)

    def value(theta: np.ndarray) -> float:
        L, _ = dc.factor(theta)
        return m._criterion(*dc.pieces(L), reml)

    rng = np.random.default_rng(3)
    theta = m._theta * (1.0 + 0.3 * rng.random(m._theta.size)) + 0.1
    # the same criterion as the blocked factor's
    assert value(theta) == pytest.approx(m.objective(theta, reml), rel=1e-12)
    L, lam = dc.factor(theta)
    grad = dc.gradient(L, lam)
    h = 1e-6
    fd = np.array([(value(theta + e) - value(theta - e)) / (2 * h)
                   for e in np.eye(theta.size) * h])
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-5 * np.abs(fd).max())


def test_gradient_on_the_boundary() -> None:
    """With a diagonal of T at 0 (Λ singular) the gradient is still the derivative
    (one-sided into the region)."""
    m, dc = _setup("sleepstudy", "Reaction ~ Days + (Days | Subject)", True)
    theta = np.array([0.9, 0.2, 0.0])

    def value(t: np.ndarray) -> float:
        L, _ = dc.factor(t)
        return m._criterion(*dc.pieces(L), True)

    L, lam = dc.factor(theta)
    grad = dc.gradient(L, lam)
    h = 1e-7
    e = np.array([0.0, 0.0, h])
    assert grad[2] == pytest.approx((value(theta + e) - value(theta)) / h, rel=1e-4, abs=1e-4)


@pytest.mark.parametrize(("ds", "formula"), CASES[:3])
def test_with_response_equals_a_new_criterion(ds: str, formula: str) -> None:
    m, dc = _setup(ds, formula, True)
    y = m.y + np.random.default_rng(4).normal(size=m.y.size) * m.sigma
    cp = m._crossprod(y - m.design.offset)
    fresh = DenseCriterion(cp, [t.tri_index for t in m.design.terms], True)
    reused = dc.with_response(cp)
    np.testing.assert_allclose(reused.A, fresh.A, rtol=1e-13, atol=1e-12)
    theta = m._theta + 0.1
    La, lam_a = reused.factor(theta)
    pieces_a = reused.pieces(La)
    grad_a = reused.gradient(La, lam_a)
    Lb, lam_b = fresh.factor(theta)
    np.testing.assert_allclose(pieces_a, fresh.pieces(Lb), rtol=1e-12)
    np.testing.assert_allclose(grad_a, fresh.gradient(Lb, lam_b), rtol=1e-9, atol=1e-9)
