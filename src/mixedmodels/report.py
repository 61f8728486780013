"""The first look at a dataset in one self-contained HTML page.

:func:`report_html` fits nothing itself: it takes a fitted ``lmer`` or
``glmer`` model (and its data) and lays out, in order,

1. the model's summary (lme4's layout, :mod:`mixedmodels.results.html`);
2. the pooling comparison: per group the coefficients under complete, no
   and partial pooling (:func:`mixedmodels.pooling_table`) with the
   per-group panels of the three fits (linear models); for a GLMM one GLM
   per group and one for all rows on the link scale
   (:func:`mixedmodels.nopooling.glm_nopool`) against the mixed model's
   coefficients, the groups whose GLM separates named;
3. the shrinkage of the group coefficients and their densities;
4. the caterpillar plot of the conditional modes;
5. the residual diagnostics;
6. the effect of each fixed-effect variable (response scale for a GLMM);
7. profile confidence intervals, when asked.

Figures are embedded as PNG (``data:`` URIs) and styles are inline, so the
file opens anywhere, offline, with nothing else beside it. A section that
does not apply to the model (shrinkage of a random intercept alone) says
why instead of failing the page. A GLMM's pooling comparison and shrinkage
compare one GLM per group with the mixed model on the link scale.
"""

from __future__ import annotations

import base64
import html
import io
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["report_html", "write_report"]

_PAGE = (
    "font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Helvetica,Arial,sans-serif;"
    "max-width:1100px;margin:24px auto;padding:0 16px;color:#1f2328;background:#ffffff;"
)
_H1 = "font-size:22px;margin:0 0 4px 0;"
_H2 = "font-size:17px;margin:28px 0 8px 0;padding-bottom:4px;border-bottom:1px solid #d0d7de;"
_NOTE = "color:#57606a;font-size:13px;margin:4px 0;"
_IMG = "max-width:100%;height:auto;display:block;margin:6px 0;"


def _esc(s: Any) -> str:
    return html.escape(str(s), quote=True)


def figure_img(fig: Any, dpi: int = 90) -> str:
    """A matplotlib figure as an ``<img>`` with the PNG inline (base64)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="figure" style="{_IMG}" src="data:image/png;base64,{data}">'


def _frame_html(df: Any, digits: int = 4) -> str:
    """A DataFrame as a table of the results module's style: each numeric column as R's
    ``format(x, digits)`` prints it (common decimals, so the points line up)."""
    from ._rformat import format_column
    from .results.html import Table, render_html

    columns = [format_column(df[c].to_numpy(dtype=float), digits, na="NA")
               if df[c].dtype.kind in "fiu" else [str(v) for v in df[c]] for c in df.columns]
    cells = [list(row) for row in zip(*columns)] if columns else []
    cols = [" ".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in df.columns]
    return render_html([Table(cols, cells, [str(i) for i in df.index])])


def _predictor(model: Any, group: str) -> str | None:
    """The numeric fixed-effect column that also varies by ``group`` (else the first one)."""
    names = [n for n in model.design.x_names if n != "(Intercept)"]
    numeric = [n for n in names if n in model.design.formula.text]
    for t in model.design.terms:
        if t.group == group:
            for n in t.names:
                if n in numeric:
                    return n
    return numeric[0] if numeric else None


def _glmm_pooling(model: Any, group: str, max_columns: int = 2, max_rows: int = 30) -> str:
    """A GLMM's pooling comparison on the link scale: per level g of ``group`` the
    GLM of the fixed-effects design on g's rows alone (no pooling, β̂_g), the GLM on
    all rows (complete pooling, β̂) and the mixed model's ``coef`` (partial pooling,
    β̂ + b̂_g); levels whose GLM separates (β̂_g infinite) are named and not drawn."""
    import numpy as np
    import pandas as pd

    from .nopooling import glm_irls, glm_nopool
    from .plots._util import new_figure

    d = model.design
    nopool, separated = glm_nopool(model, group)
    everyone = glm_irls(model.family, d.X, np.asarray(model.y, dtype=float),
                        np.asarray(model.prior_weights, dtype=float), d.offset)
    partial = model.coef[group]
    partial = partial.set_axis(partial.index.astype(str), axis=0)
    columns = [c for c in partial.columns if c in nopool.columns][:max_columns]
    order = partial[columns[0]].sort_values().index
    fig = new_figure(3.6 * len(columns) + 0.4, 0.6 + 0.18 * len(order))
    axes = fig.subplots(1, len(columns), sharey=True, squeeze=False).ravel()
    pos = np.arange(len(order))
    kept = ~separated.reindex(order).to_numpy()
    for ax, col in zip(axes, columns):
        own, mixed = nopool.loc[order, col].to_numpy(), partial.loc[order, col].to_numpy()
        ax.hlines(pos[kept], own[kept], mixed[kept], color="0.75", lw=0.8)
        ax.plot(own[kept], pos[kept], "o", mfc="none", color="C0", label=f"GLM per {group}")
        ax.plot(mixed, pos, "o", color="C1", label="mixed model")
        k = list(d.x_names).index(col)
        ax.axvline(everyone.coef[k], color="C2", ls="--", label="one GLM for all")
        ax.set_xlabel(f"{col} ({model.family.link.name} scale)")
    axes[0].set_yticks(pos, list(order), fontsize=7)
    axes[0].legend(fontsize=7, loc="best")
    shown = nopool.where(~separated, np.nan, axis=0)  # infinite estimates: NA
    table = pd.DataFrame({
        **{f"no pooling: {c}": shown.loc[order, c] for c in columns},
        **{f"mixed: {c}": partial.loc[order, c] for c in columns},
        "GLM separates": np.where(separated.reindex(order), "yes", ""),
    }).head(max_rows)
    fam = f"{model.family.family}({model.family.link.name})"
    pooled = ", ".join(f"{c} = {everyone.coef[list(d.x_names).index(c)]:.4g}"
                       for c in columns)
    note = (f"Per {_esc(group)}: its own {_esc(fam)} GLM of the fixed effects (no pooling, "
            f"open circles), one GLM for all rows (complete pooling, dashed: {_esc(pooled)}) "
            "and the mixed model's coefficients (partial pooling, filled), on the "
            f"{_esc(model.family.link.name)} scale.")
    if separated.any():
        names = ", ".join(map(str, separated.index[separated]))
        note += (f" {int(separated.sum())} of {separated.size} {_esc(group)} levels are not "
                 f"drawn: their GLM separates (estimates run off to ±∞): {_esc(names)}.")
    if everyone.separated:
        note += " The GLM for all rows separates too: its line is not an estimate."
    return f'<p style="{_NOTE}">{note}</p>' + figure_img(fig) + _frame_html(table)


def _section(title: str, build: Callable[[], str]) -> str:
    """An ``<h2>`` and its body; a section that cannot be drawn says why."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            body = build()
    except Exception as exc:  # the page goes on; the reader sees what was skipped
        body = f'<p style="{_NOTE}">Not shown for this model: {_esc(exc)}</p>'
    return f'<h2 style="{_H2}">{_esc(title)}</h2>{body}'


def report_html(
    model: Any,
    data: Any,
    title: str | None = None,
    profile: bool = False,
    max_effects: int = 4,
) -> str:
    """The report of a fitted ``lmer`` / ``glmer`` ``model`` on ``data`` as one HTML page.

    ``profile=True`` adds profile-likelihood intervals (lme4's
    ``confint(m)``; slower). At most ``max_effects`` effect plots are drawn.
    """
    import matplotlib

    from . import plots
    from .design.dataframes import as_pandas
    from .plots._util import fixed_variables, group_names

    data = as_pandas(data)
    formula = model.design.formula
    group = group_names(model)[0]
    x = _predictor(model, group)
    glmm = hasattr(model, "nAGQ")
    heading = title or f"Mixed model report: {formula.text}"
    parts = [f'<h1 style="{_H1}">{_esc(heading)}</h1>',
             f'<p style="{_NOTE}">{model.nobs} observations; groups: '
             + _esc(", ".join(f"{g} ({n})" for g, n in model.ngroups.items()))
             + f"; mixedmodels with matplotlib {_esc(matplotlib.__version__)}</p>"]
    parts.append(_section("Summary", lambda: model.summary()._repr_html_()))

    def pooling() -> str:
        if glmm:
            return _glmm_pooling(model, group)
        if x is None:
            raise ValueError("the fixed part has no numeric predictor to draw against")
        fixed = f"{formula.response} ~ {x}"
        fits = plots.pooling_models(data, x, formula.response, group)
        table = _frame_html(fits["No pooling"].coef.add_prefix("no pooling: ").join(
            model.coef[group].add_prefix("mixed: "), how="left").head(30))
        fig = plots.group_panels(data, x, formula.response, group, fits)
        return (f'<p style="{_NOTE}">Per {_esc(group)}: its own least-squares line '
                f"(no pooling, <code>{_esc(fixed)} | {_esc(group)}</code>), one line for all "
                "(complete pooling) and the mixed models' lines (partial pooling).</p>"
                + figure_img(fig) + table)

    parts.append(_section("Pooling: complete, none, partial", pooling))

    def shrinkage() -> str:
        return (figure_img(plots.shrinkage(model, data=data, group=group))
                + figure_img(plots.coefficient_densities(model, data=data, group=group)))

    parts.append(_section("Shrinkage of the group coefficients", shrinkage))
    parts.append(_section("Random effects (conditional modes)",
                          lambda: figure_img(plots.caterpillar(model))))
    parts.append(_section("Residual diagnostics", lambda: figure_img(plots.diagnostics(model))))

    def effects() -> str:
        names = [v for v in fixed_variables(model) if v in data.columns][:max_effects]
        if not names:
            raise ValueError("no fixed-effect variable is a column of the data")
        return "".join(figure_img(plots.effects(model, v, data=data)) for v in names)

    parts.append(_section("Fixed effects", effects))
    if profile:
        parts.append(_section("Profile confidence intervals (95%)",
                              lambda: _frame_html(model.confint("profile", progress=False))))
    body = "".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{_esc(heading)}</title></head>"
            f'<body style="{_PAGE}">{body}</body></html>\n')


def write_report(path: str, model: Any, data: Any, **kwargs: Any) -> None:
    """:func:`report_html` written to ``path`` (UTF-8)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(report_html(model, data, **kwargs))
