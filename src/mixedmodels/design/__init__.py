"""Stage 2 of the pipeline: model frame and model matrices."""

from .dataframes import as_pandas
from .frame import Design, build_design
from .random import ReTerm
from .response import numeric_response

__all__ = ["Design", "ReTerm", "as_pandas", "build_design", "numeric_response"]
