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
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from .errors import ModelTooLargeError

__all__ = ["DENSE_COPIES", "available_memory", "check_dense_rest", "dense_rest_bytes"]

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
    q1 = dims[0][0] * dims[0][1] if dims else 0
    flops = r**3 / 3.0 + float(r) ** 2 * q1
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
        f"would also take about {flops:.2g} flops (~{_duration(seconds)} on one core). "
        "Try: fewer levels in the crossed factors after the first (merge rare levels, or "
        "model them as fixed effects if they are few), a nested coding if the factors are "
        "in fact nested, a machine with more memory, or fitting a subset of the data; "
        "mm.scale's out-of-core backends reduce the memory used by the rows, not by this block"
    )


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.3g} GiB"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.2g} s"
    if seconds < 7200:
        return f"{seconds / 60:.2g} min"
    return f"{seconds / 3600:.2g} h"
