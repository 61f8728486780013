"""The restricted ML deviances of likelihood profiles and their analytic gradients."""

from __future__ import annotations

import numpy as np
import pytest

from mixedmodels.inference.profile import profile_confint
from mixedmodels.inference.profile_problems import ProfiledDeviance
from mixedmodels.linalg import BlockedCholesky
from refcases import fit_case


def _numeric_gradient(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    out = np.empty_like(x)
    for a in range(x.size):
        e = np.zeros_like(x)
        e[a] = h * max(1.0, abs(x[a]))
        out[a] = (f(x + e) - f(x - e)) / (2 * e[a])
    return out


@pytest.mark.parametrize("case", ["sleep_rs", "penicillin", "machines"])
def test_sub_problem_gradients_match_differences(case):
    prof = ProfiledDeviance(fit_case(case).refit(REML=False))
    assert prof.gradients
    rng = np.random.default_rng(1)
    for par in prof.parameters():
        v = par.estimate * 1.1 + (0.05 if par.kind == "cor" else 0.1)
        prob = prof.problem(par, v, None)
        x = np.maximum(prob.x0, prob.lower) + 0.05 + 0.02 * rng.random(prob.x0.size)
        val, grad = prob.fg(x)
        assert np.isfinite(val)
        num = _numeric_gradient(prob.f, x)
        np.testing.assert_allclose(grad, num, rtol=2e-5, atol=2e-5 * max(1.0, abs(val)),
                                   err_msg=par.name)


def test_beta_restriction_is_the_closed_form_profile():
    # β_j held at b: the restricted model's criterion equals ℓ + n(1 + log(2π r²_b/n)),
    # r²_b = r² + (b − β̂_j)²/V_jj, the blocked path's formula, at any θ
    m = fit_case("sleep_rs").refit(REML=False)
    dense = ProfiledDeviance(m)
    blocked = ProfiledDeviance(m)
    blocked.dense = None
    blocked.blocked = BlockedCholesky(m.cp, blocked.tri)
    theta = m.theta.to_numpy() * np.array([1.2, 0.5, 0.9])
    for par in [p for p in dense.parameters() if p.kind == "beta"]:
        for v in (par.estimate - 3.0, par.estimate + 7.0):
            a = dense.problem(par, v, None).fg(theta)[0]
            b = blocked.problem(par, v, None).fg(theta)[0]
            assert a == pytest.approx(b, rel=1e-11), par.name


@pytest.mark.parametrize("case", ["sleep_rs", "penicillin"])
def test_gradient_and_derivative_free_paths_agree(case, monkeypatch):
    m = fit_case(case)
    fast = profile_confint(m, progress=False)
    monkeypatch.setattr("mixedmodels.inference.profile_problems._dense_for",
                        lambda cp, tri: None)
    slow = profile_confint(m, progress=False)
    np.testing.assert_allclose(fast.to_numpy(), slow.to_numpy(), rtol=1e-6, atol=1e-6)
