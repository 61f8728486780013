"""A linear mixed model given by its parameters, and responses drawn from it.

:class:`LmmSpec` is simr's ``makeLmer``: a formula evaluated on a data frame
(the engine's own design, so any lme4 formula works) together with the
parameters β (fixed effects by name), the random-effect covariance of each
term and the residual SD σ. Responses are drawn exactly as lme4's
``simulate``::

    y = Xβ + offset + Σ_k Z_k b_k + ε,   b_kl = σ T_k z_l,  ε_i ~ N(0, σ²/w_i)

with z_l ~ N(0, I) per level l of term k and T_k the lower-triangular
relative covariance factor (Σ_k = σ² T_k T_kᵀ; θ holds T_k's lower triangle
column by column). The draws use the same random-number stream as
:func:`mixedmodels.simulate`, so the spec of a fitted model reproduces
``model.simulate(nsim, seed)`` exactly.

A term's covariance is given (``varcorr``) per grouping factor as one of

* a number: the SD of a single-column term, e.g. ``{"Subject": 50}``;
* a list of SDs, one per column, uncorrelated: ``{"Subject": [50, 25]}``;
* a dict of SDs by column name, optionally with ``"corr"`` (a number for
  every pair, or a correlation matrix):
  ``{"Subject": {"(Intercept)": 50, "Days": 25, "corr": 0.2}}``;
  ``{"sd": [...], "corr": ...}`` is accepted too;
* a 2-D array: the covariance matrix itself (variances on the diagonal).

Keys are the term labels of lme4's ``VarCorr`` (``"Subject"``,
``"Subject.1"`` for a second term on the same factor); a group name shared
by several uncorrelated terms (``(Days || Subject)``) may take a dict of
SDs by column name, which is split among its terms.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..design import Design, ReTerm, as_pandas, build_design
from ..errors import ModelSpecificationError

__all__ = ["LmmSpec", "make_lmer", "simulate_response", "spec_from_model", "varcorr_theta"]

_PLAIN_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")


@dataclasses.dataclass
class LmmSpec:
    """A linear mixed model with known parameters on a given design.

    Attributes
    ----------
    formula:
        The lme4 formula.
    data:
        The data frame the design was built from (all its rows).
    design:
        The engine's design (X, the raw Z of each term in lme4's order).
    beta:
        Fixed effects, in the order of ``design.x_names``.
    theta:
        Relative covariance parameters in lme4's order (``T_k`` lower
        triangles, column by column).
    sigma:
        Residual standard deviation (> 0).
    REML:
        Criterion of the models fitted to responses drawn from the spec.
    """

    formula: str
    data: pd.DataFrame
    design: Design
    beta: np.ndarray
    theta: np.ndarray
    sigma: float
    REML: bool = True

    # -- reading ---------------------------------------------------------------
    @property
    def fixef(self) -> pd.Series:
        """β as a Series indexed by coefficient name."""
        return pd.Series(self.beta, index=list(self.design.x_names), name="fixef")

    def term_T(self, k: int) -> np.ndarray:
        """T_k, the relative covariance factor of term k (S_k × S_k)."""
        return self.design.terms[k].lower_tri(self.theta[self._theta_slices()[k]])

    def covariances(self) -> dict[str, np.ndarray]:
        """Σ_k = σ² T_k T_kᵀ per term label."""
        return {
            t.label: self.sigma**2 * self.term_T(k) @ self.term_T(k).T
            for k, t in enumerate(self.design.terms)
        }

    def varcorr_frame(self) -> pd.DataFrame:
        """lme4's ``as.data.frame(VarCorr)``: grp, var1, var2, vcov, sdcor."""
        rows = []
        for t, cov in zip(self.design.terms, self.covariances().values()):
            sd = np.sqrt(np.diag(cov))
            for i in range(t.S):
                rows.append((t.label, t.names[i], None, cov[i, i], sd[i]))
            for j in range(t.S):
                for i in range(j + 1, t.S):
                    denom = sd[i] * sd[j]
                    rows.append((t.label, t.names[j], t.names[i], cov[i, j],
                                 cov[i, j] / denom if denom > 0 else 0.0))
        rows.append(("Residual", None, None, self.sigma**2, self.sigma))
        return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])

    def _theta_slices(self) -> list[slice]:
        out, start = [], 0
        for t in self.design.terms:
            out.append(slice(start, start + t.ntheta))
            start += t.ntheta
        return out

    # -- changing --------------------------------------------------------------
    def with_fixef(self, values: Mapping[str, float]) -> LmmSpec:
        """A copy with some fixed effects replaced (by coefficient name)."""
        beta = self.beta.copy()
        names = list(self.design.x_names)
        for name, value in values.items():
            if name not in names:
                raise ModelSpecificationError(
                    f"no fixed effect named {name!r}; the model's are {names}")
            beta[names.index(name)] = float(value)
        return dataclasses.replace(self, beta=beta)

    def on_data(self, data: Any) -> LmmSpec:
        """The same parameters on another data frame (same columns of X and Z)."""
        frame = as_pandas(data)
        design = _design_for(self.formula, frame)
        if list(design.x_names) != list(self.design.x_names):
            raise ModelSpecificationError(
                f"the new data give fixed effects {list(design.x_names)}, the model has "
                f"{list(self.design.x_names)} (a factor level missing from the new data?)")
        old = [(t.label, t.names) for t in self.design.terms]
        new = [(t.label, t.names) for t in design.terms]
        if old != new:
            raise ModelSpecificationError(
                f"the new data give random-effect terms {new}, the model has {old}")
        return dataclasses.replace(self, data=frame, design=design)

    # -- drawing ---------------------------------------------------------------
    def mean(self) -> np.ndarray:
        """Xβ + offset on the design's rows."""
        return self.design.X @ self.beta + self.design.offset

    def simulate(self, nsim: int = 1, seed: int | np.random.Generator | None = None
                 ) -> np.ndarray:
        """``nsim`` responses on the design's rows, an (n, nsim) array.

        The random effects of every term are drawn first, then the noise,
        simulation by simulation (the stream of :func:`mixedmodels.simulate`).
        """
        rng = np.random.default_rng(seed)
        d = self.design
        mean = self.mean()
        Ts = [self.term_T(k) for k in range(len(d.terms))]
        noise_sd = self.sigma / np.sqrt(d.weights)
        out = np.empty((d.n, int(nsim)))
        for s in range(int(nsim)):
            eta = mean.copy()
            for t, T in zip(d.terms, Ts):
                b = self.sigma * rng.standard_normal((t.nl, T.shape[0])) @ T.T
                eta += np.einsum("ij,ij->i", t.Z, b[t.factor.codes])
            out[:, s] = eta + noise_sd * rng.standard_normal(d.n)
        return out


def _design_for(formula: str, data: pd.DataFrame) -> Design:
    """The design of ``formula`` on ``data``, the response replaced by a placeholder.

    A plain response name gets a column of ones (absent or not), so rows are
    dropped only for missing predictors or grouping factors.
    """
    from ..formula import parse_formula

    parsed = parse_formula(formula)
    if _PLAIN_NAME.match(parsed.response):
        data = data.assign(**{parsed.response: 1.0})
    return build_design(parsed, data)


def _psd_cholesky(cov: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    """Lower-triangular L with L Lᵀ = cov for a positive semi-definite cov.

    Column by column without pivoting; a column whose pivot is zero (zero
    variance, or a correlation of ±1) is set to zero, as a singular
    covariance needs.
    """
    S = cov.shape[0]
    L = np.zeros((S, S))
    scale = max(float(np.max(np.abs(np.diag(cov)))), 1.0)
    for j in range(S):
        d = cov[j, j] - L[j, :j] @ L[j, :j]
        if d < -1e-8 * scale:
            raise ModelSpecificationError(
                f"the random-effect covariance is not positive semi-definite:\n{cov}")
        if d <= tol * scale:
            continue
        L[j, j] = math.sqrt(d)
        for i in range(j + 1, S):
            L[i, j] = (cov[i, j] - L[i, :j] @ L[j, :j]) / L[j, j]
    return L


def _sds(value: Any, names: list[str], label: str) -> np.ndarray:
    if isinstance(value, Mapping):
        unknown = set(value) - set(names)
        if unknown:
            raise ModelSpecificationError(
                f"varcorr[{label!r}] names {sorted(unknown)}; the term's columns are {names}")
        missing = [n for n in names if n not in value]
        if missing:
            raise ModelSpecificationError(f"varcorr[{label!r}] lacks the SDs of {missing}")
        return np.array([float(value[n]) for n in names])
    arr = np.atleast_1d(np.asarray(value, dtype=float))
    if arr.shape != (len(names),):
        raise ModelSpecificationError(
            f"varcorr[{label!r}] gives {arr.size} SDs for the columns {names}")
    return arr


def _covariance(value: Any, names: list[str], label: str) -> np.ndarray:
    """One term's covariance matrix from any of the accepted forms (module docstring)."""
    S = len(names)
    if isinstance(value, np.ndarray) and value.ndim == 2:
        cov = np.asarray(value, dtype=float)
        if cov.shape != (S, S) or not np.allclose(cov, cov.T):
            raise ModelSpecificationError(
                f"varcorr[{label!r}] must be a symmetric {S}x{S} covariance matrix")
        return cov
    corr: Any = 0.0
    if isinstance(value, Mapping):
        value = dict(value)
        corr = value.pop("corr", 0.0)
        if "sd" in value:
            value = value["sd"]
    sd = _sds(value, names, label)
    if np.any(~np.isfinite(sd)) or np.any(sd < 0):
        raise ModelSpecificationError(f"varcorr[{label!r}]: SDs must be finite and >= 0")
    R = np.asarray(corr, dtype=float)
    if R.ndim == 0:
        R = np.full((S, S), float(R))
        np.fill_diagonal(R, 1.0)
    if R.shape != (S, S) or not np.allclose(R, R.T) or np.any(np.abs(R) > 1 + 1e-12):
        raise ModelSpecificationError(
            f"varcorr[{label!r}]: corr must be a number in [-1, 1] or a {S}x{S} correlation matrix")
    return R * np.outer(sd, sd)


def varcorr_theta(terms: list[ReTerm], varcorr: Mapping[str, Any], sigma: float) -> np.ndarray:
    """θ (lme4's order) from per-term covariances relative to σ."""
    if not (math.isfinite(sigma) and sigma > 0):
        raise ModelSpecificationError(f"sigma must be a finite number > 0, got {sigma!r}")
    by_group: dict[str, list[ReTerm]] = {}
    for t in terms:
        by_group.setdefault(t.group, []).append(t)
    labels = {t.label for t in terms}
    unknown = [k for k in varcorr if k not in labels and k not in by_group]
    if unknown:
        raise ModelSpecificationError(
            f"varcorr names {unknown}; the model's random-effect terms are "
            + ", ".join(f"{t.label} {t.names}" for t in terms))
    parts = []
    for t in terms:
        value = varcorr.get(t.label, varcorr.get(t.group))
        if value is None:
            raise ModelSpecificationError(
                f"varcorr lacks the term {t.label!r} (columns {t.names})")
        if len(by_group[t.group]) > 1 and isinstance(value, Mapping) and "sd" not in value:
            # a group shared by uncorrelated terms: take this term's columns
            if float(value.get("corr", 0.0)) != 0.0 and set(value) - {"corr"} - set(t.names):
                raise ModelSpecificationError(
                    f"terms on {t.group!r} are uncorrelated; give 'corr' per term label")
            value = {n: v for n, v in value.items() if n in t.names or n == "corr"}
        cov = _covariance(value, list(t.names), t.label)
        T = _psd_cholesky(cov) / sigma
        parts.append(T[t.tri_index])
    return np.concatenate(parts) if parts else np.zeros(0)


def _fixef_vector(fixef: Any, names: list[str]) -> np.ndarray:
    if isinstance(fixef, Mapping):
        missing = [n for n in names if n not in fixef]
        unknown = [n for n in fixef if n not in names]
        if missing or unknown:
            raise ModelSpecificationError(
                f"fixef must name each of {names}"
                + (f"; missing {missing}" if missing else "")
                + (f"; unknown {unknown}" if unknown else ""))
        return np.array([float(fixef[n]) for n in names])
    beta = np.atleast_1d(np.asarray(fixef, dtype=float))
    if beta.shape != (len(names),):
        raise ModelSpecificationError(
            f"fixef has {beta.size} values; the model's fixed effects are {names}")
    return beta


def make_lmer(formula: str, data: Any, fixef: Any, varcorr: Mapping[str, Any], sigma: float,
              REML: bool = True) -> LmmSpec:
    """A linear mixed model with the given parameters (simr's ``makeLmer``).

    Parameters
    ----------
    formula:
        lme4 formula; its response column need not exist in ``data``.
    data:
        The design: a data frame with the predictors and grouping factors.
    fixef:
        Fixed effects: a dict by coefficient name (lme4's column names, e.g.
        ``{"(Intercept)": 600, "session": -10}``) or a sequence in that order.
    varcorr:
        Random-effect SDs and correlations per term (module docstring).
    sigma:
        Residual standard deviation.
    REML:
        Criterion used when models are fitted to its simulated responses.
    """
    frame = as_pandas(data)
    design = _design_for(formula, frame)
    beta = _fixef_vector(fixef, list(design.x_names))
    theta = varcorr_theta(design.terms, varcorr, float(sigma))
    return LmmSpec(formula, frame, design, beta, theta, float(sigma), bool(REML))


def spec_from_model(model: Any) -> LmmSpec:
    """The estimated parameters of a fitted linear mixed model as a spec."""
    if getattr(model, "family", "gaussian") != "gaussian" or not hasattr(model, "_sigma"):
        raise ModelSpecificationError(
            "power simulation needs a linear mixed model fitted with mm.lmer")
    design = model.design
    data = getattr(model, "data", None)
    frame = (as_pandas(data) if data is not None
             else pd.DataFrame(index=range(design.n_input)))
    formula = design.formula.text
    return LmmSpec(formula, frame, design, np.asarray(model._beta, dtype=float).copy(),
                   np.asarray(model._theta, dtype=float).copy(), float(model._sigma),
                   bool(model.REML))


def simulate_response(
    model: Any,
    data: Any = None,
    fixef: Any = None,
    varcorr: Mapping[str, Any] | None = None,
    sigma: float | None = None,
    nsim: int = 1,
    seed: int | np.random.Generator | None = None,
) -> np.ndarray:
    """Responses drawn from a linear mixed model on a data frame.

    ``model`` is a formula (then ``data``, ``fixef``, ``varcorr`` and
    ``sigma`` are all required), an :class:`LmmSpec`, or a fitted
    :class:`~mixedmodels.LinearMixedModel` (its estimates are the defaults).
    With a spec or a model, ``fixef`` (a dict may name only the effects to
    change), ``varcorr`` (every term), ``sigma`` and ``data`` replace the
    corresponding parts.

    Returns the responses aligned with the data's rows — a vector for
    ``nsim=1``, else an (n_rows, nsim) array — NaN on rows the model cannot
    use (missing predictors or grouping factors).
    """
    if isinstance(model, str):
        if data is None or fixef is None or varcorr is None or sigma is None:
            raise ModelSpecificationError(
                "a formula needs data, fixef, varcorr and sigma to define the model")
        spec = make_lmer(model, data, fixef, varcorr, sigma)
    else:
        spec = model if isinstance(model, LmmSpec) else spec_from_model(model)
        spec = _override(spec, data, fixef, varcorr, sigma)
    ys = spec.simulate(nsim, seed)
    n_rows = spec.design.n_input
    out = np.full((n_rows, ys.shape[1]), np.nan)
    out[spec.design.rows] = ys
    return out[:, 0] if nsim == 1 else out


def _override(spec: LmmSpec, data: Any, fixef: Any, varcorr: Mapping[str, Any] | None,
              sigma: float | None) -> LmmSpec:
    """``spec`` with new data and/or parameters."""
    if data is not None:
        spec = spec.on_data(data)
    if fixef is not None:
        spec = (spec.with_fixef(fixef) if isinstance(fixef, Mapping)
                else dataclasses.replace(spec, beta=_fixef_vector(fixef,
                                                                  list(spec.design.x_names))))
    if sigma is not None or varcorr is not None:
        new_sigma = spec.sigma if sigma is None else float(sigma)
        if varcorr is None:
            # keep the covariances, rescale θ to the new σ
            theta = spec.theta * spec.sigma / new_sigma
        else:
            theta = varcorr_theta(spec.design.terms, varcorr, new_sigma)
        spec = dataclasses.replace(spec, theta=theta, sigma=new_sigma)
    return spec

