"""Non-canonical links where lme4 fits them: gaussian(log), lme4's glmmExt test.

Data: tests/data/glmm_gaussian_log.csv, simulated as lme4's tests/glmmExt.R
(26 blocks × 100 rows, x ~ U(0, 1), b ~ N(0, 1), μ = exp(4 + 3x + b),
y ~ N(μ, 2²)) with numpy's default_rng(101). Expected values: lme4 1.1-31,
``glmer(y ~ x + (1|block), d, family = gaussian(link = "log"))`` (and
``y ~ 1 + (1|block)``), default settings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm

DATA = Path(__file__).parent / "data" / "glmm_gaussian_log.csv"

LME4 = {
    "y ~ x + (1|block)": {
        "m2ll": 11441.373305165, "fixef": [4.00278861541412, 2.99933364964049],
        "theta": 1.00769818597244, "sigma": 1.99974887187091,
        "se": [0.197632654020781, 0.000238671601106], "deviance": 10371.3884288016,
    },
    "y ~ 1 + (1|block)": {
        "m2ll": 41597.9773117812, "fixef": [5.85381078835859], "theta": 1.0302983335504,
        "sigma": 660.782961763906,
    },
}


@pytest.mark.parametrize("formula", list(LME4))
def test_gaussian_log_link_matches_lme4(formula):
    ref = LME4[formula]
    m = mm.glmer(formula, pd.read_csv(DATA), family="gaussian", link="log")
    assert m.reml_criterion <= ref["m2ll"] * (1 + 1e-9)
    assert m.reml_criterion == pytest.approx(ref["m2ll"], rel=1e-9)
    np.testing.assert_allclose(m.fixef.to_numpy(), ref["fixef"], rtol=1e-5)
    assert m.theta.iloc[0] == pytest.approx(ref["theta"], rel=1e-5)
    assert m.sigma == pytest.approx(ref["sigma"], rel=1e-6)
    if "se" in ref:
        np.testing.assert_allclose(m.fixef_se.to_numpy(), ref["se"], rtol=1e-3)
        assert m.deviance == pytest.approx(ref["deviance"], rel=1e-8)
