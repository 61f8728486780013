"""lme4's ``summary(lmerMod)`` and ``print(lmerMod)`` as text (and as numbers).

Layout of the summary (lme4's ``print.summary.merMod``): title; Formula,
Data, Weights and Offset lines; REML criterion (or the AIC/BIC/logLik/
deviance/df.resid table for ML fits); quantiles of the scaled residuals;
the random-effects table (Groups, Name, Variance, Std.Dev., Corr);
numbers of observations and groups; the fixed-effects table (R's
``printCoefmat``: Estimate, Std. Error, t value — with df and Pr(>|t|)
when a denominator-df method is chosen, as lmerTest); the correlation of
the fixed effects; the optimizer's messages.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._rformat import (
    abbreviate,
    cat_fill,
    format_num,
    print_coefmat,
    print_matrix,
    print_named,
    signif_stars,
    strwrap,
    zapsmall,
)
from ..formula.deparse import deparse_formula
from .html import RichRepr

__all__ = ["LmerSummary", "abbreviate", "deparse_formula", "merMod_print_text", "signif_stars"]


LME4_OPTIMIZER = "nloptwrap"  # lme4's name for NLopt's BOBYQA, the optimizer used here
COR_MAX = 12  # getOption("lme4.summary.cor.max")


def method_title_lines(title: str, cls: str) -> list[str]:
    """lme4's ``.prt.methTit``: ``title ['cls']``, wrapped at 80 characters."""
    if len(title) + 5 + len(cls) > 80:
        return cat_fill(strwrap(title, width=78, exdent=2) + [" [", cls, "]"], sep="")
    return [f"{title} ['{cls}']"]


def call_lines(model: Any) -> list[str]:
    """lme4's ``.prt.call``: Formula, Data, Weights and Offset lines.

    The formula is deparsed as R does (``||`` expanded, R's spacing, lines
    broken past 60 characters); Data shows ``data_name``; Weights and
    Offset show the column names the model recorded (``weights_name``,
    ``offset_name``) when prior weights or an offset argument were given.
    """
    lines = cat_fill(["Formula:"] + deparse_formula(model.design.formula.text))
    if getattr(model, "data_name", None):
        lines += cat_fill(["   Data:", str(model.data_name)])
    if model.design.has_weights:
        name = getattr(model, "weights_name", None) or "(prior weights)"
        lines += cat_fill(["Weights:", str(name)])
    offset_name = getattr(model, "offset_name", None)
    if offset_name:
        lines += cat_fill([" Offset:", str(offset_name)])
    return lines


def is_reml(model: Any) -> bool:
    """Whether lme4 reports the fit as REML: REML was asked and X has columns.

    With no fixed effects the REML and ML criteria coincide and lme4 labels
    the fit as maximum likelihood.
    """
    return bool(model.REML) and len(model.fixef) > 0


def aic_lines(model: Any, digits: int = 1) -> list[str]:
    """lme4's ``.prt.aictab``: the REML criterion, or AIC, BIC, logLik, deviance, df.resid.

    Values are rounded to ``digits`` decimals and printed as R's ``cat``
    and ``print`` would (7 significant digits, trailing zeros dropped).
    """
    if is_reml(model):
        value = format_num([round(float(model.reml_criterion), digits)])[0]
        return cat_fill(["REML criterion at convergence:", value])
    vals = [model.aic, model.bic, model.loglik, model.deviance]
    df_resid = float(model.nobs - model.df_model)
    strs = format_num([round(float(v), digits) for v in vals] + [df_resid])
    strs[-1] = format_num([df_resid])[0]
    return print_named(["AIC", "BIC", "logLik", "deviance", "df.resid"], strs)


def groups_line(model: Any) -> list[str]:
    """lme4's ``.prt.grps``: numbers of observations and of levels per grouping factor."""
    groups = "; ".join(f"{g}, {n}" for g, n in model.ngroups.items())
    return cat_fill([f"Number of obs: {model.nobs}, groups: ", groups])


def fit_message_lines(model: Any) -> list[str]:
    """lme4's ``fit warnings:`` block (columns dropped from a rank-deficient X)."""
    k = len(model.design.dropped_columns)
    if not k:
        return []
    s = "s" if k > 1 else ""
    return [
        "fit warnings:",
        f"fixed-effect model matrix is rank deficient so dropping {k} column{s} / coefficient{s}",
    ]


def _optimizer_state(
    model: Any, optimizer: str = LME4_OPTIMIZER
) -> tuple[str, list[str], list[str]] | None:
    """lme4's convergence line, its messages (singular fit) and the optimizer's warnings.

    ``None`` when the optimizer succeeded and there is nothing to report.
    """
    msgs = list(getattr(model, "optinfo", {}).get("warnings", []))
    singular = [s for s in msgs if s.startswith("boundary (singular) fit")]
    others = [s for s in msgs if s not in singular]
    opt = getattr(model, "opt", None)
    ok = True if opt is None else bool(opt.ok)
    code = 0 if ok else int(opt.code)
    if code == 0 and not msgs:
        return None
    how = "(OK)" if code == 0 else f"({opt.message})"
    return f"optimizer ({optimizer}) convergence code: {code} {how}", singular, others


class LmerSummary(RichRepr):
    """Summary of a linear mixed model; ``str()`` gives lme4's (or lmerTest's) layout.

    Parameters
    ----------
    model:
        A fitted :class:`~mixedmodels.lmm.LinearMixedModel`.
    ddf:
        ``"Satterthwaite"`` (default) or ``"Kenward-Roger"`` (lmerTest: adds df
        and Pr(>|t|)), or ``None`` / ``"lme4"`` (lme4: t values only).
    correlation:
        Print the correlation of the fixed effects (up to 12 of them, as lme4).
    """

    optimizer_name: str = LME4_OPTIMIZER  # the name lme4 reports for the optimizer

    def __init__(
        self, model: Any, ddf: str | None = "Satterthwaite", correlation: bool = True
    ):
        from ..inference.ddf import coef_table, normalize_ddf

        self.model = model
        self.correlation = correlation
        ddf = None if ddf is None else normalize_ddf(ddf)
        self.ddf = None if ddf == "lme4" else ddf
        self._check_ddf()
        if self.ddf is None or len(model.fixef) == 0:
            fe = model.fixef
            se = model.fixef_se
            self.coefficients = pd.DataFrame({"Estimate": fe, "Std. Error": se, "t value": fe / se})
        else:
            self.coefficients = coef_table(model, self.ddf)
        self.varcorr = model.varcorr
        self.scaled_residuals = self._scaled_residuals()

    def _check_ddf(self) -> None:
        """Refuse a df method this summary cannot compute (all can here)."""

    def _scaled_residuals(self) -> np.ndarray | None:
        return self.model._na_unpad(self.model.resid("scaled"))

    def _residual_quantile_values(self) -> np.ndarray:
        """Min, 1Q, median, 3Q, max of the scaled residuals."""
        return np.quantile(self.scaled_residuals, [0, 0.25, 0.5, 0.75, 1.0])

    @property
    def residual_quantiles(self) -> pd.Series:
        """Quantiles of the scaled residuals as lme4 prints them (``zapsmall(q, 5)``)."""
        q = self._residual_quantile_values()
        return pd.Series(zapsmall(q, 5), index=["Min", "1Q", "Median", "3Q", "Max"])

    def _title(self) -> list[str]:
        """Title, call lines, a blank line and the fit criteria."""
        m = self.model
        title = "Linear mixed model fit by " + ("REML" if is_reml(m) else "maximum likelihood ")
        cls = "lmerMod"
        if self.ddf is not None:
            title += f". t-tests use {self.ddf}'s method"
            cls = "lmerModLmerTest"
        return method_title_lines(title, cls) + call_lines(m) + [""] + aic_lines(m)

    def __str__(self) -> str:
        m = self.model
        lines = self._title() + ["", "Scaled residuals: "]
        q = self.residual_quantiles
        lines += print_named(list(q.index), format_num(q.to_numpy(), 4))
        lines += ["", "Random effects:"]
        lines += self.varcorr.table_lines(("Variance", "Std.Dev."), digits=4)
        lines += groups_line(m)
        p = len(self.coefficients)
        if p:
            lines += ["", "Fixed effects:"]
            cf = self.coefficients
            lines += print_coefmat(
                [str(i) for i in cf.index], {c: cf[c].to_numpy(dtype=float) for c in cf.columns}
            )
            if self.correlation:
                lines += self._correlation_lines()
        lines += fit_message_lines(m)
        state = _optimizer_state(m, self.optimizer_name)
        if state is not None:
            conv, singular, others = state
            lines += [conv, *singular, *others, ""]
        return "\n".join(lines)

    def _correlation_lines(self) -> list[str]:
        """lme4's correlation block: 3 decimals, names abbreviated as R's ``abbreviate``."""
        p = len(self.coefficients)
        if p > COR_MAX:
            return [
                "",
                f"Correlation matrix not shown by default, as p = {p} > {COR_MAX}.",
                "Use print(x, correlation=TRUE)  or",
                "    vcov(x)        if you need it",
                "",
            ]
        if p < 2:
            return []
        rows, cols, table = self.correlation_cells()
        return ["", "Correlation of Fixed Effects:"] + print_matrix(rows, cols, table, right=False)

    def correlation_cells(self) -> tuple[list[str], list[str], list[list[str]]]:
        """Row names, column names and lower-triangle cells of the fixed effects' correlation."""
        names = [str(i) for i in self.coefficients.index]
        p = len(names)
        corr = self.model._fixef_corr()
        cells = format_num(np.round(corr, 3).ravel(), nsmall=3)
        rows = abbreviate(names, 11)[1:]
        cols = abbreviate(names, 6)[:-1]
        table = [[cells[i * p + j] if j < i else "" for j in range(p - 1)] for i in range(1, p)]
        return rows, cols, table

    def __repr__(self) -> str:
        return str(self)

    def to_markdown(self) -> str:
        """The summary's tables in Markdown."""
        m = self.model
        out = [f"**{self._title()[0]}**", "", f"`{m.design.formula.text}`", ""]
        vc = self.varcorr.to_frame()
        out.append("| Group | Name | Variance | Std.Dev. |")
        out.append("|---|---|---:|---:|")
        for _, r in vc[vc["var2"].isna()].iterrows():
            out.append(f"| {r.grp} | {r.var1 or ''} | {r.vcov:.4g} | {r.sdcor:.4g} |")
        out.append("")
        cols = list(self.coefficients.columns)
        out.append("| | " + " | ".join(cols) + " |")
        out.append("|---|" + "---:|" * len(cols))
        for name, row in self.coefficients.iterrows():
            out.append(f"| {name} | " + " | ".join(f"{v:.4g}" for v in row) + " |")
        return "\n".join(out) + "\n"


def merMod_print_text(model: Any) -> str:
    """lme4's ``print(m)`` of an lmer fit (``print.merMod``), without the final newline.

    Title; Formula, Data, Weights and Offset lines; the REML criterion
    rounded to 4 decimals (or the AIC table for ML fits); the random
    effects' standard deviations and correlations (4 significant digits);
    numbers of observations and groups; the fixed effects as R prints a
    named vector formatted with 4 significant digits (two spaces between
    columns, 80 characters a line); the fit warnings and a one-line
    optimizer report when the fit has messages.
    """
    m = model
    title = "Linear mixed model fit by " + ("REML" if is_reml(m) else "maximum likelihood ")
    lines = method_title_lines(title, "lmerMod") + call_lines(m) + aic_lines(m, 4)
    return "\n".join(lines + print_body_lines(m, _optimizer_state(m)))


def print_body_lines(model: Any, state: tuple[str, list[str], list[str]] | None) -> list[str]:
    """The part of ``print(m)`` after the criteria: random-effect SDs, numbers of
    observations and groups, the fixed effects as a named vector, fit messages and
    the one-line optimizer report (``state`` from the optimizer's messages)."""
    m = model
    lines = ["Random effects:"] + m.varcorr.table_lines(("Std.Dev.",), digits=4)
    lines += groups_line(m)
    fe = m.fixef
    if len(fe):
        lines.append("Fixed Effects:")
        lines += print_named([str(i) for i in fe.index], format_num(fe.to_numpy(), 4), gap=2)
    else:
        lines.append("No fixed effect coefficients")
    lines += fit_message_lines(m)
    if state is not None:
        conv, singular, others = state
        lines.append(
            f"{conv} ; {len(others)} optimizer warnings; {len(singular)} lme4 warnings "
        )
    return lines
