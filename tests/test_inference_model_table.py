"""AICc and the model-selection table (AICcmodavg::aictab semantics; see analysis_fits)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import mixedmodels as mm
from analysis_fits import REFERENCE, data, fit
from mixedmodels.errors import ModelSpecificationError


def _aicc(ll: float, k: int, n: int) -> float:
    return -2 * ll + 2 * k + 2 * k * (k + 1) / (n - k - 1)


@pytest.mark.parametrize("name", ["m_sleep", "m_cake_num", "g_cbpp"])
def test_aicc_from_lme4_loglik(name):
    # logLik and its df from lme4 1.1-31; AICc by AICcmodavg's formula
    r = REFERENCE["loglik"][name]
    m = fit(name)
    assert m.df_model == r["K"][0]
    assert m.nobs == r["n"][0]
    assert m.aicc == pytest.approx(_aicc(r["logLik"][0], r["K"][0], r["n"][0]), abs=1e-4)


def test_model_table_ranks_and_weights():
    d = data("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m1 = mm.lmer("Reaction ~ Days + (1 | Subject)", d, REML=False)
        m2 = mm.lmer("Reaction ~ Days + (Days | Subject)", d, REML=False)
        m0 = mm.lmer("Reaction ~ 1 + (1 | Subject)", d, REML=False)
    tab = mm.model_table(m0, m1, m2, names=["null", "intercepts", "slopes"])
    assert list(tab["Modnames"]) == ["slopes", "intercepts", "null"]
    assert list(tab["K"]) == [6, 4, 3]
    assert tab["Delta_AICc"].iloc[0] == 0
    np.testing.assert_allclose(tab["AICcWt"].sum(), 1.0)
    np.testing.assert_allclose(tab["Cum.Wt"].iloc[-1], 1.0)
    w = np.exp(-0.5 * tab["Delta_AICc"])
    np.testing.assert_allclose(tab["AICcWt"], w / w.sum())
    np.testing.assert_allclose(tab["AICc"], [m2.aicc, m1.aicc, m0.aicc])
    assert list(tab["n_re_terms"]) == [1, 1, 1]
    assert list(tab["n_ranef"]) == [36, 18, 18]
    assert math.isclose(tab["LL"].iloc[0], m2.loglik)


def test_model_table_checks_its_models():
    d = data("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m1 = mm.lmer("Reaction ~ Days + (1 | Subject)", d)
        m0 = mm.lmer("Reaction ~ 1 + (1 | Subject)", d)
        short = mm.lmer("Reaction ~ Days + (1 | Subject)", d.iloc[:100])
    with pytest.warns(UserWarning, match="REML"):
        mm.model_table(m0, m1)
    with pytest.raises(ModelSpecificationError, match="different numbers of observations"):
        mm.model_table(m1, short)
    with pytest.raises(ModelSpecificationError, match="names"):
        mm.model_table(m0, m1, names=["a"])
