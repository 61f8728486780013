"""``lmer(formula, data, method="moments")``: crossed random intercepts in O(N).

The formula must be ``y ~ fixed + (1 | g) + (1 | h) [+ (1 | k) ...]``: one
random intercept per grouping factor (crossed, nested or interaction
factors such as ``(1 | g:h)``), no random slopes, no correlated terms, no
prior weights, a numeric response. The design is built as ``lmer`` builds
it (same coding, missing values, rank check); the rows are then reduced to
:class:`~mixedmodels.moments.sums.GroupSums` and fitted by
:func:`~mixedmodels.moments.estimator.fit_moments`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..arguments import check_na_action
from ..crossprod import Centering
from ..errors import ArgumentError
from .estimator import fit_moments
from .results import MomentsFit
from .sums import GroupSums, group_sums

__all__ = ["lmer_moments", "check_moments_terms", "check_moments_call", "fit_from_sums"]

_WHAT_TO_DO = (
    "method='moments' fits crossed random intercepts only, y ~ x + (1 | g) + (1 | h); "
    "fit this model exactly (method='REML', the default)"
)


def check_moments_call(formula_text: str, response: str, weights: Any = None,
                       start: Any = None) -> None:
    """Refuse what the moment estimator cannot take before any data are read."""
    if response.replace(" ", "").startswith("cbind("):
        raise ArgumentError(
            "method", "moments", "used with a numeric response",
            f"the response {response} is a binomial count, a GLMM: use mm.glmer (the "
            "moment estimator is for linear models)",
        )
    if weights is not None:
        raise ArgumentError(
            "weights", weights, "None with method='moments'",
            "the moment equations of Gao & Owen assume equal residual variances; fit a "
            "weighted model exactly (method='REML')",
        )
    if start is not None:
        raise ArgumentError("start", start, "None with method='moments'",
                            "the moment estimator is not iterative in θ")


def check_moments_terms(terms: list[Any]) -> None:
    """Every term a scalar random intercept, each grouping factor in one term only."""
    seen: dict[str, str] = {}
    for t in terms:
        if t.S != 1 or list(t.names) != ["(Intercept)"]:
            raise ArgumentError(
                "formula", t.bar.text, "a random intercept (1 | group) for method='moments'",
                f"the term {t.bar.text} has random slopes ({', '.join(t.names)}); {_WHAT_TO_DO}",
            )
        if t.group in seen:
            raise ArgumentError(
                "formula", t.bar.text, "one term per grouping factor for method='moments'",
                f"'{t.group}' appears in {seen[t.group]} and {t.bar.text} (correlated or "
                f"split terms on one factor); {_WHAT_TO_DO}",
            )
        seen[t.group] = t.bar.text


def fit_from_sums(design: Any, sums: GroupSums, source: Any = None,
                  data_name: str | None = None) -> MomentsFit:
    """The moment fit of ``design`` from its group sums (any backend)."""
    names = [t.group for t in design.terms]
    est = fit_moments(sums, names)
    return MomentsFit(design, est, sums.shift, source=source, data_name=data_name)


def lmer_moments(
    formula: str,
    data: Any,
    offset: Any = None,
    na_action: str = "omit",
    weights: Any = None,
    start: Any = None,
    data_name: str | None = None,
) -> MomentsFit:
    """Fit crossed random intercepts in memory by moments + backfitting GLS."""
    from ..design import build_design, numeric_response
    from ..design.response import check_response_varies
    from ..formula import parse_formula

    na_action = check_na_action(na_action)
    parsed = parse_formula(formula)
    check_moments_call(parsed.text, parsed.response, weights, start)
    design = build_design(formula, data, weights=None, offset=offset, na_action=na_action)
    check_moments_terms(design.terms)
    check_response_varies(design)
    y = numeric_response(design) - design.offset
    X = np.asarray(design.X, dtype=float)
    intercept = X.shape[1] > 0 and design.x_names[0] == "(Intercept)"
    shift = Centering.from_rows(X, y, None, intercept)
    sums = group_sums([t.factor.codes for t in design.terms], [t.nl for t in design.terms],
                      X, y, shift)
    fit = fit_from_sums(design, sums, data_name=data_name)
    fit.y = numeric_response(design)
    fit.na_action = na_action
    return fit
