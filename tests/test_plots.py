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


# -- every kind of fit, pandas or polars -----------------------------------------------------
@pytest.fixture(scope="module")
def binary(sleep):
    d = sleep.copy()
    d["slow"] = (d["Reaction"] > 300).astype(int)
    return d


@pytest.fixture(scope="module")
def gfit(binary):
    return mm.glmer("slow ~ Days + (1 | Subject)", binary)


@pytest.fixture(scope="module")
def lmfit(sleep):
    return mm.lm("Reaction ~ Days", sleep)


@pytest.fixture(scope="module")
def nopool(sleep):
    return mm.lmlist("Reaction ~ Days | Subject", sleep)


def _lines(ax) -> list:
    return [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 2]


def test_figures_display_in_notebooks_without_pyplot(rs):
    fig = plots.caterpillar(rs)
    png = fig._repr_png_()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_diagnostics_of_a_glmer_fit(gfit, tmp_path):
    fig = plots.diagnostics(gfit)  # was: ValueError ... 'scaled'
    assert len(fig.axes) == 4
    _render(fig, tmp_path, "glmer_diag")
    r = fig.axes[0].collections[0].get_offsets()[:, 1]
    np.testing.assert_allclose(np.sort(r), np.sort(gfit.resid("pearson")))


def test_glmer_effects_on_the_response_scale_by_default(gfit, binary):
    fig = plots.effects(gfit, "Days")
    ax = fig.axes[0]
    (line,) = _lines(ax)
    fit = line.get_ydata()
    assert 0.0 < fit.min() < fit.max() < 1.0  # probabilities, over the 0/1 data
    eta = gfit.fixef["(Intercept)"] + gfit.fixef["Days"] * line.get_xdata()
    np.testing.assert_allclose(fit, 1.0 / (1.0 + np.exp(-eta)))
    assert ax.get_ylim()[0] > -0.2 and ax.get_ylim()[1] < 1.2
    fig = plots.effects(gfit, "Days", scale="link")
    (line,) = _lines(fig.axes[0])
    np.testing.assert_allclose(line.get_ydata(), eta)
    assert "logit scale" in fig.axes[0].get_ylabel()
    with pytest.raises(ValueError, match="scale"):
        plots.effects(gfit, "Days", scale="odds")


def test_group_panels_with_a_slope_only_in_the_random_part(sleep):
    m = mm.lmer("Reaction ~ 0 + (Days | Subject)", sleep)  # was: KeyError 'Days'
    fig = plots.group_panels(sleep, "Days", "Reaction", "Subject", {"np": m})
    ax = fig.axes[0]
    (line,) = _lines(ax)
    cf = m.coef["Subject"].loc["308"]
    x = line.get_xdata()
    np.testing.assert_allclose(line.get_ydata(), cf["(Intercept)"] + cf["Days"] * x)


def test_group_panels_with_polars_and_every_kind_of_fit(sleep, fits, gfit, binary):
    pl = pytest.importorskip("polars")
    models = dict(fits)
    fig = plots.group_panels(pl.from_pandas(sleep), "Days", "Reaction", "Subject", models)
    assert len(_lines(fig.axes[0])) == 4
    fig = plots.group_panels(pl.from_pandas(binary), "Days", "slow", "Subject", {"g": gfit})
    (line,) = _lines(fig.axes[0])
    assert 0.0 < line.get_ydata().min() and line.get_ydata().max() < 1.0  # response scale


def test_lines_span_the_full_range_for_a_one_observation_group(sleep):
    d = sleep[~((sleep["Subject"] == "309") & (sleep["Days"] > 0))].reset_index(drop=True)
    m = mm.lmer("Reaction ~ Days + (Days | Subject)", d)
    fig = plots.group_panels(d, "Days", "Reaction", "Subject", {"mixed": m})
    ax = fig.axes[1]
    assert ax.get_title() == "309"
    (line,) = _lines(ax)
    assert line.get_xdata().min() == 0 and line.get_xdata().max() == 9
    fig = plots.group_panels(d, "Days", "Reaction", "Subject", {"mixed": m}, full_range=False)
    # over the group's own range the line shrinks to its single x
    assert all(np.ptp(ln.get_xdata()) == 0 for ln in _lines(fig.axes[1]))


def test_plots_of_lm_and_lmlist_fits(lmfit, nopool, sleep, tmp_path):
    for model in (lmfit, nopool):  # was: 'numpy.ndarray' object is not callable
        fig = plots.diagnostics(model)
        assert len(fig.axes) == 3
        plots.residuals_fitted(model)
        plots.scale_location(model)
        plots.qq_residuals(model)
    r = plots.residuals_fitted(lmfit).axes[0].collections[0].get_offsets()[:, 1]
    np.testing.assert_allclose(r, lmfit.resid)
    fig = plots.effects(lmfit, "Days")
    band_line = _lines(fig.axes[0])[0]
    np.testing.assert_allclose(band_line.get_ydata()[[0, -1]],
                               lmfit.coef["(Intercept)"] + lmfit.coef["Days"] * np.array([0, 9]))
    fig = plots.effects(nopool, "Days")  # one line per group: the spaghetti plot
    assert len(_lines(fig.axes[0])) == 18 + 1
    np.testing.assert_allclose(nopool.resid() + nopool.fitted, sleep["Reaction"])
    fig = plots.caterpillar(nopool)
    assert [a.get_title() for a in fig.axes] == ["Subject: (Intercept)", "Subject: Days"]
    plots.residual_trends(nopool, "Days")
    for f in (plots.caterpillar, plots.qq_ranef, plots.shrinkage, plots.check_model,
              plots.coefficient_densities, lambda m: plots.residual_trends(m, "Days")):
        with pytest.raises(mm.errors.UnsupportedModelError, match="LinearModel"):
            f(lmfit)


def test_glmer_shrinkage_against_per_group_glms_on_the_link_scale(tmp_path):
    from mixedmodels.nopooling import glm_nopool

    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(20), 30)
    x = rng.normal(size=g.size)
    eta = -0.3 + rng.normal(0, 0.8, 20)[g] + (0.8 + rng.normal(0, 0.5, 20)[g]) * x
    d = pd.DataFrame({"y": rng.binomial(1, 1 / (1 + np.exp(-eta))), "x": x,
                      "g": [f"s{i:02d}" for i in g]})
    m = mm.glmer("y ~ x + (x | g)", d, family="binomial")
    coef, separated = glm_nopool(m, "g")
    assert not separated.any()
    fig = plots.shrinkage(m)
    ax = fig.axes[0]
    points = {c.get_label(): c.get_offsets() for c in ax.collections if c.get_label()}
    np.testing.assert_allclose(points["No pooling (GLM per g, logit scale)"],
                               coef[["(Intercept)", "x"]])
    np.testing.assert_allclose(points["Mixed model (coef)"], m.coef["g"][["(Intercept)", "x"]])
    assert ax.get_xlabel() == "(Intercept) (logit scale)" and not fig.texts
    _render(fig, tmp_path, "glmer_shrinkage")
    fig = plots.coefficient_densities(m)
    assert "No pooling (GLM per g, logit scale)" in [ln.get_label()
                                                     for ln in fig.axes[0].get_lines()]


def test_glmer_shrinkage_drops_separated_groups_with_a_note(tmp_path):
    cbpp = mm.datasets.load("cbpp")
    m = mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
                 family="binomial")
    fig = plots.shrinkage(m)
    (note,) = fig.texts
    assert note.get_text().startswith("13 of 15 herd levels not shown: their GLM separates")
    points = {c.get_label(): c for c in fig.axes[0].collections if c.get_label()}
    assert len(points["No pooling (GLM per herd, logit scale)"].get_offsets()) == 1  # herd 2
    _render(fig, tmp_path, "glmer_shrinkage_separated")


def test_effect_frame_of_an_lmlist_fit_is_one_line_per_group(nopool, sleep):
    pl = pytest.importorskip("polars")
    ef = plots.effect_frame(nopool, "Days", data=pl.from_pandas(sleep), n=5)
    assert list(ef.columns[:2]) == ["Subject", "Days"] and len(ef) == 18 * 5
    np.testing.assert_allclose(ef["fit"], nopool.predict(ef[["Subject", "Days"]]))
    one = ef[ef["Subject"] == "308"]
    # R: predict(lm(Reaction ~ Days, subset(sleepstudy, Subject == 308)), se = TRUE) with
    # lmList's pooled s = 25.59182 in place of the subject's own
    se0 = 25.59182 * np.sqrt(1 / 10 + 4.5**2 / 82.5)
    assert one["se"].iloc[0] == pytest.approx(se0, rel=1e-6)
    assert (one["upper"] - one["fit"]).iloc[0] == pytest.approx(
        se0 * 1.976575, rel=1e-5)  # qt(0.975, 144)


def test_every_kind_of_fit_with_polars_data(sleep, binary, rs, gfit, lmfit, nopool):
    pl = pytest.importorskip("polars")
    for model, data, y in ((rs, sleep, "Reaction"), (gfit, binary, "slow"),
                           (lmfit, sleep, "Reaction"), (nopool, sleep, "Reaction")):
        frame = pl.from_pandas(data)
        (line,) = _lines(plots.effects(model, "Days", data=frame).axes[0])[-1:]
        assert np.all(np.isfinite(line.get_ydata()))
        assert len(plots.data_panels(frame, "Days", y, "Subject").axes) == 18
        if model is not lmfit:
            assert len(_lines(plots.spaghetti(model, "Days", data=frame).axes[0])) == 18 + 1
            plots.residual_trends(model, "Days", data=frame)


# -- pictures of the teaching texts ---------------------------------------------------------------
def test_spaghetti_one_line_per_group(rs, gfit, tmp_path):
    fig = plots.spaghetti(rs, "Days")
    lines = _lines(fig.axes[0])
    assert len(lines) == 18 + 1
    cf = rs.coef["Subject"]
    np.testing.assert_allclose(lines[0].get_ydata()[[0, -1]],
                               cf.iloc[0]["(Intercept)"] + cf.iloc[0]["Days"] * np.array([0, 9]))
    np.testing.assert_allclose(lines[-1].get_ydata()[[0, -1]],
                               rs.fixef["(Intercept)"] + rs.fixef["Days"] * np.array([0, 9]))
    _render(fig, tmp_path, "spaghetti")
    fig = plots.spaghetti(gfit, "Days")
    assert all(0 < ln.get_ydata().min() and ln.get_ydata().max() < 1
               for ln in _lines(fig.axes[0]))


def test_overlay_shows_group_and_pooled_trends(tmp_path):
    # Simpson: within each group y falls with x, across groups it rises
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(5), 20)
    x = g * 2.0 + rng.uniform(0, 1.5, g.size)
    y = 3.0 * g - 1.0 * (x - 2.0 * g) + rng.normal(0, 0.1, g.size)
    d = pd.DataFrame({"g": g.astype(str), "x": x, "y": y})
    fig = plots.overlay(d, "x", "y", "g")
    ax = fig.axes[0]
    segs = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 2]
    assert len(segs) == 5 + 1
    slopes = [np.diff(s.get_ydata())[0] / np.diff(s.get_xdata())[0] for s in segs]
    assert all(s < 0 for s in slopes[:5]) and slopes[5] > 0
    _render(fig, tmp_path, "overlay")


def test_coefficient_densities(rs, nopool, tmp_path):
    fig = plots.coefficient_densities(rs, nopool)
    assert [a.get_title() for a in fig.axes] == ["Subject: (Intercept)", "Subject: Days"]
    ax = fig.axes[1]
    labels = [ln.get_label() for ln in ax.get_lines()]
    assert "No pooling (lmlist)" in labels and "Mixed model (coef)" in labels
    curves = {ln.get_label(): ln for ln in ax.get_lines()}
    # partial pooling shrinks: the mixed-model density is higher at its peak
    assert curves["Mixed model (coef)"].get_ydata().max() > \
        curves["No pooling (lmlist)"].get_ydata().max()
    _render(fig, tmp_path, "densities")


def test_power_curve_plot(tmp_path):
    curve = pd.DataFrame({"along": "Subject", "n": [3, 6, 9], "power": [0.2, 0.6, 0.9],
                          "ci_lower": [0.1, 0.5, 0.8], "ci_upper": [0.3, 0.7, 0.95],
                          "nsim": 100, "test": "Days"})
    fig = plots.power_curve(curve)
    ax = fig.axes[0]
    assert "Subject" in ax.get_xlabel() and ax.get_ylim()[1] <= 1.05
    line = [ln for ln in ax.get_lines() if list(ln.get_xdata()) == [3, 6, 9]][0]
    np.testing.assert_allclose(line.get_ydata(), [0.2, 0.6, 0.9])
    with pytest.raises(ValueError, match="power_curve"):
        plots.power_curve(curve.drop(columns="ci_lower"))
    _render(fig, tmp_path, "power")


def test_data_panels_join_points_in_x_order(sleep):
    shuffled = sleep.sample(frac=1.0, random_state=1)
    fig = plots.data_panels(shuffled, "Days", "Reaction", "Subject")
    (line,) = [ln for ln in fig.axes[0].get_lines()]
    assert list(line.get_xdata()) == list(range(10))
    expected = sleep[sleep["Subject"] == "308"].sort_values("Days")["Reaction"]
    np.testing.assert_allclose(line.get_ydata(), expected)


def test_check_model_panels():
    from analysis_fits import fit

    fig = plots.check_model(fit("m_cake_num"), nsim=5)
    titles = [a.get_title() for a in fig.axes]
    assert titles[:6] == ["Posterior predictive check", "Residuals vs fitted", "Scale-location",
                          "Influential observations", "Collinearity", "Normal QQ: residuals"]
    assert titles[6].startswith("Normality of random effects")
    g = plots.check_model(fit("g_cbpp"), nsim=5)
    assert [a.get_title() for a in g.axes][:3] == ["Posterior predictive check",
                                                   "Binned residuals", "Influential observations"]
    plt.close("all")


def test_glmm_shrinkage_takes_given_link_scale_coefficients(gfit, binary):
    # without nopool=: one GLM per subject (the data argument is not needed)
    fig = plots.shrinkage(gfit, data=binary)
    labels = [c.get_label() for c in fig.axes[0].collections]
    assert "No pooling (GLM per Subject, logit scale)" in labels
    coef = gfit.coef["Subject"] * 1.5  # e.g. per-subject estimates from elsewhere
    fig = plots.coefficient_densities(gfit, coef)
    assert [a.get_title() for a in fig.axes] == ["Subject: (Intercept)"]
