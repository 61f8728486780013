"""Finite-difference derivatives and the Newton iteration of glmer's stage 2."""

from __future__ import annotations

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.glmm import GlmerControl, glmer
from mixedmodels.glmm.optim import fd_derivatives, fd_gradient, fd_gradient_curved, newton_fd

A = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, -0.2], [0.5, -0.2, 2.0]])


def _f(x: np.ndarray, u: np.ndarray) -> tuple[float, np.ndarray]:
    """A smooth convex test function (quadratic plus a quartic) with a dummy mode."""
    return float(0.5 * x @ A @ x + 0.1 * np.sum(x**4) - x[0]), x.copy()


def _grad_hess(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return A @ x + 0.4 * x**3 - np.array([1.0, 0, 0]), A + np.diag(1.2 * x**2)


def test_fd_derivatives_are_second_order_accurate() -> None:
    x = np.array([0.3, -0.7, 1.1])
    g, H = _grad_hess(x)
    der = fd_derivatives(_f, x, _f(x, x)[0], x.copy())
    assert der.ok and der.nfev == 2 * 3 + 3 * 2
    np.testing.assert_allclose(der.g, g, atol=1e-7)
    np.testing.assert_allclose(der.H, H, atol=2e-6)
    fwd = fd_derivatives(_f, x, _f(x, x)[0], x.copy(), forward=True)
    assert fwd.nfev == 2 * 3 + 3
    np.testing.assert_allclose(fwd.H, H, atol=1e-3)
    np.testing.assert_allclose(fd_gradient(_f, x, x.copy()).g, g, atol=1e-7)


def test_curved_forward_gradient_and_known_hessian_block() -> None:
    x = np.array([0.3, -0.7, 1.1])
    g, H = _grad_hess(x)
    fx = _f(x, x)[0]
    # curvatures 2 % off still give a gradient as accurate as central differences
    cur = fd_gradient_curved(_f, x, fx, x.copy(), 1.02 * np.diag(H))
    assert cur.ok and cur.nfev == 3 and len(cur.d) == 3
    np.testing.assert_allclose(cur.g, g, atol=1e-5)
    plain = fd_gradient_curved(_f, x, fx, x.copy(), np.zeros(3))
    assert np.max(np.abs(plain.g - g)) > 1e-4  # uncorrected forward differences are O(δ)
    # the block of entries (i, j >= 1) taken as given: one mixed difference fewer
    K = np.array([[0.0, 7.0], [7.0, 0.0]])
    der = fd_derivatives(_f, x, fx, x.copy(), forward=True, known=(1, K))
    assert der.nfev == 2 * 3 + 2
    assert der.H[1, 2] == der.H[2, 1] == 7.0
    np.testing.assert_allclose(der.H[0, 1:], H[0, 1:], atol=1e-3)
    np.testing.assert_allclose(np.diag(der.H), np.diag(H), atol=1e-6)
    # a Newton iteration started from it still converges to the minimum
    res = newton_fd(_f, x, fx, x.copy(), np.full(3, -np.inf), known=(1, H[1:, 1:]))
    assert res is not None
    g1, H1 = _grad_hess(res.x)
    assert 0.5 * g1 @ np.linalg.solve(H1, g1) < 2e-10


def test_newton_reaches_the_minimum_and_respects_bounds() -> None:
    x0 = np.array([1.0, 1.0, 1.0])
    res = newton_fd(_f, x0, _f(x0, x0)[0], x0.copy(), np.full(3, -np.inf))
    assert res is not None
    g, H = _grad_hess(res.x)
    assert 0.5 * g @ np.linalg.solve(H, g) < 2e-10
    np.testing.assert_allclose(res.H, H, atol=1e-5)
    # a start near a finite bound is left to the derivative-free optimizer
    assert newton_fd(_f, x0, _f(x0, x0)[0], x0.copy(), np.array([0.995, -np.inf, -np.inf])) is None


def test_newton_and_bobyqa_stage_two_agree() -> None:
    d = mm.datasets.load("cbpp")
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    a = glmer(f, d, family="binomial")
    b = glmer(f, d, family="binomial", control=GlmerControl(newton=False))
    assert a.optinfo["optimizer"].endswith("Newton")
    assert b.optinfo["optimizer"].endswith("bobyqa")
    assert a.loglik == pytest.approx(b.loglik, abs=1e-7)
    np.testing.assert_allclose(a.fixef, b.fixef, atol=2e-4)
    np.testing.assert_allclose(a.fixef_se, b.fixef_se, rtol=1e-3)
