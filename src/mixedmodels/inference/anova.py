"""Likelihood-ratio tests between nested models: lme4's ``anova``, ``drop1``; lmerTest's ``ranova``.

For models ordered by their number of parameters k₁ ≤ k₂ ≤ …, row i reports
AIC = −2ℓᵢ + 2kᵢ, BIC = −2ℓᵢ + kᵢ log n, ℓᵢ, deviance −2ℓᵢ and

    Chisq = max(0, 2(ℓᵢ − ℓᵢ₋₁)),  Df = kᵢ − kᵢ₋₁,  Pr(>Chisq) = P(χ²_Df > Chisq).

``anova`` compares ML log-likelihoods (REML fits are refitted by ML first,
as lme4 does); ``ranova`` keeps the fit's criterion (REML fits compare
restricted likelihoods, as lmerTest).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..arguments import check_models
from ..design.model_matrix import parse_terms
from ..errors import ArgumentError, DataError
from ..formula.deparse import deparse_expr, deparse_formula
from .table import AnovaTable

__all__ = ["anova", "ranova", "drop1", "loglik_of", "npar_of"]

_KINDS = {
    "npar": "int",
    "AIC": "df",
    "BIC": "df",
    "logLik": "df",
    "deviance": "df",
    "Chisq": "stat",
    "Df": "int",
    "Pr(>Chisq)": "p",
}


def _is_reml(m: Any) -> bool:
    return bool(getattr(m, "REML", False))


def npar_of(m: Any) -> int:
    """Number of estimated parameters (β, θ, σ) — lme4's ``attr(logLik(m), "df")``."""
    if hasattr(m, "df_model"):
        return int(m.df_model)
    return int(m._fit.rank + 1)  # LinearModel: p + σ


def loglik_of(m: Any, REML: bool | None = None) -> float:
    """Log-likelihood of a fit; for a linear model without random effects the
    restricted one when ``REML`` (R's ``logLik(lm, REML = TRUE)``)."""
    from ..pooling import LinearModel

    if isinstance(m, LinearModel) and REML:
        n, p, rss = m.df_resid + m._fit.rank, m._fit.rank, m._fit.rss
        w = np.ones(m.design.n) if m.weights is None else m.weights
        nmp = n - p
        ll = 0.5 * (float(np.sum(np.log(w))) - nmp * (math.log(2 * math.pi) + 1
                                                      - math.log(nmp) + math.log(rss)))
        sw = np.sqrt(w)
        R = np.linalg.qr(m.design.X * sw[:, None], mode="r")
        return ll - float(np.sum(np.log(np.abs(np.diag(R)))))
    return float(m.loglik)


def _formula_of(m: Any) -> str:
    return str(m.design.formula.text)


def _check_same_rows(models: list[Any], names: list[str]) -> None:
    n0, rows0 = models[0].nobs, np.asarray(models[0].design.rows)
    for m, nm in zip(models[1:], names[1:]):
        if m.nobs != n0:
            raise DataError(
                f"models were not all fitted to the same number of observations: "
                f"{names[0]} has {n0}, {nm} has {m.nobs}; refit them on the same rows "
                "(drop rows with missing values in any variable used by either model first)"
            )
        if not np.array_equal(np.asarray(m.design.rows), rows0) or (
            m.design.n_input != models[0].design.n_input
        ):
            raise DataError(
                f"models {names[0]} and {nm} were fitted to different rows of the data; "
                "a likelihood-ratio test needs the same observations in every model"
            )


def _lrt_frame(lls: list[float], npars: list[int], n: int, names: list[str]) -> pd.DataFrame:
    ll = np.asarray(lls, float)
    k = np.asarray(npars, float)
    chisq = np.concatenate([[np.nan], np.maximum(0.0, 2.0 * np.diff(ll))])
    df = np.concatenate([[np.nan], np.diff(k)])
    with np.errstate(invalid="ignore"):
        p = np.where(df > 0, stats.chi2.sf(chisq, np.where(df > 0, df, 1)), np.nan)
    return pd.DataFrame(
        {
            "npar": k.astype(int),
            "AIC": -2 * ll + 2 * k,
            "BIC": -2 * ll + math.log(n) * k,
            "logLik": ll,
            "deviance": -2 * ll,
            "Chisq": chisq,
            "Df": df,
            "Pr(>Chisq)": p,
        },
        index=pd.Index(names),
    )


def anova(
    *models: Any,
    names: list[str] | None = None,
    refit: bool = True,
    verbose: bool = True,
    ddf: str = "Satterthwaite",
    type: int | str = 3,
) -> AnovaTable:
    """Likelihood-ratio tests between nested models, as lme4's ``anova(m1, m2, ...)``.

    With a single linear mixed model: its F tests of the fixed terms, as
    lmerTest's ``anova(m, type = 3, ddf = "Satterthwaite")``.

    Parameters
    ----------
    models:
        Two or more fitted models (``lmer``, ``glmer`` or ``lm`` fits) on the
        same rows.
    names:
        Row names; by default the formulas.
    refit:
        Refit REML fits by ML first (lme4's default); the message
        "refitting model(s) with ML (instead of REML)" goes to stderr.
    verbose:
        Print that message.
    ddf, type:
        For a single model only: the denominator df method and the type
        (1, 2 or 3) of the F tests.

    Returns
    -------
    AnovaTable
        One row per model ordered by ``npar``: npar, AIC, BIC, logLik,
        deviance, Chisq, Df, Pr(>Chisq).
    """
    check_models(models)
    if len(models) == 1 and getattr(models[0], "family", None) == "gaussian":
        from .ddf import anova_type3

        return anova_type3(models[0], ddf=ddf, type=type)
    if len(models) < 2:
        raise ArgumentError(
            "models",
            models[0] if models else None,
            "two or more models to compare (or one linear mixed model for its F tests)",
        )
    models_l = list(models)
    names_l = list(names) if names is not None else [_formula_of(m) for m in models_l]
    if len(names_l) != len(models_l):
        raise ArgumentError("names", names, f"one name per model ({len(models_l)})")
    if len(set(names_l)) < len(names_l):
        names_l = [f"{nm} [{i + 1}]" for i, nm in enumerate(names_l)]
    _check_same_rows(models_l, names_l)
    if refit and any(_is_reml(m) for m in models_l):
        if verbose:
            print("refitting model(s) with ML (instead of REML)", file=sys.stderr)
        models_l = [m.refit(REML=False) if _is_reml(m) else m for m in models_l]
    npars = [npar_of(m) for m in models_l]
    order = sorted(range(len(models_l)), key=lambda i: npars[i])
    lls = [loglik_of(models_l[i]) for i in order]
    frame = _lrt_frame(lls, [npars[i] for i in order], models_l[0].nobs,
                       [names_l[i] for i in order])
    heading = []
    data_name = getattr(models_l[0], "data_name", None)
    if data_name:
        heading.append(f"Data: {data_name}")
    if names is not None:
        heading.append("Models:")
        for i in order:
            text = " ".join(line.strip() for line in deparse_formula(_formula_of(models_l[i])))
            heading.append(f"{names_l[i]}: {text}")
    return AnovaTable.build(frame, heading, _KINDS)


# -- reduced models ------------------------------------------------------------------
@dataclass(frozen=True)
class _Bar:
    expr: str
    group: str

    def text(self) -> str:
        return f"({deparse_expr(self.expr)} | {self.group})"


def _term_label(t: tuple[str, ...]) -> str:
    return ":".join(t)


def _fixed_rhs(intercept: bool, labels: list[str], offsets: tuple[str, ...]) -> str:
    parts = ["1" if intercept else "0"] + labels + [f"offset({o})" for o in offsets]
    return " + ".join(parts)


def _formula_text(response: str, fixed_rhs: str, bars: list[_Bar]) -> str:
    return " + ".join([f"{response} ~ {fixed_rhs}"] + [b.text() for b in bars])


def _reductions(bar: _Bar) -> list[tuple[str, _Bar | None]]:
    """lmerTest's ``reduce.terms``: (row label, reduced bar or None for removal).

    A term with one column is removed; otherwise each of its highest-order
    terms (not contained in another term) is dropped in turn, keeping the
    intercept, e.g. ``(1 + Days | Subject)`` → ``(1 | Subject)`` labelled
    ``"Days in (1 + Days | Subject)"``.
    """
    spec = parse_terms(bar.expr)
    ncomp = len(spec.terms) + int(spec.intercept)
    if ncomp <= 1:
        if spec.intercept or not spec.terms:
            return [(bar.text(), None)]
        return [(f"{_term_label(spec.terms[0])} in {bar.text()}", None)]
    out: list[tuple[str, _Bar | None]] = []
    for t in spec.terms:
        if any(set(t) < set(u) for u in spec.terms):
            continue
        rest = [_term_label(u) for u in spec.terms if u != t]
        expr = " + ".join((["1"] if spec.intercept else ["0"]) + rest)
        out.append((f"{_term_label(t)} in {bar.text()}", _Bar(expr, bar.group)))
    return out


def _refit_formula(model: Any, formula: str, REML: bool, data: Any) -> Any:
    """Fit ``formula`` to the model's data with its weights and argument offset."""
    from ..lmm import lmer
    from ..pooling import lm

    if data is None:
        data = getattr(model, "data", None)
    if data is None:
        raise ValueError("pass the data the model was fitted to (data=...) to fit reduced models")
    d = model.design
    if len(data) != d.n_input:
        raise DataError(
            f"data has {len(data)} rows but the model was fitted to a frame of {d.n_input} rows"
        )
    weights = d.weights if d.has_weights else None
    if weights is not None:
        full = np.full(d.n_input, np.nan)
        full[d.rows] = weights
        weights = full
    if "|" in formula:
        offset = None
        if d.has_offset and not parse_terms(d.formula.fixed).offsets:
            offset = np.full(d.n_input, np.nan)
            offset[d.rows] = d.offset
        return lmer(formula, data, REML=REML, weights=weights, offset=offset)
    return lm(formula, data, weights=weights)


def ranova(model: Any, data: Any = None, reduce_terms: bool = True) -> AnovaTable:
    """LRT for each random-effect term, as lmerTest's ``ranova``.

    Each row compares the model with one term reduced (``reduce_terms``:
    ``(1 + x | g)`` → ``(1 | g)``) or removed (single-column terms; when the
    last term goes the reduced model is an ``lm``). REML fits compare
    restricted likelihoods, ML fits likelihoods. ``data`` is the data the
    model was fitted to. Columns: npar, logLik, AIC, LRT, Df, Pr(>Chisq).
    """
    pf = model.design.formula
    bars = [_Bar(b.expr, b.group) for b in pf.bars]
    reml = _is_reml(model)
    rows_names = ["<none>"]
    fits = [model]
    for i, bar in enumerate(bars):
        red = _reductions(bar) if reduce_terms else [(bar.text(), None)]
        for label, new in red:
            newbars = bars[:i] + ([new] if new is not None else []) + bars[i + 1 :]
            f = _formula_text(pf.response, pf.fixed, newbars)
            fits.append(_refit_formula(model, f, reml, data))
            rows_names.append(label)
    _check_same_rows(fits, rows_names)
    ll0 = loglik_of(model)
    k0 = npar_of(model)
    recs = []
    for f in fits:
        ll = loglik_of(f, REML=reml)
        k = npar_of(f)
        lrt = np.nan if f is model else max(0.0, 2.0 * (ll0 - ll))
        df = np.nan if f is model else k0 - k
        p = stats.chi2.sf(lrt, df) if f is not model and df > 0 else np.nan
        recs.append((k, ll, -2 * ll + 2 * k, lrt, df, p))
    frame = pd.DataFrame(
        recs, columns=["npar", "logLik", "AIC", "LRT", "Df", "Pr(>Chisq)"],
        index=pd.Index(rows_names),
    )
    heading = [
        "ANOVA-like table for random-effects: Single term deletions",
        "",
        "Model:",
        *deparse_formula(pf.text),
    ]
    kinds = {"npar": "int", "logLik": "df", "AIC": "df", "LRT": "stat", "Df": "int",
             "Pr(>Chisq)": "p"}
    return AnovaTable.build(frame, heading, kinds)


def drop1(model: Any, data: Any = None, test: str = "Chisq") -> AnovaTable:
    """Drop each fixed-effect term that marginality allows, as lme4's ``drop1``.

    Every model (the full one included) is fitted by ML; columns npar, AIC,
    and with ``test="Chisq"`` the LRT statistic and its p-value. ``data``
    is the data the model was fitted to.
    """
    pf = model.design.formula
    spec = parse_terms(pf.fixed)
    full = model.refit(REML=False) if _is_reml(model) else model
    bars = [_Bar(b.expr, b.group) for b in pf.bars]
    names, fits = ["<none>"], [full]
    for t in spec.terms:
        if any(set(t) < set(u) for u in spec.terms):
            continue
        rest = [_term_label(u) for u in spec.terms if u != t]
        f = _formula_text(pf.response, _fixed_rhs(spec.intercept, rest, spec.offsets), bars)
        fits.append(_refit_formula(model, f, False, data))
        names.append(_term_label(t))
    _check_same_rows(fits, names)
    ll0, k0 = loglik_of(full), npar_of(full)
    recs = []
    for f in fits:
        ll, k = loglik_of(f), npar_of(f)
        if f is full:
            recs.append((np.nan, -2 * ll + 2 * k, np.nan, np.nan))
            continue
        lrt = max(0.0, 2.0 * (ll0 - ll))
        recs.append((k0 - k, -2 * ll + 2 * k, lrt, stats.chi2.sf(lrt, k0 - k)))
    frame = pd.DataFrame(recs, columns=["npar", "AIC", "LRT", "Pr(Chi)"], index=pd.Index(names))
    kinds = {"npar": "int", "AIC": "df", "LRT": "stat", "Pr(Chi)": "p"}
    if test != "Chisq":
        frame = frame[["npar", "AIC"]]
        kinds = {"npar": "int", "AIC": "df"}
    heading = ["Single term deletions", "", "Model:", *deparse_formula(pf.text)]
    return AnovaTable.build(frame, heading, kinds)
