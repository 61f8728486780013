"""The exact REML start of balanced designs: ANOVA (expected mean squares) estimates.

Model: y = μ1 + Σ_k Z_k b_k + ε with scalar intercept terms, b_k ~ N(0, σ_k² I),
ε ~ N(0, σ² I), no prior weights (or equal ones, w: then θ_k = σ_k/(σ√w)).
Let P_k average y over the levels of factor k (n_k rows per level) and P_0
over all rows, so Z_kZ_k' = n_k P_k.
The design is *balanced* here when every factor has equal level counts and
every pair of factors is either

* crossed: every pair of levels (a, b) occurs n/(nl_a nl_b) times, so
  P_a P_b = P_0; or
* nested: each level of the finer factor f lies in one level of the coarser
  c (nl_c < nl_f), so P_c P_f = P_c.

Then the P_k commute and ℝⁿ splits into orthogonal strata: the mean
range(P_0); W_k = range(P_k) ⊖ (range(P_0) ⊕ ⊕_{c coarser than k} W_c) of
dimension d_k = nl_k − 1 − Σ_c d_c; the residual W_0 of dimension
d_0 = n − 1 − Σ_k d_k. V = σ²I + Σ_k σ_k² n_k P_k acts on W_k as

    λ_k = σ² + n_k σ_k² + Σ_{f finer than k} n_f σ_f²,    λ_0 = σ²,

and the REML criterion (X = 1 removes the mean stratum) is, up to constants,
Σ_s d_s log λ_s + SS_s/λ_s with SS_s = ‖proj_{W_s} y‖². Its minimum over the
λ_s is λ_s = MS_s = SS_s/d_s; the map (σ², σ_k²) ↦ λ is triangular and
invertible, so where the solution has every σ_k² > 0 it is the REML
optimum itself: θ_k = σ_k/σ (Searle, Casella & McCulloch 1992, §6.8).
The sums of squares come from level sums of the centred response:
SSM_k = Σ_l (Σ_{i in l} e_i)²/n_k = ‖(P_k − P_0)y‖², SS_k = SSM_k − Σ_{c coarser} SS_c,
SS_0 = ‖e‖² − Σ_k SS_k.

Where the stationary point has some σ_k² ≤ 0 the optimum is on the boundary:
in the precisions ψ_s = 1/λ_s the criterion Σ_s (SS_s ψ_s − d_s log ψ_s) is
strictly convex and the constraints σ_k² ≥ 0 are linear (λ_k ≥ λ of the next
finer factor or λ_0: the factors finer than k form a chain), so the optimum is
unique, and it is the stationary point of one face (the model without some
terms, whose strata merge into the next finer kept one). Every face
(2^K − 1 sub-models) is solved and, among those with all their σ_k² > 0, the
one of least criterion Σ_s d_s log MS_s (+ constants) is the optimum.

ML keeps the mean stratum (dimension 1, SS 0 at β̂), whose eigenvalue is
σ² + Σ_k n_k σ_k². Where one factor t is coarser than every other (a single
factor, or a nesting such as Pastes' ``batch/cask``) that is λ_t, so the ML
optimum is the same solution with d_t + 1 in place of d_t (on the boundary
too: every subset of such factors is a nesting again); otherwise (crossed
factors) the ML optimum has no closed form and the REML solution is returned
as a close start (fewer evaluations than the moment start). Where the
design is not balanced in this sense, :func:`anova_start` returns ``None``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["AnovaStart", "anova_start"]


def _equal_counts(codes: np.ndarray, size: int) -> int:
    """The common count of each of ``size`` cells, or 0 where they differ (or one is empty)."""
    counts = np.bincount(codes, minlength=size)
    first = int(counts[0])
    return first if first > 0 and bool(np.all(counts == first)) else 0


def _nested_in(fine: np.ndarray, coarse: np.ndarray, nl_fine: int) -> bool:
    """Whether each level of ``fine`` lies within one level of ``coarse``."""
    parent = np.empty(nl_fine, dtype=coarse.dtype)
    parent[fine] = coarse
    return bool(np.array_equal(parent[fine], coarse))


class AnovaStart:
    """``start(y)``: θ̂ by expected mean squares (the module docstring) for the responses
    of one balanced design; the design's structure is analysed once (:func:`anova_start`).

    ``coarser[k]``: the factors coarser than k (k nested in them), ``order`` the terms
    from coarsest to finest, ``n_per_level[k]`` = n_k, ``dof[k]`` = d_k, ``dof0`` = d_0;
    ``weight``: the common prior weight w (residual variance σ²/w, so θ_k = σ_k/(σ√w)).
    """

    def __init__(
        self,
        codes: list[np.ndarray],
        n_levels: list[int],
        coarser: list[list[int]],
        n: int,
        weight: float = 1.0,
    ):
        self.codes = codes
        self.weight = weight
        self.n_levels = n_levels
        self.coarser = coarser
        self.n = n
        self.n_per_level = [n // nl for nl in n_levels]
        # a coarser factor has fewer levels: sorting by levels puts every c before its k
        self.order = sorted(range(len(codes)), key=n_levels.__getitem__)
        dof = [0] * len(codes)
        for k in self.order:
            dof[k] = n_levels[k] - 1 - sum(dof[c] for c in coarser[k])
        self.dof = dof
        self.dof0 = n - 1 - sum(dof)
        self.finer = [[f for f in range(len(codes)) if k in coarser[f]] for k in range(len(codes))]
        tops = [k for k in range(len(codes)) if len(self.finer[k]) == len(codes) - 1]
        self.top = tops[0] if tops else None  # coarser than every other factor

    @property
    def identifiable(self) -> bool:
        """Every stratum has a degree of freedom (else some σ_k² is not estimable this way)."""
        return self.dof0 > 0 and all(d > 0 for d in self.dof)

    def optimal(self, reml: bool) -> bool:
        """Whether a θ this start returns is the optimum of the criterion (the module
        docstring: always for REML; for ML where one factor is coarser than all others)."""
        return reml or self.top is not None

    def __call__(self, y: np.ndarray, reml: bool = True) -> np.ndarray | None:
        """θ̂ (lme4's order: the design's terms) of the REML (``reml``) or ML criterion for
        the response y (offset removed): the interior solution, else the best face's (some
        θ_k = 0). ``None`` where neither exists (a zero sum of squares). For ML without a
        factor coarser than all others: the REML solution, a start only."""
        # numpy's sums, not BLAS dot products (as in mixedmodels.start: a model and its
        # pickled copy must start, and so end, at the same θ to the last bit)
        e = y - y.mean()
        return self.from_level_sums(self._level_sums(e), float((e * e).sum()), reml)

    def _level_sums(self, e: np.ndarray) -> list[np.ndarray]:
        """Σ_{i in l} eᵢ per level of every factor."""
        return [np.bincount(c, weights=e, minlength=nl)
                for c, nl in zip(self.codes, self.n_levels)]

    def from_level_sums(self, sums: list[np.ndarray], ee: float, reml: bool = True
                        ) -> np.ndarray | None:
        """:meth:`__call__` from the level sums Σ_{i in l} eᵢ of every factor and ‖e‖², e the
        centred response: all the response enters by (so sufficient statistics serve)."""
        if not self.optimal(reml):
            reml = True
        best = self._solve_sums(sums, ee, reml)
        if best is None and self.optimal(reml):
            faces = (self._face(keep) for keep in _proper_subsets(len(self.codes)))
            found = []
            for face, keep in faces:
                got = face._solve_sums([sums[k] for k in keep], ee, reml)
                if got is not None:
                    found.append((*got, keep))
            best = min(found, default=None, key=lambda c: c[0])
            if best is None:
                return None
            value, var_kept, sigma2, keep = best
            var = [0.0] * len(self.codes)
            for k, v in zip(keep, var_kept):
                var[k] = v
            best = (value, var, sigma2)
        if best is None:
            return None
        _, var, sigma2 = best
        return np.sqrt(np.array(var) / (self.weight * sigma2))

    def _face(self, keep: tuple[int, ...]) -> tuple[AnovaStart, tuple[int, ...]]:
        """The structure of the model with only the factors ``keep`` (the others' θ = 0:
        their strata merge into the next finer kept factor's or the residual)."""
        faces = self.__dict__.setdefault("_faces", {})
        if keep not in faces:
            pos = {k: i for i, k in enumerate(keep)}
            faces[keep] = AnovaStart(
                [self.codes[k] for k in keep], [self.n_levels[k] for k in keep],
                [[pos[c] for c in self.coarser[k] if c in pos] for k in keep], self.n,
                self.weight)
        return faces[keep], keep

    def _solve(self, e: np.ndarray, reml: bool) -> tuple[float, list[float], float] | None:
        """:meth:`_solve_sums` for the centred response e."""
        return self._solve_sums(self._level_sums(e), float((e * e).sum()), reml)

    def _solve_sums(self, sums: list[np.ndarray], ee: float, reml: bool
                    ) -> tuple[float, list[float], float] | None:
        """(Σ_s d_s log MS_s, σ_k², σ²) at the stationary point of the criterion over the
        strata of this structure for the centred response e (its level sums per factor
        and ‖e‖²), ``None`` where some σ_k² ≤ 0. ML: the mean stratum joins the coarsest
        factor's (or the residual's)."""
        ss = [0.0] * len(self.codes)
        for k in self.order:
            ssm = float((sums[k] * sums[k]).sum()) / self.n_per_level[k]
            ss[k] = ssm - sum(ss[c] for c in self.coarser[k])
        ss0 = ee - sum(ss)
        dof0 = self.dof0 + (0 if reml or self.codes else 1)
        sigma2 = ss0 / dof0
        if not sigma2 > 0.0:
            return None
        value = dof0 * math.log(sigma2)
        var = [0.0] * len(self.codes)
        for k in reversed(self.order):  # finest first: λ_k needs the finer σ_f²
            dof = self.dof[k] + (0 if reml or k != self.top else 1)
            lam = ss[k] / dof
            rest = sigma2 + sum(self.n_per_level[f] * var[f] for f in self.finer[k])
            var[k] = (lam - rest) / self.n_per_level[k]
            if not var[k] > 0.0:
                return None
            value += dof * math.log(lam)
        return value, var, sigma2


def _proper_subsets(k: int) -> list[tuple[int, ...]]:
    """The subsets of range(k) other than range(k) itself, as sorted tuples."""
    return [tuple(i for i in range(k) if mask >> i & 1) for mask in range((1 << k) - 1)]


def anova_start(design: Any) -> AnovaStart | None:
    """The ANOVA start of ``design`` where it is balanced in the module docstring's sense
    (intercept-only fixed part, scalar intercept terms, equal weights), else ``None``.
    Costs a few ``bincount`` passes over the rows, once per design."""
    d = design
    X = d.X
    if X.shape[1] != 1 or not bool(np.all(X == 1.0)):
        return None
    weight = float(d.weights[0]) if d.has_weights else 1.0
    if d.has_weights and not bool(np.all(d.weights == weight)):
        return None
    terms = d.terms
    if any(t.S != 1 or not bool(np.all(t.Z == 1.0)) for t in terms):
        return None
    n = d.n
    codes = [t.factor.codes for t in terms]
    nls = [t.nl for t in terms]
    if any(_equal_counts(c, nl) == 0 for c, nl in zip(codes, nls)):
        return None
    coarser: list[list[int]] = [[] for _ in terms]
    for a in range(len(terms)):
        for b in range(a):
            na, nb = nls[a], nls[b]
            if na * nb <= n and _equal_counts(codes[a].astype(np.int64) * nb + codes[b],
                                              na * nb):
                continue  # crossed
            if na > nb and _nested_in(codes[a], codes[b], na):
                coarser[a].append(b)
            elif nb > na and _nested_in(codes[b], codes[a], nb):
                coarser[b].append(a)
            else:
                return None
    start = AnovaStart(codes, nls, coarser, n, weight)
    return start if start.identifiable else None
