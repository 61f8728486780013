"""Stage 3 of the pipeline: sufficient statistics (cross-product blocks)."""

from .blocks import CrossProducts, TermDims, crossprod

__all__ = ["CrossProducts", "TermDims", "crossprod"]
