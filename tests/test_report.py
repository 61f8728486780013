"""The HTML report: one self-contained page with the summary and the figures (report.py)."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

import mixedmodels as mm  # noqa: E402
from mixedmodels.cli import main  # noqa: E402
from mixedmodels.report import report_html  # noqa: E402

SECTIONS = [
    "Summary",
    "Pooling: complete, none, partial",
    "Shrinkage of the group coefficients",
    "Random effects (conditional modes)",
    "Residual diagnostics",
    "Fixed effects",
]


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.h2: list[str] = []
        self.images: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        self._in_h2 = tag == "h2"
        if tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_endtag(self, tag: str) -> None:
        self._in_h2 = False if tag == "h2" else self._in_h2

    def handle_data(self, data: str) -> None:
        if self._in_h2:
            self.h2.append(data)


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


@pytest.fixture(scope="module")
def sleep_report() -> str:
    d = mm.datasets.load("sleepstudy")
    return report_html(mm.lmer("Reaction ~ Days + (Days | Subject)", d), d)


def test_report_sections_and_inline_figures(sleep_report: str) -> None:
    page = _parse(sleep_report)
    assert page.h2 == SECTIONS
    assert sleep_report.startswith("<!DOCTYPE html>")
    assert len(page.images) >= 6
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    # self-contained: no scripts, style sheets or outside resources
    assert not {"script", "link", "iframe"} & set(page.tags)
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", sleep_report)
    assert "Not shown" not in sleep_report
    assert "251.405" in sleep_report and "lmerModLmerTest" in sleep_report  # the summary


def test_glmer_report_says_what_does_not_apply(tmp_path: Path) -> None:
    out = tmp_path / "cbpp.html"
    code = main(["report", "cbind(incidence, size - incidence) ~ period + (1 | herd)",
                 "--data", "cbpp", "-o", str(out)])
    assert code == 0
    text = out.read_text(encoding="utf-8")
    page = _parse(text)
    assert page.h2 == SECTIONS
    assert "Not shown for this model" not in text
    assert len(page.images) >= 6  # pooling, shrinkage and densities: per-herd GLMs
    assert "glmerMod" in text
    # pooling on the logit scale: one GLM per herd, one for all rows (R's
    # glm(cbind(incidence, size - incidence) ~ period, binomial): -1.269023, -1.170763)
    pooling = text[text.index("Pooling: complete"):text.index("Shrinkage of")]
    assert "binomial(logit) GLM" in pooling and "logit scale" in pooling
    assert "(Intercept) = -1.269, period2 = -1.171" in pooling
    from mixedmodels.nopooling import glm_nopool

    d = mm.datasets.load("cbpp")
    m = mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", d)
    _, separated = glm_nopool(m, "herd")
    names = ", ".join(separated.index[separated])
    assert f"{separated.sum()} of 15 herd levels are not drawn" in pooling
    assert f"(estimates run off to ±∞): {names}." in pooling
    assert pooling.count("<tr") == 16  # a header row and one per herd


def test_report_command_errors_are_one_line(tmp_path: Path, capsys) -> None:
    code = main(["report", "Reaction ~ Days", "--data", "sleepstudy", "-o",
                 str(tmp_path / "x.html")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("mixedmodels: error:") and err.count("\n") == 1
    assert not (tmp_path / "x.html").exists()


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="no headless Chromium (.ci/run installs Debian's chromium as root)")
def test_report_renders_in_a_browser(sleep_report: str, tmp_path: Path) -> None:
    html_path = tmp_path / "report.html"
    html_path.write_text(sleep_report, encoding="utf-8")
    shot = tmp_path / "shot.png"
    subprocess.run(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--no-first-run", "--disable-extensions", "--hide-scrollbars",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
                    "--window-size=1200,1600", html_path.as_uri()],
                   capture_output=True, timeout=120, check=True)
    import matplotlib.image as mpimg

    pixels = mpimg.imread(shot)[..., :3]
    assert pixels.shape[:2] == (1600, 1200) and pixels.std() > 0.05  # not a blank page
    # the title's dark text at the top left, on the white page
    assert pixels[:60, :400].min() < 0.3 and pixels[0, -1].min() > 0.95
    # the inline PNG figures were decoded: the pooling panels' coloured lines are on screen
    chroma = pixels.max(axis=2) - pixels.min(axis=2)
    assert (chroma > 0.3).mean() > 0.001
