"""Exponential families and link functions, as R's ``family`` objects.

A :class:`Family` bundles a :class:`Link` (η = g(μ), μ = g⁻¹(η), dμ/dη)
with the variance function V(μ), the unit deviance and R's ``aic``
(−2 log-likelihood, up to R's conventions). The formulas are R's
(``stats::binomial`` and friends), including the thresholds R uses to keep
μ inside the family's range.

* binomial: V(μ) = μ(1 − μ), d = 2w [y log(y/μ) + (1−y) log((1−y)/(1−μ))],
  aic = −2 Σ (w/m) log dbinom(m y, m, μ) with m the trials.
* poisson: V(μ) = μ, d = 2w [y log(y/μ) − (y − μ)], aic = −2 Σ w log dpois(y, μ).
* Gamma: V(μ) = μ², d = −2w [log(y/μ) − (y − μ)/μ], aic from dgamma with
  dispersion d/Σw, + 2.
* inverse.gaussian: V(μ) = μ³, d = w (y − μ)²/(y μ²).
* gaussian: V(μ) = 1, d = w (y − μ)², aic = n (log(2π d/n) + 1) + 2.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from .errors import DataError, FamilyError
from .family_names import FAMILIES

__all__ = ["Link", "Family", "make_link", "make_family", "binomial", "poisson", "Gamma",
           "inverse_gaussian", "gaussian", "FAMILIES"]

_EPS = float(np.finfo(float).eps)
_Array = np.ndarray


@dataclass(frozen=True)
class Link:
    """A link function g with its inverse and derivative dμ/dη."""

    name: str
    linkfun: Callable[[_Array], _Array]
    linkinv: Callable[[_Array], _Array]
    mu_eta: Callable[[_Array], _Array]
    valideta: Callable[[_Array], bool]


def _always(eta: _Array) -> bool:
    return bool(np.all(np.isfinite(eta)))


def _logit_inv(eta: _Array) -> _Array:
    """1/(1 + e^{−η}) with η clamped to [−30, 30] (R clamps e^η there too)."""
    tmp = np.maximum(eta, -30.0)  # np.clip, without its Python-level wrapper
    np.minimum(tmp, 30.0, out=tmp)
    np.negative(tmp, out=tmp)
    np.exp(tmp, out=tmp)
    tmp += 1.0
    return np.reciprocal(tmp, out=tmp)


def _logit_mu_eta(eta: _Array) -> _Array:
    """e^{−|η|}/(1 + e^{−|η|})², floored at machine epsilon as R."""
    e = np.exp(-np.abs(eta))
    out = e / (1.0 + e) ** 2
    return np.maximum(out, _EPS)


_PROBIT_T = -float(stats.norm.ppf(_EPS))
_CAUCHIT_T = -float(stats.cauchy.ppf(_EPS))


def _cloglog_inv(eta: _Array) -> _Array:
    return np.clip(-np.expm1(-np.exp(np.minimum(eta, 700.0))), _EPS, 1.0 - _EPS)


def _cloglog_mu_eta(eta: _Array) -> _Array:
    e = np.minimum(eta, 700.0)
    return np.maximum(np.exp(e) * np.exp(-np.exp(e)), _EPS)


_LINKS: dict[str, Link] = {
    "logit": Link(
        "logit", lambda mu: np.log(mu / (1.0 - mu)), _logit_inv, _logit_mu_eta, _always
    ),
    "probit": Link(
        "probit",
        lambda mu: stats.norm.ppf(mu),
        lambda eta: stats.norm.cdf(np.clip(eta, -_PROBIT_T, _PROBIT_T)),
        lambda eta: np.maximum(stats.norm.pdf(eta), _EPS),
        _always,
    ),
    "cauchit": Link(
        "cauchit",
        lambda mu: stats.cauchy.ppf(mu),
        lambda eta: stats.cauchy.cdf(np.clip(eta, -_CAUCHIT_T, _CAUCHIT_T)),
        lambda eta: np.maximum(stats.cauchy.pdf(eta), _EPS),
        _always,
    ),
    "cloglog": Link(
        "cloglog", lambda mu: np.log(-np.log1p(-mu)), _cloglog_inv, _cloglog_mu_eta, _always
    ),
    "log": Link(
        "log",
        np.log,
        lambda eta: np.maximum(np.exp(eta), _EPS),
        lambda eta: np.maximum(np.exp(eta), _EPS),
        _always,
    ),
    "identity": Link(
        "identity", lambda mu: np.asarray(mu, float), lambda eta: np.asarray(eta, float),
        lambda eta: np.ones_like(eta, dtype=float), _always,
    ),
    "sqrt": Link(
        "sqrt", np.sqrt, lambda eta: eta * eta, lambda eta: 2.0 * eta,
        lambda eta: bool(np.all(np.isfinite(eta)) and np.all(eta > 0)),
    ),
    "inverse": Link(
        "inverse", lambda mu: 1.0 / mu, lambda eta: 1.0 / eta, lambda eta: -1.0 / (eta * eta),
        lambda eta: bool(np.all(np.isfinite(eta)) and np.all(eta != 0)),
    ),
    "1/mu^2": Link(
        "1/mu^2", lambda mu: 1.0 / (mu * mu), lambda eta: 1.0 / np.sqrt(eta),
        lambda eta: -1.0 / (2.0 * eta**1.5),
        lambda eta: bool(np.all(np.isfinite(eta)) and np.all(eta > 0)),
    ),
}


def make_link(name: str) -> Link:
    """R's ``make.link``: one of logit, probit, cauchit, cloglog, log, identity, sqrt,
    inverse, 1/mu^2."""
    try:
        return _LINKS[name]
    except KeyError:
        raise FamilyError("link", name, "one of " + ", ".join(f"'{k}'" for k in _LINKS)) from None


def _ylogy(y: _Array, mu: _Array) -> _Array:
    """y log(y/μ) with 0 log 0 = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / mu), 0.0)


@dataclass(frozen=True)
class Family:
    """An exponential family with a link, as R's ``family`` object.

    ``aic(y, n, mu, wt, dev)`` follows R: −2 log-likelihood (plus 2 for the
    dispersion parameter where the family has one).
    """

    family: str
    link: Link
    variance: Callable[[_Array], _Array]
    dev_resids: Callable[[_Array, _Array, _Array], _Array]
    aic: Callable[[_Array, _Array, _Array, _Array, float], float]
    validmu: Callable[[_Array], bool]
    links: tuple[str, ...]
    has_dispersion: bool = False

    @property
    def link_name(self) -> str:
        return self.link.name

    def linkfun(self, mu: _Array) -> _Array:
        return self.link.linkfun(mu)

    def linkinv(self, eta: _Array) -> _Array:
        return self.link.linkinv(eta)

    def mu_eta(self, eta: _Array) -> _Array:
        return self.link.mu_eta(eta)

    def valideta(self, eta: _Array) -> bool:
        return self.link.valideta(eta)

    def deviance(self, y: _Array, mu: _Array, wt: _Array) -> float:
        """Σ unit deviances."""
        return float(np.sum(self.dev_resids(y, mu, wt)))

    def deviance_function(self, y: _Array, wt: _Array) -> Callable[[_Array], _Array]:
        """μ ↦ unit deviances for fixed y and weights, with the y-only terms precomputed.

        binomial: 2w [s(y) − y log μ − (1−y) log(1−μ)], s(y) = y log y + (1−y) log(1−y);
        poisson: 2w [y log y − y − y log μ + μ].
        """
        y = np.asarray(y, dtype=float)
        if self.family == "binomial":
            sat = _ylogy(y, np.ones_like(y)) + _ylogy(1.0 - y, np.ones_like(y))
            yy, ny, w2 = y, 1.0 - y, 2.0 * wt

            def dev_binomial(mu: _Array) -> _Array:
                return w2 * (sat - yy * np.log(mu) - ny * np.log1p(-mu))

            return dev_binomial
        if self.family == "poisson":
            sat = _ylogy(y, np.ones_like(y)) - y
            w2 = 2.0 * wt

            def dev_poisson(mu: _Array) -> _Array:
                return w2 * (sat - y * np.log(mu) + mu)

            return dev_poisson
        return lambda mu: self.dev_resids(y, mu, wt)

    def aic_constant(self, y: _Array, n: _Array, wt: _Array) -> float | None:
        """C with aic(μ) = Σ dᵢ(μ) + C for every μ (binomial, poisson), else None.

        For these families −2 log p(y | μ) and the deviance differ only by the
        saturated log-likelihood, so C is computed once at an interior μ.
        """
        if self.family == "binomial":
            mu0 = np.full_like(y, 0.5, dtype=float)
        elif self.family == "poisson":
            mu0 = np.full_like(y, max(float(np.mean(y)), 0.5), dtype=float)
        else:
            return None
        dev = float(np.sum(self.dev_resids(y, mu0, wt)))
        return self.aic(y, n, mu0, wt, dev) - dev

    def __str__(self) -> str:
        return f"Family: {self.family}  ( {self.link.name} )"


# --- binomial ------------------------------------------------------------------
def _binom_dev(y: _Array, mu: _Array, wt: _Array) -> _Array:
    return 2.0 * wt * (_ylogy(y, mu) + _ylogy(1.0 - y, 1.0 - mu))


def _binom_aic(y: _Array, n: _Array, mu: _Array, wt: _Array, dev: float) -> float:
    m = n if np.any(n > 1) else wt
    mr = np.round(m)
    k = np.round(m * y)
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = stats.binom.logpmf(k, mr, mu)
        ll = np.where(m > 0, (wt / np.where(m > 0, m, 1.0)) * ll, 0.0)
    return float(-2.0 * np.sum(ll))


# --- poisson -------------------------------------------------------------------
def _pois_dev(y: _Array, mu: _Array, wt: _Array) -> _Array:
    return 2.0 * wt * (_ylogy(y, mu) - (y - mu))


def _pois_aic(y: _Array, n: _Array, mu: _Array, wt: _Array, dev: float) -> float:
    ll = y * np.log(mu) - mu - special.gammaln(y + 1.0)
    return float(-2.0 * np.sum(ll * wt))


# --- Gamma ---------------------------------------------------------------------
def _gamma_dev(y: _Array, mu: _Array, wt: _Array) -> _Array:
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(y == 0, 1.0, y / mu)
    return -2.0 * wt * (np.log(r) - (y - mu) / mu)


def _gamma_aic(y: _Array, n: _Array, mu: _Array, wt: _Array, dev: float) -> float:
    disp = dev / float(np.sum(wt))
    ll = stats.gamma.logpdf(y, 1.0 / disp, scale=mu * disp)
    return float(-2.0 * np.sum(ll * wt) + 2.0)


# --- inverse gaussian ------------------------------------------------------------
def _ig_dev(y: _Array, mu: _Array, wt: _Array) -> _Array:
    return wt * ((y - mu) ** 2) / (y * mu * mu)


def _ig_aic(y: _Array, n: _Array, mu: _Array, wt: _Array, dev: float) -> float:
    sw = float(np.sum(wt))
    ll = sw * (math.log(dev / sw * 2.0 * math.pi) + 1.0) + 3.0 * np.sum(np.log(y) * wt)
    return float(ll + 2.0)


# --- gaussian --------------------------------------------------------------------
def _gauss_dev(y: _Array, mu: _Array, wt: _Array) -> _Array:
    return wt * (y - mu) ** 2


def _gauss_aic(y: _Array, n: _Array, mu: _Array, wt: _Array, dev: float) -> float:
    nobs = y.size
    return float(nobs * (math.log(2.0 * math.pi * dev / nobs) + 1.0) + 2.0)


def _positive(mu: _Array) -> bool:
    return bool(np.all(np.isfinite(mu)) and np.all(mu > 0))


def _unit(mu: _Array) -> bool:
    return bool(np.all(np.isfinite(mu)) and np.all((mu > 0) & (mu < 1)))


def _finite(mu: _Array) -> bool:
    return bool(np.all(np.isfinite(mu)))


_SPECS: dict[str, tuple] = {
    # family: (variance, dev_resids, aic, validmu, links, default link, dispersion)
    "binomial": (lambda mu: mu * (1.0 - mu), _binom_dev, _binom_aic, _unit,
                 ("logit", "probit", "cloglog", "cauchit", "log"), "logit", False),
    "poisson": (lambda mu: mu, _pois_dev, _pois_aic, _positive,
                ("log", "identity", "sqrt"), "log", False),
    "Gamma": (lambda mu: mu * mu, _gamma_dev, _gamma_aic, _positive,
              ("inverse", "log", "identity"), "inverse", True),
    "inverse.gaussian": (lambda mu: mu**3, _ig_dev, _ig_aic, _positive,
                         ("1/mu^2", "inverse", "log", "identity"), "1/mu^2", True),
    "gaussian": (lambda mu: np.ones_like(mu), _gauss_dev, _gauss_aic, _finite,
                 ("identity", "log", "inverse"), "identity", True),
}

# FAMILIES (family_names) lists the keys of _SPECS in this order (tested)
_ALIASES = {"gamma": "Gamma", "inverse_gaussian": "inverse.gaussian",
            "inversegaussian": "inverse.gaussian"}


def make_family(name: str | Family, link: str | None = None) -> Family:
    """A family by R's name (``"binomial"``, ``"poisson"``, ``"Gamma"``,
    ``"inverse.gaussian"``, ``"gaussian"``) with an optional link name."""
    if isinstance(name, Family):
        return name if link is None or link == name.link.name else make_family(name.family, link)
    key = _ALIASES.get(name, name) if isinstance(name, str) else None
    if key not in _SPECS:
        raise FamilyError(
            "family", name, "one of " + ", ".join(f"'{f}'" for f in FAMILIES)
            + " or a Family object",
            "quasi families cannot be used in a mixed model, as in lme4",
        )
    variance, dev, aic, validmu, links, default, disp = _SPECS[key]
    link = default if link is None else link
    if link not in links:
        raise FamilyError(
            "link", link, f"one of {', '.join(repr(k) for k in links)} for the {key} family"
        )
    return Family(key, make_link(link), variance, dev, aic, validmu, links, disp)


def binomial(link: str = "logit") -> Family:
    return make_family("binomial", link)


def poisson(link: str = "log") -> Family:
    return make_family("poisson", link)


def Gamma(link: str = "inverse") -> Family:  # noqa: N802 (R's name)
    return make_family("Gamma", link)


def inverse_gaussian(link: str = "1/mu^2") -> Family:
    return make_family("inverse.gaussian", link)


def gaussian(link: str = "identity") -> Family:
    return make_family("gaussian", link)


def check_support(family: Family, y: _Array, weights: _Array) -> None:
    """Raise a :class:`~mixedmodels.errors.DataError` when y is outside the family's support.

    ``y`` is the response as the family sees it (proportions for binomial,
    with ``weights`` the numbers of trials).
    """
    name = family.family
    if not np.all(np.isfinite(y)):
        raise DataError("the response has infinite values")
    if name == "binomial":
        if np.any((y < 0) | (y > 1)):
            bad = y[(y < 0) | (y > 1)][:3]
            raise DataError(
                "binomial response must be 0/1, a two-level factor, proportions in [0, 1] "
                f"with weights= trials, or cbind(successes, failures); found values {bad.tolist()}"
            )
        m = weights * y
        if np.any(np.abs(m - np.round(m)) > 1e-3):
            raise DataError(
                "non-integer numbers of successes in a binomial model: a proportion response "
                "needs weights= giving the number of trials (weights × y must be whole numbers)"
            )
    elif name == "poisson":
        if np.any(y < 0):
            raise DataError(
                f"negative values not allowed for the poisson family: found {int((y < 0).sum())} "
                "negative counts"
            )
        if np.any(np.abs(y - np.round(y)) > 1e-3):
            raise DataError(
                "the poisson family needs counts (whole numbers); the response has non-integer "
                "values"
            )
    elif name == "Gamma":
        if np.any(y <= 0):
            raise DataError("non-positive values not allowed for the Gamma family")
    elif name == "inverse.gaussian":
        if np.any(y <= 0):
            raise DataError("positive values only are allowed for the inverse.gaussian family")
    elif name == "gaussian":
        link = family.link.name
        # R's gaussian()$initialize: μ₀ = y must be valid on the link scale
        bad = (y <= 0) if link == "log" else (y == 0) if link == "inverse" else None
        if bad is not None and np.any(bad):
            what = "≤ 0" if link == "log" else "= 0"
            raise DataError(
                f"cannot find valid starting values: the gaussian family with the {link} link "
                f"starts from μ = y, and {int(bad.sum())} response value(s) are {what} "
                f"(e.g. {float(y[bad][0]):g}); as in R, model such data with a different link "
                "or family (e.g. lmer for the identity link)"
            )
