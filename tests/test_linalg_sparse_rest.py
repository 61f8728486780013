"""The sparse rest block gives the dense path's criterion, estimates and conditional variances."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.design import build_design
from mixedmodels.errors import ArgumentError
from mixedmodels.linalg import rest_plan
from mixedmodels.linalg.sparse_rest import SparseRestCholesky
from mixedmodels.lmm import LinearMixedModel
from mixedmodels.optimize import OptimizerControl
from refcases import case_data, case_json

pytest.importorskip("cvxopt")

# every lmer reference case with a term after the first whose terms there are scalar
BOTH_PATHS = ["insteval", "pastes", "pastes_colon", "penicillin"]


def _model(formula: str, data: pd.DataFrame, rest: str, REML: bool = True) -> LinearMixedModel:
    design = build_design(formula, data)
    return LinearMixedModel(design, REML=REML, control=OptimizerControl(rest=rest))


def _pair(formula: str, data: pd.DataFrame, REML: bool = True):
    dense = _model(formula, data, "dense", REML)
    sparse = _model(formula, data, "sparse", REML)
    assert not isinstance(dense.factor, SparseRestCholesky)
    assert isinstance(sparse.factor, SparseRestCholesky)
    return dense, sparse


@pytest.mark.parametrize("name", BOTH_PATHS)
def test_reference_criterion_both_paths(name: str) -> None:
    """At lme4's θ̂ and around it, the two paths agree to 1e-10 (relative)."""
    case = case_json(name)
    dense, sparse = _pair(case["formula"], case_data(name), case["REML"])
    theta = np.array(list(case["theta"].values()))
    for scale in (1.0, 0.5, 1.7):
        a = dense.objective(theta * scale)
        b = sparse.objective(theta * scale)
        assert abs(a - b) <= 1e-10 * max(1.0, abs(a)), (scale, a, b)
    assert abs(sparse.objective(theta) - case["REML_criterion"]) < 1e-6 * abs(
        case["REML_criterion"]
    )


def _crossed(seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 3000
    g, h, k = rng.integers(0, 400, n), rng.integers(0, 60, n), rng.integers(0, 9, n)
    x = rng.normal(size=n)
    y = (1 + 0.5 * x + rng.normal(size=400)[g] * (1 + 0.3 * x) + rng.normal(size=60)[h]
         + rng.normal(size=9)[k] + rng.normal(size=n))
    return pd.DataFrame({"g": g, "h": h, "k": k, "x": x, "y": y})


@pytest.mark.parametrize(
    "formula",
    ["y ~ x + (1|g) + (1|h) + (1|k)", "y ~ x + (x|g) + (1|h) + (1|k)", "y ~ 0 + (1|g) + (1|h)"],
)
def test_solution_and_conditional_variances(formula: str) -> None:
    """β̂, the modes, R_X and the conditional variances agree at the same θ."""
    dense, sparse = _pair(formula, _crossed())
    theta = np.linspace(0.6, 1.3, len(dense.lower))
    for m in (dense, sparse):
        m.factor.update(theta)
    (ud, bd), (us, bs) = dense.factor.solve(), sparse.factor.solve()
    np.testing.assert_allclose(bs, bd, rtol=1e-10, atol=1e-12)
    for a, b in zip(ud, us):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(sparse.factor.rx(), dense.factor.rx(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sparse.factor.beta(), bd, rtol=1e-10, atol=1e-12)
    for a, b in zip(dense.factor.cond_var_spherical(), sparse.factor.cond_var_spherical()):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)


def test_forced_sparse_fit_matches_lme4() -> None:
    case = case_json("penicillin")
    m = mm.lmer(case["formula"], case_data("penicillin"), control=OptimizerControl(rest="sparse"))
    assert isinstance(m.factor, SparseRestCholesky)
    assert m.reml_criterion <= case["REML_criterion"] * (1 + 1e-6)
    np.testing.assert_allclose(m.fixef.values, list(case["fixef"].values()), rtol=1e-4)
    assert m.ranef.condsd["plate"].shape == (24, 1)


def test_refit_and_ml_on_the_sparse_path() -> None:
    d = _crossed(5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.lmer("y ~ x + (1|g) + (1|h)", d, control=OptimizerControl(rest="sparse"))
        md = mm.lmer("y ~ x + (1|g) + (1|h)", d, control=OptimizerControl(rest="dense"))
        ml = m.refit(REML=False)
        y2 = d["y"].to_numpy() + np.random.default_rng(1).normal(size=len(d))
        ry, rdy = m.refit(y=y2), md.refit(y=y2)
    assert isinstance(ml.factor, SparseRestCholesky)
    assert isinstance(ry.factor, SparseRestCholesky)
    assert abs(m.reml_criterion - md.reml_criterion) < 1e-7 * abs(md.reml_criterion)
    assert ml.deviance <= m.deviance + 1e-8
    assert abs(ry.reml_criterion - rdy.reml_criterion) < 1e-7 * abs(rdy.reml_criterion)
    theta = np.asarray(rdy._theta)
    assert abs(ry.objective(theta) - rdy.objective(theta)) < 1e-10 * abs(rdy.reml_criterion)


def test_auto_falls_back_to_dense_without_cvxopt(monkeypatch) -> None:
    monkeypatch.setattr(rest_plan, "sparse_available", lambda: False)
    m = _model("y ~ x + (1|g) + (1|h)", _crossed(), "auto")
    assert not isinstance(m.factor, SparseRestCholesky)
    with pytest.raises(ArgumentError, match=r"pip install 'mixedmodels\[sparse\]'"):
        _model("y ~ x + (1|g) + (1|h)", _crossed(), "sparse")


def test_sparse_refuses_vector_rest_terms_and_bad_modes() -> None:
    with pytest.raises(ArgumentError, match="term 2 has 2 effects"):
        _model("y ~ x + (1|g) + (x|h)", _crossed(), "sparse")
    with pytest.raises(ArgumentError, match="rest must be one of"):
        _model("y ~ x + (1|g) + (1|h)", _crossed(), "fast")
