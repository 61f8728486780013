"""New responses from a fitted linear mixed model, and the parametric bootstrap.

lme4's ``simulate``: y* = Xβ̂ + offset + Σ_k Z_k b*_k + ε*, with per level
b*_l = σ̂ T_k z_l, z_l ~ N(0, I) (or the conditional modes b̂ when
``use_u``) and ε*ᵢ ~ N(0, σ̂²/wᵢ). The bootstrap (lme4's ``bootMer`` and
lmeresampler's case and residual schemes) is in :mod:`.bootstrap`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["simulate"]


def simulate(model: Any, nsim: int = 1, seed: int | None = None, use_u: bool = False) -> np.ndarray:
    """``nsim`` simulated responses as an (n, nsim) array (one column per simulation)."""
    rng = np.random.default_rng(seed)
    d = model.design
    mean = d.X @ np.asarray(model._beta) + d.offset
    sigma = float(model._sigma)
    out = np.empty((d.n, nsim))
    for s in range(nsim):
        eta = mean.copy()
        for k, t in enumerate(d.terms):
            if use_u:
                b = model._b[k]
            else:
                T = model.factor.T(model._theta, k)
                b = sigma * rng.standard_normal((t.nl, T.shape[0])) @ T.T
            eta += np.einsum("ij,ij->i", t.Z, b[t.factor.codes])
        out[:, s] = eta + sigma * rng.standard_normal(d.n) / np.sqrt(d.weights)
    return out


def __getattr__(name: str) -> Any:
    """``simulate.bootstrap``, where the parametric bootstrap used to live."""
    if name == "bootstrap":
        from .bootstrap import bootstrap

        return bootstrap
    raise AttributeError(name)
