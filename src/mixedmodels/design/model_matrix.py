"""Model matrices from formula terms, coded as R's ``model.matrix`` codes them.

Terms come from :mod:`formulaic`'s parser (ordered by degree, as R orders
them); the columns are built here so that names and codings are R's:

* a factor F inside a term T is coded by contrasts when T without F is
  empty or contained in an earlier term, else by indicators (R's
  ``TermCode``); without an intercept the first factor is coded by
  indicators;
* a term's columns are the row-wise products of its factors' columns, the
  first factor varying fastest, names joined by ``:``;
* unordered factors use treatment contrasts, ordered ones ``contr.poly``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..errors import FormulaError, ModelSpecificationError
from ..formula.deparse import protect_calls
from .contrasts import coding_matrix
from .variables import Categorical, Numeric, Variable

__all__ = ["TermSpec", "parse_terms", "build_matrix", "MatrixSpec"]


@dataclass(frozen=True)
class TermSpec:
    """The terms of one right-hand side: factor expressions per term."""

    intercept: bool
    terms: tuple[tuple[str, ...], ...]
    offsets: tuple[str, ...] = ()

    @property
    def variables(self) -> list[str]:
        out: list[str] = []
        for t in self.terms:
            for f in t:
                if f not in out:
                    out.append(f)
        return out


@lru_cache(maxsize=512)
def parse_terms(rhs: str, context: str = "") -> TermSpec:
    """Parse a right-hand side (``"1 + Days"``, ``"recipe * temperature"``).

    Function calls are kept whole and named as R deparses them (see
    :mod:`mixedmodels.formula.deparse`); formulaic reads the term structure.
    """
    from formulaic import Formula

    protected, calls = protect_calls(rhs)
    try:
        parsed = Formula(protected)
    except Exception as exc:  # formulaic raises several exception types
        detail = re.sub(r"\x1b\[[0-9;]*m|[⧛⧚]", "", str(exc)).strip()
        for key, call in calls.items():
            detail = detail.replace(key, call)
        raise FormulaError(f"cannot parse '{rhs}': {detail}", context or rhs) from exc
    intercept = False
    terms: list[tuple[str, ...]] = []
    offsets: list[str] = []
    for term in parsed:
        exprs = tuple(calls.get(str(f.expr), str(f.expr)) for f in term.factors)
        if exprs == ("1",):
            intercept = True
        elif exprs == ("0",):
            continue
        elif len(exprs) == 1 and exprs[0].replace(" ", "").startswith("offset("):
            inner = exprs[0].strip()[len("offset(") : -1]
            offsets.append(inner.strip())
        else:
            terms.append(exprs)
    return TermSpec(intercept, tuple(terms), tuple(offsets))


@dataclass
class MatrixSpec:
    """What is needed to rebuild the same columns on new data."""

    term_spec: TermSpec
    codings: list[list[str]] = field(default_factory=list)  # per term: "contrast"/"full"/"num"
    levels: dict[str, list[str]] = field(default_factory=dict)
    ordered: dict[str, bool] = field(default_factory=dict)
    column_names: list[str] = field(default_factory=list)
    assign: list[int] = field(default_factory=list)  # term index per column (0 = intercept)


def _display(expr: str) -> str:
    """Name a numeric expression as R deparses it (``I(x^2)``)."""
    return expr.replace(" ^ ", "^").replace(" ** ", "**").strip("`")


def _codings(spec: TermSpec, vars_: dict[str, Variable]) -> list[list[str]]:
    sets = [frozenset(t) for t in spec.terms]
    codings: list[list[str]] = []
    for j, term in enumerate(spec.terms):
        row = []
        for f in term:
            if not isinstance(vars_[f], Categorical):
                row.append("num")
                continue
            rest = sets[j] - {f}
            if not rest:
                row.append("contrast")
            elif any(rest <= sets[k] for k in range(j)):
                row.append("contrast")
            else:
                row.append("full")
        codings.append(row)
    if not spec.intercept:
        for j, term in enumerate(spec.terms):
            hit = [i for i, f in enumerate(term) if isinstance(vars_[f], Categorical)]
            if hit:
                codings[j][hit[0]] = "full"
                break
    return codings


def _block_names(expr: str, var: Variable, coding: str) -> list[str]:
    """Names of the columns coding one factor of a term (``x``, ``trtB``, ``f.L``)."""
    if isinstance(var, Numeric):
        suffixes = var.suffixes
    else:
        suffixes = coding_matrix(var.levels, var.ordered, coding)[1]
    base = _display(expr)
    return [base + s for s in suffixes]


def _factor_block(var: Variable, coding: str) -> np.ndarray:
    """The columns coding one factor of a term (n × k; NaN rows where missing)."""
    if isinstance(var, Numeric):
        return var.matrix
    cmat = coding_matrix(var.levels, var.ordered, coding)[0]
    codes = var.codes
    block = cmat[np.maximum(codes, 0)]
    if (codes < 0).any():
        block[codes < 0] = np.nan
    return block


def _columns_of(matrix: np.ndarray, matrix_names: list[str], names: list[str]) -> np.ndarray | None:
    """A view of the columns ``names`` of ``matrix`` when they are a contiguous run
    of its columns (the same names are the same columns: same variables, same coding)."""
    if not names or names[0] not in matrix_names:
        return None
    j = matrix_names.index(names[0])
    if matrix_names[j : j + len(names)] != names:
        return None
    return matrix[:, j : j + len(names)]


def build_matrix(
    spec: TermSpec,
    vars_: dict[str, Variable],
    n: int,
    matrix_spec: MatrixSpec | None = None,
    reuse: tuple[np.ndarray, list[str]] | None = None,
) -> tuple[np.ndarray, MatrixSpec]:
    """Build the model matrix for ``spec`` from evaluated variables.

    With ``matrix_spec`` from an earlier call (the fit), the same codings
    are used (for prediction on new data). With ``reuse = (M, names)``, a
    matrix whose columns are a contiguous run of M's (``(x | g)`` next to the
    fixed effects ``1 + x``) is returned as a read-only view of M, not a copy.
    """
    if matrix_spec is None:
        for term in spec.terms:
            for f in term:
                v = vars_[f]
                if isinstance(v, Categorical) and len(v.levels) < 2:
                    raise ModelSpecificationError(
                        f"'{f}' has {len(v.levels)} level"
                        f"{'' if len(v.levels) == 1 else 's'} in the rows used "
                        f"({', '.join(v.levels) or 'none'}): contrasts can be applied only to "
                        "factors with 2 or more levels; drop it from the formula"
                    )
    codings = matrix_spec.codings if matrix_spec is not None else _codings(spec, vars_)
    # names first; each term's columns are then written once into a preallocated X
    plan: list[tuple[int, list[tuple[Variable, str]]]] = []
    names: list[str] = ["(Intercept)"] if spec.intercept else []
    assign: list[int] = [0] if spec.intercept else []
    for j, term in enumerate(spec.terms):
        cnames = [""]
        for f, coding in zip(term, codings[j]):
            bnames = _block_names(f, vars_[f], coding)
            cnames = [(a + ":" + b) if a else b for b in bnames for a in cnames]
        plan.append((len(names), [(vars_[f], coding) for f, coding in zip(term, codings[j])]))
        names.extend(cnames)
        assign.extend([j + 1] * len(cnames))
    X = None if reuse is None else _columns_of(reuse[0], reuse[1], names)
    if X is not None:
        X = X.view()
        X.flags.writeable = False
    else:
        X = np.empty((n, len(names)), order="F")  # column-major: each column contiguous
        if spec.intercept:
            X[:, 0] = 1.0
        for start, parts in plan:
            blocks = [_factor_block(v, coding) for v, coding in parts]
            if len(blocks) == 1:
                X[:, start : start + blocks[0].shape[1]] = blocks[0]
                continue
            # row-wise products of the factors' columns, the first factor varying fastest
            cols = [blocks[0][:, k] for k in range(blocks[0].shape[1])]
            for block in blocks[1:]:
                cols = [c * block[:, k] for k in range(block.shape[1]) for c in cols]
            for i, c in enumerate(cols):
                X[:, start + i] = c
    if matrix_spec is None:
        matrix_spec = MatrixSpec(
            term_spec=spec,
            codings=codings,
            levels={k: v.levels for k, v in vars_.items() if isinstance(v, Categorical)},
            ordered={k: v.ordered for k, v in vars_.items() if isinstance(v, Categorical)},
            column_names=names,
            assign=assign,
        )
    return X, matrix_spec
