"""Stage 2 of the pipeline: formula + data -> design (y, X, w, offset, Z-terms).

Rows with a missing value in any variable the model uses are dropped (as
R's ``na.omit``) and recorded; factor levels that no longer occur are
dropped (lme4's ``drop.unused.levels``); a rank-deficient X loses columns
as lme4 drops them (:mod:`.rank`); columns the fit cannot use are refused
(:mod:`.column_checks`). The data arrive as pandas (:mod:`.dataframes`).
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, FormulaError, ModelSpecificationError, RankDeficiencyWarning
from ..formula import ParsedFormula, parse_formula
from .column_checks import check_columns, check_finite
from .dataframes import as_pandas
from .factors import numbers_as_text
from .model_matrix import MatrixSpec, TermSpec, build_matrix, parse_terms
from .random import ReTerm, check_identifiable, interaction_factor, lme4_order
from .rank import drop_dependent_columns
from .variables import (
    SOURCE_DTYPES,
    Categorical,
    Numeric,
    TransformState,
    Variable,
    evaluate,
    numeric_column,
    to_categorical,
)

__all__ = ["Design", "build_design"]


@dataclass
class Design:
    """Everything the later stages need, after NA removal.

    ``y`` is the response (n,) — or (n, 2) for ``cbind`` responses — ``X``
    the fixed-effects model matrix (n × p) with ``x_names``, ``weights``
    the prior weights (ones if none), ``offset`` (zeros if none) and
    ``terms`` the random-effect terms in lme4's order.

    Arrays of n values are held once: ``y`` is the response's own values
    (no copy), unit weights and a zero offset are read-only views of one
    number, and ``rows`` (the positions of the data rows used) is made on
    use when every row is used (``row_positions`` is then None).
    """

    formula: ParsedFormula
    y: np.ndarray
    response: Variable
    X: np.ndarray
    x_names: list[str]
    weights: np.ndarray
    offset: np.ndarray
    terms: list[ReTerm]
    row_positions: np.ndarray | None  # positions (0-based) of the data rows used; None: all
    n_input: int
    fixed_spec: MatrixSpec
    state: TransformState
    dropped_columns: list[str] = field(default_factory=list)
    has_weights: bool = False
    has_offset: bool = False
    index: Any = None  # the data's index labels of the rows used

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def p(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_omitted(self) -> int:
        return self.n_input - self.n

    @property
    def rows(self) -> np.ndarray:
        """Positions (0-based) of the data rows used (0, …, n−1 when no row was dropped)."""
        if self.row_positions is None:
            return np.arange(self.n_input)
        return self.row_positions




def _vector_argument(value: Any, data: pd.DataFrame, name: str) -> np.ndarray | None:
    if value is None:
        return None
    if isinstance(value, str):
        if value not in data.columns:
            from ..errors import ColumnNotFoundError

            raise ColumnNotFoundError(value, data.columns, f"{name}=")
        return numeric_column(data[value], value, f"{name} column")
    arr = np.asarray(value, dtype=float).ravel()
    if arr.shape[0] != len(data):
        raise DataError(f"{name} has {arr.shape[0]} values but the data has {len(data)} rows")
    return arr




def _evaluate_all(
    exprs: list[str], data: pd.DataFrame, state: TransformState, where: str
) -> dict[str, Variable]:
    return {e: evaluate(e, data, state, where) for e in exprs}


def _missing(v: Variable) -> np.ndarray:
    if isinstance(v, Categorical):
        return v.codes < 0
    vals = v.values
    return np.isnan(vals) if vals.ndim == 1 else np.isnan(vals).any(axis=1)


def _take(v: Variable, rows: np.ndarray) -> Variable:
    if isinstance(v, Categorical):
        return v.take(rows).drop_unused()
    return v.take(rows)


def build_design(
    formula: str | ParsedFormula,
    data: Any,
    weights: Any = None,
    offset: Any = None,
    na_action: str = "omit",
    require_random: bool = True,
    check_nobs: bool = True,
) -> Design:
    """Evaluate a formula on data: the model frame and its matrices.

    ``check_nobs=False`` allows grouping factors with as many levels (or
    terms with as many random effects) as observations, as lme4's glmer.
    """
    parsed = parse_formula(formula) if isinstance(formula, str) else formula
    data = as_pandas(data)
    if na_action not in ("omit", "raise", "exclude"):
        raise DataError(f"na_action must be 'omit' or 'raise', got {na_action!r}")
    if require_random and not parsed.has_random:
        raise FormulaError(
            "no random-effect terms: add one such as (1 | group), or use mm.lm() for a "
            "model without random effects",
            parsed.text,
            len(parsed.text),
        )
    state = TransformState()
    fixed = _without_response(parse_terms(parsed.fixed, parsed.text), parsed.response)
    bar_specs: list[TermSpec] = [parse_terms(b.expr, parsed.text) for b in parsed.bars]

    response = evaluate(parsed.response, data, state, "the response")
    variables = _evaluate_all(fixed.variables, data, state, "the fixed effects")
    offsets_in_formula = [evaluate(o, data, state, "offset()") for o in fixed.offsets]
    bar_vars: list[dict[str, Variable]] = []
    for b, spec in zip(parsed.bars, bar_specs):
        bv = {}
        for e in spec.variables:
            bv[e] = (
                variables[e] if e in variables else evaluate(e, data, state, f"the term {b.text}")
            )
        bar_vars.append(bv)
    groups: dict[str, Categorical] = {}
    for b in parsed.bars:
        for g in b.group_vars:
            if g not in groups:
                from ..errors import ColumnNotFoundError

                if g not in data.columns:
                    raise ColumnNotFoundError(g, data.columns, f"the grouping factor of {b.text}")
                note = data.attrs.get(SOURCE_DTYPES, {}).get(g, "")
                groups[g] = to_categorical(data[g], g, note)

    w = _vector_argument(weights, data, "weights")
    off = _vector_argument(offset, data, "offset")

    # --- missing values: drop rows with NA in any used variable -------------
    n_input = len(data)
    miss = _missing(response).copy()
    for v in list(variables.values()) + offsets_in_formula:
        miss |= _missing(v)
    for bv in bar_vars:
        for v in bv.values():
            miss |= _missing(v)
    for g in groups.values():
        miss |= g.codes < 0
    if w is not None:
        miss |= np.isnan(w)
    if off is not None:
        miss |= np.isnan(off)
    if miss.any() and na_action == "raise":
        first = int(np.flatnonzero(miss)[0])
        raise DataError(
            f"{int(miss.sum())} rows have missing values in the model's variables "
            f"(first: row {data.index[first]!r}); use na_action='omit' to drop them"
        )
    rows = np.flatnonzero(~miss) if miss.any() else np.arange(n_input)
    if rows.size == 0:
        if n_input == 0:
            raise DataError("the data has no rows")
        named = {"the response": _missing(response)}
        named.update({f"'{k}'": _missing(v) for k, v in variables.items()})
        for bv in bar_vars:
            named.update({f"'{k}'": _missing(v) for k, v in bv.items()})
        named.update({f"grouping factor '{k}'": g.codes < 0 for k, g in groups.items()})
        if w is not None:
            named["weights"] = np.isnan(w)
        if off is not None:
            named["offset"] = np.isnan(off)
        all_na = [k for k, m in named.items() if m.all()]
        detail = (
            f"{', '.join(all_na)} {'is' if len(all_na) == 1 else 'are'} NA in every row"
            if all_na
            else "every row has an NA in some variable of the model"
        )
        raise DataError(f"no rows left after removing missing values: {detail}")
    if miss.any():
        response = _take(response, rows)
        variables = {k: _take(v, rows) for k, v in variables.items()}
        offsets_in_formula = [_take(v, rows) for v in offsets_in_formula]
        bar_vars = [{k: _take(v, rows) for k, v in bv.items()} for bv in bar_vars]
        groups = {k: v.take(rows) for k, v in groups.items()}
        w = None if w is None else w[rows]
        off = None if off is None else off[rows]
    else:
        variables = {
            k: (v.drop_unused() if isinstance(v, Categorical) else v) for k, v in variables.items()
        }
    n = rows.size

    # --- response, weights, offset ---------------------------------------------
    if isinstance(response, Categorical):
        y = response.codes.astype(float)
    else:
        y = np.asarray(response.values, dtype=float)  # the response's own values: no copy
    if w is not None:
        if not np.all(np.isfinite(w)):
            raise DataError("weights must be finite; found infinite values")
        if np.any(w < 0):
            raise DataError(f"weights must be non-negative; found {int((w < 0).sum())} negative")
        if np.any(w == 0):
            raise DataError(
                f"weights must be positive; found {int((w == 0).sum())} zero weights: drop "
                "those rows from the data instead (a zero weight removes the observation)"
            )
    if not np.all(np.isfinite(y)):
        raise DataError(
            f"the response '{parsed.response}' has {int((~np.isfinite(y)).sum())} infinite "
            "values; remove or recode them"
        )
    total_offset = off.copy() if off is not None else np.zeros(n) if offsets_in_formula else None
    for expr, o in zip(fixed.offsets, offsets_in_formula):
        if not isinstance(o, Numeric) or o.values.ndim != 1:
            raise DataError(
                f"offset({expr}): an offset must be one number per row, and '{expr}' is "
                f"{'a factor' if isinstance(o, Categorical) else 'a matrix'}; use a numeric "
                "column or expression"
            )
        total_offset += o.values
    if off is not None or offsets_in_formula:
        check_finite(total_offset[:, None], ["offset"], "the offset", parsed.text)

    # --- fixed effects ---------------------------------------------------------
    X, fixed_spec = build_matrix(fixed, variables, n)
    x_big = check_columns(X, fixed_spec.column_names, "the fixed effects", parsed.text, False)
    dropped: list[str] = []
    keep = drop_dependent_columns(X)
    if keep.size < X.shape[1]:
        dropped = [fixed_spec.column_names[j] for j in range(X.shape[1]) if j not in set(keep)]
        X = X[:, keep]
        fixed_spec.column_names = [fixed_spec.column_names[j] for j in keep]
        fixed_spec.assign = [fixed_spec.assign[j] for j in keep]
        warnings.warn(
            f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} "
            f"column{'s' if len(dropped) > 1 else ''} / coefficient"
            f"{'s' if len(dropped) > 1 else ''}: {', '.join(dropped)}",
            RankDeficiencyWarning,
            stacklevel=3,
        )
    if parsed.has_random and X.shape[1] >= n:
        raise ModelSpecificationError(
            f"the fixed-effects model matrix has {X.shape[1]} linearly independent columns "
            f"for {n} observations: a mixed model needs fewer fixed-effect columns than "
            "rows (nothing would be left to estimate the variances); use fewer or simpler "
            "fixed-effect terms" + _numbers_as_text_hint(variables, data)
        )

    # --- random-effect terms ---------------------------------------------------
    terms: list[ReTerm] = []
    for b, spec, bv in zip(parsed.bars, bar_specs, bar_vars):
        Z, zspec = build_matrix(spec, bv, n, reuse=(X, fixed_spec.column_names))
        if Z.shape[1] == 0:
            raise FormulaError(
                f"the random-effect term {b.text} has no columns", parsed.text, b.position
            )
        check_columns(Z, zspec.column_names, f"the random-effect term {b.text}", parsed.text,
                       True, x_big)
        factor = interaction_factor([groups[g] for g in b.group_vars])
        terms.append(ReTerm(b, factor, Z, zspec.column_names, zspec))
    terms = lme4_order(terms)
    if terms:
        check_identifiable(terms, n, check_nobs=check_nobs)

    return Design(
        formula=parsed,
        y=y,
        response=response,
        X=X,
        x_names=list(fixed_spec.column_names),
        weights=_constant(1.0, n) if w is None else w,
        offset=_constant(0.0, n) if total_offset is None else total_offset,
        terms=terms,
        row_positions=rows if n < n_input else None,
        n_input=n_input,
        fixed_spec=fixed_spec,
        state=state,
        dropped_columns=dropped,
        has_weights=w is not None,
        has_offset=off is not None or bool(offsets_in_formula),
        index=data.index[rows] if n < n_input else data.index,
    )


_CONSTANTS = {1.0: np.ones(1), 0.0: np.zeros(1)}


def _constant(value: float, n: int) -> np.ndarray:
    """n copies of ``value`` (unit weights, a zero offset) as a read-only view of one
    number (no n-vector in memory)."""
    out = np.ndarray((n,), dtype=np.float64, buffer=_CONSTANTS[value], strides=(0,))
    out.flags.writeable = False
    return out


def _numbers_as_text_hint(variables: dict[str, Variable], data: pd.DataFrame) -> str:
    """``"; column 'x' holds numbers stored as text ..."`` for every factor read from a
    text column whose levels all parse as numbers (else ``""``)."""
    cols = [
        name
        for name, v in variables.items()
        if isinstance(v, Categorical)
        and name in data.columns
        and (
            pd.api.types.is_object_dtype(data[name].dtype)
            or pd.api.types.is_string_dtype(data[name].dtype)
        )
        and numbers_as_text(v.levels)
    ]
    return "".join(
        f"; column '{c}' holds numbers stored as text, so it is a factor with "
        f"{len(variables[c].levels)} levels: convert it with "
        f"d['{c}'] = pd.to_numeric(d['{c}'])"
        for c in cols
    )


def _without_response(spec: TermSpec, response: str) -> TermSpec:
    """R's model.matrix: "the response appeared on the right-hand side and was
    dropped" (the term that is the response goes; interactions with it stay)."""
    kept = _terms_without(spec, response)
    if len(kept.terms) == len(spec.terms):  # the cache may hand back an equal spec
        return spec
    warnings.warn(
        f"the response '{response}' appeared on the right-hand side and was dropped",
        UserWarning,
        stacklevel=4,
    )
    return kept


@lru_cache(maxsize=256)
def _terms_without(spec: TermSpec, response: str) -> TermSpec:
    """``spec`` without the single-factor term that deparses as ``response`` (``spec``
    itself when there is none); cached, as the formula's parse is."""
    from ..formula.deparse import deparse_expr

    y = deparse_expr(response)
    kept = tuple(t for t in spec.terms if not (len(t) == 1 and deparse_expr(t[0]) == y))
    if len(kept) == len(spec.terms):
        return spec
    return dataclasses.replace(spec, terms=kept)




