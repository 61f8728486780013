"""Notebook display of results: HTML and Markdown in lme4's layout (results/html.py)."""

from __future__ import annotations

import warnings
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.results.html import RichRepr

VOID = {"br", "hr", "img", "meta", "link", "input", "col"}


class _Balance(HTMLParser):
    """Checks that every element opened is closed in order and no script/style is used."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
        else:
            self.stack.pop()


def check_html(text: str) -> _Balance:
    p = _Balance()
    p.feed(text)
    p.close()
    assert not p.errors, p.errors
    assert not p.stack, p.stack
    assert "script" not in p.tags and "style" not in p.tags and "class=" not in text
    return p


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return mm.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def fit(sleep: pd.DataFrame):
    return mm.lmer("Reaction ~ Days + (Days | Subject)", sleep)


@pytest.fixture(scope="module")
def gfit():
    d = mm.datasets.load("cbpp")
    return mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", d)


def test_lmer_summary_html_has_lme4_tables_with_r_numbers(fit) -> None:
    h = fit.summary()._repr_html_()
    check_html(h)
    assert "Linear mixed model fit by REML. t-tests use Satterthwaite&#x27;s method" in h
    assert "lmerModLmerTest" in h
    assert "REML criterion at convergence: 1743.6" in h  # lme4 1.1-35
    # random effects: variances to 4 significant digits over the column, as lme4 prints
    for cell in (">612.09<", ">24.740<", ">35.07<", ">5.922<", ">0.07<", ">654.94<"):
        assert cell in h
    # fixed effects: printCoefmat's rounding, format.pval and the stars
    for cell in (">251.405<", ">6.825<", ">36.838<", ">&lt; 2e-16<", ">3.26e-06<", ">***<"):
        assert cell in h
    assert "<details" in h and ">-0.138<" in h  # the correlation, collapsed
    assert "Signif. codes" in h


def test_markdown_has_pipe_tables_and_escapes(fit) -> None:
    md = fit.summary()._repr_markdown_()
    assert "| Groups | Name | Variance | Std.Dev. | Corr |" in md
    assert "| **Days** | 10.467 | 1.546 | 17.000 | 6.771 | 3.26e-06 | \\*\\*\\* |" in md
    assert "Pr(\\>\\|t\\|)" in md


def test_model_display_is_lme4_print(fit) -> None:
    h = fit._repr_html_()
    check_html(h)
    assert "lmerMod" in h and "Std.Dev." in h and "Variance" not in h
    assert ">251.41<" in h and ">10.47<" in h  # fixef to 4 significant digits, as print(m)
    assert "Number of obs: 180, groups:  Subject, 18" in h


def test_text_display_is_r_printout(fit) -> None:
    class Printer:
        def __init__(self) -> None:
            self.out = ""

        def text(self, s: str) -> None:
            self.out += s

    p = Printer()
    fit._repr_pretty_(p, False)
    assert p.out == str(fit)
    assert p.out.startswith("Linear mixed model fit by REML ['lmerMod']")


def test_ranef_is_a_dict_with_display(fit) -> None:
    re = fit.ranef
    assert isinstance(re, dict)
    assert list(re) == ["Subject"]
    assert re["Subject"].shape == (18, 2)
    assert re.condsd["Subject"].shape == (18, 2)
    text = repr(re)
    assert text.startswith("$Subject") and 'with conditional variances for "Subject"' in text
    h = re._repr_html_()
    check_html(h)
    assert "$Subject" in h and "309" in h
    assert "372" in h and "more rows" not in h  # 18 levels: all shown
    co = fit.coef
    assert isinstance(co, dict) and co["Subject"].shape == (18, 2)
    check_html(co._repr_html_())


def test_long_tables_are_truncated() -> None:
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(60), 4)
    d = pd.DataFrame({"g": g.astype(str), "x": np.tile(np.arange(4.0), 60)})
    d["y"] = d["x"] + rng.normal(size=60)[g] + rng.normal(size=240)
    m = mm.lmer("y ~ x + (1 | g)", d)
    h = m.ranef._repr_html_()
    check_html(h)
    assert "… 35 more rows …" in h
    assert h.count("<tr") == 1 + 25 + 1  # header, 20 + 5 rows, the ellipsis row


def test_varcorr_display(fit) -> None:
    h = fit.varcorr._repr_html_()
    check_html(h)
    assert ">24.7405<" in h and ">5.9221<" in h  # print(VarCorr(m)): 5 significant digits


def test_glmer_model_and_summary(gfit) -> None:
    h = gfit._repr_html_()
    check_html(h)
    assert "glmerMod" in h and "binomial  ( logit )" in h
    s = gfit.summary()._repr_html_()
    check_html(s)
    assert "Pr(&gt;|z|)" in s and ">194.1<" in s  # AIC rounded to one decimal, as lme4


def test_lm_and_lmlist_displays(sleep: pd.DataFrame) -> None:
    m = mm.lm("Reaction ~ Days", sleep)
    lines = str(m).split("\n")
    assert lines[-3:] == ["(Intercept)         Days  ", "     251.41        10.47  ", ""]
    for obj in (m, m.summary(), mm.lmlist("Reaction ~ Days | Subject", sleep),
                mm.lmlist("Reaction ~ Days | Subject", sleep).summary()):
        assert isinstance(obj, RichRepr)
        check_html(obj._repr_html_())
        assert obj._repr_markdown_().strip()
    h = m.summary()._repr_html_()
    assert "Residual standard error: 47.71 on 178 degrees of freedom" in h
    assert ">&lt;2e-16<" in h or ">&lt; 2e-16<" in h


def test_anova_display(sleep: pd.DataFrame, fit) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m0 = mm.lmer("Reaction ~ Days + (1 | Subject)", sleep, REML=False)
        m1 = mm.lmer("Reaction ~ Days + (Days | Subject)", sleep, REML=False)
    a = mm.anova(m0, m1)
    h = a._repr_html_()
    check_html(h)
    assert ">42.139<" in h and ">7.072e-10<" in h and ">***<" in h  # lme4's anova printout
    t = fit.anova()
    check_html(t._repr_html_())
    plain = pd.DataFrame(t)
    assert plain._repr_html_() is not None  # an ordinary frame keeps pandas' display


def test_power_displays(fit) -> None:
    p = mm.power_sim(fit, "Days", nsim=4, seed=1)
    h = p._repr_html_()
    check_html(h)
    assert "Power for predictor &#x27;Days&#x27;" in h and "4 / 4" in h
    c = mm.power_curve(fit, "Days", breaks=[3, 5], nsim=3, seed=2, progress=False)
    h = c._repr_html_()
    check_html(h)
    assert "Subject" in h and list(c["n"]) == [3, 5]
    assert type(c[c["n"] > 3]) is pd.DataFrame
