"""Plots: every figure renders to PNG (Agg) on bundled data with the expected structure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402
from matplotlib.quiver import Quiver  # noqa: E402

import mixedmodels as mm  # noqa: E402
from mixedmodels import plots  # noqa: E402
from mixedmodels.plots import _util  # noqa: E402


@pytest.fixture(scope="module")
def sleep():
    return mm.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def fits(sleep):
    return plots.pooling_models(sleep, "Days", "Reaction", "Subject")


@pytest.fixture(scope="module")
def rs(fits):
    return fits["Random intercept + slope"]


@pytest.fixture(scope="module")
def penicillin():
    return mm.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", mm.datasets.load("Penicillin"))


@pytest.fixture(scope="module")
def cake():
    d = mm.datasets.load("cake").copy()
    d["temp"] = d["temperature"].astype(str).astype(float)
    return d


def _render(fig: Figure, tmp_path: Path, name: str) -> Path:
    assert isinstance(fig, Figure)
    path = tmp_path / f"{name}.png"
    fig.savefig(path, dpi=50)
    assert path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return path


def _legend_texts(legend) -> list[str]:
    return [t.get_text() for t in legend.texts]


# -- helpers ------------------------------------------------------------------------------
def test_lowess_reproduces_a_line_and_resists_outliers():
    x = np.linspace(0, 10, 60)
    y = 2 + 3 * x
    gx, gy = plots.lowess(x, y)
    np.testing.assert_allclose(gy, 2 + 3 * gx, atol=1e-9)
    y2 = y.copy()
    y2[30] = 1e4
    gx, gy = plots.lowess(x, y2)
    np.testing.assert_allclose(gy, 2 + 3 * gx, atol=1e-6)


def test_lowess_follows_a_curve_with_a_small_span():
    rng = np.random.default_rng(3)
    x = np.sort(rng.uniform(0, 2 * np.pi, 400))
    y = np.sin(x) + rng.normal(0, 0.2, x.size)
    gx, gy = plots.lowess(x, y, frac=0.15, points=50)
    assert gx.size == 50
    assert np.max(np.abs(gy - np.sin(gx))) < 0.2


def test_lowess_large_data_uses_a_subsample():
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 1, 30_000)
    y = 1 + 2 * x + rng.normal(0, 0.5, x.size)
    gx, gy = plots.lowess(x, y)
    assert gx[0] == x.min() and gx[-1] == x.max()
    np.testing.assert_allclose(gy, 1 + 2 * gx, atol=0.1)
    _, full = plots.lowess(x, y, max_n=x.size)
    np.testing.assert_allclose(gy, full, atol=0.05)


def test_lowess_degenerate_inputs():
    gx, gy = plots.lowess(np.array([1.0, 1.0]), np.array([2.0, 4.0]))
    np.testing.assert_allclose(gy, [3.0])
    gx, gy = plots.lowess(np.array([]), np.array([]))
    assert gx.size == 0


def test_ppoints_and_qqline_as_r():
    np.testing.assert_allclose(_util.ppoints(5), (np.arange(1, 6) - 0.375) / 5.25)
    np.testing.assert_allclose(_util.ppoints(20), (np.arange(1, 21) - 0.5) / 20)
    v = np.random.default_rng(0).normal(5, 2, 1000)
    _, _, a, b = _util.normal_quantiles(v)
    assert abs(a - 5) < 0.3 and abs(b - 2) < 0.3


def test_fixed_matrix_rebuilds_the_design(rs, sleep, cake):
    np.testing.assert_array_equal(_util.fixed_matrix(rs, sleep), rs.design.X)
    m = mm.lmer("angle ~ recipe * temperature + (1 | recipe:replicate)", cake)
    np.testing.assert_allclose(_util.fixed_matrix(m, cake), m.design.X)
    with pytest.raises(ValueError, match="not in the fit"):
        _util.fixed_matrix(m, cake.assign(recipe="Z"))


def test_no_pyplot_figures_are_created(rs):
    before = plt.get_fignums()
    plots.caterpillar(rs)
    plots.diagnostics(rs)
    assert plt.get_fignums() == before


# -- group panels ---------------------------------------------------------------------------
def test_group_panels_with_four_models(sleep, fits, tmp_path):
    fig = plots.group_panels(sleep, "Days", "Reaction", "Subject", fits, ncol=6)
    _render(fig, tmp_path, "panels")
    assert len(fig.axes) == 18
    assert [ax.get_title() for ax in fig.axes[:2]] == ["308", "309"]
    assert all(len(ax.lines) == 4 for ax in fig.axes)
    assert all(len(ax.collections) == 1 for ax in fig.axes)  # the data points
    assert _legend_texts(fig.legends[0]) == ["data", *fits]
    # complete pooling: the same line everywhere; no pooling: each subject's own OLS line
    first = fig.axes[0].lines[0].get_ydata()
    np.testing.assert_allclose(fig.axes[5].lines[0].get_ydata(), first)
    own = fits["No pooling"].coef.loc["309"]
    line = fig.axes[1].lines[1]
    np.testing.assert_allclose(
        line.get_ydata(), own["(Intercept)"] + own["Days"] * line.get_xdata()
    )
    # random intercept + slope: the mixed model's per-subject coefficients
    cf = fits["Random intercept + slope"].coef["Subject"].loc["309"]
    line = fig.axes[1].lines[3]
    np.testing.assert_allclose(
        line.get_ydata(), cf["(Intercept)"] + cf["Days"] * line.get_xdata(), rtol=1e-10
    )


def test_group_panels_data_only_and_callable(sleep, tmp_path):
    fig = plots.group_panels(sleep, "Days", "Reaction", "Subject")
    _render(fig, tmp_path, "panels_data")
    assert len(fig.axes) == 18 and not fig.legends
    assert all(len(ax.lines) == 0 for ax in fig.axes)
    fig = plots.group_panels(
        sleep, "Days", "Reaction", "Subject", {"flat": lambda nd: np.full(len(nd), 300.0)}
    )
    assert all(np.all(ax.lines[0].get_ydata() == 300.0) for ax in fig.axes)
    assert _legend_texts(fig.legends[0]) == ["data", "flat"]
    with pytest.raises(TypeError, match="cannot draw lines"):
        plots.group_panels(sleep, "Days", "Reaction", "Subject", {"bad": 3})


# -- shrinkage ------------------------------------------------------------------------------
def test_shrinkage_plot(rs, sleep, fits, tmp_path):
    fig = plots.shrinkage(rs, fits["No pooling"], label_groups=True)
    _render(fig, tmp_path, "shrinkage")
    (ax,) = fig.axes
    assert ax.get_xlabel() == "(Intercept)" and ax.get_ylabel() == "Days"
    assert sum(isinstance(p, Ellipse) for p in ax.patches) == 2
    quivers = [c for c in ax.collections if isinstance(c, Quiver)]
    assert len(quivers) == 1 and quivers[0].N == 18
    assert _legend_texts(ax.get_legend()) == [
        "50% of groups (Σ̂)", "95% of groups (Σ̂)",
        "No pooling (lmlist)", "Mixed model (coef)", "Population (fixef)",
    ]
    assert len(ax.texts) == 18
    # arrows end at the mixed-model coefficients
    q = quivers[0]
    np.testing.assert_allclose(q.X + q.U, rs.coef["Subject"]["(Intercept)"].to_numpy())
    # the no-pooling fit is made from the data when not given
    fig2 = plots.shrinkage(rs, data=sleep)
    q2 = [c for c in fig2.axes[0].collections if isinstance(c, Quiver)][0]
    np.testing.assert_allclose(q2.X, q.X)


def test_shrinkage_random_intercept_has_no_ellipse(fits, tmp_path):
    fig = plots.shrinkage(fits["Random intercept"], fits["No pooling"], ellipse_levels=(0.9,))
    _render(fig, tmp_path, "shrinkage_ri")
    assert not any(isinstance(p, Ellipse) for p in fig.axes[0].patches)
    with pytest.raises(ValueError, match="nopool"):
        plots.shrinkage(fits["Random intercept"])


def test_random_effect_cov_matches_varcorr(rs):
    cov = plots.random_effect_cov(rs, "Subject", ["(Intercept)", "Days"])
    np.testing.assert_allclose(cov, rs.varcorr.terms[0].cov)
    assert plots.random_effect_cov(rs, "Subject", ["(Intercept)", "x"]) is None


# -- caterpillar ------------------------------------------------------------------------------
def test_caterpillar_one_panel_per_term(rs, tmp_path):
    fig = plots.caterpillar(rs)
    _render(fig, tmp_path, "caterpillar")
    assert [ax.get_title() for ax in fig.axes] == ["Subject: (Intercept)", "Subject: Days"]
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    order = rs.ranef["Subject"]["(Intercept)"].sort_values(kind="stable").index.astype(str)
    assert labels == list(order)
    assert len(ax.containers) == 1  # one errorbar set
    xerr = ax.containers[0].lines[2][0].get_segments()
    half = np.array([(s[1, 0] - s[0, 0]) / 2 for s in xerr])
    sd = rs.ranef.condsd["Subject"]["(Intercept)"].loc[order].to_numpy()
    np.testing.assert_allclose(half, 1.959964 * sd, rtol=1e-5)


def test_caterpillar_crossed_factors(penicillin, tmp_path):
    fig = plots.caterpillar(penicillin)
    _render(fig, tmp_path, "caterpillar_crossed")
    assert [ax.get_title() for ax in fig.axes] == ["plate: (Intercept)", "sample: (Intercept)"]
    assert len(fig.axes[0].get_yticklabels()) == 24
    fig = plots.caterpillar(penicillin, group="sample", sort=False)
    assert len(fig.axes) == 1
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list("ABCDEF")
    with pytest.raises(KeyError):
        plots.caterpillar(penicillin, group="nope")


# -- diagnostics ------------------------------------------------------------------------------
def test_diagnostics_panels(rs, tmp_path):
    fig = plots.diagnostics(rs)
    _render(fig, tmp_path, "diagnostics")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [
        "Residuals vs fitted", "Scale-location", "Normal QQ: residuals",
        "Normal QQ: Subject (Intercept)", "Normal QQ: Subject Days",
    ]
    # zero line + lowess; lowess; qqline
    assert len(fig.axes[0].lines) == 2 and len(fig.axes[1].lines) == 1
    assert len(fig.axes[2].lines) == 1
    pts = fig.axes[0].collections[0].get_offsets()
    assert pts.shape == (180, 2)
    np.testing.assert_allclose(pts[:, 0], rs.fitted)


def test_single_diagnostic_plots_draw_into_given_axes(rs, penicillin, tmp_path):
    fig = Figure()
    axes = fig.subplots(1, 3)
    assert plots.residuals_fitted(rs, ax=axes[0]) is fig
    assert plots.scale_location(rs, ax=axes[1], smooth=False) is fig
    assert plots.qq_residuals(rs, ax=axes[2]) is fig
    assert len(axes[1].lines) == 0
    _render(fig, tmp_path, "single")
    fig = plots.qq_ranef(penicillin)
    assert len(fig.axes) == 2
    assert fig.axes[1].get_title() == "Normal QQ: sample (Intercept)"
    with pytest.raises(ValueError, match="single random effect"):
        plots.qq_ranef(penicillin, ax=axes[0])


def test_residual_trends(fits, sleep, tmp_path):
    m = fits["Random intercept"]
    fig = plots.residual_trends(m, x="Days")
    _render(fig, tmp_path, "trends")
    assert len(fig.axes) == 18
    assert all(len(ax.lines) == 2 for ax in fig.axes)  # zero line, trend
    assert fig.axes[0].get_title() == "308"
    # with the data frame, any column works
    fig = plots.residual_trends(m, x="Days", data=sleep, trend=False, ncol=9)
    assert all(len(ax.lines) == 1 for ax in fig.axes)
    with pytest.raises(KeyError, match="data="):
        plots.residual_trends(m, x="Age")


# -- effects ------------------------------------------------------------------------------------
def test_effect_frame_matches_population_predictions(rs):
    fr = plots.effect_frame(rs, "Days")
    assert len(fr) == 100 and fr["Days"].iloc[-1] == 9
    np.testing.assert_allclose(fr["fit"], rs.predict(fr[["Days"]], re_form="~0"))
    se0 = np.sqrt(rs.vcov.iloc[0, 0])
    assert fr["se"].iloc[0] == pytest.approx(se0)
    assert np.all(fr["lower"] < fr["fit"]) and np.all(fr["fit"] < fr["upper"])


def test_effects_numeric(rs, tmp_path):
    fig = plots.effects(rs, "Days")
    _render(fig, tmp_path, "effects")
    (ax,) = fig.axes
    assert ax.get_xlabel() == "Days" and ax.get_ylabel() == "Reaction"
    assert len(ax.lines) == 1
    assert sum(isinstance(c, PolyCollection) for c in ax.collections) == 1
    assert _legend_texts(ax.get_legend()) == ["data", "95% CI", "fixed effect"]


def test_effects_with_other_predictors_and_factors(cake, tmp_path):
    m = mm.lmer("angle ~ recipe + temp + (1 | recipe:replicate)", cake)
    fig = plots.effects(m, "temp", data=cake, show_data=False, level=0.9)
    _render(fig, tmp_path, "effects_temp")
    ax = fig.axes[0]
    assert "recipe = A" in ax.get_title()
    assert _legend_texts(ax.get_legend()) == ["90% CI", "fixed effect"]
    fig = plots.effects(m, "recipe", data=cake)
    _render(fig, tmp_path, "effects_recipe")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["A", "B", "C"]
    assert f"temp = {cake['temp'].mean():.3g}" in ax.get_title()
    fr = plots.effect_frame(m, "recipe", data=cake)
    np.testing.assert_allclose(fr["fit"], m.predict(fr, re_form="~0"))
    with pytest.raises(KeyError):
        plots.effects(m, "angle", data=cake)


# -- package ------------------------------------------------------------------------------------
def test_plots_package_is_lazy_and_complete():
    import subprocess
    import sys

    code = (
        "import sys, mixedmodels.plots as p; "
        "assert 'matplotlib' not in sys.modules; "
        "assert callable(p.effects) and callable(p.caterpillar); "
        "assert 'matplotlib' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert all(callable(getattr(plots, name)) for name in plots.__all__)
    with pytest.raises(AttributeError):
        plots.not_a_plot  # noqa: B018


def test_group_lines_count_each_random_term_once(sleep):
    """(Days||Subject) expands to two bars: each adds its own effect once."""
    from mixedmodels.plots.panels import group_lines

    m = mm.lmer("Reaction ~ Days + (Days || Subject)", sleep)
    grid = pd.DataFrame({"Days": [0.0, 9.0], "Subject": ["309", "309"]})
    cf = m.coef["Subject"].loc["309"]
    np.testing.assert_allclose(
        group_lines(m, grid, "Subject", "309"), cf["(Intercept)"] + cf["Days"] * grid["Days"]
    )
