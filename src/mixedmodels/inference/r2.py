"""Nakagawa's marginal and conditional R² of a mixed model, as ``performance::r2_nakagawa``.

With σ²_f = var(Xβ̂) (sample variance over the rows of the fit), σ²_r the
random-effect variance and σ²_ε the residual (distribution-specific) variance,

    R²_marginal = σ²_f / (σ²_f + σ²_r + σ²_ε),
    R²_conditional = (σ²_f + σ²_r) / (σ²_f + σ²_r + σ²_ε).

Following insight 0.19 (performance 0.10):

* σ²_r = Σ_k (1/n) Σᵢ z_kᵢ' Σ_k z_kᵢ over the random terms whose grouping
  factor has fewer levels than rows, where z_kᵢ holds the columns of X named
  as the term's effects (an intercept is added if X lacks one; effects with
  no column of that name are left out) — Johnson's (2014) random-slope form;
* σ²_ε = σ̂² (LMM); for binomial π²/3 (logit), 1 (probit), π²/6 (cloglog);
  for Poisson with the log link ln(1 + 1/μ₀) (the "lognormal" approximation),
  μ₀ = exp(β̂₀) of the null model (the same random terms, intercept only),
  0.25 with the sqrt link; for Gamma σ̂²;
* GLMM terms with one level per row (observation-level random effects) add
  their variance to σ²_ε (overdispersion), LMM ones are left out;
* a singular fit (some diagonal θ below 1e-5) has no σ²_r: the conditional
  R² is NaN and the marginal one σ²_f / (σ²_f + σ²_ε), as performance.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ModelSpecificationError

__all__ = ["r2", "variance_components_r2"]

SINGULAR_TOL = 1e-5


def _term_variance(model: Any, k: int) -> float:
    """(1/n) Σᵢ zᵢ' Σ_k zᵢ with zᵢ the X columns named as the term's effects."""
    d = model.design
    t = d.terms[k]
    x_names = list(d.x_names)
    X = d.X
    if not any(nm.startswith("(Intercept)") for nm in x_names):
        X = np.column_stack([np.ones(d.n), X])
        x_names = ["(Intercept)"] + x_names
    keep = [i for i, nm in enumerate(t.names) if nm in x_names]
    S = model._term_cov(k)[np.ix_(keep, keep)]
    Z = X[:, [x_names.index(t.names[i]) for i in keep]]
    return float(np.einsum("ij,jk,ik->", Z, S, Z) / d.n)


def _is_singular(model: Any) -> bool:
    theta = np.asarray(model._theta)
    diag = np.concatenate([t.theta_lower for t in model.design.terms]) == 0
    return bool(np.any(np.abs(theta[diag]) < SINGULAR_TOL))


def _null_intercept(model: Any) -> float:
    """β̂₀ of the model refitted with its random terms and an intercept only (insight's
    ``null_model``), formula offsets kept."""
    from ..glmm import glmer

    f = model.design.formula
    tspec = model.design.fixed_spec.term_spec
    parts = [f"({b.expr} | {b.group})" for b in f.bars]
    parts += [f"offset({o})" for o in tspec.offsets]
    data = getattr(model, "data", None)
    if data is None:
        raise ModelSpecificationError("the null model of R² needs the fit's data; fit with "
                                      "mm.glmer(formula, data, ...)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        null = glmer(f"{f.response} ~ 1 + {' + '.join(parts)}", data, family=model.family,
                     weights=getattr(model, "weights_name", None),
                     offset=getattr(model, "offset_name", None), nAGQ=model.nAGQ)
    return float(null._beta[0])


def _distribution_variance(model: Any) -> float:
    fam = model.family
    if isinstance(fam, str):
        return float(model._sigma) ** 2
    name, link = fam.family, fam.link.name
    if name == "binomial":
        table = {"logit": math.pi**2 / 3, "probit": 1.0, "cloglog": math.pi**2 / 6}
    elif name == "poisson":
        if link == "log":
            mu = math.exp(_null_intercept(model))
            return math.log1p(1.0 / mu)
        table = {"sqrt": 0.25}
    elif name == "Gamma":
        return float(model._sigma) ** 2
    else:
        table = {}
    if link not in table:
        raise ModelSpecificationError(
            f"Nakagawa's R² has no distribution-specific variance for the {name} family "
            f"with the {link} link"
        )
    return table[link]


def variance_components_r2(model: Any) -> dict[str, float]:
    """σ²_f, σ²_r, σ²_ε (with σ²_distribution and σ²_dispersion) as insight's
    ``get_variance``; σ²_r is NaN for a singular fit."""
    d = model.design
    var_fixed = float(np.var(d.X @ np.asarray(model._beta), ddof=1))
    is_glmm = not isinstance(model.family, str)
    obs = [k for k, t in enumerate(d.terms) if t.nl == d.n]
    rest = [k for k in range(len(d.terms)) if k not in obs]
    var_random = math.nan if _is_singular(model) else sum(_term_variance(model, k)
                                                           for k in rest)
    var_disp = sum(_term_variance(model, k) for k in obs) if is_glmm else 0.0
    var_dist = _distribution_variance(model)
    return {"var_fixed": var_fixed, "var_random": var_random,
            "var_residual": var_dist + var_disp, "var_distribution": var_dist,
            "var_dispersion": var_disp}


def r2(model: Any) -> pd.Series:
    """Nakagawa's ``conditional`` and ``marginal`` R² (``performance::r2_nakagawa``)."""
    v = variance_components_r2(model)
    vf, vr, ve = v["var_fixed"], v["var_random"], v["var_residual"]
    if math.isnan(vr):
        warnings.warn("the fit is singular: the random-effect variance is not used and the "
                      "conditional R² is NaN, as performance::r2_nakagawa", stacklevel=2)
        cond, marg = math.nan, vf / (vf + ve)
    else:
        cond, marg = (vf + vr) / (vf + vr + ve), vf / (vf + vr + ve)
    return pd.Series({"conditional": cond, "marginal": marg}, name="R2_nakagawa")
