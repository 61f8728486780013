"""Progress bars: shown when asked or when a person watches, silent in scripts (progress.py)."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
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


# -- out-of-core fits: one step per scan of the rows ---------------------------------


class _Recorder:
    """A bar lent to a fit: records the description at each step."""

    def __init__(self) -> None:
        self.total, self.n, self.desc, self.steps = 0, 0, "", []

    def update(self, n: int = 1) -> None:
        self.n += n
        self.steps.append(self.desc)

    def set_description_str(self, desc: str = "", refresh: bool = True) -> None:
        self.desc = desc

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass


class _CountingConnection:
    """A DuckDB connection that records the queries reading every row (a SELECT without
    LIMIT: DESCRIBE, views, level tables and the first rows of the centering are not)."""

    def __init__(self, con) -> None:
        self._con = con
        self.reads: list[str] = []

    def _seen(self, sql: str) -> None:
        if sql.lstrip().upper().startswith("SELECT") and "LIMIT" not in sql.upper():
            self.reads.append(sql)

    def execute(self, sql: str, *args):
        self._seen(sql)
        return self._con.execute(sql, *args)

    def sql(self, sql: str, *args):
        self._seen(sql)
        return self._con.sql(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self._con, name)


@pytest.fixture(scope="module")
def crossed():
    rng = np.random.default_rng(3)
    d = mm.datasets.load("sleepstudy")
    d["h"] = rng.integers(0, 6, len(d)).astype(str)
    d["f"] = rng.choice(["u", "v", "w"], len(d))
    return d


DUCKDB_SCANS = [
    # (formula, method, the scans named in order)
    ("Reaction ~ Days + (1 | Subject) + (1 | h)", None,
     ["rows", "Σ by Subject", "Σ by h", "Σ by Subject×h"]),
    ("Reaction ~ Days + f + (Days | Subject)", None, ["rows", "levels of f", "Σ by Subject"]),
    ("Reaction ~ Days + (1 | Subject) + (1 | h)", "moments",
     ["rows", "Σ by Subject", "Σ by h", "Σ by Subject×h"]),
]


@pytest.mark.parametrize("formula, method, names", DUCKDB_SCANS)
def test_duckdb_bar_steps_once_per_query_over_the_rows(crossed, formula, method, names):
    duckdb = pytest.importorskip("duckdb")
    con = _CountingConnection(duckdb.connect())
    con.register("rows_table", crossed)
    bar = _Recorder()
    mm.scale.lmer_duckdb(formula, "rows_table", con=con, progress=bar, method=method)
    assert bar.steps == [f"duckdb: {name}" for name in names]
    assert bar.n == len(con.reads) == bar.total  # every scan counted, and planned


def _dask_computations():
    from dask.callbacks import Callback

    class Count(Callback):
        n = 0

        def _start(self, dsk) -> None:
            Count.n += 1

    return Count


@pytest.mark.parametrize("formula, method, names", [
    ("Reaction ~ Days + (1 | Subject) + (1 | h)", None, ["Σ by Subject, h"]),
    ("Reaction ~ Days + (1 | Subject) + (1 | h)", "moments", ["Σ by Subject, h"]),
    ("Reaction ~ Days * f + (1 | Subject)", "moments", ["levels of f", "Σ by Subject"]),
    ("Reaction ~ Days + f + (Days | Subject)", None, ["levels of f", "Σ by Subject"]),
    ("Reaction ~ Days + (f | Subject) + (1 | h)", None, ["levels of f", "Σ by Subject, h"]),
])
def test_dask_bar_steps_once_per_computation(crossed, formula, method, names):
    dd = pytest.importorskip("dask.dataframe")
    bar = _Recorder()
    with _dask_computations()() as count:
        mm.scale.lmer_dask(formula, dd.from_pandas(crossed, npartitions=3), progress=bar,
                           method=method)
    assert bar.steps == [f"dask: {name}" for name in names]
    assert bar.n == count.n == bar.total


def test_out_of_core_bars_name_their_scans(crossed, capsys):
    pytest.importorskip("duckdb")
    dd = pytest.importorskip("dask.dataframe")
    formula = "Reaction ~ Days + (1 | Subject) + (1 | h)"
    m = mm.scale.lmer_duckdb(formula, crossed, progress=True)
    err = capsys.readouterr().err
    assert "duckdb: Σ by Subject×h" in err and "4/4" in err and "duckdb: fit" in err
    m2 = mm.scale.lmer_dask(formula, dd.from_pandas(crossed, npartitions=3), progress=True)
    err = capsys.readouterr().err
    assert "dask: Σ by Subject, h" in err and "1/1" in err and "tasks" in err
    assert m.fixef.round(6).equals(m2.fixef.round(6))


@pytest.mark.parametrize("shown", [False, None])  # off, and None when not a terminal
def test_out_of_core_fits_are_silent_unless_asked(crossed, capsys, shown):
    pytest.importorskip("duckdb")
    dd = pytest.importorskip("dask.dataframe")
    formula = "Reaction ~ Days + (1 | Subject) + (1 | h)"
    for method in (None, "moments"):
        mm.scale.lmer_duckdb(formula, crossed, progress=shown, method=method)
        mm.scale.lmer_dask(formula, dd.from_pandas(crossed, npartitions=2), progress=shown,
                           method=method)
    assert capsys.readouterr() == ("", "")


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
