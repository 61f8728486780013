"""The BFGS fit of small models (mixedmodels.lmm_gradient_fit): from a moment start that is
not the optimum, the first steps use the curvature at the start (forward differences of the
analytic gradient); the fit must end where the fit from lme4's start ends, in fewer
evaluations than BFGS from a steepest-descent first step took (11 and 12)."""

from __future__ import annotations

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.lmm_gradient_fit import _fd_hessian, _inverse_if_definite
from refcases import case_data

BFGS_LME4_START = mm.OptimizerControl(start="lme4")

CASES = {
    # lme4's sleepstudy with missing responses (unbalanced): 11 evaluations before
    "sleep_missing": ("Reaction ~ Days + (Days | Subject)", 9),
    # two terms on one factor: no closed-form optimum; 12 evaluations before
    "sleep_uncorr": ("Reaction ~ Days + (Days || Subject)", 9),
}


@pytest.mark.parametrize("case", list(CASES))
def test_curvature_at_the_moment_start(case: str) -> None:
    formula, most = CASES[case]
    d = case_data(case)
    m = mm.lmer(formula, d)
    ref = mm.lmer(formula, d, control=BFGS_LME4_START)
    assert 1 < m.optinfo["feval"] <= most
    np.testing.assert_allclose(m._theta, ref._theta, rtol=1e-6)
    assert m._crit <= ref._crit + 1e-12 * ref._crit


def test_fd_hessian_of_a_quadratic() -> None:
    A = np.array([[4.0, 1.0], [1.0, 3.0]])
    H = _fd_hessian(lambda x: A @ x, np.array([0.5, 2.0]), A @ np.array([0.5, 2.0]))
    np.testing.assert_allclose(H, A, rtol=1e-8)
    np.testing.assert_allclose(_inverse_if_definite(H), np.linalg.inv(A), rtol=1e-8)
    assert _inverse_if_definite(np.array([[1.0, 2.0], [2.0, 1.0]])) is None  # indefinite
    assert _fd_hessian(lambda x: None, np.zeros(2), np.zeros(2)) is None
