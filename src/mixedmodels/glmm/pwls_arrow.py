"""PWLS for one scalar term, or two scalar intercept terms with the first nested
in the second: the penalized system is an arrow matrix, solved in O(levels).

Term 1 (scalar column z₁, ``nl1`` levels) is eliminated level by level as in
:mod:`mixedmodels.glmm.pwls`. With the sums per level l of term 1

    T_l = Σ_{i∈l} wᵢ z₁ᵢ²,   M_l = Σ_{i∈l} wᵢ z₁ᵢ Dᵢ,   G = D'WD,   D = [X z],

and m_l = θ₁² T_l + 1, what is left of the system is

    C = G − Σ_l (θ₁²/m_l) M_l M_l'                        (one term: k × k, k = p + 1).

With a second intercept term (``nl2`` levels) in which every level l of term 1
lies in one level P(l) (broods within locations, plots within sites), term 1's
elimination leaves term 2's block diagonal, because T_l − θ₁²T_l²/m_l = T_l/m_l
and M_l − θ₁²T_l M_l/m_l = M_l/m_l:

    d_j = θ₂² Σ_{P(l)=j} T_l/m_l + 1,   B_j = θ₂ Σ_{P(l)=j} M_l/m_l,

and the rest is the arrow [[diag(d), B], [B', C]]: its factor is
diag(√d), K = B'/√d (k × nl2) and L_C = chol(C − K K'), so that

    log|L_Z|² = Σ_l log m_l + Σ_j log d_j,
    β = L_C[:p,:p]⁻ᵀ L_C[p,:p],   u₂ = (K[p] − K[:p]'β)/√d,
    u₁ = −θ₁ (T θ₂ u₂[P] + M·(β, −1))/m.

The solution equals that of the general blocked elimination; every step is a
handful of vectorized operations over the levels, without the dense
(nl2 + k)² Schur complement.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

__all__ = ["ArrowPWLS", "nested_parent"]


def nested_parent(codes1: np.ndarray, nl1: int, codes2: np.ndarray, nl2: int
                  ) -> np.ndarray | None:
    """P with P[l] the level of factor 2 of every row at level l of factor 1, or None
    when some level of factor 1 meets several levels of factor 2 (or none)."""
    parent = np.full(nl1, -1, dtype=np.intp)
    parent[codes1] = codes2
    if np.any(parent < 0) or not np.array_equal(parent[codes1], codes2):
        return None
    return parent


class ArrowPWLS:
    """The arrow-matrix solve of the module docstring for a fixed design.

    ``z1`` is term 1's column (None: ones), ``parent`` the nesting map of term 1
    in term 2 (None: one term). Products are (T, Mᵀ, G) as a tuple, with Mᵀ
    (k × nl1); :meth:`solve` returns (u, β, log|L_Z|²) as ``PWLS.solve``.
    """

    def __init__(self, codes1: np.ndarray, nl1: int, z1: np.ndarray | None, X: np.ndarray,
                 parent: np.ndarray | None = None, nl2: int = 0):
        n, p = X.shape
        self.nl1, self.p, self.k = nl1, p, p + 1
        self.parent, self.nl2 = parent, nl2
        self.z1 = None if z1 is None or bool(np.all(z1 == 1.0)) else np.asarray(z1, float)
        # rows of E: [z₁ (or 1), X', z'], row-major, so that each row's sums per level
        # are one bincount over (row, level)
        self._E = np.empty((p + 2, n))
        self._E[0] = 1.0 if self.z1 is None else self.z1
        self._E[1 : p + 1] = X.T
        self._F = np.empty_like(self._E)
        self._wD = np.empty((p + 1, n))
        self._idx1 = (np.arange(p + 2)[:, None] * nl1 + codes1[None, :]).ravel()
        if parent is not None:
            self._idxP = (np.arange(p + 1)[:, None] * nl2 + parent[None, :]).ravel()
        self._LC = np.zeros((p + 1, p + 1))

    def products(self, w: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(T, Mᵀ, G) of weights w and working response z."""
        E, F, k = self._E, self._F, self.k
        E[k] = z
        if self.z1 is None:
            np.multiply(E, w, out=F)
            wD = F[1:]
        else:
            np.multiply(E, w * self.z1, out=F)
            wD = np.multiply(E[1:], w, out=self._wD)
        TM = np.bincount(self._idx1, weights=F.reshape(-1), minlength=(k + 1) * self.nl1)
        TM = TM.reshape(k + 1, self.nl1)
        return TM[0], TM[1:], wD @ E[1:].T

    @staticmethod
    def without_x(prod: tuple[np.ndarray, np.ndarray, np.ndarray], beta: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Products of (w, z − Xβ) without X: [X z] collapses to [X z] g, g = (−β, 1)."""
        T, MT, G = prod
        g = np.append(-np.asarray(beta, float), 1.0)
        return T, (g @ MT)[None, :], np.array([[g @ G @ g]])

    def solve(self, theta: np.ndarray, prod: tuple[np.ndarray, np.ndarray, np.ndarray]
              ) -> tuple[np.ndarray, np.ndarray, float] | None:
        """(u, β, log|L_Z|²) at θ for the products ``prod``; None where a pivot is not
        positive (the caller raises)."""
        T, MT, G = prod
        p = self.p
        th1 = float(theta[0])
        m = T * (th1 * th1)
        m += 1.0
        logdet = float(np.add.reduce(np.log(m)))
        rm = np.reciprocal(m, out=m)  # 1/m_l from here on
        Mm = MT * rm
        if self.parent is not None:
            th2 = float(theta[1])
            nl2 = self.nl2
            d = np.bincount(self.parent, weights=T * rm, minlength=nl2)
            d *= th2 * th2
            d += 1.0
            logdet += float(np.add.reduce(np.log(d)))
            K = np.bincount(self._idxP, weights=Mm.reshape(-1), minlength=self.k * nl2)
            K = K.reshape(self.k, nl2)
            sd = np.sqrt(d)
            K *= th2 / sd
        beta = np.zeros(0)
        if p:
            # C = G − θ₁² Σ_l M_l M_l'/m_l (− K K'), factored for β; without X only the
            # pivot of z would be left, which the solution does not use
            C = G - (th1 * th1) * (Mm @ MT.T)
            if self.parent is not None:
                C -= K @ K.T
            LC, info = lapack.dpotrf(C, lower=1, clean=0, overwrite_a=1)
            if info != 0:  # else every pivot is positive
                return None
            self._LC = LC
            beta, info = lapack.dtrtrs(LC[:p, :p], LC[p, :p], lower=1, trans=1)
            if info != 0:
                return None
            h = beta @ MT[:p] - MT[p]  # M_l·(β, −1)
        else:
            h = -MT[0]
        rm *= -th1
        if self.parent is None:
            return np.multiply(h, rm, out=h), beta, logdet
        u2 = (K[p] - beta @ K[:p]) / sd if p else K[0] / sd
        h += T * (th2 * u2[self.parent])
        h *= rm
        return np.concatenate([h, u2]), beta, logdet

    def rx(self) -> np.ndarray:
        """R_X (p × p, upper) of the last solve."""
        p = self.p
        return np.triu(self._LC[:p, :p].T)
