"""How many BLAS threads a dense kernel uses: one policy for every fit.

OpenBLAS's worker threads busy-wait. On an idle 2-core machine a second
thread halves a large Cholesky factor, but as soon as another process holds
a core the waiting threads are descheduled and every BLAS call of moderate
size becomes two- to two-hundredfold slower (measured, dpotrf + GEMM of
order n, 1 vs 2 threads, beside one busy-loop process: n = 200: 217×,
500: 25×, 1000: 6×, 2000: 2.7×, 4000: 0.8×). So a kernel runs on one
thread unless its dense work is large,

    threads = 1           if order ≤ 4000 and flops ≤ 6.4·10¹⁰,
              default     otherwise (OpenBLAS's own choice),

with ``order`` the largest dense matrix factored per evaluation and
``flops`` the dense work of one evaluation. The environment variable
``MIXEDMODELS_BLAS_THREADS`` (a positive integer) overrides the policy.

:func:`blas_threads` applies a limit to every loaded BLAS (numpy's and
scipy's) and restores it on exit. Entering it when the same limit is
already in force costs about a microsecond, so a fit sets the limit once
around its optimization (:func:`for_size`) and the per-evaluation kernels
inside it (``BlockedCholesky.update``, ``PWLS.solve``) find it in place.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = [
    "BIG_ORDER", "BIG_FLOPS", "threads_for", "blas_threads", "for_size", "limited",
    "model_limited", "model_threads", "in_force",
]

BIG_ORDER = 4000
BIG_FLOPS = float(BIG_ORDER) ** 3

_F = TypeVar("_F", bound=Callable[..., Any])

_current: int | None = None  # the limit in force by this module (None: BLAS default)


def _env_override() -> int | None:
    value = os.environ.get("MIXEDMODELS_BLAS_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return None


def threads_for(order: int = 0, flops: float = 0.0) -> int | None:
    """BLAS threads for dense work of matrix ``order`` and ``flops`` per evaluation:
    1, or None (the library's default) for large work (see the module docstring)."""
    env = _env_override()
    if env is not None:
        return env
    if order > BIG_ORDER or flops > BIG_FLOPS:
        return None
    return 1


@functools.cache
def _blas_libs() -> list[Any]:
    """threadpoolctl's controllers of the loaded BLAS libraries (found once)."""
    from threadpoolctl import ThreadpoolController

    return list(ThreadpoolController().select(user_api="blas").lib_controllers)


def in_force(limit: int | None) -> bool:
    """True when ``blas_threads(limit)`` would change nothing: per-evaluation kernels
    then call straight through, without a context manager (~2 µs each)."""
    return limit is None or limit == _current


@contextlib.contextmanager
def blas_threads(limit: int | None) -> Iterator[None]:
    """Run the block with at most ``limit`` BLAS threads (``None``: no change)."""
    global _current
    if limit is None or limit == _current:
        yield
        return
    libs = _blas_libs()
    before = [lc.get_num_threads() for lc in libs]
    outer = _current
    for lc in libs:
        lc.set_num_threads(limit)
    _current = limit
    try:
        yield
    finally:
        for lc, n in zip(libs, before):
            lc.set_num_threads(n)
        _current = outer


def for_size(order: int = 0, flops: float = 0.0) -> contextlib.AbstractContextManager[None]:
    """``blas_threads(threads_for(order, flops))``."""
    return blas_threads(threads_for(order, flops))


def model_threads(model: Any) -> int | None:
    """The limit chosen for a fitted model's factor (its ``blas_threads``), else 1."""
    factor = getattr(model, "factor", None)
    return getattr(factor, "blas_threads", threads_for())


def limited(limit_of: Callable[..., int | None]) -> Callable[[_F], _F]:
    """Decorator: run the function under ``blas_threads(limit_of(*args, **kwargs))``."""

    def wrap(func: _F) -> _F:
        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with blas_threads(limit_of(*args, **kwargs)):
                return func(*args, **kwargs)

        return inner  # type: ignore[return-value]

    return wrap


def model_limited(func: _F) -> _F:
    """Decorator for functions of a fitted model (first argument): its factor's limit."""
    return limited(lambda model, *args, **kwargs: model_threads(model))(func)
