"""Stage 4 of the pipeline: the blocked Cholesky factor."""

from .blocked import BlockedCholesky, FactorizationError
from .tail import TailProfile, tail_split

__all__ = ["BlockedCholesky", "FactorizationError", "TailProfile", "tail_split"]
