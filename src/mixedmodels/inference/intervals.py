"""Confidence intervals for the parameters of a linear mixed model (lme4's ``confint``).

Parameters are named as lme4 with ``oldNames = FALSE``: per random-effect
term, in θ's order, ``sd_<effect>|<group>`` and ``cor_<effect2>.<effect1>|<group>``,
then ``sigma``, then the fixed effects.

* ``"Wald"``: β̂ ± z_{1−α/2} SE(β̂) for fixed effects, NaN for the variance
  parameters (as lme4);
* ``"Satterthwaite"``, ``"Kenward-Roger"`` (``"kr"``): β̂ ± t_{ν, 1−α/2} SE(β̂)
  with lmerTest's Satterthwaite ν and SE, or pbkrtest's Kenward–Roger ν and
  adjusted SE √Φ_A,jj (``parameters::model_parameters(ci_method = "kr")``);
  NaN for the variance parameters;
* ``"boot"``: percentile intervals of the parametric bootstrap
  (:func:`.simulate.bootstrap`) of every parameter;
* ``"profile"``: profile-likelihood intervals of the ML deviance, the roots
  of ζ(v) = ±z_{1−α/2} for every parameter (:mod:`.profile`; GLMMs with
  scalar random-effect terms and no dispersion parameter: :mod:`.glmer_profile`),
  the default, as lme4's ``confint(m)``; other GLMMs default to ``"Wald"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..arguments import check_level
from ..errors import ArgumentError
from .bootstrap import bootstrap
from .ddf import coef_table
from .glmer_profile import glmer_profile_confint
from .profile import profile_confint

__all__ = ["confint", "parameter_vector"]


def parameter_vector(model: Any) -> pd.Series:
    """sd/cor of each term (θ order), sigma and β̂ with lme4's names."""
    names, vals = [], []
    for k, t in enumerate(model.design.terms):
        cov = model._term_cov(k)
        sd = np.sqrt(np.clip(np.diag(cov), 0, None))
        rows, cols = t.tri_index
        for i, j in zip(rows, cols):
            if i == j:
                names.append(f"sd_{t.names[i]}|{t.group}")
                vals.append(sd[i])
            else:
                names.append(f"cor_{t.names[i]}.{t.names[j]}|{t.group}")
                den = sd[i] * sd[j]
                vals.append(cov[i, j] / den if den > 0 else 0.0)
    names.append("sigma")
    vals.append(float(model._sigma))
    names += list(model.design.x_names)
    vals += list(np.asarray(model._beta))
    return pd.Series(vals, index=names, dtype=float)


def _has_profile(model: Any) -> bool:
    from ..lmm import LinearMixedModel

    if isinstance(model, LinearMixedModel):
        return True
    return not model.family.has_dispersion and all(t.S == 1 for t in model.design.terms)


def confint(
    model: Any,
    method: str | None = None,
    level: float = 0.95,
    nsim: int = 500,
    seed: int | None = None,
    parallel: int | None = None,
    progress: bool | None = None,
    old_names: bool = False,
) -> pd.DataFrame:
    """Intervals with columns ``"2.5 %"`` and ``"97.5 %"`` (for level 0.95), lme4's layout.

    Rows are named ``sd_(Intercept)|Subject``, ``cor_Days.(Intercept)|Subject``,
    ``sigma`` and the fixed effects (lme4's ``oldNames = FALSE``);
    ``old_names=True`` gives lme4's default ``.sig01``, ``.sig02``, ..., ``.sigma``.
    ``method=None`` is ``"profile"`` (lme4's default) where it is available: every lmer
    fit, glmer fits with scalar random-effect terms and no dispersion parameter; ``"Wald"``
    for the other glmer fits.
    ``progress`` shows a bar for the bootstrap and lmer profile methods (None: when
    interactive, see :mod:`mixedmodels.progress`).
    """
    level = check_level(level)
    if method is None:
        method = "profile" if _has_profile(model) else "Wald"
    out = _confint(model, method, level, nsim, seed, parallel, progress)
    if old_names:
        varpars = [nm for nm in out.index if nm.startswith(("sd_", "cor_"))]
        rename = {nm: f".sig{i:02d}" for i, nm in enumerate(varpars, start=1)}
        rename["sigma"] = ".sigma"
        out = out.rename(index=rename)
    return out


def _confint(
    model: Any,
    method: str,
    level: float,
    nsim: int,
    seed: int | None,
    parallel: int | None,
    progress: bool | None,
) -> pd.DataFrame:
    a = (1 - level) / 2
    cols = [f"{100 * a:.3g} %", f"{100 * (1 - a):.3g} %"]
    params = parameter_vector(model)
    method_l = method.lower()
    if method_l == "wald":
        out = pd.DataFrame(np.nan, index=params.index, columns=cols)
        z = stats.norm.ppf(1 - a)
        se = model.fixef_se
        for nm in model.design.x_names:
            out.loc[nm] = [params[nm] - z * se[nm], params[nm] + z * se[nm]]
        return out
    if method_l in ("satterthwaite", "kenward-roger", "kenward_roger", "kr"):
        from ..lmm import LinearMixedModel

        if not isinstance(model, LinearMixedModel):
            raise ValueError(f"{method} intervals need a linear mixed model (lmer); "
                             "use method='Wald' for a glmer fit")
        tab = coef_table(model, ddf=method)
        out = pd.DataFrame(np.nan, index=params.index, columns=cols)
        q = stats.t.ppf(1 - a, tab["df"].to_numpy())
        est, se = tab["Estimate"].to_numpy(), tab["Std. Error"].to_numpy()
        out.loc[list(tab.index)] = np.column_stack([est - q * se, est + q * se])
        return out
    if method_l == "boot":
        draws = bootstrap(model, parameter_vector, nsim=nsim, seed=seed, parallel=parallel,
                          progress=progress)
        q = draws.replicates.quantile([a, 1 - a]).T
        q.columns = cols
        return q.loc[params.index]
    if method_l == "profile":
        from ..lmm import LinearMixedModel

        if not isinstance(model, LinearMixedModel):
            out = glmer_profile_confint(model, level=level)
            out.columns = cols
            return out
        out = profile_confint(model, level=level, progress=progress)
        out.columns = cols
        return out.loc[params.index]
    raise ArgumentError("method", method, "'profile', 'Wald', 'Satterthwaite', "
                        "'Kenward-Roger' ('kr') or 'boot'")
