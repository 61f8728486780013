"""A row-free design: names, levels and column recipes, without the rows.

``lmer`` builds X and Z from the rows (:mod:`mixedmodels.design`). Out of
memory, the rows stay where they are; what the engine and the results need
is only

* the coefficient names and the recipe of every column of X and of each
  term's raw Z: column = Π over the term's factors of one factor column,
  a numeric expression or one column of a factor's coding matrix
  (treatment, ``contr.poly`` or indicators, chosen by R's rules);
* the levels of every grouping factor (R's order) and of every factor used
  in X or Z.

The recipes are evaluated by a backend (SQL for DuckDB, pandas per
partition for Dask) to produce the cross-products. Names and codings come
from :func:`mixedmodels.design.model_matrix.build_matrix` run on zero-row
placeholder variables, so they are exactly those of ``lmer``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..crossprod import CrossProducts
from ..design.contrasts import coding_matrix
from ..design.model_matrix import MatrixSpec, TermSpec, build_matrix, parse_terms
from ..design.random import ReTerm, check_identifiable, lme4_order
from ..design.variables import Categorical, Numeric, TransformState, r_label
from ..errors import FormulaError, RankDeficiencyWarning
from ..formula import ParsedFormula, parse_formula

__all__ = [
    "VarInfo",
    "Piece",
    "StatsTerm",
    "ScaleDesign",
    "RowsNotAvailableError",
    "build_scale_design",
    "dependent_columns_from_gram",
    "drop_dependent",
    "drop_design_columns",
    "check_finite",
]

_FACTOR_CALL = ("factor(", "C(", "ordered(", "as_factor(")


class RowsNotAvailableError(AttributeError):
    """A quantity needs the data rows, which a sufficient-statistics fit does not hold."""


@dataclass
class VarInfo:
    """One formula variable: numeric expression or factor of one column."""

    expr: str
    kind: str  # "num" or "cat"
    column: str | None = None  # the column of a factor
    values: list[Any] = field(default_factory=list)  # native level values, R's order
    ordered: bool = False

    @property
    def levels(self) -> list[str]:
        return [r_label(v) for v in self.values]


@dataclass(frozen=True)
class Piece:
    """One factor of a column: a numeric expression or a factor's coding column.

    For a factor, the value on a row whose level code is ``l`` is ``coding[l]``.
    """

    expr: str
    coding: tuple[float, ...] | None = None  # None: numeric expression


@dataclass
class StatsTerm(ReTerm):
    """A random-effect term without rows: ``Z`` and ``factor.codes`` are ``None``."""

    n_effects: int = 1
    group_values: list[tuple[Any, ...]] = field(default_factory=list)
    columns: list[list[Piece]] = field(default_factory=list)

    @property
    def S(self) -> int:
        return self.n_effects


@dataclass
class ScaleDesign:
    """What a fit from sufficient statistics knows of its design.

    Mirrors the attributes of :class:`mixedmodels.design.Design` that do not
    need rows; the row-level ones (``X``, ``y``, ``weights``...) raise
    :class:`RowsNotAvailableError`.
    """

    formula: ParsedFormula
    x_names: list[str]
    x_columns: list[list[Piece]]
    terms: list[StatsTerm]
    fixed_spec: MatrixSpec
    response: str
    n: int = 0
    n_input: int = 0
    has_weights: bool = False
    has_offset: bool = False
    dropped_columns: list[str] = field(default_factory=list)
    state: TransformState = field(default_factory=TransformState)

    @property
    def p(self) -> int:
        return len(self.x_names)

    @property
    def n_omitted(self) -> int:
        return self.n_input - self.n

    def __getattr__(self, name: str) -> Any:
        if name in ("X", "y", "weights", "offset", "rows", "index"):
            raise RowsNotAvailableError(
                f"design.{name} needs the data rows; a model fitted from sufficient "
                "statistics (mixedmodels.scale) holds only the cross-products"
            )
        raise AttributeError(name)


def _placeholder(info: VarInfo) -> Categorical | Numeric:
    if info.kind == "cat":
        return Categorical(np.empty(0, dtype=np.intp), info.levels, info.ordered)
    return Numeric(np.empty(0))


def _factor_pieces(info: VarInfo, coding: str) -> list[Piece]:
    if info.kind == "num":
        return [Piece(info.expr)]
    cmat, _ = coding_matrix(info.levels, info.ordered, coding)
    return [Piece(info.expr, tuple(float(v) for v in cmat[:, k])) for k in range(cmat.shape[1])]


def column_recipes(
    spec: TermSpec, infos: dict[str, VarInfo]
) -> tuple[list[list[Piece]], MatrixSpec]:
    """Column recipes and the :class:`MatrixSpec` of one right-hand side.

    Column order and names are :func:`build_matrix`'s: intercept, then per
    term the products of its factors' columns, the first factor fastest.
    """
    placeholders = {e: _placeholder(infos[e]) for e in spec.variables}
    _, mspec = build_matrix(spec, placeholders, 0)
    cols: list[list[Piece]] = [[]] if spec.intercept else []
    for j, term in enumerate(spec.terms):
        tcols: list[list[Piece]] = [[]]
        for f, coding in zip(term, mspec.codings[j]):
            pieces = _factor_pieces(infos[f], coding)
            tcols = [c + [pc] for pc in pieces for c in tcols]
        cols.extend(tcols)
    if len(cols) != len(mspec.column_names):  # pragma: no cover - guards the invariant
        raise RuntimeError("column recipes do not match the model matrix columns")
    return cols, mspec


def formula_variables(formula: str) -> tuple[ParsedFormula, list[str]]:
    """Parse a mixed-model formula; return it with every fixed and bar variable, in order."""
    parsed = parse_formula(formula)
    if not parsed.has_random:
        raise FormulaError("no random-effect terms: add one such as (1 | group)", parsed.text)
    exprs = list(parse_terms(parsed.fixed, parsed.text).variables)
    for bar in parsed.bars:
        exprs += [e for e in parse_terms(bar.expr, parsed.text).variables if e not in exprs]
    return parsed, exprs


def formula_columns(
    formula: str,
    is_categorical_column: dict[str, bool],
    weights: str | None = None,
    check_expr: Callable[[str], None] | None = None,
    numeric_response: bool = False,
) -> tuple[ParsedFormula, dict[str, VarInfo], list[str]]:
    """Read ``formula`` against a source's columns (name → categorical?).

    Returns the parsed formula, a :class:`VarInfo` per variable and the raw
    columns read (variables, response, grouping factors, weights) in order of
    first use. A column the source lacks raises ``ColumnNotFoundError``;
    ``check_expr`` may refuse an expression before it is read, and
    ``numeric_response`` refuses a categorical response.
    """
    from ..design.expressions import expression_names
    from ..errors import ColumnNotFoundError, DataError

    parsed, exprs = formula_variables(formula)
    raw: list[str] = []

    def need(col: str, where: str) -> None:
        if col not in is_categorical_column:
            raise ColumnNotFoundError(col, list(is_categorical_column), where)
        if col not in raw:
            raw.append(col)

    infos: dict[str, VarInfo] = {}
    for e in exprs:
        if check_expr is not None:
            check_expr(e)
        kind, col, ordered = classify(e, is_categorical_column)
        infos[e] = VarInfo(e, kind, col, ordered=ordered)
        for c in [col] if col else expression_names(e):
            need(c, "the formula")
    if numeric_response and classify(parsed.response, is_categorical_column)[0] == "cat":
        raise DataError(f"the response '{parsed.response}' must be numeric for lmer")
    for c in expression_names(parsed.response):
        need(c, "the response")
    for bar in parsed.bars:
        for g in bar.group_vars:
            need(g, f"the grouping factor of {bar.text}")
    if weights is not None:
        need(weights, "weights=")
    return parsed, infos, raw


def classify(expr: str, is_categorical_column: dict[str, bool]) -> tuple[str, str | None, bool]:
    """(kind, column, ordered) of a formula variable given the column types."""
    name = expr.strip().strip("`")
    if name in is_categorical_column:
        return ("cat", name, False) if is_categorical_column[name] else ("num", None, False)
    s = expr.replace(" ", "")
    for call in _FACTOR_CALL:
        if s.startswith(call) and s.endswith(")"):
            col = s[len(call) : -1].strip("`")
            if col not in is_categorical_column:
                from ..errors import ColumnNotFoundError

                raise ColumnNotFoundError(col, list(is_categorical_column), expr)
            return "cat", col, call == "ordered("
    return "num", None, False


def build_scale_design(
    parsed: ParsedFormula,
    infos: dict[str, VarInfo],
    group_values: dict[tuple[str, ...], list[tuple[Any, ...]]],
    n: int,
    n_input: int,
    has_weights: bool,
) -> ScaleDesign:
    """The row-free design of ``parsed`` from its variables' kinds and levels.

    ``infos`` covers every variable of the fixed part and of the bars (levels
    filled for factors); ``group_values`` gives, per grouping factor (its
    variables, slowest first), the level tuples present in the data, in
    order. Terms are put in lme4's order and checked as ``lmer`` checks them.
    """
    fixed = parse_terms(parsed.fixed, parsed.text)
    if fixed.offsets:
        raise FormulaError(
            "offset() terms are not supported by the out-of-memory fit; subtract the "
            "offset from the response in the source instead",
            parsed.text,
        )
    x_cols, fixed_spec = column_recipes(fixed, infos)
    terms: list[StatsTerm] = []
    for bar in parsed.bars:
        spec = parse_terms(bar.expr, parsed.text)
        z_cols, zspec = column_recipes(spec, infos)
        if not z_cols:
            raise FormulaError(
                f"the random-effect term {bar.text} has no columns", parsed.text, bar.position
            )
        values = group_values[bar.group_vars]
        labels = [":".join(v if isinstance(v, str) else r_label(v) for v in tup) for tup in values]
        factor = Categorical(None, labels)  # type: ignore[arg-type]
        terms.append(
            StatsTerm(
                bar,
                factor,
                None,  # type: ignore[arg-type]
                list(zspec.column_names),
                zspec,
                n_effects=len(z_cols),
                group_values=values,
                columns=z_cols,
            )
        )
    terms = lme4_order(terms)  # type: ignore[assignment]
    check_identifiable(terms, n)  # type: ignore[arg-type]
    return ScaleDesign(
        formula=parsed,
        x_names=list(fixed_spec.column_names),
        x_columns=x_cols,
        terms=terms,
        fixed_spec=fixed_spec,
        response=parsed.response,
        n=n,
        n_input=n_input,
        has_weights=has_weights,
    )


def dependent_columns_from_gram(
    G: np.ndarray, tol: float = 1e-7, norms2: np.ndarray | None = None
) -> np.ndarray:
    """Columns to keep, as :func:`mixedmodels.design.drop_dependent_columns`, from X'X.

    Column j is dropped when its residual norm after projection on the kept
    columns before it, √(G_jj − g' G_KK⁻¹ g), is at most ``tol`` times its
    own norm: √G_jj, or √norms2[j] when G is the Gram matrix of columns
    shifted by multiples of a kept column 0 (X̃_j = (X_j − m_j)/d_j: same
    residuals, and norms2[j] = Σ (X_j/d_j)²). (The Gram matrix carries half
    the digits of X: columns within about 1e-8 relative of the threshold may
    be classed differently.)
    """
    keep: list[int] = []
    for j in range(G.shape[0]):
        gjj = float(G[j, j])
        own = gjj if norms2 is None else float(norms2[j])
        if gjj <= 0.0 or own <= 0.0:
            continue
        if keep:
            g = G[keep, j]
            sol = np.linalg.solve(G[np.ix_(keep, keep)], g)
            res2 = gjj - float(g @ sol)
        else:
            res2 = gjj
        if res2 > 0.0 and np.sqrt(res2) > tol * np.sqrt(own):
            keep.append(j)
    return np.array(keep, dtype=np.intp)


def drop_dependent(
    cp: CrossProducts, G: np.ndarray, design: ScaleDesign, norms2: np.ndarray | None = None
) -> tuple[CrossProducts, np.ndarray]:
    """Drop X columns that depend on earlier ones (lme4's rank check), from X'X.

    ``G`` and ``norms2`` as :func:`dependent_columns_from_gram`. Returns the
    reduced cross-products and the kept column indices.
    """
    keep = dependent_columns_from_gram(G, norms2=norms2)
    p = cp.p
    if keep.size == p:
        return cp, keep
    drop_design_columns(design, keep)
    rows = np.concatenate([np.arange(cp.rz), cp.rz + keep, [cp.rz + p]]).astype(np.intp)
    A21 = cp.A21[rows] if sp.issparse(cp.A21) else np.asarray(cp.A21)[rows]
    if sp.issparse(A21):
        A21 = sp.csc_matrix(A21)
    if sp.issparse(cp.A22):
        A22 = sp.csc_matrix(cp.A22)[rows][:, rows]
    else:
        A22 = cp.A22[np.ix_(rows, rows)]
    reduced = CrossProducts(
        cp.dims, cp.A11, A21, A22, cp.n, int(keep.size), cp.sum_log_w, cp.shift.subset(keep)
    )
    return reduced, keep


def drop_design_columns(design: ScaleDesign, keep: np.ndarray) -> None:
    """Keep the X columns ``keep`` of ``design``, warning as ``lmer`` does for the others."""
    p = len(design.x_names)
    dropped = [design.x_names[j] for j in range(p) if j not in set(keep)]
    warnings.warn(
        f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} "
        f"column{'s' if len(dropped) > 1 else ''} / coefficient"
        f"{'s' if len(dropped) > 1 else ''}: {', '.join(dropped)}",
        RankDeficiencyWarning,
        stacklevel=4,
    )
    design.dropped_columns = dropped
    design.x_names = [design.x_names[j] for j in keep]
    design.x_columns = [design.x_columns[j] for j in keep]
    spec = design.fixed_spec
    spec.column_names = [spec.column_names[j] for j in keep]
    spec.assign = [spec.assign[j] for j in keep]


def _all_finite(cp: CrossProducts) -> bool:
    """True when every block of A is finite."""
    a21 = cp.A21.data if sp.issparse(cp.A21) else np.asarray(cp.A21)
    a22 = cp.A22.data if sp.issparse(cp.A22) else np.asarray(cp.A22)
    return bool(np.isfinite(cp.A11).all() and np.isfinite(a21).all() and np.isfinite(a22).all())


def check_finite(
    cp: CrossProducts,
    design: ScaleDesign,
    column_stats: Callable[[], dict[str, tuple[int, float]]],
) -> None:
    """Refuse ±inf in y, X or Z, and sums that overflow, naming the column.

    When every block of A is finite nothing is read. Otherwise
    ``column_stats()`` scans the rows once more and returns, per model column
    (``"y"``, ``"x{j}"``, ``"z{k}_{s}"``), the number of infinite values and
    the largest finite magnitude. As in memory (and R's ``lm``), infinite
    values are an error, not missing values: NaN and NULL were left out as NA
    before the cross-products.
    """
    if _all_finite(cp):
        return
    from ..design.column_checks import infinite_column_error
    from ..errors import DataError

    stats = column_stats()
    formula = design.formula.text
    if stats.get("y", (0, 0.0))[0]:
        raise DataError(
            f"the response '{design.response}' has {stats['y'][0]} infinite values; "
            "remove or recode them"
        )
    where: dict[str, tuple[str, str]] = {}
    for j, nm in enumerate(design.x_names):
        where[f"x{j}"] = (nm, "the fixed effects")
    for k, t in enumerate(design.terms):
        for s, nm in enumerate(t.names):
            where[f"z{k}_{s}"] = (nm, f"the random-effect term {t.bar.text}")
    for key, (n_inf, _) in stats.items():
        if n_inf and key in where:
            raise infinite_column_error(*where[key], int(n_inf), design.n, formula)
    names = {"y": f"the response '{design.response}'"}
    names.update({k: f"column '{nm}' of {w}" for k, (nm, w) in where.items()})
    largest = sorted(stats.items(), key=lambda kv: -kv[1][1])
    # y and X enter scaled (crossprod.centering): only Z's squares can overflow
    big = [names[k] for k, (_, m) in largest if m > 1e150 and k.startswith("z")]
    big = big or [names[largest[0][0]]]
    raise DataError(
        f"the sums of squares and cross-products overflow: {', '.join(big)} has values too "
        f"large (up to {largest[0][1][1]:.3g}) to square in double precision; rescale it"
    )
