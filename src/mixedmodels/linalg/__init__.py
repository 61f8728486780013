"""Stage 4 of the pipeline: the blocked Cholesky factor."""

from .blocked import BlockedCholesky, FactorizationError

__all__ = ["BlockedCholesky", "FactorizationError"]
