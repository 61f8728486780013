"""Families and links against R's formulas (stats::binomial, poisson, Gamma, ...)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mixedmodels.errors import DataError
from mixedmodels.family import FAMILIES, check_support, make_family, make_link

LINKS = ["logit", "probit", "cauchit", "cloglog", "log", "identity", "sqrt", "inverse", "1/mu^2"]


@pytest.mark.parametrize("name", LINKS)
def test_link_roundtrip_and_derivative(name: str) -> None:
    link = make_link(name)
    mu = np.array([0.05, 0.2, 0.5, 0.7, 0.93])
    eta = link.linkfun(mu)
    np.testing.assert_allclose(link.linkinv(eta), mu, rtol=1e-10)
    h = 1e-6
    numeric = (link.linkinv(eta + h) - link.linkinv(eta - h)) / (2 * h)
    np.testing.assert_allclose(link.mu_eta(eta), numeric, rtol=1e-6)


def test_logit_matches_plogis_and_stays_inside() -> None:
    link = make_link("logit")
    eta = np.array([-50.0, -3.0, 0.0, 2.5, 50.0])
    mu = link.linkinv(eta)
    np.testing.assert_allclose(mu[1:4], stats.logistic.cdf(eta[1:4]), rtol=1e-14)
    assert np.all((mu > 0) & (mu < 1))


def test_binomial_deviance_and_aic_as_r() -> None:
    fam = make_family("binomial")
    y = np.array([0.0, 0.25, 1.0, 0.5])
    m = np.array([3.0, 4.0, 2.0, 6.0])
    mu = np.array([0.2, 0.3, 0.8, 0.45])
    d = fam.dev_resids(y, mu, m)
    ylogy = np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / mu), 0)
    nlogn = np.where(y < 1, (1 - y) * np.log(np.where(y < 1, 1 - y, 1) / (1 - mu)), 0)
    np.testing.assert_allclose(d, 2 * m * (ylogy + nlogn), rtol=1e-14)
    aic = fam.aic(y, m, mu, m, float(d.sum()))
    expected = -2 * np.sum(stats.binom.logpmf(np.round(m * y), m, mu))
    assert aic == pytest.approx(expected, rel=1e-13)
    # aic − deviance is the same at every μ: the constant the PIRLS objective uses
    c = fam.aic_constant(y, m, m)
    assert aic - d.sum() == pytest.approx(c, rel=1e-12)
    np.testing.assert_allclose(fam.deviance_function(y, m)(mu), d, rtol=1e-12)


def test_poisson_deviance_and_aic_as_r() -> None:
    fam = make_family("poisson")
    y = np.array([0.0, 1.0, 4.0, 7.0])
    mu = np.array([0.5, 1.5, 3.0, 8.0])
    w = np.ones(4)
    d = fam.dev_resids(y, mu, w)
    ylogy = np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / mu), 0)
    np.testing.assert_allclose(d, 2 * (ylogy - (y - mu)), rtol=1e-14)
    aic = fam.aic(y, w, mu, w, float(d.sum()))
    assert aic == pytest.approx(-2 * stats.poisson.logpmf(y, mu).sum(), rel=1e-13)
    assert aic - d.sum() == pytest.approx(fam.aic_constant(y, w, w), rel=1e-12)
    np.testing.assert_allclose(fam.deviance_function(y, w)(mu), d, rtol=1e-12)


def test_gamma_and_inverse_gaussian_formulas() -> None:
    y = np.array([0.5, 1.2, 2.0, 3.3])
    mu = np.array([0.7, 1.0, 2.5, 3.0])
    w = np.ones(4)
    g = make_family("Gamma")
    np.testing.assert_allclose(g.variance(mu), mu**2)
    d = g.dev_resids(y, mu, w)
    np.testing.assert_allclose(d, -2 * (np.log(y / mu) - (y - mu) / mu), rtol=1e-14)
    disp = d.sum() / 4
    aic = -2 * np.sum(stats.gamma.logpdf(y, 1 / disp, scale=mu * disp)) + 2
    assert g.aic(y, w, mu, w, float(d.sum())) == pytest.approx(aic, rel=1e-13)
    ig = make_family("inverse.gaussian")
    np.testing.assert_allclose(ig.dev_resids(y, mu, w), (y - mu) ** 2 / (y * mu**2), rtol=1e-14)
    assert ig.link.name == "1/mu^2" and g.link.name == "inverse"
    assert g.has_dispersion and not make_family("poisson").has_dispersion


def test_family_errors_name_the_choices() -> None:
    with pytest.raises(ValueError, match="quasi families cannot be used"):
        make_family("quasipoisson")
    with pytest.raises(ValueError, match="one of 'log', 'identity', 'sqrt' for the poisson family"):
        make_family("poisson", "logit")
    assert set(FAMILIES) == {"binomial", "poisson", "Gamma", "inverse.gaussian", "gaussian"}
    assert all(make_family(name).family == name for name in FAMILIES)
    assert str(make_family("binomial", "probit")) == "Family: binomial  ( probit )"


def test_support_checks() -> None:
    with pytest.raises(DataError, match="negative"):
        check_support(make_family("poisson"), np.array([1.0, -1.0]), np.ones(2))
    with pytest.raises(DataError, match="whole numbers"):
        check_support(make_family("poisson"), np.array([1.0, 1.5]), np.ones(2))
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        check_support(make_family("binomial"), np.array([0.0, 1.5]), np.ones(2))
    with pytest.raises(DataError, match="non-integer"):
        check_support(make_family("binomial"), np.array([0.3, 0.5]), np.array([2.0, 2.0]))
    with pytest.raises(DataError, match="Gamma"):
        check_support(make_family("Gamma"), np.array([0.0, 1.0]), np.ones(2))
