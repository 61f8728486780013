"""Cross-products with a new response (crossprod.with_response, used by refits)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import mixedmodels as mm
from mixedmodels.crossprod import crossprod, with_response
from mixedmodels.inference.simulate import simulate

CASES = [
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)", None),
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)", "w"),
    ("Penicillin", "diameter ~ 1 + (1|plate) + (1|sample)", None),
    ("Pastes", "strength ~ 1 + (1|batch/cask)", "w"),
    ("Machines", "score ~ 0 + Machine + (1|Worker) + (0 + Machine|Worker)", None),
]


def _dense(a: object) -> np.ndarray:
    return a.toarray() if sp.issparse(a) else np.asarray(a)


@pytest.mark.parametrize(("ds", "formula", "weights"), CASES)
def test_equals_the_cross_products_of_the_new_rows(ds: str, formula: str, weights: str) -> None:
    d = mm.datasets.load(ds)
    d["w"] = 1.0 + np.arange(len(d)) % 3
    m = mm.lmer(formula, d, weights=weights)
    des = m.design
    y = 1e3 + 50.0 * np.random.default_rng(5).normal(size=des.n)
    args = ([t.factor.codes for t in des.terms], [t.Z for t in des.terms])
    w = des.weights if des.has_weights else None
    new = with_response(m.cp, *args, des.X, y, w)
    ref = crossprod(*args, [t.nl for t in des.terms], des.X, y, w)
    assert (new.shift.c, new.shift.s) == (ref.shift.c, ref.shift.s)
    np.testing.assert_array_equal(new.A11, ref.A11)
    np.testing.assert_allclose(_dense(new.A21), _dense(ref.A21), rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(new.A22, ref.A22, rtol=1e-13, atol=1e-12)
    assert new.sum_log_w == ref.sum_log_w and new.A11 is m.cp.A11


def test_refit_equals_a_fresh_fit() -> None:
    # a few cells dropped: unbalanced, so neither fit starts at its optimum (the ANOVA
    # start of mixedmodels.start_anova) and the refits' start from θ̂ is what saves evaluations
    d = mm.datasets.load("Penicillin").iloc[5:]
    m = mm.lmer("diameter ~ 1 + (1|plate) + (1|sample)", d)
    ys = simulate(m, 6, seed=3)  # parametric-bootstrap responses
    evals_refit = evals_fresh = 0
    for k in range(ys.shape[1]):
        again = m.refit(ys[:, k])
        fresh = mm.lmer("diameter ~ 1 + (1|plate) + (1|sample)", d.assign(diameter=ys[:, k]))
        assert again.reml_criterion == pytest.approx(fresh.reml_criterion, rel=1e-12)
        np.testing.assert_allclose(again.theta, fresh.theta, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(again.fixef, fresh.fixef, rtol=1e-9)
        evals_refit += again.optinfo["feval"]
        evals_fresh += fresh.optinfo["feval"]
    # both start near the optimum on its curvature (the refit: the fit's inverse Hessian at
    # θ̂; the fresh fit: differences of the gradient at its moment start); the refit may
    # spend one more evaluation per response on its second start, θ̂
    assert evals_refit <= evals_fresh + ys.shape[1]


def test_refit_with_new_weights_equals_a_fresh_weighted_fit() -> None:
    d = mm.datasets.load("sleepstudy")
    f = "Reaction ~ Days + (Days | Subject)"
    m = mm.lmer(f, d)
    w = 1.0 + (np.arange(len(d)) % 4) / 2.0
    again = m.refit(weights=w)
    fresh = mm.lmer(f, d.assign(w=w), weights="w")
    assert again.reml_criterion == pytest.approx(fresh.reml_criterion, rel=1e-12)
    np.testing.assert_allclose(again.theta, fresh.theta, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(again.fixef, fresh.fixef, rtol=1e-9)
    # and a new response with them: the refit of the weighted fit's own structure
    y = simulate(m, 1, seed=2)[:, 0]
    both = m.refit(y, weights=w)
    fresh_y = mm.lmer(f, d.assign(w=w, Reaction=y), weights="w")
    assert both.reml_criterion == pytest.approx(fresh_y.reml_criterion, rel=1e-12)
    with pytest.raises(mm.errors.ArgumentError, match="weights"):
        m.refit(weights=w[:-1])
    with pytest.raises(mm.errors.ArgumentError, match="positive"):
        m.refit(weights=np.zeros(len(d)))
