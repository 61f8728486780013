"""Stage 2 of the pipeline: formula + data -> design (y, X, w, offset, Z-terms).

Rows with a missing value in any variable the model uses are dropped (as
R's ``na.omit``) and recorded; factor levels that no longer occur are
dropped (lme4's ``drop.unused.levels``); a rank-deficient X loses columns
as lme4 drops them (limited pivoting: a column is dropped when it is, to
a relative tolerance of 1e-7, a combination of the columns before it).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from scipy.linalg import lapack

from ..errors import DataError, FormulaError, ModelSpecificationError, RankDeficiencyWarning
from ..formula import ParsedFormula, parse_formula
from .factors import numbers_as_text
from .model_matrix import MatrixSpec, TermSpec, build_matrix, parse_terms
from .random import ReTerm, check_identifiable, interaction_factor, lme4_order
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

__all__ = [
    "Design",
    "build_design",
    "as_pandas",
    "drop_dependent_columns",
    "numeric_response",
    "check_response_varies",
]


@dataclass
class Design:
    """Everything the later stages need, after NA removal.

    ``y`` is the response (n,) — or (n, 2) for ``cbind`` responses — ``X``
    the fixed-effects model matrix (n × p) with ``x_names``, ``weights``
    the prior weights (ones if none), ``offset`` (zeros if none) and
    ``terms`` the random-effect terms in lme4's order.
    """

    formula: ParsedFormula
    y: np.ndarray
    response: Variable
    X: np.ndarray
    x_names: list[str]
    weights: np.ndarray
    offset: np.ndarray
    terms: list[ReTerm]
    rows: np.ndarray  # positions (0-based) of the data rows used
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


def as_pandas(data: Any) -> pd.DataFrame:
    """Accept pandas, polars (eager or lazy), pyarrow tables or dicts of columns.

    Columns are converted without touching rows one by one (polars and Arrow
    strings stay Arrow-backed); decimals become float64. Duplicated column
    names and a dict of columns of different lengths are errors.
    """
    if isinstance(data, pd.DataFrame):
        out = data
    elif type(data).__module__.startswith("polars"):
        if hasattr(data, "collect"):
            data = data.collect()
        out = _polars_to_pandas(data)
    elif type(data).__module__.startswith("pyarrow"):
        out = _arrow_to_pandas(data)
    elif isinstance(data, dict):
        from ..arguments import frame_from_dict  # one row per scalar dict; ragged: an error

        out = frame_from_dict(data)
    else:
        raise DataError(
            "data must be a pandas or polars DataFrame (or a dict of columns), "
            f"got {type(data).__name__}"
        )
    if out.columns.is_unique:  # cached by pandas: no mask over the names
        return out
    dup = out.columns[out.columns.duplicated()]
    if len(dup):
        names = ", ".join(f"'{c}'" for c in dict.fromkeys(map(str, dup)))
        raise DataError(
            f"the data has duplicated column names: {names}; rename or drop the copies "
            "so that each name refers to one column"
        )
    return out


def _arrow_to_pandas(table: Any) -> pd.DataFrame:
    """A pyarrow table as pandas; decimal columns as float64."""
    import pyarrow as pa

    for i, f in enumerate(table.schema):
        if pa.types.is_decimal(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(pa.float64()))
    return table.to_pandas(date_as_object=False)


def _polars_to_pandas(data: Any) -> pd.DataFrame:
    """A polars frame as pandas, with R's reading of its factor types: an ``Enum``
    is a factor with the Enum's level order (unordered: ``to_pandas`` would mark
    it ordered); a ``Categorical``'s order is that of appearance, so it becomes
    a string column whose labels are sorted as R's ``factor`` sorts strings.
    ``Decimal`` columns become float64; nested types (``List``, ``Struct``,
    ``Array``) are kept and named in the error if the model uses them."""
    import polars as pl

    casts = {}
    nested = {}
    for name, dtype in data.schema.items():
        if isinstance(dtype, pl.Decimal):
            casts[name] = pl.Float64
        elif isinstance(dtype, pl.Categorical):
            casts[name] = pl.String
        elif dtype == pl.Date:  # datetime64 in pandas, not Python date objects
            casts[name] = pl.Datetime("ms")
        elif dtype.is_nested():
            nested[name] = f"polars {dtype}"
    if casts:
        data = data.with_columns([pl.col(c).cast(t) for c, t in casts.items()])
    out = data.to_pandas()
    for name, dtype in data.schema.items():
        if isinstance(dtype, pl.Enum):
            out[name] = out[name].cat.as_unordered()
    if nested:
        out.attrs[SOURCE_DTYPES] = nested
    return out


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


def drop_dependent_columns(X: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """Indices of columns to keep: drop each column that depends on earlier ones.

    Mirrors R's ``qr(X, tol = 1e-7)`` limited pivoting used by lme4: a column
    whose residual norm, after projecting on the kept columns before it, is
    below ``tol`` times its own norm is dropped. The test is scale-free:
    columns are first scaled by the power of two nearest their largest
    entry (exactly, so 1e±200 neither overflows nor underflows the norms).
    """
    n, p = X.shape
    if p == 0:
        return np.arange(0)
    if p <= n and _clearly_full_rank(X):
        return np.arange(p)
    with np.errstate(divide="ignore"):
        _, expo = np.frexp(np.max(np.abs(X), axis=0) if n else np.zeros(p))
    X = np.ldexp(X, -expo[None, :])
    norms = np.linalg.norm(X, axis=0)
    if p <= n and np.all(norms > 0):
        # full rank (the common case) in one QR: |R_jj| is column j's residual norm
        # after projecting on the columns before it
        r = np.abs(np.diag(np.linalg.qr(X, mode="r")))
        if np.all(r > 10 * tol * norms):
            return np.arange(p)
    keep: list[int] = []
    Q = np.zeros((n, 0))
    for j in range(p):
        x = X[:, j]
        nx = np.linalg.norm(x)
        if nx == 0.0:
            continue
        r = x - Q @ (Q.T @ x)
        r = r - Q @ (Q.T @ r)  # re-orthogonalise once
        nr = np.linalg.norm(r)
        if nr <= tol * nx:
            continue
        keep.append(j)
        Q = np.column_stack([Q, r / nr])
    return np.array(keep, dtype=np.intp)


def _clearly_full_rank(X: np.ndarray, margin: float = 1e-8) -> bool:
    """True when X'X (one BLAS product) shows every column far from the span of the
    columns before it: with C = D⁻¹X'XD⁻¹ (unit diagonal) and C = R'R, R_jj² is
    column j's squared residual norm relative to its own, computed to about
    p·ε; ``margin`` = 1e-8 (a relative residual of 1e-4) is far above the
    1e-6 at which :func:`drop_dependent_columns` drops a column, so the answer
    is the QR's. Inconclusive (near dependence, extreme scales whose squares
    leave the double range, non-finite values): False, and the QR decides."""
    n = X.shape[0]
    with np.errstate(all="ignore"):
        G = X.T @ X
    pivots = _normalized_pivots(G, 1e-100 * n, 1e100 * n)
    return pivots is not None and bool(np.all(pivots > margin))


def _normalized_pivots(G: np.ndarray, low: float, high: float) -> np.ndarray | None:
    """R_jj² of C = R'R with C = D⁻¹GD⁻¹ (D² = diag G, so C has a unit diagonal): the
    relative squared residual norm of each column given the ones before it. None
    when G is not finite, a diagonal entry lies outside (``low``, ``high``), or C is
    not numerically positive definite."""
    diag = G.diagonal()
    with np.errstate(all="ignore"):
        if not (np.isfinite(G).all() and (diag > low).all() and (diag < high).all()):
            return None
        scale = 1.0 / np.sqrt(diag)
        C = G * scale[:, None] * scale[None, :]
    R, info = lapack.dpotrf(C, lower=0, clean=0, overwrite_a=1)
    return R.diagonal() ** 2 if info == 0 else None


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
        y = response.values.astype(float)
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
    total_offset = np.zeros(n) if off is None else off.copy()
    for expr, o in zip(fixed.offsets, offsets_in_formula):
        if not isinstance(o, Numeric) or o.values.ndim != 1:
            raise DataError(
                f"offset({expr}): an offset must be one number per row, and '{expr}' is "
                f"{'a factor' if isinstance(o, Categorical) else 'a matrix'}; use a numeric "
                "column or expression"
            )
        total_offset += o.values
    if off is not None or offsets_in_formula:
        _check_finite(total_offset[:, None], ["offset"], "the offset", parsed.text)

    # --- fixed effects ---------------------------------------------------------
    X, fixed_spec = build_matrix(fixed, variables, n)
    x_big = _check_columns(X, fixed_spec.column_names, "the fixed effects", parsed.text, False)
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
        _check_columns(Z, zspec.column_names, f"the random-effect term {b.text}", parsed.text,
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
        weights=_ones(n) if w is None else w,
        offset=total_offset,
        terms=terms,
        rows=rows,
        n_input=n_input,
        fixed_spec=fixed_spec,
        state=state,
        dropped_columns=dropped,
        has_weights=w is not None,
        has_offset=off is not None or bool(offsets_in_formula),
        index=data.index[rows] if n < n_input else data.index,
    )


_ONE = np.ones(1)


def _ones(n: int) -> np.ndarray:
    """n unit weights as a read-only view of one number (no n-vector in memory)."""
    out = np.ndarray((n,), dtype=np.float64, buffer=_ONE, strides=(0,))
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
    if kept is spec:
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


def _check_finite(M: np.ndarray, names: list[str], where: str, formula: str) -> None:
    """R's "NA/NaN/Inf in 'x'": a model matrix column with ±Inf (``log(0)``,
    ``1/0``, an overflow such as ``x * 1e308``) is an error naming the column."""
    bad = ~np.isfinite(M)
    if not bad.any():
        return
    j = int(np.flatnonzero(bad.any(axis=0))[0])
    raise infinite_column_error(names[j], where, int(bad[:, j].sum()), M.shape[0], formula)


def infinite_column_error(name: str, where: str, count: int, n: int, formula: str) -> DataError:
    """The error for ``count`` infinite values (of ``n`` rows) in column ``name`` of a
    model matrix (``where``: "the fixed effects", "the random-effect term (x | g)")."""
    return DataError(
        f"column '{name}' of {where} has {count} infinite value{'s' if count > 1 else ''} "
        f"(of {n} rows) in '{formula}': a model matrix must be finite (R: "
        "NA/NaN/Inf in 'x'); change the expression (e.g. log(x + 1) for x >= 0) or drop "
        "those rows"
    )


def _check_columns(
    M: np.ndarray,
    names: list[str],
    where: str,
    formula: str,
    squared: bool,
    known: dict[str, float] | None = None,
) -> dict[str, float]:
    """:func:`_check_finite` and :func:`_check_magnitude` of a model matrix from its
    column extremes (one max and one min per column, no n×p temporaries; columns
    named in ``known`` take their max|v| from there). Only when a column fails are
    the exact checks run, for their messages. Returns max|v| per column name."""
    n, p = M.shape
    if n == 0 or p == 0:
        _check_finite(M, names, where, formula)
        _check_magnitude(M, names, where, squared)
        return {}
    known = known or {}
    big: list[float] = [known.get(nm, math.nan) for nm in names]
    todo = [j for j, nm in enumerate(names) if nm not in known]
    if todo:
        sub = M if len(todo) == p else M[:, todo]
        extremes = np.maximum(sub.max(axis=0), -sub.min(axis=0)).tolist()  # NaN propagates
        for j, v in zip(todo, extremes):
            big[j] = v
    # p Python floats (overflow gives inf, NaN compares false): Σ|v| ≤ n·max|v|
    limit = _Z_SQUARED_SUM_LIMIT if squared else math.inf
    if not all(math.isfinite(v) and (v * v * n if squared else v * n) < limit for v in big):
        _check_finite(M, names, where, formula)
        _check_magnitude(M, names, where, squared)
    return dict(zip(names, big))


# Z enters the cross-products unscaled, and the fit multiplies their per-level sums
# by θ² and by each other (determinants of S×S blocks): a column of size z over n
# rows keeps the fit finite while n·z² stays far below the double range.
_Z_SQUARED_SUM_LIMIT = 1e150


def _check_magnitude(M: np.ndarray, names: list[str], where: str, squared: bool) -> None:
    """Refuse columns whose sums (fixed effects, ``Σ|x|`` must be finite) or squares
    (random-effect terms, ``n·max|z|²`` below 1e150) overflow double precision."""
    with np.errstate(over="ignore"):
        big = np.abs(M).max(axis=0) if squared else np.abs(M).sum(axis=0)
        if squared:
            big = big * big * M.shape[0]
    limit = _Z_SQUARED_SUM_LIMIT if squared else np.inf
    bad = np.flatnonzero(~(big < limit))
    if bad.size == 0:
        return
    j = int(bad[0])
    raise DataError(
        f"column '{names[j]}' of {where} has values as large as "
        f"{float(np.abs(M[:, j]).max()):.3g}: "
        f"{'their squares overflow' if squared else 'their sum overflows'} double precision "
        "during the fit; rescale the variable (e.g. divide by a power of 10)"
    )


def numeric_response(design: Design) -> np.ndarray:
    """The response as a numeric vector, or a clear error."""
    r = design.response
    if isinstance(r, Categorical) or (isinstance(r, Numeric) and r.values.ndim != 1):
        name = design.formula.response
        hint = (
            f"; its values are numbers stored as text: convert the column with "
            f"d['{name}'] = pd.to_numeric(d['{name}'])"
            if isinstance(r, Categorical) and numbers_as_text(r.levels)
            else " (use mm.glmer(..., family='binomial') for a binary outcome)"
        )
        raise DataError(
            f"the response '{name}' must be a numeric column for a linear mixed model; "
            f"it is categorical{hint}"
        )
    return design.y


def check_response_varies(design: Design, xy_gram: np.ndarray | None = None) -> None:
    """A linear mixed model of a constant response (after the offset), or of a
    response the fixed effects reproduce exactly (‖y − Xβ̂‖ ≤ 1e-10 ‖y − ȳ‖), has
    no variance to estimate: a clear error rather than a degenerate fit.

    ``xy_gram``: the unweighted [X̃ ỹ]'[X̃ ỹ] of the cross-products
    (:mod:`mixedmodels.crossprod`), if at hand; when its Cholesky factor shows the
    residual far from zero (see :func:`_residual_clearly_nonzero`) no least squares
    on the rows is needed."""
    if isinstance(design.response, Categorical) or design.y.ndim != 1:
        return  # numeric_response names the problem
    z = design.y - design.offset if design.has_offset else design.y
    if design.n > 1 and np.ptp(z) == 0:
        value = float(design.y[0] - design.offset[0])
        after = " after the offset" if design.has_offset else ""
        raise DataError(
            f"the response '{design.formula.response}' is constant (every one of the "
            f"{design.n} values used is {value:.15g}{after}): "
            "a linear mixed model cannot estimate variances from it (lme4 fails to converge "
            "on it); check the response column"
        )
    if 0 < design.p < design.n and not (
        xy_gram is not None and _residual_clearly_nonzero(xy_gram)
    ):
        with np.errstate(all="ignore"):
            coef = np.linalg.lstsq(design.X, z, rcond=None)[0]
            r = float(np.linalg.norm(z - design.X @ coef))
            spread = float(np.linalg.norm(z - z.mean()))
        if r <= 1e-10 * spread:
            raise DataError(
                f"the fixed effects {design.x_names} reproduce the response "
                f"'{design.formula.response}' exactly (the residuals are zero), so no "
                "variance is left to estimate; is a predictor computed from the response?"
            )


def _residual_clearly_nonzero(T: np.ndarray, margin: float = 1e-6) -> bool:
    """From T = [X̃ ỹ]'[X̃ ỹ]: True when ‖ỹ − X̃β̂‖² > ``margin``·ỹ'ỹ with the X̃ block
    well conditioned (every normalized Cholesky pivot² > 1e-4), so that the
    Cholesky factor's error, about p·ε·cond·ỹ'ỹ, cannot matter. Then the exact
    test (‖y − Xβ̂‖ ≤ 1e-10 ‖y − ȳ‖, scale-free) certainly passes."""
    pivots = _normalized_pivots(T, 0.0, np.inf)
    return pivots is not None and bool(np.all(pivots[:-1] > 1e-4) and pivots[-1] > margin)
