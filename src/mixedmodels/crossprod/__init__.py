"""Stage 3 of the pipeline: sufficient statistics (cross-product blocks)."""

from .blocks import CrossProducts, TermDims, crossprod, with_response
from .centering import Centering

__all__ = ["Centering", "CrossProducts", "TermDims", "crossprod", "with_response"]
