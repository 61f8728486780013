"""Dense or sparse rest block: the choice, by predicted memory and time, before allocating.

The rest block (everything after term 1; see :mod:`mixedmodels.linalg.blocked`)
is factored either densely (LAPACK on an r × r array: r³/3 flops and
4 · 8 r² bytes per evaluation, :mod:`mixedmodels.memory`) or sparsely
(:mod:`mixedmodels.linalg.sparse_rest`: CHOLMOD on the Schur complement's
pattern under an AMD ordering, Σ_j c_j² flops and about 16 nnz(L) bytes).
The sparse costs come from the pattern (the level pairs of A21) and the
symbolic factor (:mod:`mixedmodels.linalg.symbolic`), computed here once per
model. The cheaper path that fits in memory is chosen (the sparse one only when
predicted ``_SPARSE_MARGIN`` times faster per evaluation); when neither fits,
:class:`~mixedmodels.errors.ModelTooLargeError` says what each would need.

Seconds per evaluation are modelled as flops / rate plus per-entry costs:
dense ``(r³/3 + update) / 2e10 + 1e-8 r²`` (the update: a GEMM of r² q₁
flops or the product G c, whichever is cheaper; writing the r × r block), sparse
``Σc_j² / 1.6e10 + 2e-8 nnz(L) + 6e-8 npairs + 2e-9 nnz_G`` (supernodal overhead,
assembling the pattern's values, the product G c).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .. import memory
from ..errors import ArgumentError
from .symbolic import (
    SchurPattern,
    SymbolicCounts,
    amd_order,
    pattern_matrix,
    schur_pattern,
    schur_structure,
    symbolic_counts,
)

__all__ = ["REST_MODES", "RestPlan", "plan_rest", "sparse_available", "trivially_dense"]

REST_MODES = ("auto", "dense", "sparse")
_RATE = 2e10  # flop/s of LAPACK's dense Cholesky on one core
# CHOLMOD's supernodal factor through CVXOPT's single-threaded OpenBLAS: 1.1-1.25× the
# time of dpotrf on the same dense matrix of order 4000 (measured, one thread each)
_SPARSE_RATE = 1.6e10
# below this many flops per dense evaluation the analysis is not worth its milliseconds
_TRIVIAL_FLOPS = 1e7
# "auto" takes the sparse path only when it is predicted at least this many times faster per
# evaluation: the dense path also profiles small trailing terms out of the optimization
# (linalg/tail.py), which the sparse path cannot, and that halves the evaluations of
# models such as InstEval (24 against 47 measured; per evaluation both paths cost about the
# same there, while the estimates say 0.040 s dense and 0.026 s sparse)
_SPARSE_MARGIN = 2.0
_PAIR_BYTES = 64  # index and value arrays per level pair while the pattern is built
_INSTALL = "pip install 'mixedmodels[sparse]' (CVXOPT, whose wheels bundle CHOLMOD)"


def sparse_available() -> bool:
    """Whether the sparse Cholesky (``cvxopt.cholmod``) can be imported."""
    return importlib.util.find_spec("cvxopt") is not None


@dataclass
class RestPlan:
    """How the rest block is factored, with the estimates behind the choice."""

    kind: str  # "dense" or "sparse"
    r: int
    rz: int
    dense_bytes: float
    dense_seconds: float
    reason: str
    pattern: SchurPattern | None = None
    perm: np.ndarray | None = None
    counts: SymbolicCounts | None = None
    npairs: int = 0
    sparse_bytes: float = float("nan")
    sparse_seconds: float = float("nan")

    @property
    def sparse(self) -> bool:
        return self.kind == "sparse"

    def describe(self) -> str:
        """One paragraph for verbose output: sizes, both estimates, the choice."""
        text = (
            f"rest block: r = {self.r:,} rows ({self.rz:,} random effects); dense: "
            f"{memory.describe_bytes(self.dense_bytes)}, "
            f"~{memory.describe_seconds(self.dense_seconds)} per evaluation"
        )
        if self.counts is not None:
            text += (
                f"; sparse: {self.npairs:,} pattern entries, "
                f"nnz(L) {'=' if self.counts.complete else '>'} {self.counts.nnz:.3g}, "
                f"{self.counts.flops:.3g} flops, {memory.describe_bytes(self.sparse_bytes)}, "
                f"~{memory.describe_seconds(self.sparse_seconds)} per evaluation"
            )
        return text + f"; {self.kind} ({self.reason})"


def trivially_dense(r: int, q1: int) -> bool:
    """True when one dense evaluation (r³/3 + r²q₁ flops) is too cheap for the sparse
    analysis to pay: "auto" then takes the dense rest block without it."""
    return memory.dense_rest_flops(r, q1) <= _TRIVIAL_FLOPS


def _dense_seconds(r: int, update_flops: float) -> float:
    return (r**3 / 3.0 + update_flops) / _RATE + 1e-8 * float(r) ** 2


def plan_rest(
    dims: Sequence[tuple[int, int]],
    p: int,
    A21: sp.spmatrix | np.ndarray,
    A22zz: sp.spmatrix | None,
    mode: str = "auto",
) -> RestPlan:
    """Choose the dense or sparse rest block of a model (see the module docstring).

    ``dims``: (levels, effects) of every term, term 1 first; ``A21``: the rest
    rows × q₁ block (Z rows first); ``A22zz``: the rest terms' own rz × rz
    block (sparse). ``mode`` forces a path ("dense", "sparse") or chooses ("auto").
    Raises :class:`ModelTooLargeError` when the chosen path cannot fit.
    """
    if mode not in REST_MODES:
        raise ArgumentError("rest", mode, "one of " + ", ".join(map(repr, REST_MODES)))
    nl1, S1 = dims[0]
    rz = sum(nl * s for nl, s in dims[1:])
    r = rz + p + 1
    dense_bytes = float(memory.dense_rest_bytes(r))
    dense_s = _dense_seconds(r, float(r) ** 2 * nl1 * S1)  # until G's size is known

    def dense(reason: str) -> RestPlan:
        memory.check_dense_rest(r, dims, p)
        return RestPlan("dense", r, rz, dense_bytes, dense_s, reason)

    if mode == "dense" or rz == 0:
        return dense("forced" if rz else "no random effects after the first term")
    vector = [k for k, (_, s) in enumerate(dims[1:], start=2) if s > 1]
    if vector:
        if mode == "sparse":
            raise ArgumentError(
                "rest", mode, "'auto' or 'dense' for this model",
                f"the sparse rest block takes scalar terms after the first; term {vector[0]} "
                f"has {dims[vector[0] - 1][1]} effects per level",
            )
        return dense("terms after the first with several effects per level")
    if mode == "auto" and trivially_dense(r, nl1 * S1):
        return dense("small")
    if not sparse_available():
        if mode == "sparse":
            raise ArgumentError(
                "rest", mode, "'auto' or 'dense' here", f"the sparse path needs CVXOPT: {_INSTALL}"
            )
        if dense_bytes <= 2**28 or dense_bytes <= memory.available_memory():
            return dense("the sparse Cholesky is not installed")
        memory.refuse_rest(
            r, dims, p, memory.available_memory(),
            sparse=f"the sparse path, which may fit, needs CVXOPT: {_INSTALL}",
        )
    A21z = sp.csc_matrix(A21)[:rz]
    if A22zz is None:
        A22zz = sp.csc_matrix((rz, rz))
    # the level pairs are enumerated (~_PAIR_BYTES each while the pattern is built):
    # count them first from the entries per level of term 1
    per_level = np.diff(A21z.indptr).reshape(nl1, S1).sum(axis=1).astype(float)
    pairs = float(np.sum(per_level * (per_level + 1) / 2))
    have = float(memory.available_memory())
    if pairs * _PAIR_BYTES > have:
        if dense_bytes <= 2**28 or dense_bytes <= have:
            return dense("the level pairs of the sparse pattern do not fit")
        memory.refuse_rest(
            r, dims, p, have,
            sparse=(f"the sparse path's {pairs:.3g} level pairs alone would need "
                    f"{memory.describe_bytes(pairs * _PAIR_BYTES)} to enumerate"),
        )
    structure = schur_structure(A21z, A22zz, nl1, S1)
    rows, cols = structure.rows, structure.cols
    cvx_pattern = pattern_matrix(rz, rows, cols)
    perm = amd_order(rz, rows, cols, cvx_pattern)
    # the dense path's update is the same product G c when that is cheaper than a GEMM
    dense_update = min(float(r) ** 2 * nl1 * S1, 2.0 * structure.gnnz)
    dense_s = _dense_seconds(r, dense_update)
    fixed = memory.sparse_rest_bytes(0.0, structure.npairs, structure.gnnz, rz, p)
    counts = symbolic_counts(rz, rows, cols, perm, max(have - fixed, 0.0) / 16, cvx_pattern)
    del cvx_pattern, rows, cols
    sparse_bytes = memory.sparse_rest_bytes(counts.nnz, structure.npairs, structure.gnnz, rz, p)
    sparse_s = counts.flops / _SPARSE_RATE + 2e-8 * counts.nnz
    sparse_s += 6e-8 * structure.npairs + 2e-9 * structure.gnnz
    plan = RestPlan(
        "sparse", r, rz, dense_bytes, dense_s, "", perm=perm, counts=counts,
        npairs=structure.npairs, sparse_bytes=sparse_bytes, sparse_seconds=sparse_s,
    )
    sparse_fits = counts.complete and sparse_bytes <= have
    dense_fits = dense_bytes <= 2**28 or dense_bytes <= have
    if mode == "sparse" and sparse_fits:
        plan.reason = "forced"
    elif mode == "auto" and sparse_fits and (_SPARSE_MARGIN * sparse_s < dense_s
                                             or not dense_fits):
        plan.reason = "predicted faster" if dense_fits else "the dense block does not fit"
    if plan.reason:  # G and the values of A22 on the pattern: the level pairs enumerated
        plan.pattern = schur_pattern(A21z, A22zz, nl1, S1, structure)
        return plan
    if dense_fits and mode == "auto":
        dplan = dense("predicted faster" if sparse_fits else "the sparse factor does not fit")
        dplan.counts, dplan.sparse_bytes, dplan.sparse_seconds = counts, sparse_bytes, sparse_s
        dplan.npairs = structure.npairs
        return dplan
    bound = "at least " if not counts.complete else ""
    memory.refuse_rest(
        r, dims, p, have,
        sparse=(
            f"the sparse factor (AMD ordering) would hold {bound}{counts.nnz:.3g} entries, "
            f"needing {bound}{memory.describe_bytes(sparse_bytes)} and {bound}"
            f"{counts.flops:.2g} flops per evaluation"
        ),
        dense_flops=r**3 / 3.0 + dense_update,
    )
