"""Responses simulated from a fitted GLMM, for power by simulation with glmer fits (simr).

With b*_k = T_k z (z ~ N(0, I), one draw per level; σ = 1 for the binomial
and Poisson families), η* = Xβ + offset + Σ_k Z_k b*_k and μ* = g⁻¹(η*):

* binomial: successes ~ Binomial(mᵢ, μ*ᵢ) with mᵢ the trials of row i; the
  response is the proportion successes/mᵢ (a glmer fit's own scale);
* Poisson: yᵢ ~ Poisson(μ*ᵢ).

β may replace the fit's β̂ (the effect size of a power analysis). The
reduced model of a likelihood-ratio test is the same GLMM without the tested
columns of X.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np

from ..errors import ModelSpecificationError

__all__ = ["reduced_glmm", "simulate_glmm", "template_on"]


def _relative_factor(model: Any, k: int) -> np.ndarray:
    """T_k from θ (lower triangle filled in lme4's column-major order)."""
    terms = model.design.terms
    start = sum(t.ntheta for t in terms[:k])
    t = terms[k]
    T = np.zeros((t.S, t.S))
    T[t.tri_index] = np.asarray(model._theta)[start : start + t.ntheta]
    return T


def template_on(model: Any, data: Any) -> Any:
    """An unfitted copy of the GLMM on other rows ``data`` carrying the fit's θ̂ and β̂
    (power along a sample size: responses are simulated and refitted on it)."""
    from ..glmm.response import glmm_design

    design, resp = glmm_design(model.design.formula.text, data, model.family,
                               weights=getattr(model, "weights_name", None),
                               offset=getattr(model, "offset_name", None))
    new = type(model)(design, resp, model.family, model.nAGQ, model.control)
    new._theta = np.asarray(model._theta, dtype=float).copy()
    new._beta = np.asarray(model._beta, dtype=float).copy()
    new.data = data  # for the type III contrasts of a term test
    return new


def simulate_glmm(model: Any, nsim: int, rng: np.random.Generator,
                  beta: np.ndarray | None = None) -> np.ndarray:
    """(n, nsim) responses from the fitted GLMM (proportions for binomial)."""
    fam = model.family
    if fam.family not in ("binomial", "poisson"):
        raise ModelSpecificationError(
            f"power simulation with glmer fits is available for the binomial and poisson "
            f"families, not {fam.family}"
        )
    d = model.design
    b = np.asarray(model._beta if beta is None else beta, dtype=float)
    mean = d.X @ b + d.offset
    trials = np.asarray(model.response.trials, dtype=float)
    out = np.empty((d.n, nsim))
    for s in range(nsim):
        eta = mean.copy()
        for k, t in enumerate(d.terms):
            bk = rng.standard_normal((t.nl, t.S)) @ _relative_factor(model, k).T
            eta += np.einsum("ij,ij->i", t.Z, bk[t.factor.codes])
        mu = fam.linkinv(eta)
        if fam.family == "binomial":
            m = np.rint(trials).astype(np.int64)
            out[:, s] = rng.binomial(m, np.clip(mu, 0.0, 1.0)) / np.maximum(m, 1)
        else:
            out[:, s] = rng.poisson(mu)
    return out


def reduced_glmm(model: Any, cols: np.ndarray) -> Any:
    """The GLMM fitted without the columns ``cols`` of X (same response and terms)."""
    d = model.design
    keep = np.setdiff1d(np.arange(d.p), cols)
    design = dataclasses.replace(d, X=d.X[:, keep], x_names=[d.x_names[j] for j in keep])
    new = type(model)(design, model.response, model.family, model.nAGQ, model.control)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return new.fit(start={"theta": model._theta, "fixef": model._beta[keep]})
