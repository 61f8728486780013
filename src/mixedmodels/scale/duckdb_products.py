"""Sums of products of model columns from the sums of a smaller set of monomials.

Every block of A is, per level, a sum of products of model columns,
Σ wᵢ uᵢ vᵢ with u, v among x̃ⱼ, ỹ and the Z columns. A Z column that is a
column of X (the intercept, a covariate with a random slope) is affine in the
scanned x̃ⱼ = (xⱼ − mⱼ)/dⱼ: z = xⱼ = dⱼ x̃ⱼ + mⱼ. Its products are then
combinations of sums of monomials in the *basis* columns (x̃, ỹ, w and the Z
columns that are not columns of X), e.g.

    Σ w z x̃ₖ = dⱼ Σ w x̃ⱼ x̃ₖ + mⱼ Σ w x̃ₖ,
    Σ w z²   = dⱼ² Σ w x̃ⱼ² + 2 dⱼ mⱼ Σ w x̃ⱼ + mⱼ² Σ w,

so a scan for ``y ~ x + (x | g)`` sums the six monomials 1, x̃, ỹ, x̃², x̃ỹ, ỹ²
per level instead of ten products. The sums stay those of centred columns
(:mod:`mixedmodels.crossprod.centering`): no term adds cancellation that the
direct sum Σ w z x̃ₖ would not have.

A product or monomial is written as its :func:`~mixedmodels.scale.duckdb_scans.product_key`:
the sorted tuple of the SQL of its factors, ``()`` for the constant 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from ..crossprod import Centering
from .sql import literal

__all__ = ["Combination", "affine_columns", "expand", "ProductPlan"]

Combination = dict[tuple[str, ...], float]
"""A linear combination of monomials: monomial (sorted factor SQL) → coefficient."""


def affine_columns(
    x_sql: Sequence[str], xt_sql: Sequence[str], shift: Centering
) -> dict[str, Combination]:
    """The SQL of each non-constant X column x_j as d_j x̃_j + m_j (x̃_j's SQL in ``xt_sql``).

    Columns whose shift or scale is not finite (±inf among the first rows) keep
    their own SQL, so that their sums are the direct ones."""
    one = literal(1.0)
    out: dict[str, Combination] = {}
    for j, (raw, xt) in enumerate(zip(x_sql, xt_sql)):
        if xt == one or raw == one:
            continue
        m, d = float(shift.m[j]), float(shift.d[j])
        if not (np.isfinite(m) and np.isfinite(d) and d != 0.0):
            continue
        comb: Combination = {(xt,): d}
        if m != 0.0:
            comb[()] = m
        out[raw] = comb
    return out


def expand(key: tuple[str, ...], affine: Mapping[str, Combination]) -> Combination:
    """A product (its factors' SQL) as a combination of monomials of basis columns."""
    terms: Combination = {(): 1.0}
    for factor in key:
        comb = affine.get(factor, {(factor,): 1.0})
        out: Combination = {}
        for mono, c in terms.items():
            for mono2, c2 in comb.items():
                k = tuple(sorted(mono + mono2))
                out[k] = out.get(k, 0.0) + c * c2
        terms = out
    return {mono: c for mono, c in terms.items() if c != 0.0}


class ProductPlan:
    """The products a scan must deliver, as combinations of the monomials it sums."""

    def __init__(self, keys: Iterable[tuple[str, ...]], affine: Mapping[str, Combination]):
        self.expansions = {k: expand(k, affine) for k in dict.fromkeys(keys)}
        monos = {m for comb in self.expansions.values() for m in comb if m}
        self.monomials: list[tuple[str, ...]] = sorted(monos, key=lambda m: (len(m), m))

    def evaluate(
        self, count: np.ndarray, sums: Mapping[tuple[str, ...], np.ndarray]
    ) -> dict[tuple[str, ...], np.ndarray]:
        """Per product, Σ_monomial c · (its sums); ``count`` is the sum of the monomial 1.
        Sums that are ±inf (infinite values in a column) give ±inf or NaN, which
        :func:`mixedmodels.scale.design.check_finite` then traces to the column."""
        out: dict[tuple[str, ...], np.ndarray] = {}
        with np.errstate(invalid="ignore", over="ignore"):
            for key, comb in self.expansions.items():
                acc = np.zeros(len(count))
                for mono, c in comb.items():
                    v = count if not mono else sums[mono]
                    acc += v if c == 1.0 else c * v
                out[key] = acc
        return out
