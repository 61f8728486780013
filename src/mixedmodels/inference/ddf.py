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

import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ArgumentError, ConvergenceWarning, ModelSpecificationError
from ..linalg import FactorizationError
from .kenward_roger import kenward_roger_vcov, kr_ddf
from .table import AnovaTable
from .type3 import type1_contrasts, type2_contrasts, type3_contrasts
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
        raise ArgumentError("ddf", ddf, "'Satterthwaite', 'Kenward-Roger' or 'lme4'")
    return _ALIASES[key]


def _centred(model: Any) -> Any:
    """The model fitted in centred coordinates where there is one
    (:mod:`mixedmodels.lmm_reparam`): the same β̂ and V(β̂), and df are invariant to
    the parametrization of Σ, but its derivatives in raw θ are ill-conditioned."""
    shadow = model.__dict__.get("_reparam_shadow")
    return model if shadow is None else shadow


def _derivs(model: Any) -> VarparDerivatives:
    model = _centred(model)
    cache = model.__dict__.setdefault("_inference_cache", {})
    key = ("varpar", tuple(np.asarray(model._theta).round(14)))
    if key not in cache:
        try:
            cache[key] = varpar_derivatives(model)
        except FactorizationError as e:
            raise ModelSpecificationError(
                "Satterthwaite degrees of freedom are unavailable: the criterion cannot be "
                "evaluated next to θ̂ (the random effects are nearly confounded, e.g. a slope "
                "on a variable that is constant within groups); simplify the random effects "
                "or use ddf='lme4' (no df) or ddf='Kenward-Roger'"
            ) from e
    return cache[key]


def _kr(model: Any) -> Any:
    if not getattr(model, "REML", True):
        raise ValueError(
            "Kenward-Roger's method is only available for REML fits (as in lmerTest): "
            "refit with REML=True, or use ddf='Satterthwaite'"
        )
    model = _centred(model)
    cache = model.__dict__.setdefault("_inference_cache", {})
    key = ("kr", tuple(np.asarray(model._theta).round(14)))
    if key not in cache:
        cache[key] = kenward_roger_vcov(model)
    return cache[key]


def satterthwaite_ddf(model: Any, L: np.ndarray) -> float:
    """ν = 2 (l'Vl)² / (g'Ag) for one contrast row l."""
    dv = _derivs(model)
    l = np.asarray(L, dtype=float).ravel() / dv.beta_scale  # on β* (ν is unit-free)
    if np.any(l):
        l = l / np.max(np.abs(l))
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
        se = model._contrast_se(L)
        df = np.full(len(L), np.nan)
        if ddf == "Satterthwaite":
            try:
                df = np.array([satterthwaite_ddf(model, l) for l in L])
            except ModelSpecificationError as e:  # lmerTest then reports lme4's table
                warnings.warn(str(e), ConvergenceWarning, stacklevel=3)
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


def _satterthwaite_f(model: Any, L: np.ndarray, eps: float = 1.4901161193847656e-08
                     ) -> tuple[float, float, float]:
    """(F, numdf, dendf) for H0: Lβ = 0 by lmerTest's multi-df Satterthwaite.

    Only the q eigenvalues of L V_β L' above eps·d₁ are used (a rank-deficient
    L is tested on its q-dimensional row space).
    """
    dv = _derivs(model)
    A = dv.vcov_varpar()
    beta = np.asarray(model._beta) * dv.beta_scale  # β* and L* (see VarparDerivatives)
    L = L / dv.beta_scale
    big = np.max(np.abs(L), axis=1, keepdims=True)
    L = L / np.where(big > 0, big, 1.0)  # F and its df do not depend on the rows' scale
    if L.shape[0] == 1:
        PtL, d = L, np.array([float(L[0] @ dv.vcov @ L[0])])
    else:
        d, P = np.linalg.eigh(L @ dv.vcov @ L.T)
        d, P = d[::-1], P[:, ::-1]  # R's eigen: decreasing
        q = int(np.sum(d > max(eps * d[0], 0.0)))
        d, PtL = d[:q], (P.T @ L)[:q]
    q = PtL.shape[0]
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


def _kr_f(model: Any, L: np.ndarray) -> tuple[float, float, float, float]:
    """(F, numdf, dendf, F_U): KR's scaled F and the unscaled Wald F with Φ_A."""
    adj = _kr(model)
    beta = np.asarray(model._beta)
    Lb = L @ beta
    q = L.shape[0]
    wald = float(Lb @ np.linalg.solve(L @ adj.phi_adj @ L.T, Lb))
    ddf, scaling = kr_ddf(L, adj)
    return scaling * wald / q, float(q), ddf, wald / q


def anova_type3(model: Any, ddf: str = "Satterthwaite", type: int | str = 3) -> AnovaTable:
    """lmerTest's ``anova(m, type = 3)``: an F test per fixed-effect term.

    Hypothesis matrices from :mod:`.type3`: type 3 (default; main effects
    under an interaction are tested orthogonally to the interaction, as
    lmerTest), 2 (each term adjusted for the terms not containing it) or 1
    (sequential). Columns Sum Sq = Mean Sq·NumDF, Mean Sq = F_U·σ̂² (F_U the
    F statistic before Kenward–Roger's scaling), NumDF, DenDF, F value,
    Pr(>F).
    """
    ddf = normalize_ddf(ddf)
    if ddf == "lme4":
        raise ArgumentError("ddf", "lme4", "'Satterthwaite' or 'Kenward-Roger' for anova")
    kinds_by_type = {"1": (1, "I"), "i": (1, "I"), "2": (2, "II"), "ii": (2, "II"),
                     "3": (3, "III"), "iii": (3, "III")}  # fmt: skip
    key = str(type).lower()
    if key not in kinds_by_type:
        raise ArgumentError("type", type, "1, 2 or 3 (or 'I', 'II', 'III')")
    number, roman = kinds_by_type[key]
    contrasts = {1: type1_contrasts, 2: type2_contrasts, 3: type3_contrasts}[number](model)
    s2 = model._sigma**2
    rows = {}
    for name, L in contrasts.items():
        if ddf == "Kenward-Roger":
            F, q, den, F_u = _kr_f(model, L)
        else:
            F, q, den = _satterthwaite_f(model, L)
            F_u = F
        ms = F_u * s2
        rows[name] = (ms * q, ms, q, den, F, stats.f.sf(F, q, den))
    frame = pd.DataFrame.from_dict(
        rows, orient="index", columns=["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]
    )
    method = "Satterthwaite's" if ddf == "Satterthwaite" else "Kenward-Roger's"
    kinds = {"Sum Sq": "df", "Mean Sq": "df", "NumDF": "int", "DenDF": "df", "F value": "df",
             "Pr(>F)": "p"}
    return AnovaTable.build(
        frame, [f"Type {roman} Analysis of Variance Table with {method} method"], kinds
    )
