"""lmer against lme4 1.1-31 on held-out simulated designs near the fit's shortcuts.

The cases (from ``benchmarks/heldout_check.py``, data and lme4's numbers in
``tests/data/lme4_heldout``) sit where a fit can end early: balanced crossed
and nested designs with a zero variance (the ANOVA start's boundary faces),
and designs just off balance (a dropped row, constant weights, an offset,
partial crossing, a null random slope) that must not take the balanced path or
must still reach lme4's optimum. The criterion must be no higher than lme4's;
θ, β̂, σ̂ and the standard errors agree to lme4's own optimizer tolerance.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm

DATA = Path(__file__).parent / "data" / "lme4_heldout"
CASES = json.loads((DATA / "cases.json").read_text())


@pytest.mark.filterwarnings("ignore::mixedmodels.errors.SingularFitWarning")
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_heldout_design_matches_lme4(case: dict) -> None:
    d = pd.read_csv(DATA / f"{case['name']}.csv")
    m = mm.lmer(case["formula"], d, REML=case["REML"], weights=case["weights"],
                offset=case["offset"])
    ref = {k: np.asarray(v, float) for k, v in case["lme4"].items()}
    crit = m.reml_criterion if case["REML"] else m.deviance
    crit = float(crit() if callable(crit) else crit)
    assert crit <= ref["crit"][0] + 1e-8 * max(1.0, abs(ref["crit"][0]))
    np.testing.assert_allclose(np.asarray(m.theta, float), ref["theta"], atol=1e-4)
    se = ref["se"]
    assert np.max(np.abs(np.asarray(m.fixef, float) - ref["beta"]) / se) < 1e-4
    assert float(m.sigma) == pytest.approx(ref["sigma"][0], rel=1e-5)
    np.testing.assert_allclose(np.asarray(m.fixef_se, float), se, rtol=1e-4)
