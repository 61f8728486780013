"""A wall-clock limit for one example of a generated (fuzz) test."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def time_limit(seconds: int, what: str) -> Iterator[None]:
    """Raise TimeoutError in the example (not the process) when ``what`` runs longer
    than ``seconds``: a hang shows as a failure naming the input."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"{what} took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
