"""One scan of a Dask frame: per-partition blocks keyed by raw group values, summed in a tree.

Each partition (a pandas frame) is reduced on its worker to
:class:`KeyedSums`: its rows with a missing value left out, each grouping
factor coded by hashing (``pd.factorize``: local level l ↔ the l-th distinct
value tuple u_l of the partition) and the full cross-product matrix

    A_p = [Z_1 … Z_K X̃ ỹ]' W [Z_1 … Z_K X̃ ỹ]    (terms in formula order, local levels)

under the partition's own centering X̃ = X M_p⁻¹, ỹ = (y − c_p)/s_p (from its
first rows, :meth:`Centering.from_rows`). Two partials are added by mapping
both onto the union of their distinct values and onto the first one's
centering (M, c, s):

    A = Σ_p P_p' A_p P_p,   P_p = diag(L_p, T_p),
    T_p = [[M_p M⁻¹, t_p], [0, s_p/s]],   t_p = e₀ (c_p − c)/s (with an intercept),

where L_p (0/1) sends local level l to its position in the union. The change
of centering is exact (X̃ = X̃_p M_p M⁻¹, ỹ = ỹ_p s_p/s + X̃_0 (c_p − c)/s with
X̃_0 = 1), so the shift is applied before any sum is formed and no first pass
for the means is needed. The reduction runs on the workers in a tree; only
these O(levels) tables cross the network. The client then codes the distinct
values once in R's order (:func:`~mixedmodels.scale.factors.level_coding`),
puts the terms in lme4's order and maps the total onto them with the same
P'AP (T = I).

A factor used in X or Z is coded against its level table, found by a scan
before this one (:func:`mixedmodels.scale.dask_backend.factor_levels`): the
columns of X and Z must be known before their products are summed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..crossprod import Centering, CrossProducts, TermDims, crossprod
from ..crossprod.blocks import shifted_columns
from ..crossprod.centering import SAMPLE_ROWS
from ..design.model_matrix import MatrixSpec, build_matrix, parse_terms
from ..design.variables import TransformState, evaluate
from ..formula import ParsedFormula
from .design import VarInfo, column_recipes

__all__ = ["KeyedSums", "OnePassPlan", "add_keyed_sums", "factorize_rows", "assemble"]


def factorize_rows(frame: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """(codes, distinct): row i of ``frame`` is row ``codes[i]`` of ``distinct`` (first
    appearance order), by hashing each column and combining the codes pairwise."""
    cols = list(frame.columns)
    codes, uniq = pd.factorize(frame[cols[0]])
    first = None
    for c in cols[1:]:
        cb, ub = pd.factorize(frame[c])
        codes, first = pd.factorize(codes.astype(np.int64) * max(len(ub), 1) + cb)
        del ub
    if first is None:
        return codes, pd.DataFrame({cols[0]: plain_values(uniq)})
    rows = np.zeros(len(first), dtype=np.intp)
    rows[codes] = np.arange(len(codes))  # a row of each distinct tuple
    return codes, frame.iloc[rows].reset_index(drop=True).apply(plain_values)


def plain_values(values: Any) -> Any:
    """Distinct values without a categorical wrapper (categories are kept aside)."""
    if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
        cat = pd.Categorical(values)  # distinct values: none missing
        return pd.Series(cat.categories.take(cat.codes), dtype=cat.categories.dtype)
    return values


@dataclass
class KeyedSums:
    """Sums over some rows, levels keyed by their raw values (see the module docstring).

    ``A`` is None when no complete row was seen. ``gram`` is the unweighted
    X̃'X̃ and ``norms2`` Σ (X/d)² under ``shift`` (the rank check);
    ``present`` counts the non-missing values of each raw column.
    """

    values: list[pd.DataFrame]
    A: sp.csr_matrix | OneTerm | None
    shift: Centering | None
    gram: np.ndarray | None
    norms2: np.ndarray | None
    n: int
    sum_log_w: float
    n_input: int
    present: np.ndarray
    wmin: float
    categories: dict[str, list[Any]] = field(default_factory=dict)
    head: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None  # first rows (X, y, w)


@dataclass
class OnePassPlan:
    """What a worker needs to reduce a partition: the model matrices' specs, the grouping
    keys and the level tables of the factors used in X or Z (``codes``); no rows, no
    levels of the grouping factors."""

    infos: dict[str, VarInfo]
    fixed: MatrixSpec
    bars: list[MatrixSpec]  # formula order
    keys: list[tuple[str, ...]]  # distinct grouping keys
    bar_key: list[int]  # key index of each bar
    response: str
    raw: list[str]
    weights: str | None
    intercept: bool
    encoded: frozenset[str] = frozenset()  # categorical only as storage (dictionary reads)
    codes: dict[tuple[str, ...], pd.DataFrame] = field(default_factory=dict)

    @classmethod
    def of(cls, parsed: ParsedFormula, infos: dict[str, VarInfo], raw: list[str],
           weights: str | None, codes: dict[tuple[str, ...], pd.DataFrame] | None = None
           ) -> OnePassPlan:
        x_cols, fixed = column_recipes(parse_terms(parsed.fixed, parsed.text), infos)
        bars = [column_recipes(parse_terms(b.expr, parsed.text), infos)[1] for b in parsed.bars]
        keys = list(dict.fromkeys(b.group_vars for b in parsed.bars))
        return cls(infos, fixed, bars, keys, [keys.index(b.group_vars) for b in parsed.bars],
                   parsed.response, raw, weights, bool(x_cols) and not x_cols[0],
                   codes=dict(codes or {}))

    def _matrix(self, spec: MatrixSpec, pdf: pd.DataFrame) -> np.ndarray:
        from .dask_backend import model_variables

        ts = spec.term_spec
        vals = model_variables(pdf, list(ts.variables), self.infos, self.codes)
        X, _ = build_matrix(ts, vals, len(pdf), spec)
        return np.asarray(X, dtype=float)

    def reduce(self, frame: pd.DataFrame) -> KeyedSums:
        """The :class:`KeyedSums` of one partition (a pandas frame)."""
        frame = frame[self.raw]
        ok = frame.notna()
        present = ok.sum().to_numpy(dtype=np.int64)
        complete = ok.all(axis=1).to_numpy()
        pdf = frame if complete.all() else frame[complete]
        cats = {c: list(pdf[c].cat.categories) for k in self.keys for c in k
                if isinstance(pdf[c].dtype, pd.CategoricalDtype) and c not in self.encoded}
        coded = [factorize_rows(pdf[list(k)]) for k in self.keys]
        return self.sums(pdf, [c for c, _ in coded], [v for _, v in coded], len(frame),
                         present, cats)

    def sums(self, pdf: pd.DataFrame, key_codes: list[np.ndarray],
             values: list[pd.DataFrame], n_input: int, present: np.ndarray,
             cats: dict[str, list[Any]]) -> KeyedSums:
        """The :class:`KeyedSums` of complete rows ``pdf`` (the numeric columns at least)
        whose key k has codes ``key_codes[k]`` into its distinct values ``values[k]``;
        ``n_input`` rows and ``present`` non-missing values per raw column before
        removing incomplete rows."""
        from .dask_backend import numeric_values

        n = len(pdf)
        w = None if self.weights is None else pdf[self.weights].to_numpy(dtype=float)
        wmin = math.inf if w is None or not n else float(w.min())
        if n == 0:
            return KeyedSums(values, None, None, None, None, 0, 0.0, n_input, present,
                             wmin, cats)
        made: dict[tuple[str, ...], np.ndarray] = {}  # Z of (x | g) is X of ~ x: made once
        for spec in [self.fixed, *self.bars]:
            names = tuple(spec.column_names)
            if names not in made:
                made[names] = self._matrix(spec, pdf)
        X = made[tuple(self.fixed.column_names)]
        Zs = [made[tuple(spec.column_names)] for spec in self.bars]
        y = numeric_values(evaluate(self.response, pdf, TransformState(), "the response"),
                           self.response)
        shift = Centering.from_rows(X, y, w, self.intercept)
        codes = [key_codes[k] for k in self.bar_key]
        nls = [len(values[k]) for k in self.bar_key]
        w_ok = w if w is not None and wmin > 0 else None
        A: sp.csr_matrix | OneTerm
        if len(Zs) > 1 and all(Z.shape[1] == 1 for Z in Zs):
            A, xyxy = scalar_terms_matrix(codes, [Z[:, 0] for Z in Zs], nls, X, y, w_ok, shift)
            with np.errstate(divide="ignore", invalid="ignore"):
                sum_log_w = 0.0 if w_ok is None else float(np.sum(np.log(w_ok)))
        else:
            cp = crossprod(codes, Zs, nls, X, y, w_ok, shift, rest="keep")
            A = OneTerm(cp.A11, np.asarray(cp.A21), np.asarray(cp.A22)) if len(Zs) == 1 \
                else full_matrix(cp)
            xyxy, sum_log_w = cp.xy_block(), cp.sum_log_w
        Xd = X / shift.d
        norms2 = np.einsum("ij,ij->j", Xd, Xd)
        p = X.shape[1]
        if w is None:
            gram = xyxy[:p, :p].copy()
        else:
            Xt, _ = shift.transform(X, y)
            gram = Xt.T @ Xt
        head = (X[:SAMPLE_ROWS], y[:SAMPLE_ROWS], None if w is None else w[:SAMPLE_ROWS])
        return KeyedSums(values, A, shift, gram, norms2, n, sum_log_w,
                         n_input, present, wmin, cats, head)


def scalar_terms_matrix(
    codes: list[np.ndarray], zs: list[np.ndarray], nls: list[int], X: np.ndarray,
    y: np.ndarray, w: np.ndarray | None, shift: Centering,
) -> tuple[sp.csr_matrix, np.ndarray]:
    """A = [Z_1 … Z_K X̃ ỹ]'W[Z_1 … Z_K X̃ ỹ] of scalar terms (one column z_k each) by
    ``bincount`` alone, and its dense [X̃ ỹ]'W[X̃ ỹ] block.

    Z_k'WZ_k is diagonal (Σ_{i: k_i = l} w z²), Z_a'WZ_b holds the sums over the level
    pairs present (counted over all pairs when there are at most max(4n, 2²⁰), else
    hashed; not sorted: the levels are renumbered later anyway), and
    Z_k'W[X̃ ỹ] the per-level sums of w z x̃_j and w z ỹ.
    """
    sw = None if w is None else np.sqrt(w)
    Xy = shifted_columns(X, y, shift, sw)
    zw = [z if sw is None else z * sw for z in zs]
    unit = [sw is None and bool(np.all(z == 1.0)) for z in zs]
    offs = np.cumsum([0] + list(nls))
    k1 = Xy.shape[1]
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []

    def put(r: np.ndarray, c: np.ndarray, v: np.ndarray, mirror: bool = True) -> None:
        rows.append(r)
        cols.append(c)
        vals.append(v)
        if mirror:
            rows.append(c)
            cols.append(r)
            vals.append(v)

    xy_cols = [None if (sw is None and shift.intercept and j == 0) else Xy[:, j]
               for j in range(k1)]  # None: the unweighted intercept, a column of ones
    for k, (c, z, nl) in enumerate(zip(codes, zw, nls)):
        lev = offs[k] + np.arange(nl)
        zz = None if unit[k] else z * z
        put(lev, lev, np.bincount(c, weights=zz, minlength=nl).astype(float), mirror=False)
        for j, col in enumerate(xy_cols):
            weights = z if col is None else (col if unit[k] else z * col)
            v = np.bincount(c, weights=None if unit[k] and col is None else weights,
                            minlength=nl).astype(float)
            put(lev, np.full(nl, offs[-1] + j), v)
        for b in range(k + 1, len(codes)):
            key = c.astype(np.int64) * nls[b] + codes[b]
            prod = None if unit[k] and unit[b] else z * zw[b]
            if nl * nls[b] <= max(4 * key.size, 1 << 20):  # few pairs possible: count them all
                count = np.bincount(key, minlength=nl * nls[b])
                present = np.flatnonzero(count)
                dense = count if prod is None else np.bincount(key, weights=prod,
                                                               minlength=nl * nls[b])
                v = dense[present].astype(float)
            else:  # hash the pairs present
                pair, present = pd.factorize(key)
                v = np.bincount(pair, weights=prod, minlength=present.size).astype(float)
            put(offs[k] + present // nls[b], offs[b] + present % nls[b], v)
    xyxy = Xy.T @ Xy
    ii, jj = np.meshgrid(np.arange(k1), np.arange(k1), indexing="ij")
    put(offs[-1] + ii.ravel(), offs[-1] + jj.ravel(), xyxy.ravel(), mirror=False)
    size = offs[-1] + k1
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(size, size))
    return A, xyxy


@dataclass
class OneTerm:
    """The blocks of a one-term model as the engine holds them (no sparse algebra):
    A11 (nl, S, S), A21 = [X̃ ỹ]'WZ ((p+1), nl·S), A22 = [X̃ ỹ]'W[X̃ ỹ]."""

    A11: np.ndarray
    A21: np.ndarray
    A22: np.ndarray

    def moved(self, m: np.ndarray, nl: int, T: np.ndarray) -> OneTerm:
        """P'AP for P = diag(L, T), L sending level l to m[l] (levels sent to one are added)."""
        S = self.A11.shape[1]
        A11 = np.empty((nl, S, S))
        for s in range(S):
            for t in range(S):
                A11[:, s, t] = np.bincount(m, weights=self.A11[:, s, t], minlength=nl)
        cols = (m[:, None] * S + np.arange(S)[None, :]).ravel()
        moved = T.T @ self.A21
        A21 = np.empty((T.shape[0], nl * S))
        for j in range(T.shape[0]):
            A21[j] = np.bincount(cols, weights=moved[j], minlength=nl * S)
        return OneTerm(A11, A21, T.T @ self.A22 @ T)

    def __add__(self, other: OneTerm) -> OneTerm:
        return OneTerm(self.A11 + other.A11, self.A21 + other.A21, self.A22 + other.A22)


def full_matrix(cp: CrossProducts) -> sp.csr_matrix:
    """A = [[blockdiag(A11), A21'], [A21, A22]] as one sparse symmetric matrix."""
    d1 = cp.dims[0]
    nl = d1.nl
    A11 = sp.bsr_matrix((cp.A11, np.arange(nl), np.arange(nl + 1)), shape=(d1.q, d1.q))
    A21 = sp.csr_matrix(cp.A21)
    return sp.bmat([[A11, A21.T], [A21, sp.csr_matrix(cp.A22)]], format="csr")


def _transfer(level_maps: list[np.ndarray], S: list[int], nl_new: list[int],
              T: np.ndarray, order: list[int] | None = None) -> sp.csr_matrix:
    """P = diag(L, T): old column l·S_k + s of term k (formula order, ``level_maps[k].size``
    levels) → new column map_k[l]·S_k + s of the same term at its place in ``order``."""
    order = list(range(len(S))) if order is None else order
    old_offs = np.cumsum([0] + [m.size * s for m, s in zip(level_maps, S)])
    new_offs = np.cumsum([0] + [nl_new[k] * S[k] for k in order])
    rows, cols = [], []
    for i, k in enumerate(order):
        m, s = level_maps[k], S[k]
        rows.append(old_offs[k] + np.arange(m.size * s))
        cols.append(new_offs[i] + (m[:, None] * s + np.arange(s)[None, :]).ravel())
    r = np.concatenate(rows) if rows else np.empty(0, dtype=np.intp)
    c = np.concatenate(cols) if cols else np.empty(0, dtype=np.intp)
    L = sp.csr_matrix((np.ones(r.size), (r, c)), shape=(old_offs[-1], new_offs[-1]))
    return sp.block_diag([L, sp.csr_matrix(T)], format="csr")


def recentering(a: Centering, b: Centering) -> np.ndarray:
    """T with [X̃_b ỹ_b] = [X̃_a ỹ_a] T: the exact change of centering a → b."""
    p = a.d.size
    T = np.zeros((p + 1, p + 1))
    T[:p, :p] = a.M @ np.linalg.inv(b.M) if p else T[:p, :p]
    T[p, p] = a.s / b.s
    if b.intercept and p:
        T[0, p] = (a.c - b.c) / b.s
    return T


def _union(frames: list[pd.DataFrame]) -> tuple[list[np.ndarray], pd.DataFrame]:
    """The distinct rows of all ``frames`` and, per frame, where each of its rows went."""
    codes, distinct = factorize_rows(pd.concat(frames, ignore_index=True))
    bounds = np.cumsum([0] + [len(f) for f in frames])
    return [codes[bounds[i]:bounds[i + 1]] for i in range(len(frames))], distinct


def _merge_categories(parts: list[KeyedSums]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for part in parts:
        for c, cats in part.categories.items():
            have = out.setdefault(c, [])
            seen = set(have)
            have.extend(v for v in cats if v not in seen)
    return out


def add_keyed_sums(plan: OnePassPlan, *parts: KeyedSums) -> KeyedSums:
    """Σ of partials on the union of their level values and the first one's centering."""
    full = [p for p in parts if p.A is not None]
    nkeys = len(plan.keys)
    maps: list[list[np.ndarray]] = [[] for _ in parts]
    values: list[pd.DataFrame] = []
    for k in range(nkeys):
        where, distinct = _union([p.values[k] for p in parts])
        values.append(distinct)
        for i, m in enumerate(where):
            maps[i].append(m)
    present = sum(p.present for p in parts[1:]) + parts[0].present
    n_input = sum(p.n_input for p in parts)
    wmin = min(p.wmin for p in parts)
    cats = _merge_categories(list(parts))
    if not full:
        return KeyedSums(values, None, None, None, None, 0, 0.0, n_input, present, wmin, cats)
    head = _first_rows([p.head for p in full if p.head is not None])
    base = full[0].shift
    assert base is not None
    S = [spec_width(b) for b in plan.bars]
    nl_new = [len(values[k]) for k in plan.bar_key]
    A = None
    gram = np.zeros_like(full[0].gram)
    norms2 = np.zeros_like(full[0].norms2)
    for i, part in enumerate(parts):
        if part.A is None:
            continue
        assert part.shift is not None
        T = recentering(part.shift, base)
        with np.errstate(invalid="ignore", over="ignore"):  # ±inf: check_finite names it
            if isinstance(part.A, OneTerm):
                moved = part.A.moved(maps[i][0], nl_new[0], T)
            else:
                P = _transfer([maps[i][k] for k in plan.bar_key], S, nl_new, T)
                moved = (P.T @ part.A @ P).tocsr()
        A = moved if A is None else A + moved
        Tx = T[:-1, :-1]
        with np.errstate(invalid="ignore", over="ignore"):
            gram = gram + Tx.T @ part.gram @ Tx
        norms2 = norms2 + part.norms2 * (part.shift.d / base.d) ** 2
    return KeyedSums(values, A, base, gram, norms2, sum(p.n for p in full),
                     sum(p.sum_log_w for p in full), n_input, present, wmin, cats, head)


def _first_rows(heads: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The first :data:`SAMPLE_ROWS` rows (X, y, w) of consecutive parts, in order."""
    X = np.concatenate([h[0] for h in heads])[:SAMPLE_ROWS]
    y = np.concatenate([h[1] for h in heads])[:SAMPLE_ROWS]
    w = None if heads[0][2] is None else np.concatenate([h[2] for h in heads])[:SAMPLE_ROWS]
    return X, y, w


def spec_width(spec: MatrixSpec) -> int:
    """Number of columns of a model matrix with this spec (S of a term)."""
    return len(spec.column_names)


def assemble(total: KeyedSums, plan: OnePassPlan, order: list[int],
             level_maps: list[np.ndarray], nls: list[int]
             ) -> tuple[CrossProducts, np.ndarray, np.ndarray]:
    """The engine's :class:`CrossProducts` from the total, with X̃'X̃ and Σ (X/d)².

    Terms in ``order`` (bar indices, lme4's order), levels of key k renumbered by
    ``level_maps[k]`` (R's order, ``nls[k]`` levels), X and y moved onto the centering
    of the first :data:`SAMPLE_ROWS` rows (the one ``lmer`` takes); A11 dense per level,
    A21/A22 dense for one term, sparse (unplanned) otherwise.
    """
    assert total.A is not None and total.shift is not None and total.head is not None
    assert total.gram is not None and total.norms2 is not None
    shift = Centering.from_rows(*total.head, intercept=plan.intercept)
    T = recentering(total.shift, shift)
    S = [spec_width(b) for b in plan.bars]
    maps = [level_maps[plan.bar_key[b]] for b in range(len(plan.bars))]
    dims = [TermDims(nls[plan.bar_key[b]], S[b]) for b in order]
    if isinstance(total.A, OneTerm):
        with np.errstate(invalid="ignore", over="ignore"):  # ±inf: check_finite names it
            one = total.A.moved(maps[0], dims[0].nl, T)
        A11, A21, A22 = one.A11, one.A21, one.A22
    else:
        nl_bar = [nls[plan.bar_key[b]] for b in range(len(S))]
        A11, A21, A22 = _split(total.A, maps, S, nl_bar, dims, T, order)
    p = total.shift.d.size
    cp = CrossProducts(dims, A11, A21, A22, total.n, p, total.sum_log_w, shift)
    Tx = T[:p, :p]
    with np.errstate(invalid="ignore", over="ignore"):
        gram = Tx.T @ total.gram @ Tx
    return cp, gram, total.norms2 * (total.shift.d / shift.d) ** 2


def _split(A: sp.csr_matrix, maps: list[np.ndarray], S: list[int], nl_bar: list[int],
           dims: list[TermDims], T: np.ndarray, order: list[int]
           ) -> tuple[np.ndarray, sp.csc_matrix, sp.csc_matrix]:
    """(A11, A21, A22) of P'AP (terms in ``order``; ``maps``, ``S``, ``nl_bar`` per term in
    formula order, ``dims`` in ``order``), A21 and A22 sparse (unplanned)."""
    P = _transfer(maps, S, nl_bar, T, order)
    with np.errstate(invalid="ignore", over="ignore"):  # ±inf: check_finite names it
        A = (P.T @ A @ P).tocsr()
    A.eliminate_zeros()
    d1 = dims[0]
    q1 = d1.q
    top = A[:q1, :q1]
    idx = np.arange(d1.nl) * d1.S
    A11 = np.empty((d1.nl, d1.S, d1.S))
    for s in range(d1.S):
        for t in range(d1.S):
            A11[:, s, t] = np.asarray(top[idx + s, idx + t]).ravel()
    A21, A22 = sp.csc_matrix(A[q1:, :q1]), sp.csc_matrix(A[q1:, q1:])
    A21.sort_indices()
    A22.sort_indices()
    return A11, A21, A22


def _reduce_partition(pdf: pd.DataFrame, plan: OnePassPlan) -> list[KeyedSums]:
    return [plan.reduce(pdf)]


class Adder:
    """``add_keyed_sums`` bound to a plan (a picklable callable for the reduction tree)."""

    def __init__(self, plan: OnePassPlan):
        self.plan = plan

    def __call__(self, *parts: KeyedSums) -> KeyedSums:
        return add_keyed_sums(self.plan, *parts)


def one_pass(
    ddf: Any, parsed: ParsedFormula, infos: dict[str, VarInfo], raw: list[str],
    meta: dict[str, Any], weights: str | None, files: list[str] | None = None,
    factor_codes: dict[tuple[str, ...], pd.DataFrame] | None = None,
) -> tuple[CrossProducts, Any, Any, np.ndarray, np.ndarray]:
    """(cross-products, design, row source, X̃'X̃, Σ (X/d)²) from one scan of ``ddf``.

    The workers reduce and add their partitions; the client codes the distinct
    values of each grouping factor in R's order, builds the design and maps the
    total onto its terms and levels. ``files``: the local Parquet files ``ddf``
    was read from, scanned instead as Arrow tables with the string grouping
    columns dictionary-encoded (:func:`~mixedmodels.scale.dask_files.scan_files`).
    ``factor_codes``: the level tables of the factors used in X or Z.
    """
    from .dask_backend import (
        DaskSource,
        PartitionCoder,
        check_rows,
        code_levels,
        partitions_checked,
        reduce_partitions,
    )
    from .design import build_scale_design

    plan = OnePassPlan.of(parsed, infos, raw, weights, factor_codes)
    with partitions_checked():
        if files:
            from .dask_files import scan_files
            from .dask_frames import string_columns

            groups = list(dict.fromkeys(c for k in plan.keys for c in k))
            plan.encoded = frozenset(string_columns(files[0], groups))
            total = scan_files(files, plan)
        else:
            total = reduce_partitions(ddf[raw], _reduce_partition, Adder(plan), plan)
    check_rows(raw, total.present, total.n_input, total.n,
               None if weights is None else total.wmin)
    codes = dict(plan.codes)
    values: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    level_maps, nls = [], []
    for key, distinct in zip(plan.keys, total.values):
        distinct = distinct.copy()
        for c in key:
            if c in total.categories:
                distinct[c] = pd.Categorical(distinct[c], categories=total.categories[c])
        codes[key], values[key] = code_levels(key, distinct, meta)
        level_maps.append(codes[key]["code"].to_numpy(dtype=np.intp))
        nls.append(len(values[key]))
    design = build_scale_design(parsed, infos, values, total.n, total.n_input,
                                weights is not None)
    order = [next(i for i, b in enumerate(parsed.bars) if b is t.bar) for t in design.terms]
    cp, gram, norms2 = assemble(total, plan, order, level_maps, nls)
    src = DaskSource(ddf[raw].dropna(), PartitionCoder(design, infos, codes, weights))
    return cp, design, src, gram, norms2
