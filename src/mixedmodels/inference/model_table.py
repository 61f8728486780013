"""A model-selection table by AICc, as ``AICcmodavg::aictab``.

For a model with K estimated parameters (fixed effects, covariance
parameters and σ), log-likelihood ℓ (the REML one for REML fits, as
``logLik``) on n observations,

    AICc = −2ℓ + 2K + 2K(K + 1)/(n − K − 1),

and over the R models of the table, with Δ_r = AICc_r − min AICc,
the model likelihood exp(−Δ_r/2) and the Akaike weight
w_r = exp(−Δ_r/2) / Σ_s exp(−Δ_s/2). Rows are sorted by AICc; ``Cum.Wt``
accumulates the weights.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ModelSpecificationError

__all__ = ["aicc", "model_table"]


def aicc(model: Any) -> float:
    """Second-order AIC: AIC + 2K(K + 1)/(n − K − 1) (``AICcmodavg::AICc``)."""
    k, n = model.df_model, model.nobs
    if n - k - 1 <= 0:
        return math.inf
    return -2.0 * model.loglik + 2.0 * k + 2.0 * k * (k + 1) / (n - k - 1)


def model_table(*models: Any, names: list[str] | None = None, sort: bool = True) -> pd.DataFrame:
    """aictab's columns (Modnames, K, AICc, Delta_AICc, ModelLik, AICcWt, LL, Cum.Wt)
    plus AIC, the number of random-effect terms (``n_re_terms``) and of random effects
    (``n_ranef``, the columns of Z), one row per model.

    Models must be fitted to the same rows (same n); REML fits that differ in their
    fixed effects give a warning, as their restricted likelihoods are not comparable.
    """
    if len(models) == 1 and isinstance(models[0], (list, tuple)):
        models = tuple(models[0])
    if not models:
        raise ModelSpecificationError("model_table needs at least one fitted model")
    if names is None:
        names = [f"Mod{i}" for i in range(1, len(models) + 1)]
    if len(names) != len(models):
        raise ModelSpecificationError(f"{len(names)} names for {len(models)} models")
    ns = {m.nobs for m in models}
    if len(ns) > 1:
        raise ModelSpecificationError(
            f"the models were fitted to different numbers of observations {sorted(ns)}: "
            "AICc compares models of the same data only"
        )
    reml = [bool(getattr(m, "REML", False)) for m in models]
    fixed = {tuple(m.design.x_names) for m in models}
    if any(reml) and len(fixed) > 1:
        warnings.warn("REML fits with different fixed effects are compared: refit them with "
                      "REML=False to compare fixed effects by AICc", UserWarning, stacklevel=2)
    crit = np.array([aicc(m) for m in models])
    delta = crit - crit.min()
    lik = np.exp(-0.5 * delta)
    out = pd.DataFrame({
        "Modnames": names,
        "K": [int(m.df_model) for m in models],
        "AICc": crit,
        "Delta_AICc": delta,
        "ModelLik": lik,
        "AICcWt": lik / lik.sum(),
        "LL": [float(m.loglik) for m in models],
        "AIC": [float(m.aic) for m in models],
        "n_re_terms": [len(m.design.terms) for m in models],
        "n_ranef": [int(sum(t.nl * t.Z.shape[1] for t in m.design.terms)) for m in models],
    })
    if sort:
        out = out.sort_values("AICc", kind="stable").reset_index(drop=True)
    out.insert(8, "Cum.Wt", out["AICcWt"].cumsum())
    return out
