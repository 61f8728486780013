"""Method-of-moments variance components and backfitting GLS for crossed random intercepts.

The model, for K grouping factors f = 1..K (crossed or not),

    yᵢ = xᵢ'β + Σ_f a_f[f(i)] + eᵢ,   a_f[l] ~ (0, σ_f²),  eᵢ ~ (0, σ_E²), all independent,

is fitted from :class:`~mixedmodels.moments.sums.GroupSums` alone, in time
linear in the number of rows N (one pass for the sums) plus iterations over
the level-pair counts (at most N of them).

**Variance components: Gao & Owen (2017, EJS 11, "Efficient moment
calculations for variance components in large unbalanced crossed random
effects models").** For residuals r = y − Xβ̂ and each factor f the
U-statistic of within-level squared differences, weighted by 1/n_l as in
the paper,

    U_f = Σ_l (1/n_f[l]) · ½ Σ_{i,j: f(i)=f(j)=l} (rᵢ − rⱼ)² = Σ_l Σ_{f(i)=l} (rᵢ − r̄_l)²,

and the all-pairs statistic U_0 = (1/N) · ½ Σ_{i,j} (rᵢ − rⱼ)² = Σᵢ (rᵢ − r̄)².
Under the model (exactly for r = y − Xβ with the true β), since
E(rᵢ − rⱼ)² = 2σ_E² + 2 Σ_g σ_g² [g(i) ≠ g(j)] for i ≠ j,

    E U_f = σ_E² (N − q_f) + Σ_{g≠f} σ_g² (N − Σ_{l,m} C_fg[l,m]² / n_f[l]),
    E U_0 = σ_E² (N − 1)   + Σ_g   σ_g² (N − Σ_l n_g[l]² / N),

with q_f levels of f and C_fg the level-pair counts (C_fg[l,m] ∈ {0, 1}
without replicated cells, when the σ_g² coefficient of E U_f is N − q_f,
the paper's formula). Equating U to E U gives K+1 linear equations in
(σ_1² … σ_K², σ_E²). In the sums, with a = (−β̃, 1) on v = [X̃ ỹ]:
U_f = a'(G − S_f' diag(1/n_f) S_f) a and U_0 = a'(G − s s'/N) a.
A negative σ_f² is set to 0 (with a warning), as the paper suggests.

**Fixed effects: backfitting GLS, Ghosh, Hastie & Owen (2022, Ann. Statist.
50, "Backfitting for large scale crossed random effects regressions").**
With V = σ_E² I + Σ_f σ_f² Z_f Z_f' and λ_f = σ_E²/σ_f²,
V⁻¹ = (I − Z (Z'Z + Λ)⁻¹ Z')/σ_E², so for every column of v

    σ_E² v'V⁻¹v = G − (Z'v)' B,   (Z'Z + Λ) B = Z'v,

where Z'Z has blocks diag(n_f + λ_f) and C_fg. B is found by backfitting
(block Gauss–Seidel over the factors, as in the paper):

    B_f ← (S_f − Σ_{g≠f} C_fg B_g) / (n_f + λ_f),

and after each sweep an exact line search along the directions that add a
constant to one factor's effects and subtract it from another's (they leave
Zb unchanged, so only Λ penalises them and Gauss–Seidel alone moves along
them slowly). With M = G − Σ_f S_f' B_f: β̂ = M_xx⁻¹ M_xy and the BLUPs
b̂ = B_y − B_X β̂ given the components. Standard errors are the plug-in GLS
covariance of the paper, vcov(β̂) = σ̂_E² M_xx⁻¹ = (X'V̂⁻¹X)⁻¹: it treats the
estimated components as known (their error is O(N^{-1/2}) relative and
enters β̂'s covariance only at second order).

**Order of the steps** (the papers': moments from OLS residuals, then GLS):
β̂_OLS → components from its residuals → β̂_GLS → components again from
the GLS residuals → final β̂_GLS, b̂, vcov. The moments of residuals differ
from those of the errors by O(p/N) relative; no correction is made.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConvergenceWarning, ModelSpecificationError, SingularFitWarning
from .sums import GroupSums

__all__ = [
    "MomentsEstimate",
    "expected_moments",
    "moment_statistics",
    "variance_components",
    "backfit",
    "gls",
    "fit_moments",
]

BACKFIT_TOL = 1e-10  # relative residual of (Z'Z + Λ)B = Z'v, per column
BACKFIT_MAXITER = 1000


@dataclass
class MomentsEstimate:
    """A moment fit in the units of v = [X̃ ỹ] (``sums.shift`` maps them back)."""

    beta_t: np.ndarray  # β̃
    vcov_t: np.ndarray  # σ̃_E² M_xx⁻¹
    sigma2_t: np.ndarray  # (σ̃_1² … σ̃_K², σ̃_E²)
    b_t: list[np.ndarray]  # BLUPs per factor (ỹ units)
    raw_sigma2_t: np.ndarray  # the moment solution before negative components were set to 0
    U: np.ndarray  # (U_1 … U_K, U_0) at the final β̃_GLS's predecessor
    E: np.ndarray  # (K+1)×(K+1) expectation matrix
    iterations: list[int] = field(default_factory=list)  # backfitting sweeps per GLS solve


def expected_moments(sums: GroupSums) -> np.ndarray:
    """E: row f (U_f), row K (U_0); column g (σ_g²), column K (σ_E²). See the module."""
    K, N = sums.K, float(sums.n)
    E = np.zeros((K + 1, K + 1))
    for f in range(K):
        nf = sums.n_levels[f]
        E[f, K] = N - np.count_nonzero(nf)
        for g in range(K):
            if g == f:
                continue
            C = sums.pair(f, g)
            row_sq = np.asarray(C.multiply(C).sum(axis=1)).ravel()
            E[f, g] = N - float(np.sum(row_sq[nf > 0] / nf[nf > 0]))
    for g in range(K):
        E[K, g] = N - float(np.sum(sums.n_levels[g] ** 2)) / N
    E[K, K] = N - 1.0
    return E


def _within(sums: GroupSums) -> list[np.ndarray]:
    """Per factor, G − S_f' diag(1/n_f) S_f, then G − s s'/N: U = a'(·)a."""
    out = []
    for nf, S in zip(sums.n_levels, sums.S):
        inv = np.divide(1.0, nf, out=np.zeros_like(nf), where=nf > 0)
        out.append(sums.G - S.T @ (S * inv[:, None]))
    out.append(sums.G - np.outer(sums.s, sums.s) / sums.n)
    return out


def moment_statistics(sums: GroupSums, beta_t: np.ndarray) -> np.ndarray:
    """(U_1 … U_K, U_0) of the residuals ỹ − X̃β̃."""
    a = np.append(-np.asarray(beta_t, dtype=float), 1.0)
    return np.array([float(a @ W @ a) for W in _within(sums)])


def variance_components(
    sums: GroupSums, beta_t: np.ndarray, names: list[str], E: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(σ² clipped at 0, σ² as solved, U): the moment equations E σ² = U at β̃."""
    E = expected_moments(sums) if E is None else E
    U = moment_statistics(sums, beta_t)
    if np.linalg.cond(E) > 1e12:
        raise ModelSpecificationError(
            "the moment equations of method='moments' are singular for this design: the "
            f"grouping factors {', '.join(names)} cannot be told apart by within-level "
            "differences (each level of one factor meets a single level of another); "
            "fit the exact model (method='REML') or drop a factor"
        )
    raw = np.linalg.solve(E, U)
    if not raw[-1] > 0.0:
        raise ModelSpecificationError(
            "the moment estimate of the residual variance is not positive "
            f"({raw[-1]:.3g} in scaled units): the design leaves no within-cell variation "
            "to estimate it; fit the exact model (method='REML') instead"
        )
    sig = raw.copy()
    for f, nm in enumerate(names):
        if sig[f] < 0.0:
            warnings.warn(
                f"the moment estimate of the variance of {nm} is negative "
                f"({raw[f] / raw[-1]:.3g} × σ²_E); it is set to 0 (boundary fit)",
                SingularFitWarning,
                stacklevel=3,
            )
            sig[f] = 0.0
    return sig, raw, U


class _Normal:
    """The blocks of Z'Z + Λ for the factors with σ_f² > 0: diagonals and pair counts."""

    def __init__(self, sums: GroupSums, sigma2: np.ndarray, active: list[int]):
        self.active = active
        self.diag = [sums.n_levels[f] + sigma2[-1] / sigma2[f] for f in active]
        self.lam = [sigma2[-1] / sigma2[f] for f in active]
        self.q = [len(sums.n_levels[f]) for f in active]
        self.C = {(i, j): sums.pair(f, g) for i, f in enumerate(active)
                  for j, g in enumerate(active) if i != j}

    def residual(self, R: list[np.ndarray], B: list[np.ndarray]) -> list[np.ndarray]:
        """R − (Z'Z + Λ) B, block by block."""
        out = []
        for i in range(len(B)):
            r = R[i] - self.diag[i][:, None] * B[i]
            for j in range(len(B)):
                if j != i:
                    r = r - self.C[(i, j)] @ B[j]
            out.append(r)
        return out

    def line_search(self, r: list[np.ndarray], B: list[np.ndarray]) -> None:
        """Minimise ½B'AB − B'R along d_k = (+1 on factor 0, −1 on factor k), k ≥ 1.

        Z d_k = 0, so A d_k = Λ d_k: the (K−1)² system has d_j'Λd_k = λ₀q₀ + [j=k] λ_k q_k
        and right side d_k'r = Σ r₀ − Σ r_k (per column). Updates B and r in place.
        """
        k = len(B)
        if k < 2:
            return
        H = np.full((k - 1, k - 1), self.lam[0] * self.q[0])
        H[np.diag_indices(k - 1)] += [self.lam[j] * self.q[j] for j in range(1, k)]
        tot = [ri.sum(axis=0) for ri in r]
        rhs = np.array([tot[0] - tot[j] for j in range(1, k)])
        c = np.linalg.solve(H, rhs)  # (k−1, columns)
        B[0] += c.sum(axis=0)
        r[0] -= self.lam[0] * c.sum(axis=0)
        for j in range(1, k):
            B[j] -= c[j - 1]
            r[j] += self.lam[j] * c[j - 1]


def backfit(
    sums: GroupSums,
    sigma2: np.ndarray,
    R: list[np.ndarray],
    B0: list[np.ndarray] | None = None,
    tol: float = BACKFIT_TOL,
    maxiter: int = BACKFIT_MAXITER,
) -> tuple[list[np.ndarray], int]:
    """Solve (Z'Z + Λ) B = R over the factors with σ_f² > 0 by backfitting.

    ``R`` holds per factor a (q_f, m) right side (Z_f'v); factors with σ_f² = 0
    get B_f = 0. Returns B per factor (all K) and the number of sweeps.
    """
    K = sums.K
    active = [f for f in range(K) if sigma2[f] > 0.0]
    out = [np.zeros_like(R[f]) for f in range(K)]
    if not active:
        return out, 0
    A = _Normal(sums, sigma2, active)
    Ra = [R[f] for f in active]
    B = [np.zeros_like(r) if B0 is None else B0[f].copy() for f, r in zip(active, Ra)]
    scale = np.maximum(np.sqrt(sum(np.sum(r * r, axis=0) for r in Ra)), 1e-300)
    it = 0
    while True:
        it += 1
        for i in range(len(B)):
            acc = Ra[i].copy()
            for j in range(len(B)):
                if j != i:
                    acc -= A.C[(i, j)] @ B[j]
            B[i] = acc / A.diag[i][:, None]
        r = A.residual(Ra, B)
        A.line_search(r, B)
        rel = float(np.max(np.sqrt(sum(np.sum(x * x, axis=0) for x in r)) / scale))
        if rel <= tol:
            break
        if it >= maxiter:
            warnings.warn(
                f"backfitting stopped after {maxiter} sweeps with relative residual "
                f"{rel:.2g} (tolerance {tol:.1g}); the GLS estimates are approximate",
                ConvergenceWarning,
                stacklevel=3,
            )
            break
    for f, b in zip(active, B):
        out[f] = b
    return out, it


def gls(
    sums: GroupSums, sigma2: np.ndarray, B0: list[np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], int]:
    """(β̃, M_xx, B, sweeps): GLS given the components, M = G − Σ_f S_f'B_f."""
    p = sums.p
    B, it = backfit(sums, sigma2, sums.S, B0)
    M = sums.G - sum((S.T @ b for S, b in zip(sums.S, B)), np.zeros_like(sums.G))
    Mxx = 0.5 * (M[:p, :p] + M[:p, :p].T)
    Mxy = 0.5 * (M[:p, p] + M[p, :p])
    beta = np.linalg.solve(Mxx, Mxy) if p else np.zeros(0)
    return beta, Mxx, B, it


def fit_moments(sums: GroupSums, names: list[str]) -> MomentsEstimate:
    """The estimator of the module: OLS → moments → GLS → moments → GLS."""
    p = sums.p
    if p:
        Gxx = sums.G[:p, :p]
        beta = np.linalg.solve(Gxx, sums.G[:p, p])
    else:
        beta = np.zeros(0)
    E = expected_moments(sums)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularFitWarning)  # only the final step warns
        sig, _, _ = variance_components(sums, beta, names, E)
    its = []
    beta, _, B, it = gls(sums, sig, None)
    its.append(it)
    sig, raw, U = variance_components(sums, beta, names, E)
    beta, Mxx, B, it = gls(sums, sig, B)
    its.append(it)
    vcov = sig[-1] * np.linalg.inv(Mxx) if p else np.zeros((0, 0))
    # BLUPs given the components: (Z'Z + Λ) b = Z'(ỹ − X̃β̃) = B_y − B_X β̃
    b = [Bf[:, p] - Bf[:, :p] @ beta for Bf in B]
    if not np.all(np.isfinite(beta)) or not math.isfinite(float(sig[-1])):
        raise ModelSpecificationError("the moment fit produced non-finite estimates")
    return MomentsEstimate(beta, vcov, sig, b, raw, U, E, its)
