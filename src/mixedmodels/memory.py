"""Pre-flight memory check of the dense rest block, before it is allocated.

The engine holds the cross-products of everything after the first
random-effect term, ``R = [Z_2 … Z_K  X  y]`` with r = Σ_{k≥2} q_k + p + 1
columns, as a dense r × r matrix A22, and each evaluation of the criterion
forms S = A22 − A21 C A21' and factors it in place (L22). At the peak of an
evaluation about four r × r arrays of doubles are alive (A22, the product,
S and the previous factor), so the estimate is

    bytes ≈ 4 · 8 · r²,   flops per evaluation ≈ r³/3 (Cholesky) + r² q₁.

When that exceeds the memory available, :func:`check_dense_rest` raises
:class:`~mixedmodels.errors.ModelTooLargeError` with the sizes and what to
try, instead of numpy's ``MemoryError`` after minutes of work.

The sparse rest block (:mod:`mixedmodels.linalg.sparse_rest`) holds the
pattern of the Schur complement S_zz (npairs entries: values, row and
column indices, the operator G with nnz_G entries) and the sparse factor
with nnz(L) entries (CHOLMOD's supernodal storage pads it; counted twice),
plus the border of X and y (rz × (p+1), a few copies):

    bytes ≈ 8·(2·nnz(L) + 4·npairs + 1.5·nnz_G + 4·rz·(p+1)),
    flops per evaluation ≈ Σ_j c_j² (c_j the column counts of L).

:func:`refuse_rest` explains a refusal with both estimates.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NoReturn

from .errors import ModelTooLargeError

__all__ = [
    "DENSE_COPIES",
    "available_memory",
    "check_dense_rest",
    "dense_rest_bytes",
    "describe_bytes",
    "describe_seconds",
    "dense_rest_flops",
    "refuse_rest",
    "sparse_rest_bytes",
]

DENSE_COPIES = 4
"""r × r arrays of doubles alive at the peak of one evaluation."""

_FALLBACK_BYTES = 8 * 2**30  # when the platform does not say how much memory is free
_FLOPS_PER_SECOND = 2e10  # a dense BLAS kernel on one core, for the time estimate


def available_memory() -> int:
    """Bytes of memory available: Linux's ``MemAvailable`` (free + reclaimable),
    else free physical pages from ``os.sysconf``, else 8 GiB."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return _FALLBACK_BYTES


def dense_rest_bytes(r: int) -> int:
    """Peak bytes of the dense rest block of size r (see the module description)."""
    return DENSE_COPIES * 8 * r * r


def dense_rest_flops(r: int, q1: int) -> float:
    """Flops of one evaluation on the dense rest block: r³/3 (Cholesky) + r² q₁ (update)."""
    return r**3 / 3.0 + float(r) ** 2 * q1


def sparse_rest_bytes(nnz_l: float, npairs: int, nnz_g: int, rz: int, p: int) -> float:
    """Peak bytes of the sparse rest block (see the module description)."""
    return 8.0 * (2.0 * nnz_l + 4.0 * npairs + 1.5 * nnz_g + 4.0 * rz * (p + 1))


def check_dense_rest(r: int, dims: Sequence[tuple[int, int]], p: int) -> None:
    """Refuse a rest block of r rows that would not fit in the memory available.

    ``dims`` are the (levels, effects per level) of the random-effect terms in
    lme4's order (term 1 first, outside the rest block); ``p`` is the number of
    fixed effects. Raises :class:`ModelTooLargeError`; returns None otherwise.
    """
    need = dense_rest_bytes(r)
    if need < 2**28:  # under 256 MiB: never worth reading the system's figures
        return
    have = available_memory()
    if need <= have:
        return
    refuse_rest(r, dims, p, have)


def refuse_rest(
    r: int,
    dims: Sequence[tuple[int, int]],
    p: int,
    have: float,
    sparse: str | None = None,
    dense_flops: float | None = None,
) -> NoReturn:
    """Raise :class:`ModelTooLargeError`: sizes, estimates and what to do.

    ``sparse`` is the sparse path's estimate in words (or why it is not available);
    ``dense_flops`` the dense path's flops per evaluation when known better than
    :func:`dense_rest_flops`.
    """
    q1 = dims[0][0] * dims[0][1] if dims else 0
    need = dense_rest_bytes(r)
    flops = dense_rest_flops(r, q1) if dense_flops is None else dense_flops
    seconds = flops / _FLOPS_PER_SECOND
    rest = ", ".join(
        f"term {k} with {nl:,} level{'s' if nl != 1 else ''} × {s} effect{'s' if s != 1 else ''}"
        for k, (nl, s) in enumerate(dims, start=1)
        if k > 1
    )
    raise ModelTooLargeError(
        f"the model is too large for the memory available: the random-effect terms after "
        f"the first ({rest}) plus {p} fixed effects and the response give a dense block of "
        f"r = {r:,} rows, and fitting needs about {DENSE_COPIES} r × r matrices = "
        f"{_gib(need)}, while {_gib(have)} is available; each evaluation of the criterion "
        f"would also take about {flops:.2g} flops (~{_duration(seconds)} on one core)"
        + (f"; {sparse}" if sparse else "")
        + ". Try: method=\"moments\" (mm.lmer(..., method=\"moments\"), a moment estimator "
        "for crossed random intercepts that needs no factorization), fewer levels in the "
        "crossed factors after the first (merge rare levels, or model them as fixed effects "
        "if they are few), a nested coding if the factors are in fact nested, a machine with "
        "more memory, or fitting a subset of the data; mm.scale's out-of-core backends reduce "
        "the memory used by the rows, not by this block"
    )


def describe_bytes(nbytes: float) -> str:
    """Bytes in GiB (3 significant digits), as in the messages of this module."""
    return _gib(nbytes)


def describe_seconds(seconds: float) -> str:
    """A duration in s, min or h, as in the messages of this module."""
    return _duration(seconds)


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.3g} GiB"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.2g} s"
    if seconds < 7200:
        return f"{seconds / 60:.2g} min"
    return f"{seconds / 3600:.2g} h"
