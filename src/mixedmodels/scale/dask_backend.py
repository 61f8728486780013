"""``lmer`` from cross-products summed over the partitions of a Dask DataFrame.

The blocks come from one scan of the partitions
(:mod:`mixedmodels.scale.dask_onepass`: per-partition sums keyed by the raw
values of the grouping factors, added in a tree on the workers, coded once on
the client). A factor used in X or Z needs one scan before that: its levels
(their number and R's order) decide the columns of X and Z, which must exist
before any of their products can be summed, so the first scan finds only the
distinct values of those factors in the complete rows; everything else (the
row counts, the smallest weight, the grouping factors' levels, the first rows
for the centering) is aggregated by the scan of the blocks. Only O(levels)
tables cross the network; the rows stay in the partitions. Later scans
(residuals, fitted values, moment sums) code each partition against the level
tables (:class:`PartitionCoder`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from ..crossprod import CrossProducts
from ..crossprod.rest import plan_crossproducts
from ..design.model_matrix import build_matrix, parse_terms
from ..design.variables import (
    Categorical,
    TransformState,
    evaluate,
    is_categorical_series,
    r_label,
)
from ..errors import ColumnNotFoundError, DataError, FormulaError
from ..optimize import OptimizerControl
from ..progress import ScanBar
from .dask_frames import as_dask_frame, parquet_paths, read_table
from .design import (
    ScaleDesign,
    VarInfo,
    check_finite,
    drop_dependent,
    formula_columns,
)
from .factors import (
    FactorMeta,
    apply_ordered,
    dask_metadata,
    explicit_metadata,
    level_coding,
    merge_metadata,
)
from .model import SufficientStatsLMM

__all__ = ["lmer_dask", "crossprod_dask", "DaskSource"]


SPLIT_EVERY = 8
"""Partials summed per node of the reduction tree."""


def _tree_sum(parts: list[Any], add: Any, first: Any = None) -> Any:
    """One delayed value: ``add`` over ``parts`` in a tree of fan-in :data:`SPLIT_EVERY`
    (``first`` in place of ``add`` on the first level, which always exists when given)."""
    from dask import delayed

    level = first or add
    while len(parts) > 1 or level is first:
        parts = [
            delayed(level)(*parts[i : i + SPLIT_EVERY]) for i in range(0, len(parts), SPLIT_EVERY)
        ]
        level = add
    return parts[0]


class PartitionCoder:
    """What a worker needs to turn a partition (a pandas frame) into model columns.

    Holds the row-free design, the factors' level tables (O(levels)) and the
    weights column; no rows and no Dask collection, so it is shipped to the
    workers once per computation (one key of the graph).
    """

    def __init__(
        self,
        design: ScaleDesign,
        infos: dict[str, VarInfo],
        codes: dict[tuple[str, ...], pd.DataFrame],
        weights: str | None,
    ):
        self.design = design
        self.infos = infos
        self.codes = codes  # per column tuple: distinct values with their "code"
        self.weights = weights
        self.x_index = list(range(len(design.x_columns)))

    def _code(self, pdf: pd.DataFrame, cols: tuple[str, ...]) -> np.ndarray:
        return level_codes(pdf, cols, self.codes[cols])

    def _variables(self, pdf: pd.DataFrame, exprs: list[str]) -> dict[str, Any]:
        return model_variables(pdf, exprs, self.infos, self.codes)

    def coded(self, pdf: pd.DataFrame) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray,
                                                 np.ndarray, np.ndarray | None]:
        """(codes, Zs, X (all columns), y, w) of one partition."""
        d = self.design
        n = len(pdf)
        spec = d.fixed_spec
        X, _ = build_matrix(spec.term_spec, self._variables(pdf, spec.term_spec.variables), n,
                            spec)
        codes, Zs = [], []
        for t in d.terms:
            zv = self._variables(pdf, t.spec.term_spec.variables)
            Z, _ = build_matrix(t.spec.term_spec, zv, n, t.spec)
            Zs.append(Z)
            codes.append(self._code(pdf, t.bar.group_vars))
        y = numeric_values(evaluate(d.response, pdf, TransformState(), "the response"), d.response)
        w = None if self.weights is None else pdf[self.weights].to_numpy(dtype=float)
        return codes, Zs, X, y, w

    def column_stats(self, pdf: pd.DataFrame) -> np.ndarray:
        """One partition's (count of ±inf, largest finite |v|) per model column."""
        codes, Zs, X, y, w = self.coded(pdf)
        cols = np.column_stack([y, X, *Zs]) if len(y) else np.zeros((0, 1 + X.shape[1]))
        inf = np.isinf(cols).sum(axis=0)
        finite = np.where(np.isfinite(cols), np.abs(cols), 0.0)
        big = finite.max(axis=0) if len(y) else np.zeros(cols.shape[1])
        return np.stack([inf.astype(float), big])

    def eta(self, beta: np.ndarray, bs: list[np.ndarray], pdf: pd.DataFrame
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(y, Xβ̂ + Zb̂, w) of one partition."""
        codes, Zs, X, y, w = self.coded(pdf)
        eta = X[:, self.x_index] @ beta
        for c, Z, b in zip(codes, Zs, bs):
            eta = eta + np.einsum("ij,ij->i", Z, b[c])
        return y, eta, np.ones(len(y)) if w is None else w

    def per_row(self, beta: np.ndarray, bs: list[np.ndarray], sigma: float, what: str,
                pdf: pd.DataFrame) -> pd.Series:
        """y, fitted, or response/pearson/scaled residuals of one partition."""
        y, eta, w = self.eta(beta, bs, pdf)
        val = {
            "y": y,
            "fitted": eta,
            "response": y - eta,
            "pearson": (y - eta) * np.sqrt(w),
            "scaled": (y - eta) * np.sqrt(w) / sigma,
        }[what]
        return pd.Series(val, index=pdf.index, dtype=float)

    def moments(self, beta: np.ndarray, pdf: pd.DataFrame) -> list[Any]:
        """[Σwe², Σw] and per term Σ_l e·z₀, n_l of one partition (e = y − Xβ)."""
        codes, Zs, X, y, w = self.coded(pdf)
        e = y - X[:, self.x_index] @ beta
        w = np.ones(len(y)) if w is None else w
        out: list[Any] = [np.array([float(np.sum(w * e * e)), float(np.sum(w))])]
        for c, Z, t in zip(codes, Zs, self.design.terms):
            out.append(np.bincount(c, weights=e * Z[:, 0], minlength=t.nl))
            out.append(np.bincount(c, minlength=t.nl).astype(float))
        return out


def level_codes(pdf: pd.DataFrame, cols: tuple[str, ...], table: pd.DataFrame) -> np.ndarray:
    """The level code of each row of ``pdf`` for the factor of columns ``cols``, looked up in
    ``table`` (its distinct values and their ``code``); −1 where a value is missing."""
    if len(cols) == 1:  # hash the column (Arrow-native for strings), look up the uniques
        rows, uniques = pd.factorize(pdf[cols[0]], use_na_sentinel=True)
        pos = pd.Index(table[cols[0]]).get_indexer(uniques)
        level = np.where(pos >= 0, table["code"].to_numpy(dtype=np.intp)[pos], -1)
        return np.append(level, -1)[rows]  # −1 (missing) stays −1
    merged = pdf[list(cols)].merge(table, how="left", on=list(cols))
    return merged["code"].to_numpy(dtype=np.intp)


def model_variables(pdf: pd.DataFrame, exprs: list[str], infos: dict[str, VarInfo],
                    codes: dict[tuple[str, ...], pd.DataFrame]) -> dict[str, Any]:
    """The variables ``exprs`` of a partition: factors coded against their level tables
    ``codes`` (keyed by the column), numeric expressions evaluated (and checked numeric)."""
    out: dict[str, Any] = {}
    for e in exprs:
        info = infos[e]
        if info.kind == "cat":
            assert info.column is not None
            cols = (info.column,)
            out[e] = Categorical(level_codes(pdf, cols, codes[cols]), info.levels, info.ordered)
        else:
            v = evaluate(e, pdf, TransformState(), "the formula")
            numeric_values(v, e)
            out[e] = v
    return out


def numeric_values(v: Any, name: str) -> np.ndarray:
    """The values of a numeric variable of a partition; a column that is numeric in the
    frame's metadata but not in this partition (files with different types) is an error."""
    if isinstance(v, Categorical):
        raise DataError(
            f"'{name}' is not numeric in a partition of the Dask frame although the frame's "
            "first partition has it numeric: the files differ in its type; cast it to a number "
            "in every file (or ddf['col'].astype(float))"
        )
    return np.asarray(v.values, dtype=float)


def _column_stats(pdf: pd.DataFrame, coder: PartitionCoder) -> list[np.ndarray]:
    return [coder.column_stats(pdf)]


def _moments(pdf: pd.DataFrame, coder: PartitionCoder, beta: np.ndarray) -> list[list[Any]]:
    return [coder.moments(beta, pdf)]


def _add_lists(*parts: list[Any]) -> list[Any]:
    """Element-wise Σ of lists of arrays (the moment sums)."""
    return [sum(col[1:], col[0]) for col in zip(*parts)]


def _stack_stats(*parts: np.ndarray) -> np.ndarray:
    """Σ of the ±inf counts and max of the largest magnitudes."""
    return np.stack([sum(p[0] for p in parts), np.max([p[1] for p in parts], axis=0)])


def reduce_partitions(ddf: Any, func: Any, add: Any, coder: Any, *args: Any) -> Any:
    """``add`` over ``func(partition, coder, *args)`` of every partition of ``ddf``: one
    ``map_partitions``, a tree reduction on the workers, one compute. ``coder`` (O(levels),
    no rows) is one key of the graph, shipped once."""
    import dask
    from dask import delayed

    coder_key = delayed(coder, pure=True, traverse=False)
    per = ddf.map_partitions(func, coder_key, *args, meta=(None, object),
                             enforce_metadata=False, align_dataframes=False)
    parts = per.to_delayed()  # each a one-element list, opened by the first level of the tree
    (total,) = dask.compute(_tree_sum(parts, add, _Opened(add)))
    return total


class _Opened:
    """``add`` over the values inside one-element lists (the outputs of ``map_partitions``):
    the first level of the tree, so that no task only takes an element out of a list."""

    def __init__(self, add: Any):
        self.add = add

    def __call__(self, *parts: list[Any]) -> Any:
        return self.add(*[p[0] for p in parts])


class DaskSource:
    """Rows in a Dask DataFrame: each scan is one ``map_partitions`` followed by a tree
    reduction, computed once, on the local scheduler or the ``dask.distributed``
    client in scope. Only the coder (O(levels)) goes to the workers and only
    per-partition sums (O(levels)) come back."""

    def __init__(self, ddf: Any, coder: PartitionCoder):
        self.ddf = ddf
        self.coder = coder
        self.design = coder.design

    @property
    def x_index(self) -> list[int]:
        return self.coder.x_index

    @x_index.setter
    def x_index(self, value: list[int]) -> None:
        self.coder.x_index = value

    def _reduce(self, func: Any, add: Any, *args: Any) -> Any:
        """``add`` over ``func(partition, coder, *args)`` of every partition, one compute."""
        return reduce_partitions(self.ddf, func, add, self.coder, *args)

    def column_stats(self) -> dict[str, tuple[int, float]]:
        """Per model column (y, x{j}, z{k}_{s}): the count of ±inf and the largest finite |v|."""
        stats = self._reduce(_column_stats, _stack_stats)
        inf, big = stats[0], stats[1]
        keys = ["y"] + [f"x{j}" for j in range(len(self.design.x_columns))]
        keys += [f"z{k}_{s}" for k, t in enumerate(self.design.terms) for s in range(t.S)]
        return {k: (int(inf[i]), float(big[i])) for i, k in enumerate(keys)}

    def row_values(self, model: SufficientStatsLMM, what: str) -> np.ndarray:
        """Per row, partition order: y, fitted, or response/pearson/scaled residuals."""
        import dask
        from dask import delayed

        coder = delayed(self.coder, pure=True, traverse=False)
        s = self.ddf.map_partitions(
            _per_row, coder, model._beta, list(model._b), float(model._sigma), what,
            meta=pd.Series(dtype=float), align_dataframes=False,
        )
        (values,) = dask.compute(s)
        return np.asarray(values, dtype=float)

    def scaled_residual_quantiles(self, model: SufficientStatsLMM) -> np.ndarray:
        """Type-7 quantiles of the scaled residuals (gathers n floats)."""
        r = self.row_values(model, "scaled")
        return np.quantile(r, [0.0, 0.25, 0.5, 0.75, 1.0])

    def moment_sums(
        self, beta: np.ndarray
    ) -> tuple[float, float, list[tuple[np.ndarray, np.ndarray]]]:
        """Σwe², Σw and per term (Σ_l e·z₀, n_l), e = y − Xβ, summed over partitions."""
        tot = self._reduce(_moments, _add_lists, beta)
        per = [(tot[1 + 2 * k], tot[2 + 2 * k]) for k in range(len(self.design.terms))]
        return float(tot[0][0]), float(tot[0][1]), per


def _per_row(pdf: pd.DataFrame, coder: PartitionCoder, beta: np.ndarray, bs: list[np.ndarray],
             sigma: float, what: str) -> pd.Series:
    return coder.per_row(beta, bs, sigma, what, pdf)


def crossprod_dask(
    formula: str,
    ddf: Any,
    weights: str | None = None,
    *,
    levels: dict[str, Any] | None = None,
    ordered: dict[str, Any] | None = None,
    rest: str = "auto",
    progress: Any = None,
) -> tuple[CrossProducts, ScaleDesign, DaskSource]:
    """The cross-products, row-free design and row source of ``formula`` on a Dask frame.

    Factors take their level order and ordered flag from ``levels=`` /
    ``ordered=``, else from the frame's categorical dtypes (as pandas does in
    memory), else R's order; see :mod:`mixedmodels.scale.factors`. The blocks
    take one scan of the partitions, and a scan for the levels before it when
    a factor is used in X or Z (:func:`scan_blocks`). ``rest`` then chooses the
    dense or sparse rest block as for ``lmer`` (:mod:`mixedmodels.linalg.rest_plan`).
    ``progress``: a bar over the scans (:class:`~mixedmodels.progress.ScanBar`).
    """
    files = parquet_paths(ddf)
    ddf, parsed, infos, raw, meta = read_formula(formula, ddf, weights, levels, ordered)
    with ScanBar(progress, "dask") as scans:
        cp, design, src, G, norms2 = scan_blocks(ddf, parsed, infos, raw, meta, weights,
                                                 files, scans)
    cp, keep = drop_dependent(cp, G, design, norms2)
    src.x_index = [int(j) for j in keep]
    return plan_crossproducts(cp, rest), design, src


def scan_blocks(
    ddf: Any, parsed: Any, infos: dict[str, VarInfo], raw: list[str],
    meta: dict[str, FactorMeta], weights: str | None, files: list[str], scans: ScanBar,
) -> tuple[CrossProducts, ScaleDesign, DaskSource, np.ndarray, np.ndarray]:
    """(cross-products, design, row source, X̃'X̃, Σ (X/d)²) of the model on ``ddf``, checked
    finite: the levels of the factors used in X or Z (one scan, :func:`factor_levels`),
    then the blocks (one scan, :func:`~mixedmodels.scale.dask_onepass.one_pass`), each a
    step of ``scans``. (±inf in a column: one more scan, to name it.) Parquet ``files``
    that disagree on the kind of a column's type are refused first."""
    from .dask_onepass import one_pass
    from .duckdb_source import type_conflict

    conflict = type_conflict(files, raw) if len(files) > 1 else None
    if conflict:  # read from the files' footers: before any scan
        raise DataError(f"{conflict}; give the column the same type in every file")
    factors = list(dict.fromkeys(i.column for i in infos.values()
                                 if i.kind == "cat" and i.column is not None))
    scans.expect(1 + bool(factors))
    codes: dict[tuple[str, ...], pd.DataFrame] = {}
    if factors:
        with partitions_checked(), scans.scan("levels of " + ", ".join(factors), tasks=True):
            codes = factor_levels(files_frame(files, raw, ddf._meta) if files else ddf,
                                  raw, factors, infos, meta)
    sums = "Σ by " + ", ".join(dict.fromkeys(":".join(b.group_vars) for b in parsed.bars))
    with scans.scan(sums, tasks=True):
        cp, design, src, G, norms2 = one_pass(ddf, parsed, infos, raw, meta, weights, files,
                                              codes)
    check_finite(cp, design, scans.counted("±inf per column", src.column_stats, True))
    return cp, design, src, G, norms2


def read_formula(
    formula: str,
    ddf: Any,
    weights: str | None,
    levels: dict[str, Any] | None,
    ordered: dict[str, Any] | None,
) -> tuple[Any, Any, dict[str, VarInfo], list[str], dict[str, FactorMeta]]:
    """(frame, parsed formula, variables, raw columns, factor metadata) from the frame's
    metadata alone (nothing computed): unknown columns and bad transforms are errors here."""
    ddf = as_dask_frame(ddf)
    meta_frame = ddf._meta
    if len(meta_frame.columns) == 0:
        raise DataError(
            "the Dask frame has no columns (did read_parquet/read_csv match no files?)"
        )
    explicit = explicit_metadata(levels, ordered)
    for c in explicit:
        if c not in meta_frame.columns:
            raise ColumnNotFoundError(c, [str(x) for x in meta_frame.columns], "levels= / ordered=")
    meta = merge_metadata(explicit, dask_metadata(meta_frame))
    is_cat = {str(c): is_categorical_series(meta_frame[c]) or str(c) in meta for c in meta_frame}

    def whole_column_only(e: str) -> None:
        if "scale(" in e or "center(" in e:
            raise FormulaError(f"'{e}': stateful transforms need the whole column; "
                               "add the transformed column to the frame", e)

    parsed, infos, raw = formula_columns(formula, is_cat, weights, check_expr=whole_column_only)
    apply_ordered(infos, meta)
    return ddf, parsed, infos, raw, meta


@contextmanager
def partitions_checked() -> Iterator[None]:
    """A partition without a column of the frame's metadata (files with different
    columns) becomes a :class:`DataError` naming the column."""
    try:
        yield
    except KeyError as exc:
        names = re.findall(r"'([^']+)'", str(exc.args[0] if exc.args else "")) or [str(exc)]
        raise DataError(
            f"a partition of the Dask frame has no column {', '.join(map(repr, names))}: the "
            "files differ in their columns; give every file the same columns (or select the "
            "files that have them)"
        ) from None


def check_rows(raw: list[str], present: Any, n_input: int, n: int, wmin: float | None) -> None:
    """No complete rows, or a weight that is not positive: a :class:`DataError` saying which
    column is missing everywhere (``present``: non-missing count per raw column)."""
    if n == 0:
        empty = [c for c, k in zip(raw, present) if int(k) == 0]
        detail = (
            f"{', '.join(repr(c) for c in empty)} {'is' if len(empty) == 1 else 'are'} "
            "missing (NA or NaN) in every row"
            if empty and n_input
            else "the frame has no rows" if not n_input
            else "every row has a missing value (NA or NaN) in some variable of the model"
        )
        raise DataError(f"no rows left after removing missing values: {detail}")
    if wmin is not None and float(wmin) <= 0:
        raise DataError("weights must be positive")


def code_levels(
    key: tuple[str, ...], distinct: pd.DataFrame, meta: dict[str, FactorMeta]
) -> tuple[pd.DataFrame, list[tuple[str, ...]]]:
    """The distinct value tuples of a factor with their level ``code`` (R's order), and the
    levels' labels. Categories known only once computed (read_parquet) give the order, as
    in memory."""
    known = dict(meta)
    for c in key:
        if isinstance(distinct[c].dtype, pd.CategoricalDtype) and (
            c not in meta or meta[c].labels is None
        ):
            cats = tuple(r_label(v) for v in distinct[c].cat.categories)
            known[c] = FactorMeta(cats, False, "Dask categorical dtype")
    tuples = list(zip(*(distinct[c].to_numpy(dtype=object) for c in key)))
    level, labels = level_coding(tuples, key, known)  # values printed alike: one level
    table = distinct.copy()  # the frame's own dtypes, for the lookups
    table["code"] = np.asarray(level, dtype=np.intp)
    return table, labels


def files_frame(files: list[str], columns: list[str], meta: pd.DataFrame) -> Any:
    """A Dask frame of one partition per Parquet file, ``columns`` only (a file without one
    of them is named, :func:`~mixedmodels.scale.dask_frames.read_table`)."""
    import dask.dataframe as dd

    return dd.from_map(_read_frame, files, columns=columns, meta=meta[columns],
                       enforce_metadata=False, divisions=[None] * (len(files) + 1))


def _read_frame(path: str, columns: list[str]) -> pd.DataFrame:
    return read_table(path, columns, frozenset()).to_pandas()


def factor_levels(
    ddf: Any, raw: list[str], factors: list[str], infos: dict[str, VarInfo],
    meta: dict[str, FactorMeta],
) -> dict[tuple[str, ...], pd.DataFrame]:
    """The level tables of the factors used in X or Z (one scan of the partitions, the
    distinct values of each in the complete rows, combined in a tree on the workers with
    ``split_out=1``: no shuffle of rows); their levels go to ``infos``. With no complete
    row, the error of :func:`check_rows` (the column missing in every row)."""
    import dask

    rows = ddf[raw].dropna()
    n_input, n, present, *found = dask.compute(
        ddf.shape[0], rows.shape[0], ddf[raw].count(),
        *[rows[c].unique(split_out=1) for c in factors],
    )
    check_rows(raw, [present[c] for c in raw], int(n_input), int(n), None)
    codes: dict[tuple[str, ...], pd.DataFrame] = {}
    for c, distinct in zip(factors, found):
        distinct = distinct.to_frame(name=c).drop_duplicates().reset_index(drop=True)
        codes[(c,)], values = code_levels((c,), distinct, meta)
        for info in infos.values():
            if info.kind == "cat" and info.column == c:
                info.values = [v[0] for v in values]
    return codes


def lmer_dask(
    formula: str,
    ddf: Any,
    REML: bool = True,
    weights: str | None = None,
    control: OptimizerControl | None = None,
    start: Any = None,
    *,
    levels: dict[str, Any] | None = None,
    ordered: dict[str, Any] | None = None,
    progress: bool | None = None,
    method: str | None = None,
) -> Any:
    """Fit ``lmer(formula)`` on a Dask DataFrame from partition-wise cross-products.

    ``ddf`` may also be a pandas or polars frame (split into partitions).
    ``levels=`` / ``ordered=`` code factors as in :func:`lmer_duckdb`;
    without them a categorical dtype gives its categories and ordered flag.
    Rows with NA or NaN are left out; ±inf is an error naming the column.
    ``progress`` shows a bar over the scans of the partitions, each named by what
    it sums and showing its finished Dask tasks (None: when interactive, False
    never, True always; :class:`~mixedmodels.progress.ScanBar`).
    ``method="moments"``: crossed random intercepts by moments + backfitting GLS
    from partition-wise group sums (:mod:`mixedmodels.moments`).
    """
    if method is not None:
        return _lmer_dask_moments(formula, ddf, method, weights, start, levels, ordered,
                                  progress)
    with ScanBar(progress, "dask") as scans:
        cp, design, src = crossprod_dask(formula, ddf, weights=weights, levels=levels,
                                         ordered=ordered, rest=getattr(control, "rest", "auto"),
                                         progress=scans.bar)
        model = SufficientStatsLMM(design, cp, src, REML=REML, control=control,
                                   data_name="dask")
        if isinstance(start, pd.Series):
            start = start.to_numpy()
        scans.label("fit")
        return model.fit(start=start)


def _lmer_dask_moments(
    formula: str, ddf: Any, method: str, weights: str | None, start: Any,
    levels: dict[str, Any] | None, ordered: dict[str, Any] | None, progress: bool | None,
) -> Any:
    """``lmer_dask(..., method="moments")``: the scans of the exact fit (one, or two with a
    factor in X), the group sums read off its cross-products (random intercepts only:
    their blocks are the level counts, the per-level sums of [X̃ ỹ] and the level-pair
    counts), the moment fit."""
    from types import SimpleNamespace

    from ..errors import ArgumentError
    from ..formula import parse_formula
    from ..moments.api import check_moments_call, check_moments_terms, fit_from_sums
    from .moments_sums import drop_dependent_sums, group_sums_of_crossproducts

    if method != "moments":
        raise ArgumentError("method", method, "None (exact (RE)ML) or 'moments'")
    parsed = parse_formula(formula)
    check_moments_call(parsed.text, parsed.response, weights, start)
    terms = []  # checked before any scan: the terms of each bar, as written
    for bar in parsed.bars:
        spec = parse_terms(bar.expr, parsed.text)
        names = ["(Intercept)"] * spec.intercept + [":".join(t) for t in spec.terms]
        terms.append(SimpleNamespace(S=len(names), names=names, bar=bar, group=bar.group))
    check_moments_terms(terms)
    files = parquet_paths(ddf)
    ddf, parsed, infos, raw, meta = read_formula(formula, ddf, None, levels, ordered)
    with ScanBar(progress, "dask") as scans:
        cp, design, src, _, _ = scan_blocks(ddf, parsed, infos, raw, meta, None, files, scans)
    sums, keep = drop_dependent_sums(group_sums_of_crossproducts(cp), design)
    src.x_index = [int(j) for j in keep]
    return fit_from_sums(design, sums, source=src, data_name="dask")
