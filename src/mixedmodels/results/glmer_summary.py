"""lme4's ``summary(glmerMod)`` as text (and as numbers).

Layout: the title naming the approximation (Laplace or adaptive
Gauss–Hermite quadrature), the family and link, the formula; the
AIC/BIC/logLik/deviance/df.resid table (deviance = −2 logLik, as lme4
prints it); quantiles of the Pearson residuals ("Scaled residuals"); the
random-effects table; numbers of observations and groups; the
fixed-effects table with z value = β̂/SE and Pr(>|z|) = 2Φ(−|z|) with
significance stars; the correlation of the fixed effects.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .summary import LmerSummary

__all__ = ["GlmerSummary"]


class GlmerSummary(LmerSummary):
    """Summary of a generalized linear mixed model; ``str()`` gives lme4's layout."""

    def __init__(self, model: Any, correlation: bool = True):
        self.model = model
        self.ddf = None
        self.correlation = correlation
        fe = model.fixef
        se = model.fixef_se
        z = fe / se
        self.coefficients = pd.DataFrame(
            {"Estimate": fe, "Std. Error": se, "z value": z,
             "Pr(>|z|)": 2.0 * stats.norm.sf(np.abs(z))}
        )
        self.varcorr = model.varcorr
        self.scaled_residuals = model.resid("pearson") / model.sigma

    def _title(self) -> list[str]:
        m = self.model
        if m.nAGQ > 1:
            how = f"(Adaptive\n  Gauss-Hermite Quadrature, nAGQ = {m.nAGQ})"
        else:
            how = "(Laplace\n  Approximation)"
        lines = [f"Generalized linear mixed model fit by maximum likelihood {how} ['glmerMod']",
                 f" Family: {m.family.family}  ( {m.family.link.name} )",
                 f"Formula: {m.design.formula.text}"]
        if m.design.has_weights:
            lines.append("Weights: (prior weights)")
        if m.data_name:
            lines.append(f"   Data: {m.data_name}")
        lines.append("")
        vals = [m.aic, m.bic, m.loglik, -2.0 * m.loglik]
        names = ["AIC", "BIC", "logLik", "deviance", "df.resid"]
        strs = [f"{v:.1f}" for v in vals] + [str(int(m.df_resid))]
        w = [max(len(a), len(b)) + 1 for a, b in zip(names, strs)]
        lines.append(" ".join(n.rjust(wi) for n, wi in zip(names, w)))
        lines.append(" ".join(s.rjust(wi) for s, wi in zip(strs, w)))
        return lines

    def __str__(self) -> str:
        text = super().__str__()
        # the lmer layout reports the optimizer only on warnings; nothing else differs
        return text
