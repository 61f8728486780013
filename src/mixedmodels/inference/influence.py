"""Checks behind ``performance::check_model``: leverage, Cook's distance, VIF, binned residuals.

* Leverage (lme4's ``hatvalues`` for LMMs): with U = [ZΛ X], prior (LMM) or
  working (GLMM, at the conditional mode) weights W and
  M = U'WU + diag(I_q, 0_p), the hat matrix is W^½ U M⁻¹ U' W^½ and
  hᵢ = wᵢ uᵢ' M⁻¹ uᵢ.
* Cook's distance (lme4's ``cooks.distance.merMod``): Dᵢ = rᵢ² hᵢ /
  (σ̂² p (1 − hᵢ)²), rᵢ the Pearson residual, p = rank X.
* Cook's distance by group (influence.ME's ``cooks.distance``): the model is
  refitted without each level g of a grouping factor and
  D_g = (β̂ − β̂₍₋g₎)' V(β̂)⁻¹ (β̂ − β̂₍₋g₎) / p.
* Variance inflation (``performance::check_collinearity``): with R the
  correlation matrix of vcov(β̂) without the intercept, term t's (generalized)
  VIF is det R_tt · det R_{−t,−t} / det R.
* Binned residuals (``performance::binned_residuals``): the rows sorted by
  fitted mean μ̂ in ⌊√n⌉ bins of equal size; per bin the mean of μ̂ and of
  y − μ̂ (y a proportion for binomial responses), with ± z_{0.975} sd/√n_bin.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ModelSpecificationError
from .kenward_roger import MAX_Q, _lambda, _z_matrix

__all__ = ["binned_residuals", "cooks_distance", "group_cooks_distance", "leverage", "vif"]


def _weights(model: Any) -> np.ndarray:
    if isinstance(model.family, str):
        return np.asarray(model.design.weights, dtype=float)
    st, fam = model._state, model.family
    me = fam.mu_eta(st.eta)
    return np.asarray(model.prior_weights * me * me / fam.variance(st.mu), dtype=float)


def leverage(model: Any) -> np.ndarray:
    """Diagonal hᵢ of the hat matrix (module docstring)."""
    Z, layout = _z_matrix(model)
    q = Z.shape[1]
    if q > MAX_Q:
        raise ModelSpecificationError(f"leverage needs a dense {q} x {q} matrix for this model; "
                                      f"it is available for up to {MAX_Q} random effects")
    X = model.design.X
    U = np.hstack([(Z @ _lambda(model, layout)), X]) if q else X
    w = _weights(model)
    M = U.T @ (U * w[:, None])
    M[np.arange(q), np.arange(q)] += 1.0
    return w * np.einsum("ij,ij->i", U @ np.linalg.pinv(M, hermitian=True), U)


def cooks_distance(model: Any) -> np.ndarray:
    """Dᵢ = rᵢ² hᵢ / (σ̂² p (1 − hᵢ)²) (lme4's ``cooks.distance``)."""
    h = leverage(model)
    r = np.asarray(model.resid(type="pearson"), dtype=float)
    p = np.linalg.matrix_rank(model.design.X)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (r / (1.0 - h)) ** 2 * h / (model._sigma**2 * p)
    d[np.isinf(d)] = np.nan
    return d


def group_cooks_distance(model: Any, group: str | None = None) -> pd.Series:
    """D_g per level of ``group`` (default: the first grouping factor) by refits
    without the level's rows (module docstring)."""
    from .bootstrap import refit_rows

    terms = model.design.terms
    groups = [t.group for t in terms]
    group = groups[0] if group is None else group
    if group not in groups:
        raise ModelSpecificationError(f"'{group}' is not a grouping factor of the model; "
                                      f"it has {sorted(set(groups))}")
    t = terms[groups.index(group)]
    beta = np.asarray(model._beta, dtype=float)
    Vinv = np.linalg.inv(np.asarray(model.vcov, dtype=float))
    out = np.full(t.nl, np.nan)
    for lev in range(t.nl):
        rows = np.flatnonzero(t.factor.codes != lev)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fit = refit_rows(model, rows)
            except (ValueError, np.linalg.LinAlgError):
                continue
        d = beta - np.asarray(fit._beta, dtype=float)
        out[lev] = float(d @ Vinv @ d) / beta.size
    return pd.Series(out, index=pd.Index(t.factor.levels, name=group), name="cooks_distance")


def vif(model: Any) -> pd.DataFrame:
    """Per fixed term: VIF (generalized for multi-column terms), SE_factor = √VIF and
    Tolerance = 1/VIF (``performance::check_collinearity``)."""
    d = model.design
    assign = np.asarray(d.fixed_spec.assign)
    V = np.asarray(model.vcov, dtype=float)
    if "(Intercept)" in d.x_names:
        V, assign = V[1:, 1:], assign[1:]
    labels = [":".join(t) for t in d.fixed_spec.term_spec.terms]
    if len(labels) < 2:
        raise ModelSpecificationError("collinearity needs at least two fixed-effect terms")
    sd = np.sqrt(np.diag(V))
    R = V / np.outer(sd, sd)
    det_r = np.linalg.det(R)
    rows = []
    for k, lab in enumerate(labels, start=1):
        sub = np.flatnonzero(assign == k)
        if not sub.size:
            continue
        rest = np.flatnonzero(assign != k)
        v = np.linalg.det(R[np.ix_(sub, sub)]) * np.linalg.det(R[np.ix_(rest, rest)]) / det_r
        rows.append((lab, v, np.sqrt(v), 1.0 / v))
    return pd.DataFrame(rows, columns=["Term", "VIF", "SE_factor", "Tolerance"])


def binned_residuals(model: Any, n_bins: int | None = None) -> pd.DataFrame:
    """Per bin of fitted means: xbar, ybar, n, x.lo, x.hi, se (z·sd/√n), CI_low, CI_high
    and ``group`` ("yes" when |ybar| ≤ se, i.e. inside the band), as performance."""
    mu = np.asarray(model.fitted, dtype=float)
    y = np.asarray(model.y, dtype=float)
    res = y - mu
    n = mu.size
    n_bins = int(round(np.sqrt(n))) if n_bins is None else int(n_bins)
    idx = np.floor(n * np.arange(1, n_bins) / n_bins).astype(int)
    breaks = np.unique(np.concatenate([[-np.inf], np.sort(mu)[idx - 1], [np.inf]]))
    bins = np.searchsorted(breaks, mu, side="left")  # R's cut(): right-closed intervals
    z = stats.norm.ppf(0.975)
    rows = []
    for b in np.unique(bins):
        m = bins == b
        k = int(m.sum())
        sdev = float(np.std(res[m], ddof=1)) if k > 1 else np.nan
        ybar = float(res[m].mean())
        half = z * sdev / np.sqrt(k)
        rows.append((float(mu[m].mean()), ybar, k, float(mu[m].min()), float(mu[m].max()),
                     half, ybar - half, ybar + half))
    out = pd.DataFrame(rows, columns=["xbar", "ybar", "n", "x.lo", "x.hi", "se", "CI_low",
                                      "CI_high"]).dropna().reset_index(drop=True)
    out["group"] = np.where(np.abs(out["ybar"]) > np.abs(out["se"]), "no", "yes")
    return out
