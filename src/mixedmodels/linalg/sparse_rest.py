"""The rest block as a sparse matrix: CHOLMOD on the Schur complement of term 1.

Split the rest rows into the random effects z (terms 2..K, scalar) and the
border x = [X̃ ỹ] (p + 1 rows). With C = blockdiag_l(T₁ M_l⁻¹ T₁') from term 1
and d the diagonal of Λ_z,

    S_zz = D (A22_zz − A21_z C A21_z') D + I     (sparse, pattern fixed: SchurPattern)
    S_zx = D (A22_zx − A21_z C A21_x')           (rz × (p+1), dense)
    S_xx = A22_xx − A21_x C A21_x'               ((p+1) × (p+1))

S_zz = P'L L'P is refactored per θ by CHOLMOD (``cvxopt.cholmod``; the AMD
ordering and symbolic analysis are done once, in
:mod:`mixedmodels.linalg.rest_plan`), and the border by the dense Schur
complement

    K = S_zz⁻¹ S_zx,   L_t L_t' = S_xx − S_zx' K,

so log|L_Z|² = log|L_11|² + 2 Σ log diag L, and L_t is exactly the trailing
block of the dense path's L22 (R̃_X' above ỹ's row √pwrss). The solution of
the rest rows is β̃ = R̃_X⁻¹ (its right-hand side in L_t's last row) and
ũ_z = K_ỹ − K_X̃ β̃.

Conditional variances need Σ = S_zz⁻¹ only on the pattern of S_zz (level
pairs): columns of Σ come from solves against blocks of the identity.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from ..crossprod import CrossProducts
from .blocked import BlockedCholesky, FactorizationError
from .level_blocks import SMALL_LEVEL_S, LevelBlocks
from .rest_plan import RestPlan, plan_rest
from .symbolic import level_pairs
from .threads import threads_for

__all__ = ["SparseRestCholesky"]

_SOLVE_BLOCK = 256  # identity columns per solve when forming Σ on the pattern


class SparseRestCholesky(BlockedCholesky):
    """L(θ) with a sparse rest block; the interface of :class:`BlockedCholesky`."""

    sparse_rest = True

    def __init__(
        self,
        cp: CrossProducts,
        tri_index: list[tuple[np.ndarray, np.ndarray]],
        dense: bool | None = None,
    ):
        self._init_common(cp, tri_index)
        rz = self.rz
        plan: RestPlan | None = getattr(cp, "rest_plan", None)
        A22 = sp.csc_matrix(cp.A22)
        A21 = sp.csc_matrix(cp.A21)
        if plan is None or plan.pattern is None or plan.rz != rz:
            dims = [(d.nl, d.S) for d in cp.dims]
            plan = plan_rest(dims, cp.p, A21, A22[:rz, :rz], "sparse")
        self.plan = plan
        pat = plan.pattern
        assert pat is not None and plan.perm is not None and plan.counts is not None
        self.pattern = pat
        self.G = pat.G
        self.a22 = pat.a22
        self.a22_zx = A22[:rz, rz:].toarray()
        self.a22_xx = A22[rz:, rz:].toarray()
        self.A21z = A21[:rz].tocsr()
        self.A21x = A21[rz:].toarray()
        self.diag_pos = np.flatnonzero(pat.rows == pat.cols)
        if self.diag_pos.size != rz:
            raise FactorizationError("the rest block's pattern lacks diagonal entries")
        self._attach_cholmod()
        self.blas_threads = threads_for(0, plan.counts.flops)
        self.dense_update = False
        self.level_blocks = LevelBlocks(cp.A11, None) if self.S1 in SMALL_LEVEL_S else None
        self._d = np.ones(rz)
        self._K = np.zeros((rz, self.p + 1))
        self._Lt = np.zeros((self.p + 1, self.p + 1))
        self.L22 = None

    def _attach_cholmod(self) -> None:
        """CHOLMOD's symbolic factor of the pattern under the plan's ordering."""
        import cvxopt
        from cvxopt import cholmod

        pat, rz = self.pattern, self.rz
        self._I = cvxopt.matrix(pat.rows.astype(np.int64))
        self._J = cvxopt.matrix(pat.cols.astype(np.int64))
        # S_zz's values are replaced in place per θ (CVXOPT keeps them in CSC order,
        # the pattern's own)
        self._S = cvxopt.spmatrix(cvxopt.matrix(np.ones(pat.npairs)), self._I, self._J, (rz, rz))
        self._cvx = cvxopt
        self._cholmod = cholmod
        cholmod.options["supernodal"] = 2  # LL' (the diagonal of L gives the log-determinant)
        perm = cvxopt.matrix(self.plan.perm.astype(np.int64))
        self._F = cholmod.symbolic(self._S, p=perm, uplo="L")

    def __getstate__(self) -> dict:
        """Picklable state: CHOLMOD's factor is rebuilt on unpickling."""
        state = self.__dict__.copy()
        for key in ("_I", "_J", "_S", "_cvx", "_cholmod", "_F"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._attach_cholmod()
        if np.all(np.isfinite(self.theta)):
            self._update(self.theta)

    # -- per evaluation -------------------------------------------------------
    def _term1(self, theta: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        """(stacked C_l, log|L_11|², C A21_x' as q₁ × (p+1)) at θ."""
        nl1, S1 = self.nl1, self.S1
        if self.scalar1:
            t1 = theta[0]
            m = t1 * t1 * self.a11 + 1.0
            self.m1 = m
            c = t1 * t1 / m
            return c, float(np.log(m).sum()), self.A21x.T * c[:, None]
        T1 = self.T(theta, 0)
        if self.level_blocks is not None:  # closed form (mixedmodels.linalg.level_blocks)
            done = self.level_blocks.term_blocks(T1)
            if done is None:
                raise FactorizationError("a level's block of term 1 is not positive definite")
            self.Lm1 = None  # built on demand by solve() / cond_var_spherical()
            C, logdet1 = done
        else:
            Lm = self._term1_chol(T1)
            self.Lm1 = Lm
            logdet1 = 2.0 * float(np.log(Lm.reshape(nl1, -1)[:, :: S1 + 1]).sum())
            Linv = np.linalg.inv(Lm)
            C = T1 @ (Linv.transpose(0, 2, 1) @ Linv) @ T1.T  # (nl1, S1, S1)
        cx = C @ self.A21x.T.reshape(nl1, S1, -1)
        return C.reshape(-1), logdet1, cx.reshape(nl1 * S1, -1)

    def _update(self, theta: np.ndarray) -> tuple[float, float, float]:
        theta = np.array(theta, dtype=float)
        self.theta = theta
        c, logdet1, cx = self._term1(theta)
        pat = self.pattern
        d = np.append(theta, 1.0)[self.rest_diag_map[: self.rz]]
        self._d = d
        vals = self.a22 - self.G @ c
        vals *= d[pat.rows]
        vals *= d[pat.cols]
        vals[self.diag_pos] += 1.0
        cvx = self._cvx
        S = self._S
        S.V = cvx.matrix(vals)
        try:
            self._cholmod.numeric(S, self._F)
        except ArithmeticError as exc:
            raise FactorizationError(f"CHOLMOD: S_zz is not positive definite ({exc})") from None
        ld_l = 2.0 * float(np.log(np.asarray(self._cholmod.diag(self._F))).sum())
        B = d[:, None] * (self.a22_zx - self.A21z @ cx)
        Sxx = self.a22_xx - self.A21x @ cx
        K = cvx.matrix(B)
        self._cholmod.solve(self._F, K)
        self._K = np.asarray(K)
        tail = Sxx - B.T @ self._K
        Lt, info = lapack.dpotrf(tail, lower=1, clean=1)
        if info != 0:
            raise FactorizationError(f"dpotrf info={info} in the fixed-effect block")
        self._Lt = Lt
        p = self.p
        logdet_z = logdet1 + ld_l
        logdet_x = 2.0 * float(np.log(Lt.diagonal()[:p]).sum())
        logdet_x, pwrss, self.log_pwrss = self.original_units(logdet_x, float(Lt[p, p]))
        return logdet_z, logdet_x, pwrss

    # -- after convergence ----------------------------------------------------
    def _tail_factor(self) -> np.ndarray:
        return self._Lt

    def _rest_solution(self) -> np.ndarray:
        """w = [ũ_z; β̃]: β̃ from L_t, ũ_z = K_ỹ − K_X̃ β̃."""
        p = self.p
        Lt = self._Lt
        if p:
            beta = lapack.dtrtrs(Lt[:p, :p], Lt[p, :p], lower=1, trans=1)[0]
        else:
            beta = np.zeros(0)
        u = self._K[:, p] - self._K[:, :p] @ beta
        return np.concatenate([u, beta])

    def sigma_on_pattern(self) -> np.ndarray:
        """Σ = S_zz⁻¹ at the pattern's entries, by solves against identity blocks."""
        pat, rz = self.pattern, self.rz
        out = np.empty(pat.npairs)
        starts = np.searchsorted(pat.cols, np.arange(0, rz + _SOLVE_BLOCK, _SOLVE_BLOCK))
        cvx = self._cvx
        for b, j0 in enumerate(range(0, rz, _SOLVE_BLOCK)):
            j1 = min(j0 + _SOLVE_BLOCK, rz)
            E = np.zeros((rz, j1 - j0), order="F")
            E[np.arange(j0, j1), np.arange(j1 - j0)] = 1.0
            X = cvx.matrix(E)
            self._cholmod.solve(self._F, X)
            Xn = np.asarray(X)
            sel = slice(starts[b], starts[b + 1])
            out[sel] = Xn[pat.rows[sel], pat.cols[sel] - j0]
        return out

    def cond_var_spherical(self) -> list[np.ndarray]:
        """Per term, per level: the S×S blocks of (L_Z L_Z')⁻¹ (u-scale).

        Term 1: M_l⁻¹ + B_l'ΣB_l with B = D A21_z T₁ M⁻¹ (level blocks); the
        scalar rest terms: diag Σ. Both need Σ only on the pattern of S_zz.
        """
        pat, nl1, S1 = self.pattern, self.nl1, self.S1
        if self.scalar1:
            Minv = (1.0 / self.m1)[:, None, None]
            Bt = self.A21z.multiply((self.theta[0] / self.m1)[None, :])
        else:
            Lm = self._lm1()
            Minv = np.linalg.inv(Lm @ Lm.transpose(0, 2, 1))
            TM = self.T(self.theta, 0) @ Minv  # (nl1, S1, S1): T₁ M_l⁻¹
            Bt = self.A21z @ sp.block_diag(list(TM), format="csr")
        Bt = sp.csc_matrix(sp.diags(self._d) @ Bt)
        sigma = self.sigma_on_pattern()
        ri, rj, cidx, val = level_pairs(Bt, nl1, S1)
        pos = np.searchsorted(pat.cols.astype(np.int64) * self.rz + pat.rows,
                              rj.astype(np.int64) * self.rz + ri)
        h = np.bincount(cidx, weights=val * sigma[pos], minlength=nl1 * S1 * S1)
        h = h.reshape(nl1, S1, S1)
        off = ri != rj
        h_off = np.bincount(cidx[off], weights=(val * sigma[pos])[off], minlength=nl1 * S1 * S1)
        h = h + h_off.reshape(nl1, S1, S1).transpose(0, 2, 1)  # the pairs (j, i), j < i
        out = [Minv + h]
        diag = sigma[self.diag_pos]
        o = 0
        for dk in self.cp.dims[1:]:
            out.append(diag[o : o + dk.q].reshape(dk.nl, 1, 1))
            o += dk.q
        return out

    def describe(self) -> str:
        """The rest plan in words (sizes, estimates, the choice)."""
        return self.plan.describe()
