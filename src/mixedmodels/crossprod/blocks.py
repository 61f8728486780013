"""Stage 3 of the pipeline: the cross-product blocks (sufficient statistics).

With the random-effect terms in lme4's order, term 1 first, write
``R = [Z_2 … Z_K  X  y]`` for everything after term 1 (r columns). The
likelihood depends on the data only through

* ``A11 = Z_1' W Z_1``: block diagonal, one S₁×S₁ block per level of term 1
  (stored as an array ``(nl₁, S₁, S₁)``);
* ``A21 = R' W Z_1``: r × q₁, sparse (level pairs) except for the X and y rows;
* ``A22 = R' W R``: r × r, dense, or sparse when the sparse rest block is
  chosen (:mod:`mixedmodels.crossprod.rest`; the choice is ``rest_plan``);
* n, p and ``Σ log wᵢ``.

X and y enter shifted and scaled (X̃ = X M⁻¹, ỹ = (y − c)/s; see
:mod:`mixedmodels.crossprod.centering`), with the transformation recorded
as ``CrossProducts.shift``: the blocks hold [Z X̃ ỹ]'W[Z X̃ ỹ], and the
factor (:mod:`mixedmodels.linalg`) maps everything it reports back to
the original units. Z is never shifted.

Every block is a sum over rows grouped by level codes, so another backend
(DuckDB over Parquet, Dask) can produce the same :class:`CrossProducts`
without ever holding the rows in memory; the engine only sees this object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from .centering import Centering
from .dense import dense_rest_blocks
from .rest import assemble_rest

__all__ = [
    "CrossProducts",
    "LevelSums",
    "TermDims",
    "crossprod",
    "gram",
    "one_term_blocks",
    "shifted_columns",
    "with_response",
]


@dataclass(frozen=True)
class TermDims:
    """Size of one random-effect term: ``nl`` levels × ``S`` effects per level."""

    nl: int
    S: int

    @property
    def q(self) -> int:
        return self.nl * self.S


@dataclass
class CrossProducts:
    """The blocks of A = [Z X̃ ỹ]' W [Z X̃ ỹ] the engine factorizes.

    Layout of the r "rest" rows: the q_k columns of terms 2..K (level-major:
    level l, effect s at offset l·S + s), then the p columns of X̃, then ỹ.
    ``shift`` records X̃ = X M⁻¹, ỹ = (y − c)/s (the identity if not given).
    """

    dims: list[TermDims]
    A11: np.ndarray  # (nl1, S1, S1)
    A21: np.ndarray | sp.csc_matrix  # (r, q1): dense for one term or a small design
    A22: np.ndarray | sp.csc_matrix  # (r, r), symmetric
    n: int
    p: int
    sum_log_w: float
    shift: Centering | None = None
    rest_plan: Any = None  # mixedmodels.linalg.rest_plan.RestPlan of a planned rest block

    def __post_init__(self) -> None:
        if self.shift is None:
            self.shift = Centering.identity(self.p)

    @property
    def r(self) -> int:
        return int(self.A22.shape[0])

    def xy_block(self) -> np.ndarray:
        """[X̃ ỹ]'W[X̃ ỹ]: the trailing (p+1) × (p+1) block of A22, dense."""
        xy = self.A22[self.rz :, self.rz :]
        return xy.toarray() if sp.issparse(xy) else np.asarray(xy)

    @property
    def rz(self) -> int:
        """Number of rest rows that belong to random-effect terms 2..K."""
        return sum(d.q for d in self.dims[1:])


def _term_matrix(codes: np.ndarray, Z: np.ndarray, nl: int) -> sp.csr_matrix:
    """Sparse n × (nl·S) matrix with row i holding Z[i] at level codes[i]."""
    n, S = Z.shape
    cols = (codes[:, None] * S + np.arange(S)[None, :]).ravel()
    rows = np.repeat(np.arange(n), S)
    return sp.csr_matrix((Z.ravel(), (rows, cols)), shape=(n, nl * S))


def level_pair_sums(
    ca: np.ndarray, za: np.ndarray, nla: int, cb: np.ndarray, zb: np.ndarray, nlb: int
) -> sp.csr_matrix:
    """Z_a'Z_b of two scalar terms (nl_a × nl_b): Σ_{i: a_i = l, b_i = m} z_a,i z_b,i.

    The pairs (a_i, b_i) present are found by hashing the combined code
    a_i·nl_b + b_i (no nl_a × nl_b array), the sums by one ``bincount`` in row
    order (as the sparse product accumulates them); sums exactly zero are left
    out, as the sparse product leaves them out.
    """
    import pandas as pd

    key = ca.astype(np.int64) * nlb + cb
    pair, present = pd.factorize(key, sort=True)
    sums = np.bincount(pair, weights=za * zb, minlength=present.size)
    keep = sums != 0.0
    present, sums = present[keep], sums[keep]
    rows = present // nlb
    indptr = np.searchsorted(rows, np.arange(nla + 1))
    return sp.csr_matrix((sums, present % nlb, indptr), shape=(nla, nlb))


def _is_unit(col: np.ndarray) -> bool:
    """True when every entry of ``col`` is exactly 1 (an intercept column, unit weights)."""
    return bool(col.size) and col[0] == 1.0 and bool(np.all(col == 1.0))


def shifted_columns(
    X: np.ndarray, y: np.ndarray, shift: Centering, sw: np.ndarray | None = None
) -> np.ndarray:
    """[X̃ ỹ]·√w as one column-major (n, p+1) array, written in place column by column.

    X̃_j = (X_j − m_j)/d_j (column 0 exactly 1 with an intercept) and
    ỹ = (y − c)/s, the same operations as :meth:`Centering.transform`, without
    its temporaries.
    """
    n, p = X.shape
    out = np.empty((n, p + 1), order="F")
    for j in range(p):
        col = out[:, j]
        if j == 0 and shift.intercept:
            col.fill(1.0)
        else:
            np.subtract(X[:, j], shift.m[j], out=col)
            col /= shift.d[j]
    np.subtract(y, shift.c, out=out[:, p])
    out[:, p] /= shift.s
    if sw is not None:
        out *= sw[:, None]
    return out


def _shifted_column(
    X: np.ndarray, y: np.ndarray, shift: Centering, sw: np.ndarray | None, j: int
) -> np.ndarray | None:
    """Column j of [X̃ ỹ]·√w (j = p: ỹ) as in :func:`shifted_columns`; ``None`` for an
    unweighted intercept (a column of ones)."""
    p = X.shape[1]
    if j == 0 and shift.intercept and j < p:
        return None if sw is None else sw.copy()
    col = np.subtract(X[:, j], shift.m[j]) if j < p else np.subtract(y, shift.c)
    col /= shift.d[j] if j < p else shift.s
    if sw is not None:
        col *= sw
    return col


def gram(cols: list[np.ndarray | None], n: int) -> np.ndarray:
    """C'C of columns given one by one (``None``: a column of ones): dot products,
    column sums and n."""
    k = len(cols)
    G = np.empty((k, k))
    for a in range(k):
        for b in range(a + 1):
            ca, cb = cols[a], cols[b]
            if ca is None and cb is None:
                v = float(n)
            elif ca is None or cb is None:
                v = float(np.sum(cb if ca is None else ca))
            else:
                v = float(np.dot(ca, cb))
            G[a, b] = G[b, a] = v
    return G


class LevelSums:
    """Σ over the rows of each level of products of two columns, each product summed once.

    Columns are named (``("z", s)``, ``("x", j)``); a column of ones is dropped
    from a product, so 1·z and z·1 are one sum, and 1·1 is the level count.
    """

    def __init__(self, codes: np.ndarray, nl: int, buffer: np.ndarray | None = None):
        """``buffer``: n floats to hold a product of two columns (allocated on first
        use when not given; a caller summing file after file passes one it reuses)."""
        self.codes = codes
        self.nl = nl
        self.columns: dict[tuple[str, int], np.ndarray | None] = {}
        self._sums: dict[tuple[tuple[str, int], ...], np.ndarray] = {}
        self._buf = buffer

    def add(self, key: tuple[str, int], col: np.ndarray | None) -> None:
        """Name a column (``None``: a column of ones)."""
        self.columns[key] = None if col is None or _is_unit(col) else col

    def __call__(self, a: tuple[str, int], b: tuple[str, int]) -> np.ndarray:
        factors = tuple(sorted(k for k in (a, b) if self.columns[k] is not None))
        got = self._sums.get(factors)
        if got is not None:
            return got
        if not factors:
            got = np.bincount(self.codes, minlength=self.nl).astype(float)
        elif len(factors) == 1:
            got = np.bincount(self.codes, weights=self.columns[factors[0]], minlength=self.nl)
        else:
            if self._buf is None:
                self._buf = np.empty(self.codes.shape[0])
            np.multiply(self.columns[factors[0]], self.columns[factors[1]], out=self._buf)
            got = np.bincount(self.codes, weights=self._buf, minlength=self.nl)
        self._sums[factors] = got
        return got


def _level_a11(sums: LevelSums, z_cols: list[np.ndarray | None]) -> np.ndarray:
    """A11[l, s, t] = Σ_{i: g_i = l} z_is z_it, the columns named ("z", s) in ``sums``."""
    S = len(z_cols)
    for s, z in enumerate(z_cols):
        sums.add(("z", s), z)
    A11 = np.empty((sums.nl, S, S))
    for s in range(S):
        for t in range(s, S):
            v = sums(("z", s), ("z", t))
            A11[:, s, t] = v
            A11[:, t, s] = v
    return A11


def one_term_blocks(
    codes: np.ndarray,
    nl: int,
    z_cols: list[np.ndarray | None],
    c_cols: list[np.ndarray | None],
    n: int,
    buffer: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The blocks of a one-term design from its columns (``None``: a column of ones):

        A11[l, s, t]    = Σ_{i: g_i = l} z_is z_it
        A21[j, l·S + s] = Σ_{i: g_i = l} c_ij z_is
        A22             = C'C

    each distinct per-level product summed once (:class:`LevelSums`, product
    ``buffer`` as there)."""
    S = len(z_cols)
    sums = LevelSums(codes, nl, buffer)
    A11 = _level_a11(sums, z_cols)
    for j, c in enumerate(c_cols):
        sums.add(("x", j), c)
    A21 = np.empty((len(c_cols), nl * S))
    for s in range(S):
        for j in range(len(c_cols)):
            A21[j, s::S] = sums(("x", j), ("z", s))
    return A11, A21, gram(c_cols, n)


def crossprod(
    codes: list[np.ndarray],
    Zs: list[np.ndarray],
    nls: list[int],
    X: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray | None = None,
    shift: Centering | None = None,
    rest: str = "auto",
) -> CrossProducts:
    """In-memory cross-products of a design (terms in lme4's order).

    ``codes[k]`` are the level codes of term k's grouping factor,
    ``Zs[k]`` its raw n × S_k model matrix, ``nls[k]`` its number of levels.
    X and y are shifted and scaled by ``shift`` (by default
    :meth:`Centering.from_rows` of these rows) before any product is formed.
    Per-level sums of a product are formed once (``bincount``), so
    (1, x) next to the fixed effects (1, x) costs no more than its distinct
    products.
    ``rest`` chooses the rest block ("auto", "dense", "sparse"; "keep": sparse,
    unplanned, for partial sums; see :mod:`mixedmodels.crossprod.rest`).
    """
    n, p = X.shape
    if weights is None:
        sw = None
        sum_log_w = 0.0
    else:
        sw = np.sqrt(weights)
        with np.errstate(divide="ignore"):
            sum_log_w = float(np.sum(np.log(weights)))
    dims = [TermDims(nl, Z.shape[1]) for nl, Z in zip(nls, Zs)]
    if shift is None:
        shift = Centering.from_rows(X, y, weights)

    def wt(a: np.ndarray) -> np.ndarray:
        if sw is None:
            return a
        return a * (sw[:, None] if a.ndim == 2 else sw)

    Z1 = wt(Zs[0])
    c1 = codes[0]
    d1 = dims[0]
    z1_cols: list[np.ndarray | None] = [Z1[:, s] for s in range(d1.S)]
    if len(Zs) == 1:
        # one term: every block is a per-level sum, no sparse algebra needed; the
        # columns of [X̃ ỹ] are formed one by one (a unit intercept not at all)
        cols = [_shifted_column(X, y, shift, sw, j) for j in range(p + 1)]
        A11, A21, A22 = one_term_blocks(c1, d1.nl, z1_cols, cols, n)
        return CrossProducts(dims, A11, A21, A22, n, p, sum_log_w, shift)
    A11 = _level_a11(LevelSums(c1, d1.nl), z1_cols)
    Xy = shifted_columns(X, y, shift, sw)
    rest_z = [wt(Z) for Z in Zs[1:]]
    from ..linalg.rest_plan import plan_rest, trivially_dense  # linalg imports crossprod

    r = sum(d.q for d in dims[1:]) + p + 1
    if rest in ("auto", "dense") and trivially_dense(r, d1.q):
        # a small design: dense blocks by bincount, no sparse matrices (the same numbers)
        A21d, A22d = dense_rest_blocks(list(zip(codes, [Z1, *rest_z], nls)), Xy)
        plan = plan_rest([(d.nl, d.S) for d in dims], p, A21d, None, rest)
        return CrossProducts(dims, A11, A21d, A22d, n, p, sum_log_w, shift, plan)
    rest_sparse = [_term_matrix(c, Z, nl) for c, Z, nl in zip(codes[1:], rest_z, nls[1:])]
    Z1m = _term_matrix(c1, Z1, d1.nl).tocsc()
    terms = list(zip(codes, [Z1, *rest_z], nls))

    def pair_block(a: int, b: int) -> sp.spmatrix:
        """Z_a'WZ_b (terms a, b counted from 0): by level-pair sums when both are scalar."""
        (ca, za, nla), (cb, zb, nlb) = terms[a], terms[b]
        if za.shape[1] == 1 and zb.shape[1] == 1:
            return level_pair_sums(ca, za[:, 0], nla, cb, zb[:, 0], nlb)
        Zb = Z1m if b == 0 else rest_sparse[b - 1]
        return rest_sparse[a - 1].T @ Zb

    # A21: rest' W Z1 (sparse rows for terms 2..K, dense rows for X and y)
    xy_z1 = np.asarray((Z1m.T @ Xy).T)  # (p+1, q1)
    blocks21 = [pair_block(k, 0) for k in range(1, len(Zs))] + [sp.csc_matrix(xy_z1)]
    A21 = sp.vstack(blocks21, format="csc")
    A21.sum_duplicates()
    A21.sort_indices()
    # A22: rest' W rest: the rest terms' level pairs (sparse), their sums of X̃ and ỹ
    rest_terms = range(1, len(Zs))
    A22zz = sp.bmat([[pair_block(a, b) for b in rest_terms] for a in rest_terms], format="csc")
    zxy = np.vstack([np.asarray(Za.T @ Xy) for Za in rest_sparse]).T
    A22, plan = assemble_rest([(d.nl, d.S) for d in dims], p, A21, A22zz, zxy, Xy.T @ Xy, rest)
    return CrossProducts(dims, A11, A21, A22, n, p, sum_log_w, shift, plan)


def with_response(
    cp: CrossProducts,
    codes: list[np.ndarray],
    Zs: list[np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray | None = None,
) -> CrossProducts:
    """The cross-products of the same design (codes, Z, X, weights) with a new response
    (:class:`mixedmodels.crossprod.response.ResponseRows`, which a refit loop keeps)."""
    from .response import ResponseRows

    return ResponseRows(cp, codes, Zs, X, weights)(y)
