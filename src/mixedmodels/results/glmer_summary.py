"""lme4's ``summary(glmerMod)`` and ``print(glmerMod)`` as text (and as numbers).

Layout of the summary (lme4's ``print.summary.merMod``): the title naming
the approximation (Laplace, or adaptive Gauss–Hermite quadrature with its
nAGQ), wrapped at 80 characters as lme4's ``.prt.methTit``; the family and
link; the Formula and Data lines; the AIC/BIC/logLik/deviance/df.resid
table (deviance = −2 logLik, as lme4's ``devCrit`` for a GLMM), rounded to
one decimal; quantiles of the Pearson residuals divided by σ ("Scaled
residuals"); the random-effects table; numbers of observations and groups;
the fixed-effects table in R's ``printCoefmat`` layout with z value =
β̂/SE (t value for families with a dispersion parameter) and
Pr(>|z|) = 2Φ(−|z|) with significance stars; the correlation of the fixed
effects; the optimizer's messages, naming the optimizer as lme4 does for
the final stage of ``glmer`` (Nelder_Mead, or bobyqa for nAGQ = 0).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .._rformat import cat_fill
from .summary import (
    LmerSummary,
    _optimizer_state,
    aic_lines,
    call_lines,
    method_title_lines,
    print_body_lines,
)

__all__ = ["GlmerSummary", "glmerMod_print_text", "glmer_method_title", "glmer_optimizer_name"]


def glmer_method_title(model: Any) -> str:
    """lme4's ``methTitle`` of a GLMM fit: the likelihood approximation and its nAGQ."""
    n_agq = int(model.nAGQ)
    how = ("(Laplace Approximation)" if n_agq == 1
           else f"(Adaptive Gauss-Hermite Quadrature, nAGQ = {n_agq})")
    if n_agq == 1 and getattr(model, "optinfo", {}).get("deviance_kind") == "exact":
        # lme4's PIRLS approximation stopped at a worse point: the numbers are
        # on the Laplace deviance at the exact conditional modes
        how = "(Laplace Approximation at the exact conditional modes)"
    return f"Generalized linear mixed model fit by maximum likelihood {how}"


def glmer_optimizer_name(model: Any) -> str:
    """The optimizer lme4 reports for ``glmer``: its final stage's, Nelder_Mead
    (bobyqa when nAGQ = 0, where only the first stage runs)."""
    return "bobyqa" if int(model.nAGQ) == 0 else "Nelder_Mead"


def _family_lines(model: Any) -> list[str]:
    """lme4's ``.prt.family``: `` Family: name  ( link )``."""
    return cat_fill([" Family:", str(model.family.family), f" ( {model.family.link.name} )"])


def _criteria(model: Any) -> SimpleNamespace:
    """The fit criteria lme4's ``llikAIC`` tabulates for a GLMM (deviance = −2 logLik)."""
    return SimpleNamespace(
        REML=False, fixef=model.fixef, aic=model.aic, bic=model.bic, loglik=model.loglik,
        deviance=-2.0 * model.loglik, nobs=model.nobs, df_model=model.df_model,
    )


def _heading(model: Any, aic_digits: int) -> list[str]:
    """Title, family, Formula/Data lines and the criteria table rounded to ``aic_digits``."""
    lines = method_title_lines(glmer_method_title(model), "glmerMod")
    lines += _family_lines(model) + call_lines(model)
    if aic_digits == 1:
        lines.append("")
    return lines + aic_lines(_criteria(model), aic_digits)


class GlmerSummary(LmerSummary):
    """Summary of a generalized linear mixed model; ``str()`` gives lme4's layout.

    ``coefficients`` holds Estimate, Std. Error, the Wald statistic β̂/SE
    (``z value``; ``t value`` when the family has a dispersion parameter,
    as lme4 labels it) and Pr(>|z|) = 2Φ(−|statistic|).
    """

    def __init__(self, model: Any, correlation: bool = True):
        self.model = model
        self.ddf = None
        self.correlation = correlation
        self.optimizer_name = glmer_optimizer_name(model)
        fe = model.fixef
        se = model.fixef_se
        stat = fe / se
        label = "t value" if model.family.has_dispersion else "z value"
        self.coefficients = pd.DataFrame(
            {"Estimate": fe, "Std. Error": se, label: stat,
             "Pr(>|z|)": 2.0 * stats.norm.sf(np.abs(stat))}
        )
        self.varcorr = model.varcorr
        self.scaled_residuals = model._na_unpad(model.resid("pearson")) / model.sigma

    def _title(self) -> list[str]:
        """Title, family, Formula/Data lines, a blank line and the criteria table."""
        return _heading(self.model, 1)


def glmerMod_print_text(model: Any) -> str:
    """lme4's ``print(m)`` of a glmer fit (``print.merMod``), without the final newline.

    Title and family; Formula and Data lines; AIC, BIC, logLik, deviance
    (−2 logLik) and df.resid rounded to 4 decimals; the random effects'
    standard deviations (4 significant digits); numbers of observations and
    groups; the fixed effects as a named vector formatted with 4 significant
    digits (two spaces between columns, 80 characters a line); the fit
    warnings and a one-line optimizer report when the fit has messages.
    """
    m = model
    state = _optimizer_state(m, glmer_optimizer_name(m))
    return "\n".join(_heading(m, 4) + print_body_lines(m, state))
