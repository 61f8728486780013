"""The starts of ``lmer``'s small fits (:mod:`mixedmodels.start`, :mod:`mixedmodels.start_anova`)
from the cross-product blocks.

MomentStart's estimator touches the rows only through weighted sums of
products of columns of C = [Z X y]. Write a residual as r = C a, by its
coefficient vector a (length N = q + p + 1). With A = C'WC:

    Σ_{i in level l} w_i z_i r_i = (A a)[the columns of level l],    Σ w r² = a'Aa,

and taking a within-level fit Z_g b̂ out of r is a[the columns of g] −= b̂.
So the OLS residual (a = [0, −β̂, 1], X'WX β̂ = X'Wy), the backfitting pass
(b̂_l = G_l⁻¹ h_l with G_l = A[l's columns, l's columns], h_l = (A a)[l's
columns]), Σwr², and r_W, the rank of X after the same pass (the eigenvalues
of a_X'A a_X, a_X = [0, I_p, 0] backfitted), come from A alone. Besides A the
estimator needs the row count n_l of every level (which levels leave rows
to spare, n_l > S) and Σw: the sufficient statistics of a fit out of memory
(:mod:`mixedmodels.scale`) hold both, so such a fit starts where ``lmer``
on the same rows starts.

The ANOVA start (:class:`~mixedmodels.start_anova.AnovaStart`) of a balanced
design of scalar intercept terms without weights reads its structure off A
too: there Z_a'Z_b holds the row count of every pair of levels, so a pair
of factors is crossed where all its nl_a·nl_b counts are equal and a is
nested in b where each row of Z_a'Z_b has one nonzero; the level sums of
the centred response are (A a)[the columns of k] with a = [0, −ȳ, 1].

A is the shifted and scaled system (:mod:`mixedmodels.crossprod.centering`):
X̃ spans the same columns as X and ỹ = (y − c)/s, so the residuals, the
ranks and the ratios θ are those of the raw columns (the variances are
those of ỹ, which θ does not see). The rank uses a Gram matrix, whose
rounding is that of squared singular values; its threshold is set on that
scale (:data:`_RANK_TOL`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .start import MomentStart, fitted_levels
from .start_anova import AnovaStart

__all__ = ["BlockMomentStart", "block_anova_start", "term_columns"]

_RANK_TOL = 1e-10  # an eigenvalue of the scaled Gram matrix below this share: rank lost


class BlockMomentStart(MomentStart):
    """θ₀ of :class:`~mixedmodels.start.MomentStart` for the response of ``A`` from the
    dense cross-products ``A`` (N × N in the layout of
    :class:`~mixedmodels.linalg.dense.DenseCriterion`: each term's columns level-major,
    then X̃, then ỹ), ``counts`` (the row count of every level, per term) and ``sum_w``
    (Σ wᵢ). Call with ``reml`` (no response: it is A's)."""

    def __init__(self, A: np.ndarray, terms: Sequence[Any], p: int, n: int,
                 counts: Sequence[np.ndarray], sum_w: float):
        self.A = A
        N = A.shape[0]
        q = N - p - 1
        self.sum_w, self.n, self.p, self.n_terms = float(sum_w), int(n), int(p), len(terms)
        self.x_cols = q + np.arange(p)
        offsets = term_columns(terms)
        self.groups = []
        dof = float(n)
        for members in _same_group(terms):
            parts, width = [], 0
            for k in members:
                parts.append((k, terms[k], width))
                width += terms[k].S
            t0 = terms[members[0]]
            nl = t0.nl
            # the columns of level l, the group's terms side by side: (nl, S) indices
            cols = np.hstack([offsets[k] + terms[k].S * np.arange(nl)[:, None]
                              + np.arange(terms[k].S)[None, :] for k in members])
            G = A[cols[:, :, None], cols[:, None, :]]
            fitted = fitted_levels(G, counts[members[0]])
            if fitted is None:
                self.groups.append((parts, width, None))
                continue
            ok, Gi = fitted
            dof -= width * int(ok.sum())
            self.groups.append((parts, width, (cols, Gi, ok, Gi[ok].mean(axis=0))))
        self.dof = dof
        self.rank_within = self._block_rank_within()

    def _backfit(self, a: np.ndarray) -> list[np.ndarray | None]:
        """The pass of :meth:`MomentStart._backfit` on coefficient vectors a (N,) or (N, m),
        updated in place; returns b̂ of the fitted levels (for a vector)."""
        fits: list[np.ndarray | None] = []
        coef = a.reshape(a.shape[0], -1)
        for _, width, pre in self.groups:
            if pre is None:
                fits.append(None)
                continue
            cols, Gi, ok, _ = pre
            flat = cols.reshape(-1)
            h = (self.A[flat] @ coef).reshape(cols.shape[0], width, -1)
            b = np.einsum("lij,ljm->lim", Gi, h)  # 0 on the levels not fitted
            coef[flat] -= b.reshape(flat.size, -1)
            fits.append(b[ok, :, 0] if a.ndim == 1 else None)
        return fits

    def _block_rank_within(self) -> int:
        """r_W from the eigenvalues of a_X'A a_X after the pass, columns scaled to unit norm."""
        p = self.p
        if not p:
            return 0
        aX = np.zeros((self.A.shape[0], p))
        aX[self.x_cols, np.arange(p)] = 1.0
        self._backfit(aX)
        gram = aX.T @ self.A @ aX
        norm = np.sqrt(np.diag(self.A)[self.x_cols])
        norm[norm == 0.0] = 1.0
        eig = np.linalg.eigvalsh(gram / np.outer(norm, norm))
        return int((eig > _RANK_TOL * max(1.0, float(eig.max()))).sum())

    def __call__(self, y: Any = None, reml: bool = True) -> np.ndarray:  # type: ignore[override]
        """θ₀ for the response of A, lme4's order (``y`` must be None: A holds it)."""
        if y is not None:
            raise ValueError("the block moment start is that of A's own response")
        A = self.A
        a = _ols_residual(A, self.p)
        v = float(a @ A @ a) / self.sum_w
        fits = self._backfit(a)
        return self._theta(v, float(a @ A @ a), fits, reml)


def _same_group(terms: Sequence[Any]) -> list[list[int]]:
    """Indices of the terms grouped by grouping factor (its name), in order of appearance."""
    groups: dict[str, list[int]] = {}
    for k, t in enumerate(terms):
        groups.setdefault(t.group, []).append(k)
    return list(groups.values())


def term_columns(terms: Sequence[Any]) -> np.ndarray:
    """The first column of each term in A (terms level-major, one after another)."""
    return np.cumsum([0] + [t.nl * t.S for t in terms])


def _ols_residual(A: np.ndarray, p: int) -> np.ndarray:
    """a with C a = y − Xβ̂ (X'WXβ̂ = X'Wy) for the columns C = [Z X y] of A."""
    a = np.zeros(A.shape[0])
    a[-1] = 1.0
    xc = A.shape[0] - 1 - p + np.arange(p)
    if p:
        a[xc] = -np.linalg.lstsq(A[np.ix_(xc, xc)], A[xc, -1], rcond=None)[0]
    return a


class _BlockAnova(AnovaStart):
    """:class:`~mixedmodels.start_anova.AnovaStart` whose level sums come from A."""

    A: np.ndarray
    first: np.ndarray

    def __call__(self, y: Any = None, reml: bool = True) -> np.ndarray | None:
        """θ̂ of the balanced design for A's own response (``y`` must be None)."""
        if y is not None:
            raise ValueError("the block ANOVA start is that of A's own response")
        a = _ols_residual(self.A, 1)
        Aa = self.A @ a
        sums = [Aa[f : f + nl] for f, nl in zip(self.first, self.n_levels)]
        return self.from_level_sums(sums, float(a @ Aa), reml)


def block_anova_start(A: np.ndarray, terms: Sequence[Any], x_names: Sequence[str], n: int,
                      counts: Sequence[np.ndarray], weighted: bool) -> AnovaStart | None:
    """:func:`~mixedmodels.start_anova.anova_start` from A (the module docstring): the
    start where the design is balanced, intercept-only and unweighted, else None."""
    intercepts = all(t.S == 1 and list(t.names) == ["(Intercept)"] for t in terms)
    if weighted or list(x_names) != ["(Intercept)"] or not intercepts:
        return None
    nls = [t.nl for t in terms]
    if any(np.any(c != c[0]) or c[0] <= 0 for c in counts):
        return None
    first = term_columns(terms)
    coarser: list[list[int]] = [[] for _ in terms]
    for a in range(len(terms)):
        for b in range(a):
            pairs = A[first[a] : first[a] + nls[a], first[b] : first[b] + nls[b]]
            if nls[a] * nls[b] <= n and pairs[0, 0] > 0 and np.all(pairs == pairs[0, 0]):
                continue  # crossed
            if nls[a] > nls[b] and np.all((pairs != 0).sum(axis=1) == 1):
                coarser[a].append(b)
            elif nls[b] > nls[a] and np.all((pairs != 0).sum(axis=0) == 1):
                coarser[b].append(a)
            else:
                return None
    start = _BlockAnova([np.empty(0, dtype=np.intp)] * len(terms), nls, coarser, n)
    start.A, start.first = A, first[:-1]
    return start if start.identifiable else None
