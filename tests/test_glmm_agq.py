"""Adaptive Gauss–Hermite deviance (nAGQ > 1) equal to lme4's at lme4's estimates.

lme4's ``glmerAGQ`` runs its PIRLS from the stage-1 linear predictor at every
evaluation and builds the quadrature from that last PIRLS state: sdⱼ and
log|L|² from the factor of the last solve (weights one iteration behind ũ).

Toenail-like data: tests/data/glmm_toenail_like.csv, simulated with numpy's
default_rng(294): 300 patients × 7 visits (10 % missed), treatment per
patient, logit P = −1.6 − 0.4 visit − 0.1 treat − 0.15 treat·visit + b,
b ~ N(0, 4²). Expected values from lme4 1.1-31,
``glmer(outcome ~ treatment*visit + (1|patientID), d, binomial, nAGQ = q)``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm

HERE = Path(__file__).parent
TOENAIL = HERE / "data" / "glmm_toenail_like.csv"
# lme4 1.1-31: -2 logLik, (θ, β) and SE(β)
LME4_TOENAIL = {
    20: (1222.433715342342,
         [4.228078874773, -2.210685265515, 0.643093631223, -0.464609586128, -0.042911294375],
         [0.5408566461, 0.6904368321, 0.0795101415, 0.1043414534]),
    1: (1208.970570565376,
        [7.340861458082, -5.293147379278, 0.493694729933, -0.536127154810, -0.039687057770],
        [0.7618393142, 0.7285244392, 0.0887923410, 0.1150941803]),
}


def _toenail(nAGQ: int) -> mm.glmm.GeneralizedLinearMixedModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.glmer("outcome ~ treatment*visit + (1|patientID)", pd.read_csv(TOENAIL),
                        family="binomial", nAGQ=nAGQ)


def test_toenail_agq20_equals_lme4():
    crit, x, se = LME4_TOENAIL[20]
    m = _toenail(20)
    # the same deviance function: equal at lme4's own estimates
    assert m.objective(np.array(x)) == pytest.approx(crit, rel=1e-10)
    assert m.reml_criterion <= crit * (1 + 1e-10)
    est = np.r_[m.theta.to_numpy(), m.fixef.to_numpy()]
    np.testing.assert_allclose(est, x, rtol=1e-4)
    np.testing.assert_allclose(m.fixef_se.to_numpy(), se, rtol=1e-3)


def test_toenail_laplace_not_worse_than_lme4():
    """Laplace is poor for these data: lme4's PIRLS approximation of it stops
    0.025 above the optimum of the Laplace deviance at the exact modes, which
    the fit reports (see test_glmm_exact_finish)."""
    crit, _, _ = LME4_TOENAIL[1]
    m = _toenail(1)
    assert m.reml_criterion <= crit
    assert m.optinfo["deviance_kind"] == "exact"


def test_cbpp_agq_equals_lme4_at_its_estimates():
    ref = json.loads((HERE / "data" / "glmm_reference.json").read_text())["cbpp_agq"]
    m = mm.glmer(ref["formula"], mm.datasets.load("cbpp"), family="binomial", nAGQ=ref["nAGQ"])
    x = np.array(list(ref["theta"].values()) + list(ref["fixef"].values()))
    assert m.objective(x) == pytest.approx(-2 * ref["logLik"], rel=1e-10)
    assert m.reml_criterion <= -2 * ref["logLik"] * (1 + 1e-10)
