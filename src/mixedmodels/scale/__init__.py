"""Fit ``lmer`` models out of memory, from cross-products computed where the rows live.

The likelihood depends on the data only through A = [Z X y]'W[Z X y], n, p
and Σ log wᵢ (:mod:`mixedmodels.crossprod`). Here those blocks are computed
by GROUP BY aggregations in DuckDB (over Parquet/CSV files or tables) or by
partition-wise sums in Dask, and handed to the same factorization and
optimizer as :func:`mixedmodels.lmer`: the fit is the in-memory fit, to
rounding. Fitted values, residuals and the summary's residual quantiles
are computed back in the backend on demand.

>>> import mixedmodels as mm
>>> m = mm.scale.lmer_duckdb("y ~ x + (1 | g) + (1 | h)", "data/*.parquet")
>>> m.fixef, m.theta, m.sigma
>>> print(m.summary())
>>> m = mm.scale.lmer_duckdb("y ~ x + (1 | g) + (1 | h)", "data/*.parquet", method="moments")

``method="moments"`` fits crossed random intercepts by the method of moments
and backfitting GLS from GROUP BY sums (:mod:`mixedmodels.moments`,
:mod:`mixedmodels.scale.moments_sums`): time linear in the rows and no dense
block, for designs no exact fit reaches; not lme4's (RE)ML estimates.

>>> import dask.dataframe as dd
>>> m = mm.scale.lmer_dask("y ~ x + (1 | g)", dd.read_parquet("data/*.parquet"))
"""

from .dask_backend import DaskSource, crossprod_dask, lmer_dask
from .design import RowsNotAvailableError, ScaleDesign
from .duckdb_backend import DuckDBSource, crossprod_duckdb, lmer_duckdb
from .model import StatsSummary, SufficientStatsLMM

__all__ = [
    "DaskSource",
    "DuckDBSource",
    "RowsNotAvailableError",
    "ScaleDesign",
    "StatsSummary",
    "SufficientStatsLMM",
    "crossprod_dask",
    "crossprod_duckdb",
    "lmer_dask",
    "lmer_duckdb",
]
