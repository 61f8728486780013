"""glmer fits do not depend on the centre of a random-slope column.

(x | g) with an unstructured covariance is the same GLMM for x → x + c:
Z' = Z B with B = [[1, c], [0, 1]], b' = B⁻¹b, Σ' = B⁻¹ΣB⁻ᵀ, and the fixed
effects move as β₀' = β₀ − cβ₁, β₁' = β₁. PIRLS fails on x + 1e4 in the raw
coordinates; :mod:`mixedmodels.glmm.reparam_fit` fits in centred ones and maps
back. Shifted data are compared with the fit of the values they actually hold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm

SHIFT = 1e4
pytestmark = pytest.mark.filterwarnings("ignore::mixedmodels.errors.PredictorScaleWarning")


def _data() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(data with x as held after the shift, data with x + 1e4), binary and count responses."""
    rng = np.random.default_rng(1)
    G, n = 30, 12
    g = np.repeat(np.arange(G), n)
    x = rng.normal(size=G * n)
    b0, b1 = rng.normal(0, 0.8, G), rng.normal(0, 0.5, G)
    eta = -0.3 + 0.7 * x + b0[g] + b1[g] * x
    moved = pd.DataFrame({
        "g": [f"g{i}" for i in g], "x": x + SHIFT,
        "yb": rng.binomial(1, 1 / (1 + np.exp(-eta))),
        "yp": rng.poisson(np.exp(0.2 + 0.3 * x + 0.5 * b0[g] + 0.3 * b1[g] * x)),
    })
    base = moved.copy()
    base["x"] = moved["x"] - SHIFT
    return base, moved


@pytest.mark.parametrize("nagq", [1, 0])
@pytest.mark.parametrize("family,y", [("binomial", "yb"), ("poisson", "yp")])
def test_shifted_slope_equals_unshifted(family: str, y: str, nagq: int) -> None:
    base, moved = _data()
    formula = f"{y} ~ x + (x | g)"
    m0 = mm.glmer(formula, base, family=family, nAGQ=nagq)
    m1 = mm.glmer(formula, moved, family=family, nAGQ=nagq)
    assert m1.loglik == pytest.approx(m0.loglik, rel=1e-6)
    # fixed effects: the intercept moves by −c·slope, the slope stays
    b0, b1 = m0.fixef.to_numpy(), m1.fixef.to_numpy()
    assert b1[1] == pytest.approx(b0[1], rel=1e-3)
    assert b1[0] == pytest.approx(b0[0] - SHIFT * b0[1], rel=1e-3)
    se0, se1 = m0.fixef_se.to_numpy(), m1.fixef_se.to_numpy()
    assert se1[1] == pytest.approx(se0[1], rel=1e-2)
    # Σ₁ = B⁻¹Σ₀B⁻ᵀ and b₁ = B⁻¹b₀ with B = [[1, c], [0, 1]]
    Bi = np.linalg.inv(np.array([[1.0, SHIFT], [0.0, 1.0]]))
    S0 = Bi @ m0._term_cov(0) @ Bi.T
    scale = np.sqrt(np.outer(np.diag(S0), np.diag(S0)))
    assert np.max(np.abs(m1._term_cov(0) - S0) / scale) < 1e-4
    vc0, vc1 = m0.varcorr.terms[0].cov, m1.varcorr.terms[0].cov
    assert vc1[1, 1] == pytest.approx(vc0[1, 1], rel=1e-3)
    r0 = m0.ranef["g"].to_numpy() @ Bi.T
    r1 = m1.ranef["g"].to_numpy()
    assert np.max(np.abs(r1 - r0)) < 1e-3 * np.max(np.abs(r0))
    # θ in lme4's parametrization: the lower Cholesky factor of Σ₁ (σ = 1)
    T = np.linalg.cholesky(m1._term_cov(0))
    assert np.allclose(m1.theta.to_numpy(), T[np.tril_indices(2)], rtol=1e-8)
    for kind in ("link", "response"):
        p0, p1 = m0.predict(type=kind), m1.predict(type=kind)
        assert np.max(np.abs(p1 - p0)) < 1e-4 * np.max(np.abs(p0))
    new = moved.iloc[:5]
    assert np.allclose(m1.predict(new), m0.predict(base.iloc[:5]), rtol=1e-4, atol=1e-6)
    assert not m1.is_singular
    assert "x" in str(m1.summary())


def test_start_and_refit_in_lme4_parametrization() -> None:
    """A start given in lme4's θ and β is mapped to the centred coordinates; refit
    to the same response reaches the same optimum."""
    _, moved = _data()
    m1 = mm.glmer("yb ~ x + (x | g)", moved, family="binomial")
    m2 = mm.glmer("yb ~ x + (x | g)", moved, family="binomial",
                  start={"theta": m1.theta.to_numpy(), "fixef": m1.fixef.to_numpy()})
    assert m2.loglik == pytest.approx(m1.loglik, rel=1e-8)
    m3 = m1.refit(m1.y)
    assert m3.loglik == pytest.approx(m1.loglik, rel=1e-8)


def test_profile_of_a_centred_fit_equals_unshifted() -> None:
    """(1 | g) with x + 100 in X is fitted in centred coordinates; profile intervals of
    the SD and the slope (which evaluate the model's deviance) equal the unshifted ones."""
    base, moved = _data()
    moved["x"] = base["x"] + 100.0
    m0 = mm.glmer("yb ~ x + (1 | g)", base, family="binomial")
    m1 = mm.glmer("yb ~ x + (1 | g)", moved, family="binomial")
    assert "coordinates" in m1.optinfo
    c0, c1 = m0.confint(method="profile"), m1.confint(method="profile")
    for row in ("sd_(Intercept)|g", "x"):
        assert np.allclose(c1.loc[row], c0.loc[row], rtol=1e-4)
