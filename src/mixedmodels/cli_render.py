"""What ``mixedmodels fit`` prints: the Markdown report and strict JSON.

Kept apart from the command-line parser so that ``mixedmodels --help``
loads neither numpy nor pandas.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ._rformat import format_pval

__all__ = ["jsonable", "render_markdown"]


def render_markdown(model: Any, data_label: str | None = None, formula: str | None = None) -> str:
    """Render a fitted linear or generalized linear mixed model as a Markdown report.

    Uses only the model's public attributes: ``REML``, ``formula`` (unless
    ``formula`` is given: the text the user typed), ``nobs``, ``ngroups``,
    the fit criteria, ``df_model``, ``varcorr.to_frame()``,
    ``summary().coefficients``, ``is_singular`` and, for a GLMM, ``family``
    and ``nAGQ``. p-values are printed as R's ``format.pval`` prints them
    (``1.47e-09``, ``<2e-16``), other columns with common decimals.
    """
    if getattr(model, "method", None) == "moments":
        return _render_moments_markdown(model, data_label, formula)
    reml = bool(model.REML)
    family = getattr(model, "family", None)
    glmm = hasattr(family, "link")
    if glmm:
        nagq = int(getattr(model, "nAGQ", 1))
        method = (
            "Laplace Approximation"
            if nagq == 1
            else f"Adaptive Gauss-Hermite Quadrature, nAGQ = {nagq}"
        )
        title = f"## Generalized linear mixed model fit by maximum likelihood ({method})"
    else:
        title = f"## Linear mixed model fit by {'REML' if reml else 'maximum likelihood'}"
    lines = [title, ""]
    if glmm:
        lines.append(f"- **Family:** {family.family} ({family.link.name})")
    lines.append(f"- **Formula:** `{model.formula if formula is None else formula}`")
    if data_label:
        lines.append(f"- **Data:** {data_label}")
    groups = "; ".join(f"{name}, {int(n)}" for name, n in dict(model.ngroups).items())
    lines.append(f"- **Observations:** {int(model.nobs)}; **groups:** {groups}")
    lines.append("")
    if reml:
        criterion = [[_num(model.reml_criterion)]]
        lines += _table(["REML criterion at convergence"], criterion, text_columns=0)
    else:
        # lme4's summary prints −2 logLik as the deviance (for a GLMM, deviance(m) differs)
        deviance = -2.0 * float(model.loglik)
        row = [_num(model.aic), _num(model.bic), _num(model.loglik), _num(deviance)]
        row.append(str(int(model.nobs) - int(model.df_model)))
        lines += _table(["AIC", "BIC", "logLik", "deviance", "df.resid"], [row], text_columns=0)
    lines += ["", "### Random effects", ""]
    lines += _random_effects_table(model.varcorr.to_frame())
    lines += ["", "### Fixed effects", ""]
    lines += _coefficients_table(model.summary().coefficients)
    if bool(model.is_singular):
        lines += [
            "",
            "> **Singular fit:** some variance component is estimated as zero "
            "(or a correlation as ±1); consider a simpler random-effects structure.",
        ]
    return "\n".join(lines) + "\n"


def _render_moments_markdown(model: Any, data_label: str | None, formula: str | None) -> str:
    """A method-of-moments fit (``lmer(..., method="moments")``): its estimator named,
    the moment estimates of the components and the GLS fixed effects (Wald z); no
    likelihood criteria, which such a fit does not have."""
    from .moments.results import ESTIMATOR

    lines = [
        "## Linear mixed model fit by the method of moments",
        "",
        f"Estimator: {ESTIMATOR}. These are **not** lme4's (RE)ML estimates: there is no "
        "likelihood, REML criterion, AIC/BIC or likelihood-ratio test for this fit.",
        "",
        f"- **Formula:** `{model.formula if formula is None else formula}`",
    ]
    if data_label:
        lines.append(f"- **Data:** {data_label}")
    groups = "; ".join(f"{name}, {int(n)}" for name, n in dict(model.ngroups).items())
    lines += [f"- **Observations:** {int(model.nobs)}; **groups:** {groups}", ""]
    lines += ["### Random effects (moment estimates)", ""]
    lines += _random_effects_table(model.varcorr.to_frame())
    lines += ["", "### Fixed effects (backfitting GLS; plug-in standard errors, Wald z)", ""]
    lines += _coefficients_table(model.summary().coefficients)
    return "\n".join(lines) + "\n"


def _coefficients_table(coefs: pd.DataFrame) -> list[str]:
    """The fixed-effects table: p-values as R prints them, other columns with common
    decimals."""
    columns = [str(c) for c in coefs.columns]
    formatted = [
        _format_pvalues(coefs[c].to_numpy(dtype=float))
        if str(c).startswith("Pr(")
        else _format_column(coefs[c].to_numpy(dtype=float))
        for c in coefs.columns
    ]
    body = [[f"`{term}`"] + [col[i] for col in formatted] for i, term in enumerate(coefs.index)]
    return _table(["Term", *columns], body)


def _format_pvalues(values: np.ndarray) -> list[str]:
    """p-values as in lme4's summary: R's ``format.pval`` with 3 digits (``<2e-16``)."""
    return [s.strip() for s in format_pval(values, digits=3, sep="")]


def _random_effects_table(vc: pd.DataFrame) -> list[str]:
    """lme4's random-effects block (Groups, Name, Variance, Std.Dev., Corr)."""
    terms: dict[str, list[tuple[str, float, float]]] = {}
    corr: dict[tuple[str, str, str], float] = {}
    for rec in vc.itertuples(index=False):
        grp, var1, var2 = str(rec.grp), _label(rec.var1), _label(rec.var2)
        if var2 is None:
            terms.setdefault(grp, []).append((var1 or "", float(rec.vcov), float(rec.sdcor)))
        else:
            corr[(grp, var1 or "", var2)] = float(rec.sdcor)
    n_corr = max((len(v) - 1 for g, v in terms.items() if g != "Residual"), default=0)
    header = ["Groups", "Name", "Variance", "Std.Dev."]
    if n_corr:
        header += ["Corr"] + [" "] * (n_corr - 1)
    variances = _format_column(np.array([t[1] for v in terms.values() for t in v]))
    sds = _format_column(np.array([t[2] for v in terms.values() for t in v]))
    body: list[list[str]] = []
    k = 0
    for grp, entries in terms.items():
        names = [name for name, _, _ in entries]
        for j, name in enumerate(names):
            row = [grp if j == 0 else "", f"`{name}`" if name else "", variances[k], sds[k]]
            cells = []
            for i in range(n_corr):
                value = corr.get((grp, names[i], name)) if i < j else None
                cells.append("" if value is None or math.isnan(value) else f"{value:.2f}")
            body.append(row + cells)
            k += 1
    return _table(header, body, text_columns=2)


def _label(value: Any) -> str | None:
    """A var1/var2 cell as text, ``None`` for R's NA."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return str(value)


def _table(header: list[str], body: list[list[str]], text_columns: int = 1) -> list[str]:
    """A Markdown table: the first ``text_columns`` left-aligned, numbers right."""
    align = ["---" if i < text_columns else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return lines


def _num(value: float) -> str:
    """A single criterion, 6 significant digits (``1743.63``)."""
    value = float(value)
    return "NA" if math.isnan(value) else f"{value:.6g}"


def _format_column(values: np.ndarray, significant: int = 4) -> list[str]:
    """Format a column with common decimals: the smallest entry keeps 4 digits."""
    finite = np.abs(values[np.isfinite(values) & (values != 0)])
    decimals = 0
    if finite.size:
        decimals = significant - 1 - math.floor(math.log10(float(finite.min())))
        decimals = min(max(decimals, 0), 6)
    return ["NA" if not np.isfinite(v) else f"{v:.{decimals}f}" for v in values]


def jsonable(obj: Any) -> Any:
    """Make ``obj`` strict JSON: numpy scalars/arrays to Python, NaN/inf to null."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
