"""Regenerate the plot gallery: PNGs in docs/gallery/ and the index docs/gallery.md.

Run from anywhere with the package installed::

    python docs/make_gallery.py

Every figure is drawn with the Agg backend on a bundled dataset.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

import mixedmodels as mm  # noqa: E402
from mixedmodels import plots  # noqa: E402

DOCS = Path(__file__).resolve().parent
OUT = DOCS / "gallery"
DPI = 100


def _entries() -> list[tuple[str, str, str, Callable[[], Figure]]]:
    """(file stem, title, description with the code, figure factory)."""
    sleep = mm.datasets.load("sleepstudy")
    fits = plots.pooling_models(sleep, "Days", "Reaction", "Subject")
    rs = fits["Random intercept + slope"]
    ri = fits["Random intercept"]
    pen = mm.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", mm.datasets.load("Penicillin"))
    cake = mm.datasets.load("cake").copy()
    cake["temp"] = cake["temperature"].astype(str).astype(float)
    cake_fit = mm.lmer("angle ~ recipe + temp + (1 | recipe:replicate)", cake)
    many = mm.datasets.simulate_slopes(n_subjects=200, n_sessions=6, seed=1)
    many_fit = mm.lmer("reaction_time ~ session + (session | subject)", many)
    binary = sleep.assign(slow=(sleep["Reaction"] > 300).astype(int))
    glmm = mm.glmer("slow ~ Days + (1 | Subject)", binary)
    return [
        (
            "sleepstudy_panels",
            "Complete, no and partial pooling per subject",
            "`plots.group_panels(sleep, \"Days\", \"Reaction\", \"Subject\", "
            "plots.pooling_models(sleep, \"Days\", \"Reaction\", \"Subject\"), ncol=6)` — "
            "one panel per subject with the complete-pooling line (`mm.lm`), each "
            "subject's own line (`mm.lmlist`) and the random-intercept and "
            "random-slope `lmer` fits.",
            lambda: plots.group_panels(sleep, "Days", "Reaction", "Subject", fits, ncol=6),
        ),
        (
            "sleepstudy_shrinkage",
            "Shrinkage of the per-subject coefficients",
            "`plots.shrinkage(m, fits[\"No pooling\"], label_groups=True)` — arrows from each "
            "subject's own least-squares (intercept, slope) to its mixed-model "
            "coefficients; the star is the population estimate and the ellipses "
            "contain 50% and 95% of the estimated random-effect distribution.",
            lambda: plots.shrinkage(rs, fits["No pooling"], label_groups=True),
        ),
        (
            "sleepstudy_caterpillar",
            "Conditional modes with 95% intervals",
            "`plots.caterpillar(m)` — lme4's `dotplot(ranef(m, condVar = TRUE))`: "
            "b̂ ± 1.96 conditional SD per subject, one panel per term, sorted by "
            "the intercept.",
            lambda: plots.caterpillar(rs),
        ),
        (
            "penicillin_caterpillar",
            "Caterpillar plot of crossed random effects",
            "`plots.caterpillar(m)` for `diameter ~ 1 + (1 | plate) + (1 | sample)` "
            "(Penicillin): one row of panels per grouping factor.",
            lambda: plots.caterpillar(pen),
        ),
        (
            "sleepstudy_diagnostics",
            "Residual diagnostics",
            "`plots.diagnostics(m)` — Pearson residuals vs fitted with a lowess "
            "smoother, scale-location, and normal QQ plots of the residuals and "
            "of each random effect.",
            lambda: plots.diagnostics(rs),
        ),
        (
            "sleepstudy_residual_trends",
            "Residual trends by subject under a random-intercept model",
            "`plots.residual_trends(m_ri, x=\"Days\")` — per-subject residuals "
            "against Days for `Reaction ~ Days + (1 | Subject)`: the steep "
            "trends show the slopes that the random intercept alone misses.",
            lambda: plots.residual_trends(ri, x="Days", ncol=6),
        ),
        (
            "sleepstudy_effects",
            "Fixed effect of Days with a 95% confidence band",
            "`plots.effects(m, \"Days\")` — x'β̂ over Days with the band "
            "x'β̂ ± 1.96 √(x'Vx), V = `m.vcov`, and the data behind it.",
            lambda: plots.effects(rs, "Days"),
        ),
        (
            "cake_effects_recipe",
            "Effect of a factor, other predictors held fixed",
            "`plots.effects(m, \"recipe\", data=cake)` for "
            "`angle ~ recipe + temp + (1 | recipe:replicate)`: one estimate and "
            "interval per recipe at the mean temperature.",
            lambda: plots.effects(cake_fit, "recipe", data=cake),
        ),
        (
            "sleepstudy_data_panels",
            "The data per subject, points joined",
            "`plots.data_panels(sleep, \"Days\", \"Reaction\", \"Subject\", ncol=6)` — "
            "lattice's `xyplot(Reaction ~ Days | Subject, type = c(\"p\", \"l\"))`: "
            "the first look at repeated measures.",
            lambda: plots.data_panels(sleep, "Days", "Reaction", "Subject", ncol=6),
        ),
        (
            "simulated_spaghetti",
            "Every subject's line in one panel",
            "`plots.spaghetti(m, \"session\")` for 200 simulated subjects "
            "(`mm.datasets.simulate_slopes(n_subjects=200, n_sessions=6, seed=1)`, "
            "`reaction_time ~ session + (session | subject)`): each subject's "
            "partial-pooling line and the population line, where 200 facets "
            "would be unreadable.",
            lambda: plots.spaghetti(many_fit, "session"),
        ),
        (
            "simpson_overlay",
            "Within-group and pooled trends (Simpson's paradox)",
            "`plots.overlay(d, \"x\", \"y\", \"g\")` on simulated data where y "
            "falls with x within every group while the groups with larger x have "
            "larger y: the pooled line (dashed) points the other way.",
            lambda: plots.overlay(_simpson(), "x", "y", "g"),
        ),
        (
            "sleepstudy_coefficient_densities",
            "No pooling vs partial pooling: densities of the coefficients",
            "`plots.coefficient_densities(m, fits[\"No pooling\"])` — each subject's "
            "own least-squares coefficients and the mixed model's `coef`, with "
            "the fixed effect and the normal distribution of the groups the "
            "model estimates.",
            lambda: plots.coefficient_densities(rs, fits["No pooling"]),
        ),
        (
            "sleepstudy_glmer_effects",
            "A GLMM's fixed effect on the response scale",
            "`plots.effects(g, \"Days\")` for `glmer(slow ~ Days + (1 | Subject), "
            "binomial)` with `slow = Reaction > 300`: the probability with its "
            "band (computed on the logit scale) over the 0/1 data; "
            "`scale=\"link\"` draws the logit.",
            lambda: plots.effects(glmm, "Days"),
        ),
        (
            "sleepstudy_power_curve",
            "Power against the number of subjects",
            "`mm.power_curve(m, \"Days\", breaks=[3, 4, 6, 8, 10, 12], nsim=100, seed=1,"
            " effect=6).plot()` — simr's `powerCurve` for a slope of 6 ms/day "
            "with 95% Clopper–Pearson intervals.",
            lambda: mm.power_curve(rs, "Days", breaks=[3, 4, 6, 8, 10, 12], nsim=100, seed=1,
                                   effect=6, progress=False).plot(),
        ),
    ]


def _simpson() -> pd.DataFrame:
    """Five groups: y falls with x within each, rises with x across them."""
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(5), 15)
    x = 2.0 * g + rng.uniform(0.0, 2.0, g.size)
    y = 4.0 * g - 1.5 * (x - 2.0 * g) + rng.normal(0.0, 0.5, g.size)
    return pd.DataFrame({"g": [f"group {k + 1}" for k in g], "x": x, "y": y})


def main() -> None:
    """Draw every gallery figure and write the index."""
    OUT.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Plot gallery",
        "",
        "Figures from `mixedmodels.plots` on bundled datasets, regenerated by "
        "`python docs/make_gallery.py`. Every function returns a matplotlib "
        "`Figure`; save it with `fig.savefig(path)`, or leave it as a notebook "
        "cell's value to see it.",
        "",
        "```python",
        "import mixedmodels as mm",
        "from mixedmodels import plots",
        "sleep = mm.datasets.load(\"sleepstudy\")",
        "fits = plots.pooling_models(sleep, \"Days\", \"Reaction\", \"Subject\")",
        "m = fits[\"Random intercept + slope\"]        # Reaction ~ Days + (Days | Subject)",
        "m_ri = fits[\"Random intercept\"]             # Reaction ~ Days + (1 | Subject)",
        "```",
        "",
    ]
    for stem, title, text, make in _entries():
        fig = make()
        path = OUT / f"{stem}.png"
        fig.savefig(path, dpi=DPI, metadata={"Software": None})
        lines += [f"## {title}", "", text, "", f"![{title}](gallery/{path.name})", ""]
        print(f"wrote {path.relative_to(DOCS.parent)}")
    (DOCS / "gallery.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {(DOCS / 'gallery.md').relative_to(DOCS.parent)}")


if __name__ == "__main__":
    main()
