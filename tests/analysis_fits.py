"""The fits of tests/data/analysis/make_reference.R, shared by the follow-up analysis tests.

R's numbers (tests/data/analysis/reference.json) come from lme4 1.1-31,
emmeans 1.8.4-1, performance 0.10.2 (insight 0.19.0), pbkrtest 0.5-2 and
lmerTest 3.1-3 on R 4.2.2, fitted to the package's own CSVs.
"""

from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

import mixedmodels as mm

REFERENCE = json.loads((Path(__file__).parent / "data" / "analysis" / "reference.json").read_text())


def ref_frame(section: str, name: str) -> pd.DataFrame:
    """A reference table; R's Inf df (JSON null) read as inf."""
    df = pd.DataFrame(REFERENCE[section][name])
    if "df" in df:
        df["df"] = df["df"].astype(float).fillna(np.inf)
    return df


@cache
def data(name: str) -> pd.DataFrame:
    if name == "cake":
        d = mm.datasets.load("cake")
        d["temp"] = d["temperature"].astype(str).astype(float)
        return d
    if name == "pois":
        d = pd.read_csv(Path(__file__).parent / "data" / "olre_poisson.csv")
        d["trt"] = pd.Categorical(np.resize(["a", "b", "c"], len(d)))
        return d
    return mm.datasets.load(name)


_SPECS = {
    "m_cake": ("lmer", "angle ~ recipe * temperature + (1 | recipe:replicate)", "cake"),
    "m_cake_num": ("lmer", "angle ~ recipe + temp + (1 | replicate)", "cake"),
    "m_mach": ("lmer", "score ~ Machine + (1 | Worker) + (1 | Worker:Machine)", "Machines"),
    "m_sleep": ("lmer", "Reaction ~ Days + (Days | Subject)", "sleepstudy"),
    "g_cbpp": ("binomial", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp"),
    "g_pois": ("poisson", "y ~ x + trt + (1 | grp)", "pois"),
    "g_pois_olre": ("poisson", "y ~ x + (1 | grp) + (1 | obs)", "pois"),
}


@cache
def fit(name: str) -> mm.LinearMixedModel | mm.GeneralizedLinearMixedModel:
    kind, formula, dname = _SPECS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "lmer":
            return mm.lmer(formula, data(dname))
        return mm.glmer(formula, data(dname), family=kind)


def with_r_estimates(name: str) -> mm.GeneralizedLinearMixedModel:
    """A copy of a GLMM fit carrying R's β̂ and vcov(β̂) (to test algebra, not the optimum)."""
    g = fit(name)
    new = object.__new__(type(g))
    new.__dict__.update(g.__dict__)
    r = REFERENCE["fits"][name]
    new._beta = np.asarray(r["fixef"], dtype=float)
    new._vcov_unscaled = np.asarray(r["vcov"], dtype=float) / g._dispersion
    return new


def assert_frame_close(got: pd.DataFrame, want: pd.DataFrame, rtol: float) -> None:
    """Same columns; labels equal, numbers within rtol (relative to max(1, |R|))."""
    assert set(got.columns) == set(want.columns), (list(got.columns), list(want.columns))
    assert len(got) == len(want)
    for c in want.columns:
        if pd.api.types.is_numeric_dtype(want[c]):
            a, b = got[c].to_numpy(float), want[c].to_numpy(float)
            assert np.array_equal(np.isinf(a), np.isinf(b)), c
            fin = np.isfinite(b)
            err = np.abs(a[fin] - b[fin]) / np.maximum(1.0, np.abs(b[fin]))
            assert err.max(initial=0.0) < rtol, (c, err.max())
        else:
            assert list(got[c].astype(str)) == list(want[c].astype(str)), c
