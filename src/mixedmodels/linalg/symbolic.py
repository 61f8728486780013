"""Symbolic analysis of the sparse rest block: its pattern, ordering and fill.

After eliminating term 1 (block diagonal), the random-effect part of the
rest block is the Schur complement

    S_zz(θ) = Λ_z'(A22_zz − A21_z C(θ) A21_z')Λ_z + I,   C = blockdiag_l(T₁ M_l⁻¹ T₁'),

whose nonzero pattern does not depend on θ: the pairs (i, j) of rest rows
that share a level of term 1 (the "level pairs" of A21_z's columns) or a row
of the data (A22_zz). Its values are ``a22 − G c`` on that pattern, with
``c`` the entries of the C_l stacked and G a fixed sparse operator.

The fill of its Cholesky factor under a fill-reducing ordering P (AMD) is
read from CHOLMOD's own symbolic analysis (``cholmod_analyze``: elimination
tree and column counts in O(nnz(A) α) time, nothing of the factor's size
allocated) through the factor object of ``cvxopt.cholmod.symbolic``. Should
that object not be readable, the column recurrence of the symbolic
factorization is used instead,

    struct(L_j) = struct(A_j below j) ∪ ⋃_{parent(c) = j} struct(L_c) \\ {j},
    parent(j) = min struct(L_j),

which gives nnz(L) = Σ_j c_j and the flops of a factorization Σ_j c_j²
(c_j the count of column j, diagonal included) before anything of that size
is allocated. The recurrence stops as soon as a column is full to the
bottom (every later column is then full too) or the count passes a limit.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = [
    "SchurPattern",
    "SchurStructure",
    "SymbolicCounts",
    "amd_order",
    "cholmod_column_counts",
    "column_recurrence",
    "pattern_matrix",
    "schur_pattern",
    "schur_structure",
    "symbolic_counts",
]


@dataclass
class SchurPattern:
    """Lower-triangle pattern of S_zz (CSC order: by column, rows ascending).

    ``G`` (pairs × nl₁S₁²) maps the stacked C_l (level-major, entry (s, t) at
    l·S₁² + s·S₁ + t) to the lower triangle of A21_z C A21_z' on the pattern;
    ``a22`` holds A22_zz on the pattern.
    """

    n: int
    rows: np.ndarray
    cols: np.ndarray
    G: sp.csr_matrix
    a22: np.ndarray

    @property
    def npairs(self) -> int:
        return int(self.rows.size)


def level_pairs(
    A21z: sp.spmatrix | np.ndarray, nl1: int, S1: int, lower: bool = True
) -> tuple[np.ndarray, ...]:
    """All pairs (k, k') of entries of A21_z in the same level of term 1 with row_k ≥ row_k'
    (every pair, both orders, when ``lower`` is False).

    Returns (rows_k, rows_k', C index l·S₁² + s·S₁ + t, value_k · value_k').
    """
    A = sp.csc_matrix(A21z)
    A.sort_indices()
    counts_col = np.diff(A.indptr)
    col = np.repeat(np.arange(A.shape[1]), counts_col)
    level = col // S1
    eff = col % S1
    row, val = A.indices, A.data
    if S1 > 1:
        order = np.lexsort((row, level))  # by level, rows ascending within it
        row, level, eff, val = row[order], level[order], eff[order], val[order]
    counts = np.bincount(level, minlength=nl1)
    ends = np.cumsum(counts)
    starts = ends - counts
    idx = np.arange(row.size, dtype=np.int64)
    if lower and S1 == 1:
        # rows ascend within a level: entry k pairs with itself and the entries before it
        reps = idx - starts[level] + 1
    else:
        reps = counts[level]  # each entry pairs with every entry of its level
    left = np.repeat(idx, reps)
    first = np.repeat(np.cumsum(reps) - reps, reps)
    right = starts[level[left]] + (np.arange(left.size, dtype=np.int64) - first)
    ri, rj = row[left], row[right]
    if lower and S1 > 1:
        keep = ri >= rj  # (i, i) gets every (s, t): both orders are kept
        left, right, ri, rj = left[keep], right[keep], ri[keep], rj[keep]
    cidx = level[left].astype(np.int64) * S1 * S1 + eff[left] * S1 + eff[right]
    return ri, rj, cidx, val[left] * val[right]


@dataclass
class SchurStructure:
    """The pattern of S_zz alone: sorted keys col·n + row of its lower triangle (CSC
    order) and ``gnnz``, the number of level pairs (the entries G will hold)."""

    n: int
    keys: np.ndarray
    gnnz: int

    @property
    def rows(self) -> np.ndarray:
        return self.keys % self.n

    @property
    def cols(self) -> np.ndarray:
        return self.keys // self.n

    @property
    def npairs(self) -> int:
        return int(self.keys.size)


def schur_structure(A21z: sp.csc_matrix, A22zz: sp.spmatrix, nl1: int, S1: int) -> SchurStructure:
    """Pattern of S_zz without enumerating level pairs.

    With B (rz × nl₁) the pattern of "row i has an entry in level l of term 1",
    struct(S_zz) = tril(struct(B B')) ∪ tril(struct(A22_zz)) (one sparse product),
    and with m_il the entries of row i in level l, n_l = Σ_i m_il, the level pairs
    number Σ_l (n_l² + Σ_i m_il²) / 2 (pairs of rows i > i' once, pairs within a row
    in both orders).
    """
    rz = int(A22zz.shape[0])
    A = sp.csc_matrix(A21z)
    level = np.repeat(np.arange(A.shape[1]) // S1, np.diff(A.indptr))
    B = sp.csr_matrix(
        (np.ones(A.indices.size), (A.indices, level)), shape=(rz, nl1)
    )  # duplicates summed: m_il
    B.sum_duplicates()
    m = B.data.astype(np.int64)
    n_l = np.bincount(B.indices, weights=m, minlength=nl1).astype(np.int64)
    gnnz = int((np.dot(n_l, n_l) + np.dot(m, m)) // 2)
    B.data[:] = 1.0
    a = sp.coo_matrix(A22zz)
    ones = sp.csr_matrix((np.ones(a.nnz), (a.row, a.col)), shape=(rz, rz))  # stored zeros kept
    S = sp.csc_matrix(sp.tril(B @ B.T + ones))  # positive sums: no entry cancels
    S.sum_duplicates()  # canonical: rows ascending within each column
    cols = np.repeat(np.arange(rz, dtype=np.int64), np.diff(S.indptr))
    return SchurStructure(rz, cols * rz + S.indices, gnnz)


def schur_pattern(
    A21z: sp.csc_matrix,
    A22zz: sp.spmatrix,
    nl1: int,
    S1: int,
    structure: SchurStructure | None = None,
) -> SchurPattern:
    """Pattern, G and A22 values of S_zz from A21_z (rz × q₁) and A22_zz (rz × rz);
    ``structure``: the pattern from :func:`schur_structure`, if already found."""
    rz = int(A22zz.shape[0])
    if structure is None:
        structure = schur_structure(A21z, A22zz, nl1, S1)
    keys = structure.keys
    ri, rj, cidx, gval = level_pairs(A21z, nl1, S1)
    inv_g = np.searchsorted(keys, rj.astype(np.int64) * rz + ri)
    del ri, rj
    G = sp.csr_matrix((gval, (inv_g, cidx)), shape=(keys.size, nl1 * S1 * S1))
    G.sum_duplicates()
    a = sp.tril(sp.coo_matrix(A22zz)).tocoo()
    a22 = np.zeros(keys.size)
    np.add.at(a22, np.searchsorted(keys, a.col.astype(np.int64) * rz + a.row), a.data)
    return SchurPattern(rz, keys % rz, keys // rz, G, a22)


@dataclass
class SymbolicCounts:
    """Column counts of L under an ordering (``complete`` False: stopped at the limit,
    so ``nnz`` and ``flops`` are lower bounds)."""

    nnz: float
    flops: float
    complete: bool


def pattern_matrix(n: int, rows: np.ndarray, cols: np.ndarray) -> Any:
    """The pattern as a CVXOPT sparse matrix of ones (built once: AMD and CHOLMOD read it)."""
    import cvxopt

    return cvxopt.spmatrix(
        1.0, cvxopt.matrix(rows.astype(np.int64)), cvxopt.matrix(cols.astype(np.int64)), (n, n)
    )


def amd_order(n: int, rows: np.ndarray, cols: np.ndarray, matrix: Any = None) -> np.ndarray:
    """Approximate minimum degree ordering of the symmetric pattern (lower triangle given);
    ``matrix``: the same pattern from :func:`pattern_matrix`, if already built."""
    from cvxopt import amd

    A = pattern_matrix(n, rows, cols) if matrix is None else matrix
    return np.asarray(amd.order(A, "L"), dtype=np.int64).ravel()


class _CholmodFactor(ctypes.Structure):
    """The leading fields of CHOLMOD's ``cholmod_factor`` (unchanged since CHOLMOD 1.0)."""

    _fields_ = [
        ("n", ctypes.c_size_t), ("minor", ctypes.c_size_t), ("Perm", ctypes.c_void_p),
        ("ColCount", ctypes.c_void_p), ("IPerm", ctypes.c_void_p), ("nzmax", ctypes.c_size_t),
        ("p", ctypes.c_void_p), ("i", ctypes.c_void_p), ("x", ctypes.c_void_p),
        ("z", ctypes.c_void_p), ("nz", ctypes.c_void_p), ("next", ctypes.c_void_p),
        ("prev", ctypes.c_void_p), ("nsuper", ctypes.c_size_t), ("ssize", ctypes.c_size_t),
        ("xsize", ctypes.c_size_t), ("maxcsize", ctypes.c_size_t), ("maxesize", ctypes.c_size_t),
        ("super", ctypes.c_void_p), ("pi", ctypes.c_void_p), ("px", ctypes.c_void_p),
        ("s", ctypes.c_void_p), ("ordering", ctypes.c_int), ("is_ll", ctypes.c_int),
        ("is_super", ctypes.c_int), ("is_monotonic", ctypes.c_int), ("itype", ctypes.c_int),
        ("xtype", ctypes.c_int), ("dtype", ctypes.c_int),
    ]


_ITYPES = {0: ctypes.c_int32, 2: ctypes.c_int64}  # CHOLMOD_INT, CHOLMOD_LONG


def cholmod_column_counts(
    n: int, rows: np.ndarray, cols: np.ndarray, perm: np.ndarray, matrix: Any = None
) -> np.ndarray | None:
    """c_j of L (diagonal included) from CHOLMOD's symbolic analysis under ``perm``.

    ``cholmod_analyze`` may postorder the elimination tree (same fill) or keep a
    better ordering of its own (the one its numeric factor then uses). None when
    the factor object cannot be read (an unexpected CVXOPT build).
    """
    import cvxopt
    from cvxopt import cholmod

    A = pattern_matrix(n, rows, cols) if matrix is None else matrix
    cholmod.options["supernodal"] = 2  # as the numeric factor (sparse_rest)
    F = cholmod.symbolic(A, p=cvxopt.matrix(perm.astype(np.int64)), uplo="L")
    api = ctypes.pythonapi
    api.PyCapsule_GetName.restype = ctypes.c_char_p
    api.PyCapsule_GetName.argtypes = [ctypes.py_object]
    api.PyCapsule_GetPointer.restype = ctypes.c_void_p
    api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    try:
        name = api.PyCapsule_GetName(F)
        address = api.PyCapsule_GetPointer(F, name)
    except (TypeError, ValueError):
        return None
    if not name or not name.startswith(b"CHOLMOD FACTOR") or not address:
        return None
    f = _CholmodFactor.from_address(address)
    itype = _ITYPES.get(f.itype)
    if f.n != n or itype is None or not f.ColCount or not f.Perm:
        return None
    counts = np.ctypeslib.as_array((itype * n).from_address(f.ColCount)).astype(np.int64)
    order = np.ctypeslib.as_array((itype * n).from_address(f.Perm))
    if (
        counts.min(initial=1) < 1
        or np.any(counts > n - np.arange(n))
        or not np.array_equal(np.sort(order), np.arange(n))
    ):
        return None
    del F  # the analysis is kept only for its counts
    return counts


def symbolic_counts(
    n: int,
    rows: np.ndarray,
    cols: np.ndarray,
    perm: np.ndarray,
    max_nnz: float,
    matrix: Any = None,
) -> SymbolicCounts:
    """nnz(L) and factorization flops of the pattern under P (see the module docstring);
    ``max_nnz`` bounds only the fallback recurrence."""
    counts = cholmod_column_counts(n, rows, cols, perm, matrix)
    if counts is not None:
        c = counts.astype(float)
        return SymbolicCounts(float(c.sum()), float(np.dot(c, c)), True)
    return column_recurrence(n, rows, cols, perm, max_nnz)


def column_recurrence(
    n: int, rows: np.ndarray, cols: np.ndarray, perm: np.ndarray, max_nnz: float
) -> SymbolicCounts:
    """The counts by the column recurrence (module docstring), stopped past ``max_nnz``."""
    inv = np.empty(n, dtype=np.int64)
    inv[perm] = np.arange(n)
    pi, pj = inv[rows], inv[cols]
    lo, hi = np.minimum(pi, pj), np.maximum(pi, pj)
    off = hi > lo
    lo, hi = lo[off], hi[off]
    order = np.lexsort((hi, lo))
    lo, hi = lo[order], hi[order]
    indptr = np.searchsorted(lo, np.arange(n + 1))
    pending: dict[int, list[np.ndarray]] = {}
    nnz = 0.0
    flops = 0.0
    for j in range(n):
        own = hi[indptr[j] : indptr[j + 1]]
        kids = pending.pop(j, None)
        if kids is None:
            s = own  # sorted and unique (the pattern is)
        elif len(kids) == 1:
            kid = kids[0]  # one child: a supernode's next column when it holds A's column
            if own.size == 0 or np.isin(own, kid, assume_unique=True).all():
                s = kid
            else:
                s = np.union1d(kid, own)
        else:
            kids.append(own)
            s = np.unique(np.concatenate(kids))
        c = s.size + 1
        nnz += c
        flops += float(c) * c
        if c == n - j:  # full to the bottom: columns j+1.. are full
            m = float(n - j - 1)
            nnz += m * (m + 1) / 2
            flops += m * (m + 1) * (2 * m + 1) / 6
            return SymbolicCounts(nnz, flops, True)
        if nnz > max_nnz:
            return SymbolicCounts(nnz, flops, False)
        if s.size:
            pending.setdefault(int(s[0]), []).append(s[1:])
    return SymbolicCounts(nnz, flops, True)
