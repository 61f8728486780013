"""LinearMixedModel: results at θ̂ from the dense factor, the rest computed on first read.

β̂, σ̂, u and the criterion of a small fit come from the dense factor of Ω(θ̂);
(R_X'R_X)⁻¹, its scaled root and the conditional variances from the blocked
factor when first read. Both must equal the blocked factor's answers at θ̂, in
any order of access, and a parametric bootstrap must give the replicates it
gave when every result was extracted eagerly from the blocked factor.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.linalg import BlockedCholesky

CASES = {
    "sleepstudy": ("sleepstudy", "Reaction ~ Days + (Days | Subject)"),
    "penicillin": ("Penicillin", "diameter ~ 1 + (1|plate) + (1|sample)"),
}


@pytest.fixture(scope="module", params=list(CASES))
def fit(request: pytest.FixtureRequest) -> mm.LinearMixedModel:
    name, formula = CASES[request.param]
    return mm.lmer(formula, mm.datasets.load(name))


def _eager(m: mm.LinearMixedModel) -> dict[str, object]:
    """Every result at θ̂ from a blocked factor of its own (the eager extraction)."""
    f = BlockedCholesky(m.cp, [t.tri_index for t in m.design.terms])
    ld_z, ld_x, _ = f.update(np.array(m._theta))
    us, beta = f.solve()
    rxinv = f.rx_inverse()
    cv = f.cond_var_spherical()
    return {
        "crit": m._criterion(ld_z, ld_x, f.log_pwrss, m.REML),
        "beta": beta,
        "u": us,
        "vcov_unscaled": rxinv @ rxinv.T,
        "root": f.rx_inverse_scaled(),
        "cond_var_spherical": cv,
    }


def test_dense_estimates_equal_the_blocked_factor(fit: mm.LinearMixedModel) -> None:
    e = _eager(fit)
    assert fit.reml_criterion == pytest.approx(e["crit"], rel=1e-13)
    np.testing.assert_allclose(fit._beta, e["beta"], rtol=1e-11)
    for u, ue in zip(fit._u, e["u"]):
        np.testing.assert_allclose(u, ue, rtol=1e-9, atol=1e-11 * np.max(np.abs(ue)))


def test_lazy_results_equal_eager_ones_after_other_evaluations(
    fit: mm.LinearMixedModel,
) -> None:
    m = fit.refit(fit.y)
    assert m.__dict__.get("_factor") is None  # nothing read yet: no blocked factor
    m.objective(np.asarray(m._theta) * 1.7 + 0.1)  # moves the blocked factor off θ̂
    e = _eager(m)
    np.testing.assert_array_equal(m._vcov_unscaled, e["vcov_unscaled"])
    np.testing.assert_array_equal(m._vcov_root[1], e["root"])
    cv = m._cond_var()
    for k, V in enumerate(e["cond_var_spherical"]):
        T = m._T(k)
        np.testing.assert_array_equal(cv[k], m._dispersion * (T @ V @ T.T))
    for df in m.ranef.condsd.values():
        assert np.all(np.isfinite(df.to_numpy()))


def test_refit_results_equal_a_new_fit(fit: mm.LinearMixedModel) -> None:
    rng = np.random.default_rng(3)
    y = fit.y + rng.normal(scale=0.3 * fit.sigma, size=fit.y.shape)
    re = fit.refit(y)
    data = fit.data.copy()
    data[fit.design.formula.text.split("~")[0].strip()] = y
    new = mm.lmer(fit.formula, data)
    assert re.reml_criterion == pytest.approx(new.reml_criterion, rel=1e-10)
    np.testing.assert_allclose(re._theta, new._theta, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(re.fixef, new.fixef, rtol=1e-6)
    np.testing.assert_allclose(re.vcov, new.vcov, rtol=1e-5)
    pd.testing.assert_index_equal(re.vcov.index, new.vcov.index)
    assert re.summary(ddf=None) is not None


# replicates 0, 7 and 19 of bootstrap(nsim=20, seed=42) of (β̂, σ̂, θ̂), as computed when
# every result was extracted from the blocked factor (before the dense extraction)
BOOT_EXPECTED = {
    "sleepstudy": [
        [2.6047288138057928e02, 8.9438809877712622e00, 2.2612777001788583e01,
         9.3169452287602228e-01, 5.3673602317587304e-02, 2.0703523683765213e-01],
        [2.4221581789735450e02, 9.0327824895440720e00, 2.6465850073346658e01,
         1.1951480982910421e00, -4.9425648934786348e-02, 2.6611625041462361e-01],
        [2.5193360498215912e02, 1.1092066828689688e01, 2.7271424075847147e01,
         7.1198783577788327e-01, 2.1594319273514934e-02, 1.2929694324333937e-01],
    ],
    "penicillin": [
        [23.2214359130372, 0.5109200071704844, 1.3690669091019592, 1.5746625091605713],
        [23.096605300059974, 0.5839683605205976, 1.2182253458170325, 3.9533684869060095],
        [22.2050016856589, 0.5670744806697758, 0.9816235720727299, 2.6212049036123073],
    ],
}


@pytest.mark.parametrize("case", list(CASES))
def test_bootstrap_unchanged_for_a_fixed_seed(case: str) -> None:
    name, formula = CASES[case]
    m = mm.lmer(formula, mm.datasets.load(name))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = mm.bootstrap(m, nsim=20, seed=42, progress=False,
                         fn=lambda f: np.r_[f._beta, f.sigma, f._theta])
    got = b.replicates.to_numpy()[[0, 7, 19]]
    # θ̂ to the optimizer's tolerance (the criterion stops at its rounding)
    np.testing.assert_allclose(got, np.array(BOOT_EXPECTED[case]), rtol=1e-7, atol=1e-9)
    again = mm.bootstrap(m, nsim=20, seed=42, progress=False,
                         fn=lambda f: np.r_[f._beta, f.sigma, f._theta])
    np.testing.assert_array_equal(again.replicates.to_numpy(), b.replicates.to_numpy())
