"""Generated data frames: each fits, or raises a MixedModelsError, within seconds.

Hypothesis draws small frames for ``y ~ x + f + (x | g)``-shaped models with
what careful users meet in real files: responses and predictors shifted by up
to 1e12 and scaled by 1e±150, constant and nearly constant columns, missing
values, infinities, tiny and one-row groups, a single group, integer, float,
boolean and text group ids, numbers stored as text, and factors with one
level. Every frame must either fit (``mm.lmer`` and then ``summary()``) or raise
a :class:`~mixedmodels.errors.MixedModelsError`; no other exception, no
RuntimeWarning, no hang. Where a fit succeeds on shifted and rescaled data it
must agree with the fit of the untransformed data (the invariance of issue
"never a silent wrong answer").
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import mixedmodels as mm
from mixedmodels.errors import ConvergenceWarning, MixedModelsError
from timeouts import time_limit

SECONDS_PER_FRAME = 20  # a hang shows; a loaded 2-core machine does not
EXAMPLES = 1000

FORMULAS = [
    "y ~ x + (1 | g)",
    "y ~ x + (x | g)",
    "y ~ x + f + (1 | g)",
    "y ~ 1 + (1 | g) + (1 | f)",
    "y ~ x + (x || g)",
]


@st.composite
def frames(draw: st.DrawFn) -> tuple[str, pd.DataFrame]:
    """A formula and a small frame with the oddities of real data."""
    formula = draw(st.sampled_from(FORMULAS))
    n_groups = draw(st.integers(1, 12))
    per_group = draw(st.integers(1, 8))
    n = n_groups * per_group
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per_group)
    x = rng.normal(size=n) * draw(st.sampled_from([1.0, 1e-150, 1e150, 0.0]))
    x = x + draw(st.sampled_from([0.0, 1e6, -1e12]))
    b = rng.normal(size=n_groups)[g]
    y = 2.0 + 0.5 * x / (np.std(x) if np.std(x) > 0 else 1.0) + b + rng.normal(size=n)
    if draw(st.booleans()):
        y = np.full(n, float(draw(st.sampled_from([0.0, 3.0, 1e9]))))
    y = y * draw(st.sampled_from([1.0, 1e-150, 1e150])) + draw(st.sampled_from([0.0, 1e9]))
    d = pd.DataFrame({"y": y, "x": x})
    kind = draw(st.sampled_from(["int", "float", "str", "bool", "numtext"]))
    if kind == "int":
        d["g"] = g
    elif kind == "float":
        d["g"] = 1.0 + g * 1e-16 * draw(st.sampled_from([1, 1e10]))
    elif kind == "str":
        d["g"] = pd.Series([f"s{k}" for k in range(n_groups)])[g].to_numpy()
    elif kind == "bool":
        d["g"] = g % 2 == 0
    else:
        d["g"] = pd.Series([f"{k}.0" for k in range(n_groups)])[g].to_numpy()
    d["f"] = pd.Categorical(rng.choice(["a", "b"], size=n) if draw(st.booleans()) else ["a"] * n)
    for col in ("y", "x"):
        damage = draw(st.sampled_from(["none", "nan", "inf", "allnan"]))
        if damage == "nan":
            d.loc[rng.random(n) < 0.2, col] = np.nan
        elif damage == "inf":
            d.loc[0, col] = np.inf
        elif damage == "allnan":
            d[col] = np.nan
    return formula, d


FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@FUZZ
@given(frames())
def test_generated_frames_fit_or_raise_a_library_error(case: tuple[str, pd.DataFrame]) -> None:
    formula, d = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # singular fits, convergence, scales
        warnings.simplefilter("error", RuntimeWarning)
        with time_limit(SECONDS_PER_FRAME, f"{formula} on a generated frame"):
            try:
                m = mm.lmer(formula, d)
                m.summary()
            except MixedModelsError:
                return
    assert np.isfinite(m.sigma) or m.sigma == 0.0
    assert np.all(np.isfinite(m.theta))


def _fit(formula: str, d: pd.DataFrame) -> mm.LinearMixedModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return mm.lmer(formula, d)


@pytest.mark.parametrize("shift", [1e6, 1e9, -1e12])
@pytest.mark.parametrize("scale", [2.0**-332, 1.0, 2.0**332])  # ~1e∓100, exact
def test_shifted_and_scaled_frames_fit_as_the_original(shift: float, scale: float) -> None:
    """A generated crossed design: θ and σ/scale agree with the plain fit to 1e-6.

    The scales are powers of two, so the rescaled file holds exactly the values
    of the shifted one; the plain fit sees what those values can hold
    (fl(y + shift) − shift), not y itself."""
    rng = np.random.default_rng(7)
    n_g, n_h, per = 15, 6, 3
    g = np.repeat(np.arange(n_g), n_h * per)
    h = np.tile(np.repeat(np.arange(n_h), per), n_g)
    x = rng.normal(size=g.size)
    u, v = rng.normal(size=n_g), 0.5 * rng.normal(size=n_h)
    y = 10 + 2 * x + u[g] + v[h] + rng.normal(size=g.size)
    shifted = y + shift  # what the file holds; compare with the values it can hold
    d = pd.DataFrame({"y": shifted - shift, "x": x, "g": g.astype(str), "h": h.astype(str)})
    formula = "y ~ x + (1 | g) + (1 | h)"
    base = _fit(formula, d)
    moved = d.assign(y=shifted * scale, x=d.x * 1e3)
    m = _fit(formula, moved)
    np.testing.assert_allclose(m.theta, base.theta, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(m.sigma / scale, base.sigma, rtol=1e-6)
    np.testing.assert_allclose(m.fixef.iloc[1] * 1e3 / scale, base.fixef.iloc[1], rtol=1e-6)
