"""Random-effect terms: grouping factors, raw model matrices, lme4's order.

A term k is a grouping factor with ``nl`` levels and a raw model matrix
``Z_raw`` (n × S) from the bar's left side. Its random effects are
``b_k = Λ_k u_k`` with ``Λ_k = I_nl ⊗ T_k``, ``T_k`` lower triangular
S × S holding the term's θ (lower triangle, column by column).
Terms are ordered as lme4 orders them: by number of levels, decreasing
(``rev(order(nl))``, applied only when not already non-increasing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ModelSpecificationError
from ..formula import RandomBar
from .factors import Categorical, interaction
from .model_matrix import MatrixSpec

__all__ = ["ReTerm", "interaction_factor", "lme4_order", "check_identifiable"]


@dataclass
class ReTerm:
    """One random-effect term of the model (after expansion and ordering)."""

    bar: RandomBar
    factor: Categorical  # grouping factor (codes into levels)
    Z: np.ndarray  # raw model matrix, n × S
    names: list[str]  # column names of Z, e.g. ["(Intercept)", "Days"]
    spec: MatrixSpec  # how Z was coded (for new data)
    label: str = ""  # unique name for VarCorr ("Subject", "Subject.1")

    @property
    def group(self) -> str:
        return self.bar.group

    @property
    def nl(self) -> int:
        return len(self.factor.levels)

    @property
    def S(self) -> int:
        return self.Z.shape[1]

    @property
    def q(self) -> int:
        return self.nl * self.S

    @property
    def ntheta(self) -> int:
        return self.S * (self.S + 1) // 2

    @property
    def theta_names(self) -> list[str]:
        """lme4's names: ``g.row`` on the diagonal, ``g.row.col`` below it."""
        out = []
        for j in range(self.S):
            for i in range(j, self.S):
                if i == j:
                    out.append(f"{self.group}.{self.names[i]}")
                else:
                    out.append(f"{self.group}.{self.names[i]}.{self.names[j]}")
        return out

    @property
    def theta_lower(self) -> np.ndarray:
        """0 on diagonal entries of T (standard deviations), −inf below."""
        return np.array(
            [0.0 if i == j else -np.inf for j in range(self.S) for i in range(j, self.S)]
        )

    @property
    def theta_start(self) -> np.ndarray:
        return np.array([1.0 if i == j else 0.0 for j in range(self.S) for i in range(j, self.S)])

    @property
    def tri_index(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) of T_k's lower triangle in θ order (column by column)."""
        rows = [i for j in range(self.S) for i in range(j, self.S)]
        cols = [j for j in range(self.S) for _ in range(j, self.S)]
        return np.array(rows, dtype=np.intp), np.array(cols, dtype=np.intp)

    def lower_tri(self, theta: np.ndarray) -> np.ndarray:
        """T_k: θ filled into the lower triangle column by column."""
        T = np.zeros((self.S, self.S))
        T[self.tri_index] = theta
        return T


def interaction_factor(factors: list[Categorical]) -> Categorical:
    """R's ``a:b`` for factors: levels ``"a1:b1"``, first factor slowest, only the
    combinations that occur (hashed, see :func:`.factors.interaction`)."""
    return interaction(factors)


def lme4_order(terms: list[ReTerm]) -> list[ReTerm]:
    """Order terms as lme4's ``mkReTrms``: by number of levels, decreasing."""
    nl = [t.nl for t in terms]
    if any(a < b for a, b in zip(nl, nl[1:])):
        # R's rev(order(nl)): a stable ascending sort, reversed (a few terms: no numpy)
        order = sorted(range(len(nl)), key=nl.__getitem__)[::-1]
        terms = [terms[i] for i in order]
    seen: dict[str, int] = {}
    for t in terms:
        k = seen.get(t.group, 0)
        t.label = t.group if k == 0 else f"{t.group}.{k}"
        seen[t.group] = k + 1
    return terms


def check_identifiable(terms: list[ReTerm], n: int, check_nobs: bool = True) -> None:
    """lme4's checks on grouping factors and the number of random effects.

    ``check_nobs=False`` skips the two comparisons with the number of
    observations (levels ≥ n, random effects ≥ n), as glmer's defaults
    ``check.nobs.vs.nlev = check.nobs.vs.nRE = "ignore"`` do (observation-level
    random effects); the at-least-2-levels check always applies.
    """
    for t in terms:
        if t.nl < 2:
            raise ModelSpecificationError(
                f"grouping factor '{t.group}' has {t.nl} level after removing missing "
                "values; a random effect needs a grouping factor with at least 2 levels "
                f"(term {t.bar.text})"
            )
        if check_nobs and t.nl >= n:
            raise ModelSpecificationError(
                f"grouping factor '{t.group}' has {t.nl} levels for {n} observations: "
                "each level must have more than one observation on average, or the "
                "random effect cannot be told apart from the residual "
                f"(term {t.bar.text}); drop the term or use a coarser grouping factor"
            )
        if check_nobs and t.q >= n:
            raise ModelSpecificationError(
                f"the term {t.bar.text} on '{t.group}' has {t.q} random effects for {n} "
                "observations; its variance parameters and the residual variance are "
                "unidentifiable: simplify the term (e.g. fewer slopes)"
            )
