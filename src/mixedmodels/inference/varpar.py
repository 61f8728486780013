"""Derivatives in the variance parameters (θ, σ) that Satterthwaite's method needs.

lmerTest differentiates numerically, in varpar = (θ, σ),

    dev(θ, σ) = log|L_Z|² + r²(θ)/σ² + n′ log(2πσ²) [+ log|R_X|²]   (REML adds the bracket)
    V_β(θ, σ) = σ² R_X(θ)⁻¹ R_X(θ)⁻ᵀ

with n′ = n − p under REML and n under ML. Here only the θ-dependence is
differenced (central differences with one Richardson extrapolation over the
θ-grid, the scheme of numDeriv's ``genD``); the σ-dependence is analytic:

    ∂²dev/∂σ² = 6 r²/σ⁴ − 2n′/σ²,  ∂²dev/∂θᵢ∂σ = −2 (∂r²/∂θᵢ)/σ³,
    ∂²dev/∂θᵢ∂θⱼ = ∂²(log|L_Z|² [+ log|R_X|²])/∂θᵢ∂θⱼ + (∂²r²/∂θᵢ∂θⱼ)/σ²,
    ∂V_β/∂σ = 2σ R_X⁻¹R_X⁻ᵀ.

Each θ-point costs one refactorization (p × p work beyond it: never n × n),
so the whole Hessian costs 2·(2k + k(k−1)) factorizations for k = dim θ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..linalg.threads import model_limited

__all__ = ["VarparDerivatives", "varpar_derivatives"]


@dataclass
class VarparDerivatives:
    """Hessian of the deviance in (θ, σ) and the Jacobian of V_β (list over varpar).

    All in scaled units: σ in units of κ (the response scale of the
    cross-products) and V_β, its Jacobian for β* = β·``beta_scale`` (β_j d_j/κ).
    A contrast l on β is l* = l/``beta_scale`` on β*: l'β = l*'β*, l'V_β l = κ² l*'V* l*.
    Satterthwaite's df and F are invariant to these units.
    """

    varpar: np.ndarray
    hessian: np.ndarray  # (k+1, k+1)
    jacobian: list[np.ndarray]  # k+1 matrices p × p
    vcov: np.ndarray  # V_β* at the estimates
    beta_scale: np.ndarray  # (p,): β* = β · beta_scale

    def vcov_varpar(self, tol: float = 1e-6) -> np.ndarray:
        """2 H⁺ over the positive eigenvalues (lmerTest's ``vcov_varpar``)."""
        vals, vecs = np.linalg.eigh(self.hessian)
        pos = vals > tol
        return 2.0 * (vecs[:, pos] / vals[pos]) @ vecs[:, pos].T


def _richardson(a: list[Any]) -> Any:
    """numDeriv's extrapolation for steps h, h/2, …: a_k ← (4^m a_{k+1} − a_k)/(4^m − 1)."""
    a = list(a)
    for m in range(1, len(a)):
        a = [(a[k + 1] * 4**m - a[k]) / (4**m - 1) for k in range(len(a) - 1)]
    return a[0]


@model_limited
def varpar_derivatives(
    model: Any, levels: int = 2, d: float = 1e-2, eps: float = 1e-3
) -> VarparDerivatives:
    """Numerical θ-derivatives at θ̂ (steps d·|θᵢ|, or eps where θᵢ ≈ 0; ``levels`` halvings).

    The model's factor is refactored at the shifted θ and restored at θ̂ afterwards.
    """
    theta = np.asarray(model._theta, dtype=float)
    reml = bool(model.REML)
    factor = model.factor
    cp = model.cp
    shift = cp.shift
    # work in units of y/κ and β_j·d_j/κ (κ = s, d the column scales, powers of two):
    # every quantity is then O(1), whatever the scale of y and of X's columns
    kappa = shift.s
    sigma = float(model._sigma) / kappa
    ld_x_shift = 2.0 * shift.log_det_M
    k = theta.size
    p = cp.p
    nprime = cp.n - p if reml else cp.n

    def at(th: np.ndarray) -> tuple[float, float, np.ndarray]:
        ld_z, ld_x, _ = factor.update(th)
        pwrss = math.exp(factor.log_pwrss - 2.0 * shift.log_s)
        rxinv = factor.rx_inverse_scaled()
        return ld_z + (ld_x - ld_x_shift if reml else 0.0), pwrss, rxinv @ rxinv.T

    try:
        c0, w0, v0 = at(theta)
        h0 = np.abs(d * theta) + eps * (np.abs(theta) < 1e-5)
        gc, gw, hc, hw = np.zeros(k), np.zeros(k), np.zeros((k, k)), np.zeros((k, k))
        dv = []
        for i in range(k):
            ac, aw, bc, bw, av = [], [], [], [], []
            for lev in range(levels):
                h = h0[i] / 2**lev
                e = np.zeros(k)
                e[i] = h
                cp_, wp, vp = at(theta + e)
                cm, wm, vm = at(theta - e)
                ac.append((cp_ - cm) / (2 * h))
                aw.append((wp - wm) / (2 * h))
                bc.append((cp_ - 2 * c0 + cm) / h**2)
                bw.append((wp - 2 * w0 + wm) / h**2)
                av.append((vp - vm) / (2 * h))
            gc[i], gw[i] = _richardson(ac), _richardson(aw)
            hc[i, i], hw[i, i] = _richardson(bc), _richardson(bw)
            dv.append(_richardson(av))
        for i in range(k):
            for j in range(i):
                ac, aw = [], []
                for lev in range(levels):
                    hi, hj = h0[i] / 2**lev, h0[j] / 2**lev
                    e = np.zeros(k)
                    e[i], e[j] = hi, hj
                    cp_, wp, _ = at(theta + e)
                    cm, wm, _ = at(theta - e)
                    ac.append((cp_ - 2 * c0 + cm - hc[i, i] * hi**2 - hc[j, j] * hj**2)
                              / (2 * hi * hj))
                    aw.append((wp - 2 * w0 + wm - hw[i, i] * hi**2 - hw[j, j] * hj**2)
                              / (2 * hi * hj))
                hc[i, j] = hc[j, i] = _richardson(ac)
                hw[i, j] = hw[j, i] = _richardson(aw)
    finally:
        factor.update(model._theta)
    s2 = sigma**2
    H = np.zeros((k + 1, k + 1))
    H[:k, :k] = hc + hw / s2
    H[:k, k] = H[k, :k] = -2.0 * gw / sigma**3
    H[k, k] = 6.0 * w0 / s2**2 - 2.0 * nprime / s2
    jac = [s2 * m for m in dv] + [2.0 * sigma * v0]
    return VarparDerivatives(np.append(theta, sigma), H, jac, s2 * v0, shift.d / kappa)
