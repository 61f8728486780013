"""Progress bars: shown when asked or when a person watches, silent in scripts (progress.py)."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

import mixedmodels as mm
from mixedmodels import progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def fit():
    return mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))


def test_when_progress_is_shown(monkeypatch):
    assert progress.wants_progress(True) and not progress.wants_progress(False)
    assert not progress.in_notebook()
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not progress.wants_progress(None)  # a script, a pipe, CI: silent
    assert isinstance(progress.progress_bar(None, 3, "x"), progress.NoBar)
    monkeypatch.setattr(sys, "stderr", _Tty())
    assert progress.wants_progress(None)  # a terminal


def test_bootstrap_bar_on_request_and_silent_by_default(fit, capsys):
    mm.bootstrap(fit, lambda m: m.fixef, nsim=4, seed=1, progress=True)
    out = capsys.readouterr()
    assert out.out == ""
    assert "bootstrap" in out.err and "4/4" in out.err and "100%" in out.err
    mm.bootstrap(fit, lambda m: m.fixef, nsim=2, seed=1)  # stderr is not a terminal here
    assert capsys.readouterr().err == ""


def test_bootstrap_bar_in_a_terminal(fit, monkeypatch):
    tty = _Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    mm.bootstrap(fit, lambda m: m.fixef, nsim=3, seed=1)
    assert "3/3" in tty.getvalue()


def test_power_curve_one_bar_and_nothing_on_stdout(fit, capsys):
    mm.power_curve(fit, "Days", breaks=[3, 4], nsim=3, seed=1, progress=True)
    out = capsys.readouterr()
    assert out.out == ""  # no per-break lines on stdout
    assert "power curve" in out.err and "6/6" in out.err and "Subject = 4: power" in out.err
    mm.power_sim(fit, "Days", nsim=3, seed=1, progress=True)
    assert "power simulation" in capsys.readouterr().err


def test_profile_bar(fit, capsys):
    mm.confint(fit, "profile", progress=True)
    err = capsys.readouterr().err
    assert "profile" in err and "6/6" in err


def test_tqdm_is_imported_only_for_a_bar():
    code = ("import sys, mixedmodels as mm; d = mm.datasets.load('sleepstudy'); "
            "m = mm.lmer('Reaction ~ Days + (1 | Subject)', d); "
            "mm.bootstrap(m, lambda f: f.fixef, nsim=2, seed=1, progress=False); "
            "assert 'tqdm' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_out_of_core_fits_show_their_passes(capsys):
    pytest.importorskip("duckdb")
    dd = pytest.importorskip("dask.dataframe")
    d = mm.datasets.load("sleepstudy")
    m = mm.scale.lmer_duckdb("Reaction ~ Days + (Days | Subject)", d, progress=True)
    err = capsys.readouterr().err
    assert "duckdb fit" in err and "3/3" in err and "cross-products" in err
    m2 = mm.scale.lmer_dask("Reaction ~ Days + (Days | Subject)",
                            dd.from_pandas(d, npartitions=3), progress=True)
    err = capsys.readouterr().err
    assert "dask scan" in err and "100%" in err and "task" in err
    assert m.fixef.round(6).equals(m2.fixef.round(6))
    mm.scale.lmer_duckdb("Reaction ~ Days + (1 | Subject)", d)  # not a terminal: silent
    assert capsys.readouterr().err == ""


# -- one long fit: a bar of its objective evaluations --------------------------------


def test_fit_bar_counts_every_evaluation(capsys):
    d = mm.datasets.load("sleepstudy")
    m = mm.lmer("Reaction ~ Days + (Days | Subject)", d, progress=True)
    err = capsys.readouterr().err
    assert f"lmer: {m.optinfo['feval']} evals" in err
    cbpp = mm.datasets.load("cbpp")
    g = mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
                 family="binomial", progress=True)
    assert "glmer: " in capsys.readouterr().err
    # the counted methods were the fit's own for its duration only
    assert not {"objective", "objective_stage1", "_objective_mode"} & set(vars(g))
    same = mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
                    family="binomial", progress=False)
    assert g.fixef.equals(same.fixef)


def test_small_fits_are_not_watched(monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Tty())  # a person is watching
    d = mm.datasets.load("sleepstudy")
    m = mm.lmer("Reaction ~ Days + (Days | Subject)", d)
    assert sys.stderr.getvalue() == ""
    flops = progress.evaluation_flops([(d.nl, d.S) for d in m.cp.dims], m.cp.r)
    assert progress.expected_fit_seconds(3, flops) < 0.1
    watch = progress.fit_watch(None, "lmer", 3, flops)
    assert not watch.on

    def f(x):
        return x

    assert watch.wrap(f) is f  # the optimizer calls the objective itself


def test_long_fits_are_watched_only_when_a_person_watches(monkeypatch):
    # two crossed factors of 3000 and 1500 levels: r³/3 ≈ 10⁹ flops per evaluation
    flops = progress.evaluation_flops([(3000, 1), (1500, 1)], 1503)
    assert progress.expected_fit_seconds(2, flops) > progress.WATCH_SECONDS
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not progress.fit_watch(None, "lmer", 2, flops).on  # a script: silent
    monkeypatch.setattr(sys, "stderr", _Tty())
    with progress.fit_watch(None, "lmer", 2, flops) as watch:
        assert watch.on and watch.bar.delay == progress.BAR_DELAY
        counted = watch.wrap(lambda x: x + 1)
        assert [counted(i) for i in range(3)] == [1, 2, 3] and watch.bar.n == 3
    assert sys.stderr.getvalue() == ""  # ended before its delay: nothing shown
    assert not progress.fit_watch(False, "lmer", 2, flops).on
