"""Satterthwaite (lmerTest) and Kenward-Roger (pbkrtest) df, t and type III F tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import mixedmodels as mm
from mixedmodels.inference.ddf import (
    anova_type3,
    coef_table,
    contrast_test,
    normalize_ddf,
    satterthwaite_ddf,
)
from mixedmodels.inference.kenward_roger import _e_mats, _lambda, _z_matrix, kenward_roger_vcov
from refcases import case_json, fit_case, lmer_cases_with

SATT = [c for c in lmer_cases_with("lmerTest.satterthwaite") if c != "insteval"]
# sleep_rs_w: pbkrtest 0.5-2 ignores prior weights (Σ = σ²I); we use σ²W⁻¹, so R's
# numbers are not a target there (tested against a dense weighted computation below).
KR = [c for c in lmer_cases_with("lmerTest.kenward_roger") if c != "sleep_rs_w"]
# lmerTest differentiates numerically; the θ of machines/penicillin agree with lme4 to
# ~1e-5, which moves the df by up to 1.3e-4 relative.
DF_RTOL = 1e-3


def _compare(table, ref, se_rtol=1e-6):
    for name, df in ref["df"].items():
        assert table.loc[name, "df"] == pytest.approx(df, rel=DF_RTOL), name
        assert table.loc[name, "Std. Error"] == pytest.approx(ref["Std. Error"][name],
                                                              rel=max(se_rtol, 1e-4))
        assert table.loc[name, "Estimate"] == pytest.approx(ref["Estimate"][name], rel=1e-5,
                                                            abs=1e-8)
        p = ref["Pr(>|t|)"][name]
        assert table.loc[name, "Pr(>|t|)"] == pytest.approx(p, rel=5e-3, abs=1e-12), name


@pytest.mark.parametrize("case", SATT)
def test_satterthwaite_coef_table(case):
    m = fit_case(case)
    tab = coef_table(m, "Satterthwaite")
    assert list(tab.columns) == ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]
    _compare(tab, case_json(case)["lmerTest"]["satterthwaite"])


@pytest.mark.parametrize("case", KR)
def test_kenward_roger_coef_table(case):
    m = fit_case(case)
    _compare(coef_table(m, "Kenward-Roger"), case_json(case)["lmerTest"]["kenward_roger"])


def _type3_rows(case, key):
    return case_json(case)["lmerTest"][key]


@pytest.mark.parametrize("case", SATT)
def test_satterthwaite_type3(case):
    m = fit_case(case)
    tab = anova_type3(m, "Satterthwaite")
    for r in _type3_rows(case, "satterthwaite_anova_type3"):
        got = tab.loc[r["row"]]
        assert got["NumDF"] == r["NumDF"]
        assert got["DenDF"] == pytest.approx(r["DenDF"], rel=DF_RTOL)
        assert got["F value"] == pytest.approx(r["F value"], rel=1e-4)
        assert got["Sum Sq"] == pytest.approx(r["Sum Sq"], rel=1e-4)


@pytest.mark.parametrize("case", KR)
def test_kenward_roger_type3(case):
    m = fit_case(case)
    tab = anova_type3(m, "KR")
    for r in _type3_rows(case, "kenward_roger_anova_type3"):
        got = tab.loc[r["row"]]
        assert got["DenDF"] == pytest.approx(r["DenDF"], rel=DF_RTOL)
        assert got["F value"] == pytest.approx(r["F value"], rel=1e-4)
        assert got["Sum Sq"] == pytest.approx(r["Sum Sq"], rel=1e-4)
        assert got["Pr(>F)"] == pytest.approx(r["Pr(>F)"], rel=5e-3)
    assert "Kenward-Roger's method" in str(tab)


def _dense_kr(m):
    """pbkrtest's vcovAdj with explicit n × n matrices (Σ = σ²W⁻¹ + ZDZ')."""
    Z, layout = _z_matrix(m)
    Z = Z.toarray()
    X = m.design.X
    s2 = m._sigma**2
    lam = _lambda(m, layout)
    w = m.design.weights
    Sigma = s2 * np.diag(1 / w) + s2 * Z @ lam @ lam.T @ Z.T
    G = [Z @ E.toarray() @ Z.T for E in _e_mats(layout)] + [np.diag(1 / w)]
    Si = np.linalg.inv(Sigma)
    Phi = np.linalg.inv(X.T @ Si @ X)
    ng = len(G)
    P = [-(X.T @ Si @ g @ Si @ X) for g in G]
    Q = [[X.T @ Si @ G[i] @ Si @ G[j] @ Si @ X for j in range(ng)] for i in range(ng)]
    IE = np.array([[np.trace(Si @ G[i] @ Si @ G[j]) - 2 * np.sum(Phi * Q[i][j])
                    + np.sum((Phi @ P[i]) * (P[j] @ Phi)) for j in range(ng)]
                   for i in range(ng)])
    W = 2 * np.linalg.inv(IE)
    U = sum(W[i, j] * (Q[i][j] - P[i] @ Phi @ P[j]) for i in range(ng) for j in range(ng))
    return Phi + 2 * Phi @ U @ Phi


@pytest.mark.parametrize("case", ["sleep_rs_w", "machines"])
def test_kr_random_effect_space_equals_dense(case):
    m = fit_case(case)
    adj = kenward_roger_vcov(m)
    np.testing.assert_allclose(adj.phi_adj, _dense_kr(m), rtol=1e-7)


def test_kr_weighted_differs_from_pbkrtest_bug():
    m = fit_case("sleep_rs_w")
    ref = case_json("sleep_rs_w")["lmerTest"]["kenward_roger"]
    se = coef_table(m, "KR")["Std. Error"]
    assert abs(se["Days"] / ref["Std. Error"]["Days"] - 1) > 1e-3


def test_contrast_test_matches_coef_rows():
    m = fit_case("machines")
    L = np.array([[0.0, 1.0, -1.0]])
    t = contrast_test(m, L, "Satterthwaite")
    V = m.vcov.to_numpy()
    assert t.loc[0, "Estimate"] == pytest.approx(m.fixef["MachineB"] - m.fixef["MachineC"])
    assert t.loc[0, "Std. Error"] == pytest.approx(np.sqrt(L[0] @ V @ L[0]), rel=1e-12)
    assert 3 < t.loc[0, "df"] < 40
    assert np.isnan(contrast_test(m, L, "lme4").loc[0, "df"])


def test_normalize_ddf():
    assert normalize_ddf("kr") == "Kenward-Roger"
    assert normalize_ddf("satterthwaite") == "Satterthwaite"
    with pytest.raises(ValueError):
        normalize_ddf("containment")


def test_sparse_e_matrices_are_symmetric():
    m = fit_case("machines")
    _, layout = _z_matrix(m)
    for E in _e_mats(layout):
        assert (abs(E - E.T) > 0).nnz == 0
        assert isinstance(E, sp.csr_matrix)


@pytest.mark.slow
def test_satterthwaite_insteval():
    ref = case_json("insteval")["lmerTest"]["satterthwaite"]
    m = fit_case("insteval")
    _compare(coef_table(m, "Satterthwaite"), ref)


def test_kenward_roger_needs_a_reml_fit() -> None:
    """lmerTest: "Kenward-Roger's method is only available for REML model fits"."""
    m = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"), REML=False)
    with pytest.raises(ValueError, match="only available for REML fits"):
        m.summary(ddf="Kenward-Roger")
    with pytest.raises(ValueError, match="only available for REML fits"):
        m.anova(ddf="Kenward-Roger")
    assert "Satterthwaite" in str(m.summary())


def test_satterthwaite_unavailable_falls_back_to_lme4s_table():
    """A random slope on a column that is constant (1e12, confounded with the
    intercept): the criterion cannot be factored next to θ̂, so the summary warns
    and reports NaN df and p-values (lmerTest then shows lme4's table), and a
    Satterthwaite F test says why it cannot be computed."""
    import warnings

    from mixedmodels.errors import ConvergenceWarning, MixedModelsError

    rng = np.random.default_rng(1)
    n = 45
    d = pd.DataFrame(
        {"y": 1.0 + 1e-12 * rng.normal(size=n), "x": np.full(n, -1e12),
         "g": np.repeat(np.arange(9), 5)}
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.lmer("y ~ x + (x || g)", d)
    with pytest.warns(ConvergenceWarning, match="Satterthwaite degrees of freedom are unavailable"):
        table = m.summary().coefficients
    assert np.isnan(table["df"]).all() and np.isfinite(table["Estimate"]).all()
    with pytest.raises(MixedModelsError, match="ddf='lme4'"):
        satterthwaite_ddf(m, np.ones(1))
