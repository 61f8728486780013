"""Starting θ from method-of-moments estimates (fewer evaluations than lme4's start).

With OLS residuals e (weights w, variance v = Σwe²/Σw):

* :func:`moment_theta` (the start of large models with scalar terms): per
  term the between-level variance σ_k² = var(ē_l) − v·mean(1/n_l) (at
  least 1% of v), σ₀² = v − Σσ_k² (at least 10% of v), θ_k = √(σ_k²/σ₀²).
* :class:`MomentStart` (the start of the small models BFGS fits and of
  their refits): one backfitting pass, grouping factor by grouping factor in lme4's
  order of terms, regresses the current residual r on Z_k (the columns of all terms
  on that factor) within each level, b̂_l = G_l⁻¹h_l with G_l = Σ w z z',
  h_l = Σ w z r (levels with G_l of full rank and rows to spare), and takes
  the fit out of r. σ₀² is the final Σwr² over its degrees of freedom
  (n less S per fitted level, and for REML less r_W = rank of X after the
  same pass: the fixed effects within levels), Σ̂_k = B_k/m' − σ₀² mean(G_l⁻¹)
  with B_k = Σ_l (b̂_l − b̄)(b̂_l − b̄)' over the m fitted levels, m' = m − (p − r_W)/S
  for REML (the fixed effects between levels) and m' = m for ML, its
  eigenvalues floored at 1% of the largest (a diagonal of 1% of v where no two
  levels can be fitted), and θ_k the lower triangle of chol(Σ̂_k/σ₀²), Σ̂_k
  a term's own diagonal block of the factor's Σ̂. For
  one term in a balanced design whose fixed effects are Z's columns and
  columns within levels (sleepstudy's ``Days + (Days | Subject)`` or
  ``Days + (1 | Subject)``) this is the ANOVA estimator, which is the REML
  optimum itself, and with m' = m the ML optimum.

Only a starting point: the optimum does not depend on it, the number of
evaluations does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["MomentStart", "fitted_levels", "moment_theta"]

_FLOOR = 0.01  # smallest variance (share of v) or eigenvalue (share of the largest)


class MomentStart:
    """``start(y)``: θ₀ by the backfitted within-level regressions (the module docstring)
    for the responses of one design. Everything but the response's
    own sums is formed once: the OLS map (X'WX)⁻¹X'W and, per grouping factor, w·z, the
    per-level G_l, which levels can be fitted and their G_l⁻¹; a call is the OLS residual,
    S ``bincount`` sums and two gathers per factor, and the S × S covariance algebra.

    Terms on the same grouping factor (``(x || g)``, or ``(1 | g) + (0 + x | g)``) are
    regressed on together, on their columns side by side, and each takes its own
    diagonal block of the joint Σ̂: the within-level fit is then not split between
    terms by the order of the pass."""

    def __init__(self, design: Any):
        d = design
        self.X = d.X
        self.w = w = d.weights
        sw = np.sqrt(w)
        self.ols = np.linalg.pinv(d.X * sw[:, None]) * sw[None, :]  # β̂ = ols @ y
        self.sum_w = float(w.sum())
        self.n = d.n
        self.n_terms = len(d.terms)
        self.groups: list[tuple[list[tuple[int, Any, int]], int, tuple | None]] = []
        dof = float(d.n)
        for members in _same_factor(d.terms):
            parts, offset = [], 0
            for k in members:
                parts.append((k, d.terms[k], offset))
                offset += d.terms[k].S
            t0 = d.terms[members[0]]
            nl, c = t0.nl, t0.factor.codes
            Z = np.hstack([d.terms[k].Z for k in members]) if len(members) > 1 else t0.Z
            S = Z.shape[1]
            wz = [w * Z[:, i] for i in range(S)]
            G = np.empty((nl, S, S))
            for i in range(S):
                for j in range(i + 1):
                    G[:, i, j] = G[:, j, i] = np.bincount(c, weights=wz[i] * Z[:, j],
                                                          minlength=nl)
            fitted = fitted_levels(G, np.bincount(c, minlength=nl))
            if fitted is None:
                self.groups.append((parts, S, None))
                continue
            ok, Gi = fitted
            dof -= S * int(ok.sum())
            self.groups.append((parts, S, (c, nl, Z, wz, Gi, ok, Gi[ok].mean(axis=0))))
        self.dof = dof
        self.rank_within = self._rank_within(d.X, sw)
        self.p = d.X.shape[1]

    def _backfit(self, r: np.ndarray) -> list[np.ndarray | None]:
        """One pass of the within-level regressions over the grouping factors: r (n,) or
        (n, m) is updated in place to its residual; returns b̂ of the fitted levels."""
        fits: list[np.ndarray | None] = []
        for _, _, pre in self.groups:
            if pre is None:
                fits.append(None)
                continue
            c, nl, Z, wz, Gi, ok, _ = pre
            cols = r.reshape(r.shape[0], -1)
            for j in range(cols.shape[1]):
                h = np.stack([np.bincount(c, weights=a * cols[:, j], minlength=nl)
                              for a in wz], axis=1)
                b = (Gi * h[:, None, :]).sum(axis=2)  # 0 on the levels not fitted
                cols[:, j] -= (Z * b[c]).sum(axis=1)
            fits.append(b[ok] if r.ndim == 1 else None)
        return fits

    def _rank_within(self, X: np.ndarray, sw: np.ndarray) -> int:
        """r_W: the rank of √w X after the within-level regressions (its part within levels).
        A column of X that is a column of some Z_k whose levels are all fitted has no part
        within levels (sleepstudy's ``Days + (Days | Subject)``: r_W = 0 with no arithmetic)."""
        zcols = [pre[2][:, i] for _, _, pre in self.groups if pre is not None and pre[5].all()
                 for i in range(pre[2].shape[1])]  # every level fitted: nothing of z left
        rest = [j for j in range(X.shape[1])
                if not any(np.array_equal(X[:, j], z) for z in zcols)]
        if not rest:
            return 0
        X = X[:, rest]
        Xr = np.array(X, dtype=float)
        self._backfit(Xr)
        scale = np.sqrt((X * X * (sw * sw)[:, None]).sum(axis=0))
        scale[scale == 0.0] = 1.0
        sv = np.linalg.svd(Xr * sw[:, None] / scale, compute_uv=False)
        return int((sv > 1e-8 * max(1.0, float(sv.max()))).sum())

    def __call__(self, y: np.ndarray, reml: bool = True) -> np.ndarray:
        """θ₀ for the response y (offset removed), lme4's order; ``reml``: the degrees of
        freedom of the REML criterion, else of ML's."""
        # numpy's sums, not BLAS dot products: those round by the operands' alignment, so
        # a start (and the fit from it) would differ between a model and its pickled copy
        e = y - (self.X * (self.ols * y).sum(axis=1)).sum(axis=1)
        w = self.w
        v = float((w * e * e).sum()) / self.sum_w
        r = e.copy()
        fits = self._backfit(r)
        return self._theta(v, float((w * r * r).sum()), fits, reml)

    def _theta(self, v: float, rss: float, fits: list[np.ndarray | None], reml: bool
               ) -> np.ndarray:
        """θ₀ from v = Σwe²/Σw of the OLS residual, rss = Σwr² after the pass and its b̂."""
        dof = self.dof - self.rank_within if reml else self.dof
        s0 = rss / self.sum_w * self.n / dof if dof > 0 else v
        s0 = max(s0, _FLOOR * v, 1e-300)
        between = self.p - self.rank_within if reml else 0
        theta: list[np.ndarray] = [np.empty(0)] * self.n_terms
        for (parts, S, pre), b in zip(self.groups, fits):
            if pre is None:
                joint = np.eye(S) * (_FLOOR * v)
            else:
                bc = b - b.mean(axis=0)
                m = max(b.shape[0] - between / S, 1.0)
                joint = (bc[:, :, None] * bc[:, None, :]).sum(axis=0) / m - s0 * pre[-1]
            for k, t, off in parts:
                cov = joint[off : off + t.S, off : off + t.S]
                if pre is not None:
                    vals, vecs = np.linalg.eigh(0.5 * (cov + cov.T))
                    top = float(vals.max())
                    vals = np.maximum(vals, _FLOOR * top) if top > 0 else np.full(t.S, _FLOOR * v)
                    cov = (vecs * vals) @ vecs.T
                T = np.linalg.cholesky(cov / s0 + 1e-12 * np.eye(t.S))
                theta[k] = T[t.tri_index]
        return np.concatenate(theta)


def fitted_levels(G: np.ndarray, n_l: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(which levels are fitted, G_l⁻¹ there and 0 elsewhere) for the per-level G_l
    (nl × S × S) and row counts n_l: the levels with G_l of full rank and rows to spare
    (n_l > S); None where fewer than two are."""
    nl, S = G.shape[0], G.shape[1]
    det = np.linalg.det(G)
    scale = np.prod(np.maximum(np.einsum("lii->li", G), 1e-300), axis=1)
    ok = (np.asarray(n_l) > S) & (det > 1e-10 * scale)
    if ok.sum() < 2:
        return None
    Gi = np.zeros((nl, S, S))
    Gi[ok] = np.linalg.inv(G[ok])
    return ok, Gi


def _same_factor(terms: list[Any]) -> list[list[int]]:
    """Indices of the terms grouped by grouping factor (same name and codes), in order of
    first appearance."""
    groups: list[list[int]] = []
    for k, t in enumerate(terms):
        for g in groups:
            first = terms[g[0]]
            if first.group == t.group and np.array_equal(first.factor.codes, t.factor.codes):
                g.append(k)
                break
        else:
            groups.append([k])
    return groups


def moment_theta(design: Any, y: np.ndarray) -> np.ndarray:
    """θ₀ for ``design`` and response ``y`` (offset removed) in lme4's order by one-way
    means of scalar terms (the module docstring)."""
    d = design
    w = d.weights
    sw = np.sqrt(w)
    beta = np.linalg.lstsq(d.X * sw[:, None], y * sw, rcond=None)[0]
    e = y - d.X @ beta
    v = float(np.average(e**2, weights=w))
    comps = []
    for t in design.terms:
        c = t.factor.codes
        n_l = np.bincount(c, minlength=t.nl).astype(float)
        means = np.bincount(c, weights=e * t.Z[:, 0], minlength=t.nl) / np.maximum(n_l, 1)
        vb = float(np.var(means) - v * np.mean(1.0 / np.maximum(n_l, 1)))
        comps.append(max(vb, _FLOOR * v))
    s2 = max(v - sum(comps), 0.1 * v)
    return np.sqrt(np.array(comps) / s2)
