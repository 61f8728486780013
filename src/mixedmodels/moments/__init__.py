"""Crossed random intercepts at scale: method of moments + backfitting GLS.

``mm.lmer(formula, data, method="moments")`` (in memory),
``mm.scale.lmer_duckdb(..., method="moments")`` and
``mm.scale.lmer_dask(..., method="moments")`` reduce the rows to the same
:class:`GroupSums` (GROUP BY sums) and fit them with
:func:`fit_moments`: variance components by Gao & Owen's (2017) moment
equations, fixed effects by Ghosh, Hastie & Owen's (2022) backfitting GLS.
The result, :class:`MomentsFit`, is labelled as such: its numbers are not
lme4's (RE)ML estimates and it has no likelihood.
"""

from .api import lmer_moments
from .estimator import MomentsEstimate, fit_moments
from .results import MomentsFit, MomentsSummary, NotLikelihoodError
from .sums import GroupSums, group_sums

__all__ = [
    "GroupSums",
    "MomentsEstimate",
    "MomentsFit",
    "MomentsSummary",
    "NotLikelihoodError",
    "fit_moments",
    "group_sums",
    "lmer_moments",
]
