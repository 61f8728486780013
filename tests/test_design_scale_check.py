"""lme4's checkScaleX: predictors on very different scales give a warning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.design.scale_check import check_scale_x
from mixedmodels.errors import PredictorScaleWarning


@pytest.fixture(scope="module")
def sleep():
    return mm.datasets.load("sleepstudy")


def test_lmer_warns_on_scales_as_lme4(sleep) -> None:
    # lme4 1.1-31: lmer(Reaction ~ I(Days * 1e4) + (1 | Subject), sleepstudy) warns
    # "Some predictor variables are on very different scales: consider rescaling"
    # and lmer(Reaction ~ I(Days * 300) + (1 | Subject), sleepstudy) does not
    with pytest.warns(PredictorScaleWarning, match="very different scales: consider rescaling"):
        mm.lmer("Reaction ~ I(Days * 1e4) + (1 | Subject)", sleep)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PredictorScaleWarning)
        mm.lmer("Reaction ~ I(Days * 300) + (1 | Subject)", sleep)


@pytest.mark.parametrize(
    "cols, warns",
    [
        ([np.ones(10), np.arange(10.0)], False),  # intercept skipped, sd 3.03
        ([np.ones(10), np.arange(10.0) * 300], False),  # sd 908 < 1000
        ([np.ones(10), np.arange(10.0) * 400], True),  # sd 1211 > 1000
        ([np.ones(10), np.arange(10.0) * 2e-3, np.arange(10.0)], False),  # sd ratio 500
        ([np.ones(10), np.arange(10.0) * 1e-4, np.arange(10.0)], True),  # sd ratio 1e4
        ([np.ones(10), np.arange(10.0) * 1e-4], True),  # sd 3e-4 < 1e-3
        ([np.ones(10), np.tile([0.0, 1.0], 5), np.arange(10.0)], False),  # dummy skipped
    ],
)
def test_rule(cols, warns) -> None:
    X = np.column_stack(cols)
    names = [f"x{j}" for j in range(X.shape[1])]
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = check_scale_x(X, names)
    assert out is warns
    assert any(issubclass(w.category, PredictorScaleWarning) for w in rec) is warns


def test_ordinary_fit_does_not_warn(sleep) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", PredictorScaleWarning)
        mm.lmer("Reaction ~ Days + (Days | Subject)", sleep)
