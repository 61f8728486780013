"""Tidy data frames of a fit, as R's broom.mixed (``tidy``, ``glance``, ``augment``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..design import as_pandas
from ..errors import ArgumentError

__all__ = ["tidy", "glance", "augment", "to_dict"]


def _ran_pars(model: Any) -> pd.DataFrame:
    """SDs and correlations per term in broom.mixed's order: each effect's SD
    followed by its correlations with the effects after it."""
    rows = []
    for t in model.varcorr.terms:
        sd, corr = t.sd, t.corr
        for j, nm in enumerate(t.names):
            rows.append(("ran_pars", t.group, f"sd__{nm}", sd[j]))
            for i in range(j + 1, len(t.names)):
                rows.append(("ran_pars", t.group, f"cor__{nm}.{t.names[i]}", corr[i, j]))
    if model.varcorr.sigma is not None:
        rows.append(("ran_pars", "Residual", "sd__Observation", model.varcorr.sigma))
    return pd.DataFrame(rows, columns=["effect", "group", "term", "estimate"])


def tidy(model: Any, effects: str = "all") -> pd.DataFrame:
    """One row per parameter: effect, group, term, estimate, std.error, statistic.

    ``effects`` is ``"fixed"``, ``"ran_pars"`` (SDs and correlations),
    ``"ran_vals"`` (conditional modes with conditional SDs) or ``"all"``
    (fixed and ran_pars, as broom.mixed).
    """
    parts = []
    if effects in ("all", "fixed"):
        coefs = model.summary(correlation=False).coefficients
        stat = "t value" if "t value" in coefs.columns else "z value"
        fx = pd.DataFrame(
            {
                "effect": "fixed",
                "group": None,
                "term": coefs.index,
                "estimate": coefs["Estimate"].to_numpy(),
                "std.error": coefs["Std. Error"].to_numpy(),
                "statistic": coefs[stat].to_numpy(),
            }
        )
        for extra in ("df", "Pr(>|t|)", "Pr(>|z|)"):
            if extra in coefs.columns:
                fx["df" if extra == "df" else "p.value"] = coefs[extra].to_numpy()
        parts.append(fx)
    if effects in ("all", "ran_pars"):
        parts.append(_ran_pars(model))
    if effects == "ran_vals":
        re = model.ranef.to_frame()
        return pd.DataFrame(
            {
                "effect": "ran_vals",
                "group": re["grpvar"],
                "level": re["grp"],
                "term": re["term"],
                "estimate": re["condval"],
                "std.error": re["condsd"],
            }
        )
    if not parts:
        raise ArgumentError("effects", effects, "'all', 'fixed', 'ran_pars' or 'ran_vals'")
    return pd.concat(parts, ignore_index=True)


def glance(model: Any) -> pd.DataFrame:
    """One row: nobs, sigma, logLik, AIC, BIC, deviance / REMLcrit, df.residual."""
    row = {
        "nobs": model.nobs,
        "sigma": model.sigma,
        "logLik": model.loglik,
        "AIC": model.aic,
        "BIC": model.bic,
    }
    if getattr(model, "REML", False):
        row["REMLcrit"] = model.reml_criterion
    else:
        row["deviance"] = model.deviance
    row["df.residual"] = model.nobs - model.df_model
    return pd.DataFrame([row])


def augment(model: Any, data: Any = None) -> pd.DataFrame:
    """The rows used in the fit with ``.fitted``, ``.fixed``, ``.resid`` (and ``.weights``).

    Without ``data``: the model frame, i.e. the columns the formula uses
    (response, predictors, grouping factors) on the rows of the fit.

    For a GLMM, as broom.mixed: ``.fitted`` and ``.fixed`` are on the link
    scale (η = Xβ̂ + Zb̂ + offset and Xβ̂ + offset), ``.mu`` = g⁻¹(η) is the
    fitted mean and ``.resid`` the deviance residuals.
    """
    d = model.design
    if data is None and getattr(model, "data", None) is not None:
        data = as_pandas(model.data)
        used = _model_frame_columns(d)
        data = data[[c for c in used if c in data.columns]]
    if data is not None:
        out = as_pandas(data).iloc[d.rows].copy()
    else:
        out = pd.DataFrame(d.X, columns=d.x_names)
        out.insert(0, d.formula.response, model.y)
    glmm = _family(model) is not None
    rows = model._na_unpad  # na_action="exclude" pads these with NaN: keep the fit's rows
    out[".fitted"] = model.linear_predictor if glmm else rows(model.fitted)
    out[".fixed"] = rows(model.predict(re_form="~0"))
    if glmm:
        out[".mu"] = rows(model.fitted)
    out[".resid"] = rows(model.resid())
    if d.has_weights:
        out[".weights"] = d.weights
    return out


def _model_frame_columns(d: Any) -> list[str]:
    """The data columns a fitted formula refers to, in formula order."""
    from ..design.expressions import expression_names
    from ..design.model_matrix import parse_terms

    f = d.formula
    exprs = [f.response]
    exprs += list(parse_terms(f.fixed).variables)
    for bar in f.bars:
        exprs += list(parse_terms(bar.expr).variables)
        exprs += list(bar.group_vars)
    cols: list[str] = []
    for e in exprs:
        for c in [e] if e.strip("`") == e and e.isidentifier() else expression_names(e):
            if c not in cols:
                cols.append(c)
    return cols


def _clean(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.ndarray):
        return _clean(x.tolist())
    if isinstance(x, (np.floating, float)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.bool_,)):
        return bool(x)
    return x


def _family(model: Any) -> Any:
    """The GLMM family object of a fit (None for a linear mixed model)."""
    fam = getattr(model, "family", None)
    return fam if hasattr(fam, "link") else None


def to_dict(model: Any) -> dict[str, Any]:
    """Every number of the fit in plain Python types (for JSON)."""
    s = model.summary(correlation=False)
    ranef = model.ranef
    fam = _family(model)
    out = {
        "formula": model.design.formula.text,
        "family": fam.family if fam is not None else getattr(model, "family", "gaussian"),
        "link": fam.link.name if fam is not None else "identity",
        "nAGQ": getattr(model, "nAGQ", None),
        "REML": bool(getattr(model, "REML", False)),
        "nobs": model.nobs,
        "n_omitted": model.design.n_omitted,
        "ngroups": model.ngroups,
        "fixef": model.fixef.to_dict(),
        "coefficients": {name: row.to_dict() for name, row in s.coefficients.iterrows()},
        "vcov": {
            "names": list(model.vcov.index),
            "matrix": model.vcov.to_numpy(),
        },
        "theta": model.theta.to_dict(),
        "sigma": model.sigma,
        "varcorr": model.varcorr.to_frame().to_dict(orient="records"),
        "loglik": model.loglik,
        "aic": model.aic,
        "bic": model.bic,
        "deviance": model.deviance,
        "reml_criterion": model.reml_criterion if getattr(model, "REML", False) else None,
        "df": model.df_model,
        "is_singular": model.is_singular,
        "ranef": {
            g: {
                "terms": list(df.columns),
                "levels": list(df.index),
                "values": df.to_numpy(),
                "condsd": ranef.condsd[g].to_numpy(),
            }
            for g, df in ranef.items()
        },
        "optimizer": {k: v for k, v in model.optinfo.items() if k != "seconds"},
        "scaled_residual_quantiles": s.residual_quantiles.to_dict()
        if hasattr(s, "residual_quantiles")
        else None,
    }
    return _clean(out)
