"""``lmer`` from cross-products summed over the partitions of a Dask DataFrame.

Each partition (a pandas DataFrame) is coded against the global levels
(found first with ``drop_duplicates`` over the whole frame, in R's order)
and reduced to its own blocks with the in-memory
:func:`mixedmodels.crossprod.crossprod`; since every block is a sum over
rows, A = Σ_partitions A_part (likewise n, Σ log wᵢ and the unweighted X'X
used for the rank check). Only the blocks travel; the rows stay in the
partitions.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from ..crossprod import Centering, CrossProducts, crossprod
from ..crossprod.centering import SAMPLE_ROWS
from ..design.model_matrix import build_matrix
from ..design.variables import (
    Categorical,
    TransformState,
    evaluate,
    is_categorical_series,
    r_label,
)
from ..errors import ColumnNotFoundError, DataError, FormulaError
from ..optimize import OptimizerControl
from ..progress import dask_progress
from .design import (
    ScaleDesign,
    VarInfo,
    build_scale_design,
    check_finite,
    drop_dependent,
    formula_columns,
)
from .factors import (
    FactorMeta,
    apply_ordered,
    dask_metadata,
    explicit_metadata,
    merge_metadata,
    order_level_rows,
)
from .model import SufficientStatsLMM

__all__ = ["lmer_dask", "crossprod_dask", "DaskSource"]


_Partial = tuple[CrossProducts, np.ndarray, np.ndarray]


def _add(a: _Partial, b: _Partial) -> _Partial:
    ca, ga, na = a
    cb, gb, nb = b
    cp = CrossProducts(
        ca.dims,
        ca.A11 + cb.A11,
        ca.A21 + cb.A21,
        ca.A22 + cb.A22,
        ca.n + cb.n,
        ca.p,
        ca.sum_log_w + cb.sum_log_w,
        ca.shift,
    )
    return cp, ga + gb, na + nb


class DaskSource:
    """Rows in a Dask DataFrame, coded partition by partition."""

    def __init__(
        self,
        ddf: Any,
        design: ScaleDesign,
        infos: dict[str, VarInfo],
        codes: dict[tuple[str, ...], pd.DataFrame],
        weights: str | None,
    ):
        self.ddf = ddf
        self.design = design
        self.infos = infos
        self.codes = codes  # per column tuple: distinct values with their "code"
        self.weights = weights
        self.x_index = list(range(len(design.x_columns)))

    def _code(self, pdf: pd.DataFrame, cols: tuple[str, ...]) -> np.ndarray:
        table = self.codes[cols]
        merged = pdf[list(cols)].merge(table, how="left", on=list(cols))
        return merged["code"].to_numpy(dtype=np.intp)

    def _variables(self, pdf: pd.DataFrame, exprs: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for e in exprs:
            info = self.infos[e]
            if info.kind == "cat":
                assert info.column is not None
                out[e] = Categorical(self._code(pdf, (info.column,)), info.levels, info.ordered)
            else:
                out[e] = evaluate(e, pdf, TransformState(), "the formula")
        return out

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
        y = np.asarray(evaluate(d.response, pdf, TransformState(), "the response").values, float)
        w = None if self.weights is None else pdf[self.weights].to_numpy(dtype=float)
        return codes, Zs, X, y, w

    def centering(self) -> Centering:
        """Shift and scale of X and y from the first :data:`SAMPLE_ROWS` rows.

        Partitions are read in order until that many rows are in hand
        (usually the first one only); the in-memory rule on the same rows.
        """
        got: list[pd.DataFrame] = []
        count = 0
        for i in range(self.ddf.npartitions):
            pdf = self.ddf.get_partition(i).compute()
            got.append(pdf)
            count += len(pdf)
            if count >= SAMPLE_ROWS:
                break
        _, _, X, y, w = self.coded(pd.concat(got).iloc[:SAMPLE_ROWS])
        intercept = X.shape[1] > 0 and not self.design.x_columns[0]
        return Centering.from_rows(X, y, w, intercept)

    def partial(self, pdf: pd.DataFrame, shift: Centering) -> _Partial:
        """One partition's blocks; for the rank check its unweighted X̃'X̃ and Σ (X/d)²."""
        codes, Zs, X, y, w = self.coded(pdf)
        cp = crossprod(codes, Zs, [t.nl for t in self.design.terms], X, y, w, shift)
        Xt, _ = shift.transform(X, y)
        Xd = X / shift.d
        return cp, Xt.T @ Xt, np.einsum("ij,ij->j", Xd, Xd)

    def crossprod(self) -> _Partial:
        """Σ over partitions of the blocks (a tree reduction of delayed partials)."""
        import dask
        from dask import delayed

        shift = self.centering()
        parts = [delayed(self.partial)(p, shift) for p in self.ddf.to_delayed()]
        while len(parts) > 1:
            nxt = [delayed(_add)(a, b) for a, b in zip(parts[::2], parts[1::2])]
            if len(parts) % 2:
                nxt.append(parts[-1])
            parts = nxt
        (total,) = dask.compute(parts[0])
        return total

    def _column_stats(self, pdf: pd.DataFrame) -> np.ndarray:
        """One partition's (count of ±inf, largest finite |v|) per model column."""
        codes, Zs, X, y, w = self.coded(pdf)
        cols = np.column_stack([y, X, *Zs]) if len(y) else np.zeros((0, 1 + X.shape[1]))
        inf = np.isinf(cols).sum(axis=0)
        finite = np.where(np.isfinite(cols), np.abs(cols), 0.0)
        big = finite.max(axis=0) if len(y) else np.zeros(cols.shape[1])
        return np.stack([inf.astype(float), big])

    def column_stats(self) -> dict[str, tuple[int, float]]:
        """Per model column (y, x{j}, z{k}_{s}): the count of ±inf and the largest finite |v|."""
        import dask
        from dask import delayed

        parts = [delayed(self._column_stats)(p) for p in self.ddf.to_delayed()]
        (stats,) = dask.compute(parts)
        inf = sum(st[0] for st in stats)
        big = np.max([st[1] for st in stats], axis=0)
        keys = ["y"] + [f"x{j}" for j in range(len(self.design.x_columns))]
        keys += [f"z{k}_{s}" for k, t in enumerate(self.design.terms) for s in range(t.S)]
        return {k: (int(inf[i]), float(big[i])) for i, k in enumerate(keys)}

    def _eta(self, model: SufficientStatsLMM, pdf: pd.DataFrame) -> tuple[np.ndarray, np.ndarray,
                                                                           np.ndarray]:
        codes, Zs, X, y, w = self.coded(pdf)
        eta = X[:, self.x_index] @ model._beta
        for c, Z, b in zip(codes, Zs, model._b):
            eta = eta + np.einsum("ij,ij->i", Z, b[c])
        return y, eta, np.ones(len(y)) if w is None else w

    def _per_row(self, model: SufficientStatsLMM, what: str, pdf: pd.DataFrame) -> pd.Series:
        y, eta, w = self._eta(model, pdf)
        val = {
            "y": y,
            "fitted": eta,
            "response": y - eta,
            "pearson": (y - eta) * np.sqrt(w),
            "scaled": (y - eta) * np.sqrt(w) / model._sigma,
        }[what]
        return pd.Series(val, index=pdf.index, dtype=float)

    def row_values(self, model: SufficientStatsLMM, what: str) -> np.ndarray:
        """Per row, partition order: y, fitted, or response/pearson/scaled residuals."""
        s = self.ddf.map_partitions(
            lambda pdf: self._per_row(model, what, pdf), meta=pd.Series(dtype=float)
        )
        return np.asarray(s.compute(), dtype=float)

    def scaled_residual_quantiles(self, model: SufficientStatsLMM) -> np.ndarray:
        """Type-7 quantiles of the scaled residuals (gathers n floats)."""
        r = self.row_values(model, "scaled")
        return np.quantile(r, [0.0, 0.25, 0.5, 0.75, 1.0])

    def _moments(self, beta: np.ndarray, pdf: pd.DataFrame) -> list[Any]:
        codes, Zs, X, y, w = self.coded(pdf)
        e = y - X[:, self.x_index] @ beta
        w = np.ones(len(y)) if w is None else w
        out: list[Any] = [np.array([float(np.sum(w * e * e)), float(np.sum(w))])]
        for c, Z, t in zip(codes, Zs, self.design.terms):
            out.append(np.bincount(c, weights=e * Z[:, 0], minlength=t.nl))
            out.append(np.bincount(c, minlength=t.nl).astype(float))
        return out

    def moment_sums(
        self, beta: np.ndarray
    ) -> tuple[float, float, list[tuple[np.ndarray, np.ndarray]]]:
        """Σwe², Σw and per term (Σ_l e·z₀, n_l), e = y − Xβ, summed over partitions."""
        import dask
        from dask import delayed

        parts = [delayed(self._moments)(beta, p) for p in self.ddf.to_delayed()]
        (lists,) = dask.compute(parts)
        tot = [sum(col[i] for col in lists) for i in range(len(lists[0]))]
        per = [(tot[1 + 2 * k], tot[2 + 2 * k]) for k in range(len(self.design.terms))]
        return float(tot[0][0]), float(tot[0][1]), per


def as_dask_frame(data: Any) -> Any:
    """A Dask DataFrame as given; a pandas (or polars) frame split into partitions."""
    if hasattr(data, "_meta") and hasattr(data, "to_delayed"):
        return data
    import dask.dataframe as dd

    if hasattr(data, "to_pandas") and not isinstance(data, pd.DataFrame):  # polars, pyarrow
        data = data.to_pandas()
    if isinstance(data, pd.DataFrame):
        parts = max(1, min(os.cpu_count() or 1, len(data) // 100_000))
        return dd.from_pandas(data, npartitions=parts)
    raise DataError(
        f"lmer_dask needs a Dask DataFrame (or a pandas/polars frame), got {type(data).__name__}; "
        "for files use dask.dataframe.read_parquet(...) or mixedmodels.scale.lmer_duckdb"
    )


def crossprod_dask(
    formula: str,
    ddf: Any,
    weights: str | None = None,
    *,
    levels: dict[str, Any] | None = None,
    ordered: dict[str, Any] | None = None,
) -> tuple[CrossProducts, ScaleDesign, DaskSource]:
    """The cross-products, row-free design and row source of ``formula`` on a Dask frame.

    Factors take their level order and ordered flag from ``levels=`` /
    ``ordered=``, else from the frame's categorical dtypes (as pandas does in
    memory), else R's order; see :mod:`mixedmodels.scale.factors`.
    """
    design, src = dask_design(formula, ddf, weights, levels=levels, ordered=ordered)
    cp, G, norms2 = src.crossprod()
    check_finite(cp, design, src.column_stats)
    cp, keep = drop_dependent(cp, G, design, norms2)
    src.x_index = [int(j) for j in keep]
    return cp, design, src


def dask_design(
    formula: str,
    ddf: Any,
    weights: str | None = None,
    *,
    levels: dict[str, Any] | None = None,
    ordered: dict[str, Any] | None = None,
) -> tuple[ScaleDesign, DaskSource]:
    """The row-free design of ``formula`` on a Dask frame and its row source (levels
    coded in one pass over the partitions; nothing summed yet)."""
    ddf = as_dask_frame(ddf)
    meta_frame = ddf._meta
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

    rows = ddf[raw].dropna()
    keys: list[tuple[str, ...]] = [(i.column,) for i in infos.values() if i.kind == "cat"]
    keys += [bar.group_vars for bar in parsed.bars]
    keys = list(dict.fromkeys(keys))  # type: ignore[arg-type]
    # one pass over the partitions: row counts, the smallest weight and the distinct levels
    # (computed together, the partitions are read once)
    import dask

    wmin = rows[weights].min() if weights is not None else None
    n_input, n, wmin, *found = dask.compute(
        ddf.shape[0], rows.shape[0], wmin, *[rows[list(k)].drop_duplicates() for k in keys]
    )
    n_input, n = int(n_input), int(n)
    if n == 0:
        raise DataError(
            "no rows left after removing rows with missing values (NA or NaN) in "
            + ", ".join(repr(c) for c in raw)
        )
    if weights is not None and float(wmin) <= 0:
        raise DataError("weights must be positive")

    codes: dict[tuple[str, ...], pd.DataFrame] = {}
    values: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for key, distinct in zip(keys, found):
        distinct = distinct.drop_duplicates().reset_index(drop=True)  # across partitions
        # categories known only once computed (read_parquet) give the order, as in memory
        known = dict(meta)
        for c in key:
            if isinstance(distinct[c].dtype, pd.CategoricalDtype) and (
                c not in meta or meta[c].labels is None
            ):
                cats = tuple(r_label(v) for v in distinct[c].cat.categories)
                known[c] = FactorMeta(cats, False, "Dask categorical dtype")
        tuples = [tuple(r) for r in distinct.itertuples(index=False, name=None)]
        tuples = order_level_rows(tuples, key, known)
        table = pd.DataFrame(tuples, columns=list(key))
        for c in key:  # merge on the frame's own dtypes
            table[c] = table[c].astype(distinct[c].dtype)
        table["code"] = np.arange(len(tuples), dtype=np.intp)
        codes[key] = table
        values[key] = tuples
    for info in infos.values():
        if info.kind == "cat":
            info.values = [v[0] for v in values[(info.column,)]]  # type: ignore[index]
    design = build_scale_design(parsed, infos, values, n, n_input, weights is not None)
    return design, DaskSource(rows, design, infos, codes, weights)


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
    ``progress`` shows a bar over the Dask tasks of the scans (None: when
    interactive, :mod:`mixedmodels.progress`).
    ``method="moments"``: crossed random intercepts by moments + backfitting GLS
    from partition-wise group sums (:mod:`mixedmodels.moments`).
    """
    if method is not None:
        return _lmer_dask_moments(formula, ddf, method, weights, start, levels, ordered,
                                  progress)
    with dask_progress(progress, "dask scan"):
        cp, design, src = crossprod_dask(formula, ddf, weights=weights, levels=levels,
                                         ordered=ordered)
    model = SufficientStatsLMM(design, cp, src, REML=REML, control=control, data_name="dask")
    if isinstance(start, pd.Series):
        start = start.to_numpy()
    return model.fit(start=start)


def _lmer_dask_moments(
    formula: str, ddf: Any, method: str, weights: str | None, start: Any,
    levels: dict[str, Any] | None, ordered: dict[str, Any] | None, progress: bool | None,
) -> Any:
    from ..errors import ArgumentError
    from ..formula import parse_formula
    from ..moments.api import check_moments_call, check_moments_terms, fit_from_sums
    from .moments_sums import drop_dependent_sums, group_sums_dask

    if method != "moments":
        raise ArgumentError("method", method, "None (exact (RE)ML) or 'moments'")
    parsed = parse_formula(formula)
    check_moments_call(parsed.text, parsed.response, weights, start)
    with dask_progress(progress, "dask scan"):
        design, src = dask_design(formula, ddf, None, levels=levels, ordered=ordered)
        check_moments_terms(design.terms)
        sums = group_sums_dask(src)
    sums, keep = drop_dependent_sums(sums, design)
    src.x_index = [int(j) for j in keep]
    return fit_from_sums(design, sums, source=src, data_name="dask")
