"""Denominator degrees of freedom for t and F tests of fixed effects (lmerTest, pbkrtest).

Satterthwaite (lmerTest): for a contrast l, with V_β(θ, σ), its gradient
g = (l'(∂V_β/∂φ_k)l)_k over varpar φ = (θ, σ) and A = 2 H⁻¹ (H the Hessian of
the deviance in φ, see :mod:`.varpar`),

    ν = 2 (l'V_β l)² / (g'Ag).

For L with q rows (F test): L V_β L' = P D P', t²_m = ((P'L)_m β̂)²/d_m,
F = Σ t²_m / q, ν_m from each row of P'L, and the denominator df
2E/(E − q) with E = Σ ν_m/(ν_m − 2) (2 if some ν_m ≤ 2; the common ν when all agree).

Kenward–Roger (pbkrtest): see :mod:`.kenward_roger`; the t test uses the
adjusted variance l'Φ_A l, the F test the scaled Wald statistic.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .kenward_roger import kenward_roger_vcov, kr_ddf
from .table import AnovaTable
from .varpar import VarparDerivatives, varpar_derivatives

__all__ = ["coef_table", "contrast_test", "anova_type3", "satterthwaite_ddf", "normalize_ddf"]

_ALIASES = {
    "satterthwaite": "Satterthwaite",
    "kenward-roger": "Kenward-Roger",
    "kenward_roger": "Kenward-Roger",
    "kr": "Kenward-Roger",
    "lme4": "lme4",
}


def normalize_ddf(ddf: str) -> str:
    """'Satterthwaite', 'Kenward-Roger' or 'lme4' (no df) from any common spelling."""
    key = str(ddf).lower()
    if key not in _ALIASES:
        raise ValueError(f"ddf must be 'Satterthwaite', 'Kenward-Roger' or 'lme4', got {ddf!r}")
    return _ALIASES[key]


def _derivs(model: Any) -> VarparDerivatives:
    cache = model.__dict__.setdefault("_inference_cache", {})
    key = ("varpar", tuple(np.asarray(model._theta).round(14)))
    if key not in cache:
        cache[key] = varpar_derivatives(model)
    return cache[key]


def _kr(model: Any) -> Any:
    cache = model.__dict__.setdefault("_inference_cache", {})
    key = ("kr", tuple(np.asarray(model._theta).round(14)))
    if key not in cache:
        cache[key] = kenward_roger_vcov(model)
    return cache[key]


def satterthwaite_ddf(model: Any, L: np.ndarray) -> float:
    """ν = 2 (l'Vl)² / (g'Ag) for one contrast row l."""
    dv = _derivs(model)
    l = np.asarray(L, dtype=float).ravel()
    var = float(l @ dv.vcov @ l)
    g = np.array([l @ J @ l for J in dv.jacobian])
    return float(2.0 * var**2 / (g @ dv.vcov_varpar() @ g))


def contrast_test(model: Any, L: Any, ddf: str = "Satterthwaite") -> pd.DataFrame:
    """t test of each row l of L: Estimate l'β̂, Std. Error, df, t value, Pr(>|t|)."""
    ddf = normalize_ddf(ddf)
    L = np.atleast_2d(np.asarray(L, dtype=float))
    beta = np.asarray(model._beta)
    est = L @ beta
    if ddf == "Kenward-Roger":
        adj = _kr(model)
        se = np.sqrt(np.einsum("ij,jk,ik->i", L, adj.phi_adj, L))
        df = np.array([kr_ddf(l[None, :], adj)[0] for l in L])
    else:
        V = model._vcov_unscaled * model._sigma**2
        se = np.sqrt(np.einsum("ij,jk,ik->i", L, V, L))
        df = (np.array([satterthwaite_ddf(model, l) for l in L]) if ddf == "Satterthwaite"
              else np.full(len(L), np.nan))
    t = est / se
    p = 2.0 * stats.t.sf(np.abs(t), df) if ddf != "lme4" else np.full(len(L), np.nan)
    return pd.DataFrame(
        {"Estimate": est, "Std. Error": se, "df": df, "t value": t, "Pr(>|t|)": p}
    )


def coef_table(model: Any, ddf: str = "Satterthwaite") -> pd.DataFrame:
    """Fixed-effect table with df and p-values, indexed by coefficient name (lmerTest)."""
    p = len(model._beta)
    out = contrast_test(model, np.eye(p), ddf)
    out.index = pd.Index(list(model.design.x_names))
    return out


def _satterthwaite_f(model: Any, L: np.ndarray) -> tuple[float, float, float]:
    """(F, numdf, dendf) for H0: Lβ = 0 by lmerTest's multi-df Satterthwaite."""
    dv = _derivs(model)
    A = dv.vcov_varpar()
    VL = L @ dv.vcov @ L.T
    d, P = np.linalg.eigh(VL)
    d, P = d[::-1], P[:, ::-1]  # R's eigen: decreasing
    PtL = P.T @ L
    beta = np.asarray(model._beta)
    q = L.shape[0]
    F = float(np.sum((PtL @ beta) ** 2 / d) / q)
    nu = np.empty(q)
    for m in range(q):
        g = np.array([PtL[m] @ J @ PtL[m] for J in dv.jacobian])
        nu[m] = 2.0 * d[m] ** 2 / (g @ A @ g)
    if q == 1:
        ddf = nu[0]
    elif np.all(np.abs(np.diff(nu)) < 1e-8):
        ddf = float(np.mean(nu))
    elif np.any(nu <= 2):
        ddf = 2.0
    else:
        E = float(np.sum(nu / (nu - 2)))
        ddf = 2 * E / (E - q)
    return F, float(q), float(ddf)


def _kr_f(model: Any, L: np.ndarray) -> tuple[float, float, float]:
    adj = _kr(model)
    beta = np.asarray(model._beta)
    Lb = L @ beta
    q = L.shape[0]
    wald = float(Lb @ np.linalg.solve(L @ adj.phi_adj @ L.T, Lb))
    ddf, scaling = kr_ddf(L, adj)
    return scaling * wald / q, float(q), ddf


def _term_contrasts(model: Any) -> dict[str, np.ndarray]:
    """Type III contrasts per fixed term: the rows of I for the term's columns.

    This is lmerTest's type III contrast whenever the term is not contained
    in a higher-order term (for contained terms lmerTest orthogonalizes
    against the containing terms; those rows are marked in the result).
    """
    spec = model.design.fixed_spec
    terms = spec.term_spec.terms
    assign = np.asarray(spec.assign)
    p = len(model._beta)
    out = {}
    for k, t in enumerate(terms, start=1):
        cols = np.flatnonzero(assign == k)
        if cols.size:
            out[":".join(t)] = np.eye(p)[cols]
    return out


def anova_type3(model: Any, ddf: str = "Satterthwaite") -> AnovaTable:
    """lmerTest's ``anova(m, type = 3)``: an F test per fixed-effect term.

    Columns Sum Sq, Mean Sq (= F·σ̂² with the unadjusted F), NumDF, DenDF,
    F value, Pr(>F). Terms contained in higher-order terms (main effects
    under an interaction) are tested on their own coefficients, which is
    lmerTest's type III test only for orthogonal (e.g. sum-to-zero) codings.
    """
    ddf = normalize_ddf(ddf)
    if ddf == "lme4":
        raise ValueError("anova_type3 needs ddf='Satterthwaite' or 'Kenward-Roger'")
    s2 = model._sigma**2
    rows = {}
    for name, L in _term_contrasts(model).items():
        F_s, q, den_s = _satterthwaite_f(model, L) if ddf == "Satterthwaite" else (
            _wald_f(model, L), float(L.shape[0]), np.nan)
        if ddf == "Kenward-Roger":
            F, _, den = _kr_f(model, L)
        else:
            F, den = F_s, den_s
        ms = F_s * s2
        rows[name] = (ms * q, ms, q, den, F, stats.f.sf(F, q, den))
    frame = pd.DataFrame.from_dict(
        rows, orient="index", columns=["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]
    )
    method = "Satterthwaite's" if ddf == "Satterthwaite" else "Kenward-Roger's"
    kinds = {"Sum Sq": "df", "Mean Sq": "df", "NumDF": "int", "DenDF": "df", "F value": "df",
             "Pr(>F)": "p"}
    return AnovaTable.build(frame, [f"Type III Analysis of Variance Table with {method} method"],
                            kinds)


def _wald_f(model: Any, L: np.ndarray) -> float:
    beta = np.asarray(model._beta)
    V = model._vcov_unscaled * model._sigma**2
    Lb = L @ beta
    return float(Lb @ np.linalg.solve(L @ V @ L.T, Lb) / L.shape[0])
