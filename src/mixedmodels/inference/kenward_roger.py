"""Kenward–Roger adjusted covariance of β̂ and denominator df, as pbkrtest.

With Σ = σ²W⁻¹ + Σ_k Z_k (Σ_k ⊗ I) Z_k' linear in the variance parameters
γ (each term's variances and covariances, then σ²), G_i = ∂Σ/∂γ_i,
Φ = vcov(β̂) and

    P_i = −X'Σ⁻¹G_iΣ⁻¹X,   Q_ij = X'Σ⁻¹G_iΣ⁻¹G_jΣ⁻¹X,
    I_ij = tr(Σ⁻¹G_iΣ⁻¹G_j) − 2 tr(ΦQ_ij) + Σ_ab (ΦP_i)_ab (P_jΦ)_ab,   W = 2 I⁻¹,
    Φ_A = Φ + 2 Φ [Σ_ij W_ij (Q_ij − P_iΦP_j)] Φ,

(pbkrtest's ``vcovAdj``; its last term is the elementwise sum pbkrtest
computes — not the trace tr(ΦP_iΦP_j) of the textbook formula — kept for
parity). Everything is computed in random-effect space:
with M = Λ'Z'WZΛ + I and F_m = Σ_{j=1}^{m+1} M⁻ʲ,

    (Σ⁻¹W⁻¹)^m Σ⁻¹ = σ^{−2(m+1)} (W − WZΛ F_m Λ'Z'W),

so only q × q and (q+p) × (q+p) matrices appear (q random effects), never
n × n. pbkrtest 0.5-2 builds Σ with σ²I even when the fit has prior
weights; here the weights are respected (σ²W⁻¹), so weighted fits differ
from R's (wrong) numbers there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..linalg.threads import limited, threads_for

__all__ = ["KRAdjustment", "kenward_roger_vcov", "kr_ddf"]

MAX_Q = 6000  # dense q × q algebra beyond this is too costly


@dataclass
class KRAdjustment:
    """Φ (unadjusted), Φ_A (adjusted), the P_i and W of pbkrtest."""

    phi: np.ndarray
    phi_adj: np.ndarray
    P: list[np.ndarray]
    W: np.ndarray


def _z_matrix(model: Any) -> tuple[sp.csr_matrix, list[tuple[int, int, int]]]:
    """Sparse Z (n × q, level-major per term) and (offset, nl, S) per term."""
    d = model.design
    blocks, layout, off = [], [], 0
    for t in d.terms:
        n, S = t.Z.shape
        cols = (t.factor.codes[:, None] * S + np.arange(S)[None, :]).ravel()
        rows = np.repeat(np.arange(n), S)
        blocks.append(sp.csr_matrix((t.Z.ravel(), (rows, cols)), shape=(n, t.nl * S)))
        layout.append((off, t.nl, S))
        off += t.nl * S
    return sp.hstack(blocks, format="csr"), layout


def _lambda(model: Any, layout: list[tuple[int, int, int]]) -> np.ndarray:
    q = layout[-1][0] + layout[-1][1] * layout[-1][2]
    lam = np.zeros((q, q))
    for k, (off, nl, S) in enumerate(layout):
        T = model.factor.T(model._theta, k)
        for lev in range(nl):
            s = off + lev * S
            lam[s : s + S, s : s + S] = T
    return lam


def _e_mats(layout: list[tuple[int, int, int]]) -> list[sp.csr_matrix]:
    """∂(ΛΛ'σ²)/∂γ per covariance element (s ≥ t of each term), q × q sparse."""
    q = layout[-1][0] + layout[-1][1] * layout[-1][2]
    out = []
    for off, nl, S in layout:
        base = off + np.arange(nl) * S
        for t in range(S):
            for s in range(t, S):
                r, c = base + s, base + t
                rows = np.concatenate([r, c]) if s != t else r
                cols = np.concatenate([c, r]) if s != t else c
                out.append(sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(q, q)))
    return out


@limited(lambda model: threads_for(sum(t.q for t in model.design.terms)))
def kenward_roger_vcov(model: Any) -> KRAdjustment:
    """pbkrtest's ``vcovAdj``: Φ_A and the pieces the df computation reuses."""
    d = model.design
    Z, layout = _z_matrix(model)
    q, p = Z.shape[1], d.p
    if q > MAX_Q:
        raise ValueError(
            f"Kenward-Roger needs dense {q} x {q} matrices for this model; "
            "use ddf='Satterthwaite' for models this large"
        )
    w = d.weights
    X = d.X
    WZ = Z.multiply(w[:, None]).tocsr()
    Azz = (Z.T @ WZ).toarray()
    Azx = np.asarray(WZ.T @ X)
    Axx = X.T @ (X * w[:, None])
    sigma2 = model._sigma**2
    lam = _lambda(model, layout)
    H = lam.T @ Azz @ lam
    Minv = np.linalg.inv(H + np.eye(q))
    # U = [Z X]; A_UU and B = A_UZ Λ
    Auu = np.block([[Azz, Azx], [Azx.T, Axx]])
    B = np.vstack([Azz, Azx.T]) @ lam
    F = [Minv, Minv + Minv @ Minv]
    F.append(F[1] + Minv @ Minv @ Minv)  # M⁻¹ + M⁻² + M⁻³

    def omega(m: int) -> np.ndarray:
        return (Auu - B @ F[m] @ B.T) / sigma2 ** (m + 1)

    O0, O1 = omega(0), omega(1)
    O2xx = omega(2)[q:, q:]
    S_zz, S_xz = O0[:q, :q], O0[q:, :q]
    R_zz, R_xz, R_xx = O1[:q, :q], O1[q:, :q], O1[q:, q:]
    E = _e_mats(layout)
    ng = len(E) + 1
    phi = model._vcov_unscaled * sigma2
    # per random γ_i: S_xz E_i (p × q); residual handled separately
    XE = [np.asarray((E_i.T @ S_xz.T).T) for E_i in E]  # S_xz E_i
    P = [-(xe @ S_xz.T) for xe in XE] + [-R_xx]
    Q = np.empty((ng, ng), dtype=object)
    for i in range(ng - 1):
        left = XE[i] @ S_zz
        for j in range(i, ng - 1):
            Q[i, j] = left @ XE[j].T
        Q[i, ng - 1] = XE[i] @ R_xz.T
    Q[ng - 1, ng - 1] = O2xx
    K = np.empty((ng, ng))
    ES = [np.asarray(E_i @ S_zz) for E_i in E]  # E_i S_zz
    for i in range(ng - 1):
        for j in range(i, ng - 1):
            K[i, j] = float(np.sum(ES[i] * ES[j].T))
        K[i, ng - 1] = float(E[i].multiply(R_zz).sum())
    trK = q - np.trace(Minv)
    N = np.eye(q) - Minv
    trK2 = float(np.sum(N * N.T))
    K[ng - 1, ng - 1] = (d.n - 2 * trK + trK2) / sigma2**2
    IE = np.empty((ng, ng))
    for i in range(ng):
        for j in range(i, ng):
            qij = Q[i, j]
            IE[i, j] = IE[j, i] = (
                K[i, j]
                - 2.0 * float(np.sum(phi * qij))
                + float(np.sum((phi @ P[i]) * (P[j] @ phi)))
            )
    vals = np.linalg.eigvalsh(IE)
    W = 2.0 * (np.linalg.inv(IE) if np.min(np.abs(vals)) > 1e-10 else np.linalg.pinv(IE))
    U = np.zeros((p, p))
    for i in range(ng):
        for j in range(i, ng):
            term = W[i, j] * (Q[i, j] - P[i] @ phi @ P[j])
            U += term if i == j else term + term.T
    phi_adj = phi + 2.0 * phi @ U @ phi
    return KRAdjustment(phi, phi_adj, P, W)


def kr_ddf(L: np.ndarray, adj: KRAdjustment) -> tuple[float, float]:
    """pbkrtest's ``Lb_ddf`` and F scaling for contrast rows L (q of them): (m, λ).

    With Θ = L'(LΦL')⁻¹L, u_i = ΘΦP_iΦ, A₁ = Σ_ij W_ij tr u_i tr u_j,
    A₂ = Σ_ij W_ij tr(u_i u_j), B = (A₁ + 6A₂)/(2q), g = ((q+1)A₁ − (q+4)A₂)/((q+2)A₂),
    c₁,c₂,c₃ = (g, q − g, q + 2 − g)/(3q + 2(1 − g)),
    ρ = ((1 − A₂/q)/(1 − c₂B))² (1 + c₁B)/(q(1 − c₃B)),
    m = 4 + (q + 2)/(qρ − 1) and λ = m(1 − A₂/q)/(m − 2).
    """
    L = np.atleast_2d(L)
    V0 = adj.phi
    q = L.shape[0]
    Theta = L.T @ np.linalg.solve(L @ V0 @ L.T, L)
    TV = Theta @ V0
    u = [TV @ Pi @ V0 for Pi in adj.P]
    A1 = A2 = 0.0
    n = len(u)
    for i in range(n):
        for j in range(i, n):
            e = 1.0 if i == j else 2.0
            A1 += e * adj.W[i, j] * np.trace(u[i]) * np.trace(u[j])
            A2 += e * adj.W[i, j] * float(np.sum(u[i] * u[j].T))
    B = (A1 + 6.0 * A2) / (2.0 * q)
    g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
    den = 3 * q + 2 * (1 - g)
    c1, c2, c3 = g / den, (q - g) / den, (q + 2 - g) / den
    v0 = 1 + c1 * B
    v1 = 1 - c2 * B
    v2 = 1 - c3 * B
    v0 = 0.0 if abs(v0) < 1e-10 else v0
    ratio = (1 - A2 / q) / v1 if v1 != 0 else 0.0
    rho = (1.0 / q) * ratio**2 * v0 / v2
    df2 = 4 + (q + 2) / (q * rho - 1)
    scaling = 1.0 if abs(df2 - 2) < 1e-2 else df2 * (1 - A2 / q) / (df2 - 2)
    return float(df2), float(scaling)
