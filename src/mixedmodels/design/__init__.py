"""Stage 2 of the pipeline: model frame and model matrices."""

from .frame import Design, as_pandas, build_design, numeric_response
from .random import ReTerm

__all__ = ["Design", "ReTerm", "as_pandas", "build_design", "numeric_response"]
