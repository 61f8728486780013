"""Shared helpers of the plots: figures, smoothers, normal quantiles, model frames.

Everything here works on a fitted model through its public accessors and
its design (``design.X``, ``design.rows``, ``design.fixed_spec`` ...); no
global matplotlib state is read or changed.
"""

from __future__ import annotations

import io
import math
import re
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import stats

from ..design.model_matrix import build_matrix
from ..design.variables import Categorical, evaluate, expression_names

__all__ = [
    "MODEL_COLORS",
    "POINT_COLOR",
    "SMOOTH_COLOR",
    "NotebookFigure",
    "new_figure",
    "panel_grid",
    "lowess",
    "ppoints",
    "normal_quantiles",
    "fixed_matrix",
    "fixed_variables",
    "reference_grid",
    "model_column",
    "group_codes",
    "group_names",
    "as_frame",
    "is_mixed",
    "is_lmlist",
    "require_mixed",
    "fitted_values",
    "residuals",
    "response_values",
]

#: colours of overlaid model lines, in order (colour-blind-safe Okabe–Ito palette)
MODEL_COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
POINT_COLOR = "#4D4D4D"
SMOOTH_COLOR = "#D55E00"


# -- figures --------------------------------------------------------------------------
class NotebookFigure(Figure):
    """A figure that displays itself in Jupyter (as PNG) without pyplot.

    It is not registered with pyplot, so scripts keep no global figure
    state and ``fig.savefig`` works with any backend; notebooks (JupyterLab,
    VS Code, nbconvert) call :meth:`_repr_png_` to show it, with no
    ``%matplotlib`` magic needed.
    """

    def _repr_png_(self) -> bytes:
        """The figure rendered as PNG (at the figure's dpi, tight bounding box)."""
        buf = io.BytesIO()
        self.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue()


def new_figure(width: float, height: float) -> NotebookFigure:
    """A figure not registered with pyplot (nothing is shown, no global state)."""
    return NotebookFigure(figsize=(width, height), layout="constrained")


def panel_grid(
    n: int,
    ncol: int | None = None,
    panel_size: tuple[float, float] = (2.2, 2.0),
    sharex: bool = True,
    sharey: bool = True,
) -> tuple[Figure, list[Axes]]:
    """A figure with ``n`` panels on a grid (unused cells removed), row-major order."""
    if n < 1:
        raise ValueError("need at least one panel")
    if ncol is None:
        ncol = min(n, max(1, math.ceil(math.sqrt(n * 1.3))))
    ncol = max(1, min(int(ncol), n))
    nrow = math.ceil(n / ncol)
    fig = new_figure(panel_size[0] * ncol + 0.6, panel_size[1] * nrow + 0.6)
    axes = fig.subplots(nrow, ncol, sharex=sharex, sharey=sharey, squeeze=False).ravel()
    for ax in axes[n:]:
        fig.delaxes(ax)
    return fig, list(axes[:n])


def target_axes(ax: Axes | None, width: float = 5.0, height: float = 4.0) -> tuple[Figure, Axes]:
    """The given axes and its figure, or a new single-axes figure."""
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    fig = new_figure(width, height)
    return fig, fig.add_subplot()


# -- smoothing ------------------------------------------------------------------------
def lowess(
    x: np.ndarray,
    y: np.ndarray,
    frac: float = 2.0 / 3.0,
    iterations: int = 3,
    points: int = 100,
    max_n: int = 10_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Cleveland's robust locally-weighted linear regression (R's ``lowess``).

    The local fits use the ``frac`` nearest observations with tricube
    weights and are evaluated at up to ``points`` values spread over the
    range of ``x`` (all distinct values when there are fewer); ``iterations``
    robustifying passes down-weight large residuals with bisquare weights.
    With more than ``max_n`` observations the smoother is fitted to
    ``max_n`` of them, evenly spaced in the order of ``x`` (a span of
    thousands of points hardly changes; this keeps large data fast).
    Returns the evaluation points and the smoothed values.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = x.size
    if n == 0:
        return np.empty(0), np.empty(0)
    uniq = np.unique(x)
    grid = uniq if uniq.size <= points else np.linspace(uniq[0], uniq[-1], points)
    if n < 3 or uniq.size < 2:
        return grid, np.full(grid.size, float(np.mean(y)))
    order = np.argsort(x, kind="stable")
    if n > max_n:
        order = order[np.linspace(0, n - 1, max_n).round().astype(np.intp)]
        n = max_n
    x, y = x[order], y[order]
    k = min(n, max(3, math.ceil(frac * n)))
    lo, hi, h = _neighbourhoods(x, grid, k)
    robust = np.ones(n)
    fit = np.empty(grid.size)
    for it in range(iterations + 1):
        for i, g in enumerate(grid):
            fit[i] = _local_linear(x[lo[i]:hi[i]], y[lo[i]:hi[i]], robust[lo[i]:hi[i]], g, h[i])
        if it == iterations:
            break
        resid = y - np.interp(x, grid, fit)
        s = np.median(np.abs(resid))
        if s <= 1e-12 * (np.abs(y).mean() + 1e-300):
            break
        u = np.clip(resid / (6.0 * s), -1.0, 1.0)
        robust = (1.0 - u * u) ** 2
    return grid, fit


def _neighbourhoods(
    xs: np.ndarray, grid: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per grid point: the window [lo, hi) of sorted ``xs`` within the k-nearest distance h."""
    h_lo = np.zeros(grid.size)
    h_hi = np.full(grid.size, xs[-1] - xs[0] + np.abs(grid).max() + 1.0)
    for _ in range(80):  # bisection on h: count(|x - g| <= h) >= k
        mid = 0.5 * (h_lo + h_hi)
        count = np.searchsorted(xs, grid + mid, "right") - np.searchsorted(xs, grid - mid, "left")
        enough = count >= k
        h_hi = np.where(enough, mid, h_hi)
        h_lo = np.where(enough, h_lo, mid)
    h = h_hi
    return np.searchsorted(xs, grid - h, "left"), np.searchsorted(xs, grid + h, "right"), h


def _local_linear(x: np.ndarray, y: np.ndarray, robust: np.ndarray, x0: float, h: float) -> float:
    """Tricube-weighted linear fit at x0 from the points within distance h."""
    if x.size == 0:
        return float("nan")
    if h <= 0:
        return float(np.mean(y))
    t = np.abs(x - x0) / (1.0001 * h)
    c = 1.0 - t * t * t
    w = np.clip(c, 0.0, None)
    w = w * w * w * robust
    sw = w.sum()
    if sw <= 0:
        return float(np.mean(y))
    xm = np.dot(w, x) / sw
    ym = np.dot(w, y) / sw
    dx = x - xm
    sxx = np.dot(w, dx * dx)
    if sxx <= 1e-12 * (h * h * sw):
        return float(ym)
    slope = np.dot(w, dx * (y - ym)) / sxx
    return float(ym + slope * (x0 - xm))


# -- normal quantiles -----------------------------------------------------------------
def ppoints(n: int) -> np.ndarray:
    """R's ``ppoints``: plotting positions (i − a)/(n + 1 − 2a), a = 3/8 for n ≤ 10 else 1/2."""
    a = 3.0 / 8.0 if n <= 10 else 0.5
    return (np.arange(1, n + 1) - a) / (n + 1 - 2 * a)


def normal_quantiles(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Sorted sample, theoretical normal quantiles, and R's ``qqline`` (intercept, slope)."""
    v = np.sort(np.asarray(values, dtype=float)[np.isfinite(values)])
    theo = stats.norm.ppf(ppoints(v.size))
    q1, q3 = np.quantile(v, [0.25, 0.75]) if v.size else (0.0, 0.0)
    z1, z3 = stats.norm.ppf([0.25, 0.75])
    slope = (q3 - q1) / (z3 - z1)
    return v, theo, float(q1 - slope * z1), float(slope)


# -- the kinds of fit ------------------------------------------------------------------
def as_frame(data: Any) -> pd.DataFrame | None:
    """``data`` as a pandas DataFrame (polars, pyarrow and dicts accepted), or None."""
    if data is None:
        return None
    from ..design.dataframes import as_pandas

    return as_pandas(data)


def is_mixed(model: Any) -> bool:
    """An ``lmer`` or ``glmer`` fit (random effects and ``predict``)."""
    return hasattr(model, "ranef") and hasattr(model, "factor")


def is_lmlist(model: Any) -> bool:
    """A no-pooling fit (``mm.lmlist``): one least-squares fit per group."""
    return hasattr(model, "fits") and hasattr(model, "levels")


def require_mixed(model: Any, what: str) -> None:
    """Refuse a fit without random effects where ``what`` needs them."""
    if not is_mixed(model):
        from ..errors import UnsupportedModelError

        raise UnsupportedModelError(
            f"{what} needs a mixed model (mm.lmer or mm.glmer), got {type(model).__name__}: "
            "fit the model with random effects, e.g. mm.lmer('y ~ x + (1 | g)', data)"
        )


def fitted_values(model: Any) -> np.ndarray:
    """Fitted values on the response scale (μ̂ for a GLMM)."""
    return np.asarray(model.fitted, dtype=float)


def residuals(model: Any, type: str = "pearson") -> np.ndarray:
    """Residuals of any fit (lm, lmlist, lmer, glmer): ``"response"`` y − ŷ,
    ``"pearson"`` (√w or 1/√V(μ) scaled) and ``"scaled"`` = pearson / σ̂ (σ̂ = 1
    for binomial and Poisson GLMMs; the pooled σ̂ for lmlist)."""
    if type not in ("response", "pearson", "scaled"):
        raise ValueError(f"type must be 'response', 'pearson' or 'scaled', got {type!r}")
    if type == "response":
        return np.asarray(model.resid(type="response"), dtype=float)
    pearson = np.asarray(model.resid(type="pearson"), dtype=float)
    return pearson / float(model.sigma) if type == "scaled" else pearson


def response_values(model: Any) -> np.ndarray:
    """The response on the rows the fit used (proportions for a binomial GLMM)."""
    return np.asarray(model.y if hasattr(model, "nAGQ") else model.design.y, dtype=float)


# -- model frames ---------------------------------------------------------------------
def fixed_variables(model: Any) -> list[str]:
    """The fixed-effect formula factors (``"Days"``, ``"log(x)"``, ``"factor(g)"``)."""
    return list(model.design.fixed_spec.term_spec.variables)


def _raw_columns(expr: str) -> list[str]:
    name = expr.strip().strip("`")
    m = re.fullmatch(r"\s*(factor|C|ordered|as_factor)\(\s*`?([^`(),]+?)`?\s*\)\s*", expr)
    if m:
        return [m.group(2)]
    if name.isidentifier():
        return [name]
    return expression_names(expr)


def fixed_matrix(model: Any, newdata: pd.DataFrame) -> np.ndarray:
    """The fixed-effects model matrix of ``model`` evaluated on ``newdata``.

    Factor levels are matched to the fitted ones by label and stateful
    transforms (``scale``) reuse the fitted parameters, as R's
    ``model.matrix(delete.response(terms(m)), newdata)``.
    """
    design = model.design
    spec = design.fixed_spec
    n = len(newdata)
    values = {}
    for expr in spec.term_spec.variables:
        v = evaluate(expr, newdata, design.state, "the new data")
        if isinstance(v, Categorical) and expr in spec.levels:
            fitted = list(spec.levels[expr])
            pos = {lv: i for i, lv in enumerate(fitted)}
            unknown = sorted({lv for lv in v.levels if lv not in pos})
            if unknown:
                raise ValueError(f"'{expr}' has levels not in the fit: {unknown}")
            remap = np.array([pos[lv] for lv in v.levels], dtype=np.intp)
            codes = np.where(v.codes >= 0, remap[np.maximum(v.codes, 0)], -1)
            v = Categorical(codes, fitted, spec.ordered.get(expr, False))
        values[expr] = v
    X, full = build_matrix(spec.term_spec, values, n)
    missing = [nm for nm in design.x_names if nm not in full.column_names]
    if missing:
        raise ValueError(f"cannot rebuild the fixed-effect columns {missing} on new data")
    return X[:, [full.column_names.index(nm) for nm in design.x_names]]


def model_column(model: Any, name: str, data: pd.DataFrame | None = None) -> np.ndarray:
    """Values of a variable on the rows the model used.

    From ``data`` (the fitted data frame) when given, else from the model's
    own frame: a fixed-effect column of that name or the response.
    """
    design = model.design
    if data is not None:
        if name not in data.columns:
            raise KeyError(f"'{name}' is not a column of the data")
        return data[name].to_numpy()[design.rows]
    if name in design.x_names:
        return design.X[:, design.x_names.index(name)]
    if name == design.formula.response:
        return np.asarray(design.y)
    for t in design.terms:
        if t.group == name:
            return np.asarray(t.factor.levels, dtype=object)[t.factor.codes]
    raise KeyError(
        f"'{name}' is neither a fixed-effect column nor a grouping factor of the model; "
        "pass the fitted data as data="
    )


def group_names(model: Any) -> list[str]:
    """Grouping factors of the model, first occurrence order."""
    out: list[str] = []
    for t in model.design.terms:
        if t.group not in out:
            out.append(t.group)
    return out


def group_codes(model: Any, group: str | None = None) -> tuple[str, np.ndarray, list[str]]:
    """A grouping factor of the model: its name, per-row codes and level labels."""
    if is_lmlist(model):
        if group not in (None, model.group):
            raise KeyError(f"'{group}' is not the grouping factor of the lmlist fit "
                           f"('{model.group}')")
        return model.group, np.asarray(model.group_codes), [str(v) for v in model.levels]
    names = group_names(model)
    if not names:
        from ..errors import UnsupportedModelError

        raise UnsupportedModelError(
            f"a {type(model).__name__} fit has no grouping factor: use an mm.lmer, mm.glmer "
            "or mm.lmlist fit"
        )
    if group is None:
        group = names[0]
    for t in model.design.terms:
        if t.group == group:
            return group, np.asarray(t.factor.codes), list(t.factor.levels)
    raise KeyError(f"'{group}' is not a grouping factor of the model (have {names})")


def reference_grid(
    model: Any, x: str, data: pd.DataFrame | None = None, n: int = 100, strict: bool = True
) -> tuple[pd.DataFrame, bool]:
    """New data varying ``x`` over its range, other variables at means / reference levels.

    Returns the grid and whether ``x`` is categorical (then the grid holds
    one row per level). With ``strict=False`` an ``x`` that is not a
    fixed-effect variable (only in the random part, ``0 + (x | g)``) is
    taken over its range in ``data``.
    """
    spec = model.design.fixed_spec
    design = model.design
    rows: dict[str, Any] = {}
    x_is_cat = False
    x_values: np.ndarray | list[str] | None = None
    for expr in spec.term_spec.variables:
        cols = _raw_columns(expr)
        if expr in spec.levels:
            col = cols[0]
            levels = list(spec.levels[expr])
            if col == x:
                x_is_cat = True
                x_values = levels
            else:
                rows.setdefault(col, levels[0])
            continue
        for col in cols:
            if col in rows or col == x:
                continue
            rows[col] = float(np.nanmean(model_column(model, col, data).astype(float)))
    if x_values is None:
        fixed = {c for e in spec.term_spec.variables for c in _raw_columns(e)}
        if x not in fixed and (strict or data is None):
            raise KeyError(f"'{x}' is not a variable of the fixed effects ({design.x_names})")
        xv = model_column(model, x, data).astype(float)
        x_values = np.linspace(np.nanmin(xv), np.nanmax(xv), n)
    size = len(x_values)
    grid = pd.DataFrame({x: x_values})
    for col, val in rows.items():
        grid[col] = [val] * size
    return grid, x_is_cat
