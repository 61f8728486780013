"""``predict`` against lme4 1.1-31's ``predict.merMod``.

``tests/data/predict`` holds the calls (``cases.json``: dataset, formula,
new data, ``re_form``, ``allow_new_levels``, ``type``) and lme4's answers
(``r_out.json``, written by ``run.R`` there). A case where lme4 stops with
an error carries ``py_error``, a pattern the error raised here must match.
``mach_re_int`` is a case lme4 1.1-31 cannot compute (it sets the factor
left out of ``re.form`` to NA and then fails to give it contrasts); its
reference is Xβ̂ plus the named column of ``ranef``, computed in R.

``r_out.json`` also holds lme4's β̂ and conditional modes: the comparison
predicts with those in place of ours (to 1e-9), so that it checks the
prediction alone; the fits themselves differ from lme4's by up to 1e-4
relative for the GLMM (lme4 stops short of the optimum). Checks with our own
estimates use 1e-6 and linear mixed models only.
"""

from __future__ import annotations

import copy
import json
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.design.variables import TransformState, evaluate
from mixedmodels.errors import ColumnNotFoundError, DataError

HERE = Path(__file__).parent / "data" / "predict"
CASES = json.loads((HERE / "cases.json").read_text())
R_OUT = json.loads((HERE / "r_out.json").read_text())
BY_NAME = {c["name"]: c for c in CASES}
RTOL = 1e-6


@cache
def _fit(data: str, formula: str, family: str | None, offset: str | None) -> Any:
    df = mm.datasets.load(data)
    kw: dict[str, Any] = {}
    if offset is not None:
        kw["offset"] = evaluate(offset, df, TransformState()).values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if family is not None:
            return mm.glmer(formula, df, family=family, **kw)
        return mm.lmer(formula, df, **kw)


def fit_for(case: dict) -> Any:
    return _fit(case["data"], case["formula"], case.get("family"), case.get("offset"))


def newdata_for(case: dict) -> pd.DataFrame | None:
    nd = case["newdata"]
    if nd is None:
        return None
    return pd.DataFrame({k: pd.Series(v, dtype=_dtype(v)) for k, v in nd.items()})


def _dtype(values: list) -> str:
    present = [v for v in values if v is not None]
    return "object" if any(isinstance(v, str) for v in present) else "float64"


def with_lme4_estimates(model: Any, params: dict) -> Any:
    """A copy of ``model`` whose β̂ and conditional modes are lme4's."""
    m = copy.copy(model)
    m._beta = np.array([params["fixef"][nm] for nm in model.design.x_names])
    modes = []
    for t in model.design.terms:
        g = params["ranef"][t.group]
        pos = {lv: i for i, lv in enumerate(g["levels"])}
        rows = [pos[lv] for lv in t.factor.levels]
        modes.append(np.column_stack([np.asarray(g["values"][nm])[rows] for nm in t.names]))
    m._b = modes
    return m


def run(case: dict, newdata: Any = None, lme4_estimates: bool = False, **kw: Any) -> np.ndarray:
    m = fit_for(case)
    if lme4_estimates:
        m = with_lme4_estimates(m, R_OUT[case["name"]]["params"])
    args: dict[str, Any] = {"re_form": case["re_form"], "allow_new_levels": case["allow"]}
    if case.get("type"):
        args["type"] = case["type"]
    args.update(kw)
    nd = newdata_for(case) if newdata is None else newdata
    return np.asarray(m.predict(nd, **args), dtype=float)


def expected(name: str) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in R_OUT[name]["pred"]], dtype=float)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_matches_lme4(case: dict) -> None:
    ref = R_OUT[case["name"]]
    if "pred" not in ref:
        assert "py_error" in case, f"lme4 failed: {ref['error']}"
        with pytest.raises(ValueError, match=case["py_error"]):
            run(case)
        return
    np.testing.assert_allclose(run(case, lme4_estimates=True), expected(case["name"]), rtol=1e-9)


LMM_CASES = [c for c in CASES if c.get("family") is None and "pred" in R_OUT[c["name"]]]


@pytest.mark.parametrize("case", LMM_CASES, ids=[c["name"] for c in LMM_CASES])
def test_own_estimates_close_to_lme4(case: dict) -> None:
    np.testing.assert_allclose(run(case), expected(case["name"]), rtol=1e-5)


# -- the fit's coding, whatever the type of the newdata column -----------------------------
def test_ordered_factor_coding_comes_from_the_fit() -> None:
    """cake's temperature is ordered (contr.poly): text, ints, an unordered
    categorical or one with its categories reversed all predict the same."""
    case = BY_NAME["cake_new"]
    want = expected("cake_new")
    nd = newdata_for(case)
    np.testing.assert_allclose(run(case, nd), want, rtol=RTOL)
    as_int = nd.assign(temperature=[175, 205, 225])
    np.testing.assert_allclose(run(case, as_int), want, rtol=RTOL)
    as_float = nd.assign(temperature=[175.0, 205.0, 225.0])
    np.testing.assert_allclose(run(case, as_float), want, rtol=RTOL)
    rev = pd.Categorical(nd["temperature"], categories=["225", "205", "175"], ordered=True)
    np.testing.assert_allclose(run(case, nd.assign(temperature=rev)), want, rtol=RTOL)
    unordered = pd.Categorical(nd["temperature"])
    np.testing.assert_allclose(run(case, nd.assign(temperature=unordered)), want, rtol=RTOL)


def test_rows_of_the_fit_as_text_give_the_fitted_values() -> None:
    m = fit_for(BY_NAME["cake_rows"])
    cake = mm.datasets.load("cake")
    rows = [0, 21, 100, 269]
    np.testing.assert_allclose(m.predict(cake.iloc[rows].astype(str)), m.fitted[rows], rtol=1e-10)
    np.testing.assert_allclose(m.predict(cake.iloc[rows]), m.fitted[rows], rtol=1e-10)


def test_factor_slope_coding_comes_from_the_fit() -> None:
    """(Machine | Worker): Z's contrast columns are the fit's whatever the column type."""
    case = BY_NAME["mach_new"]
    want = expected("mach_new")
    nd = newdata_for(case)
    cat = pd.Categorical(nd["Machine"], categories=["C", "B", "A"], ordered=True)
    np.testing.assert_allclose(run(case, nd.assign(Machine=cat)), want, rtol=RTOL)
    m = fit_for(case)
    machines = mm.datasets.load("Machines")
    np.testing.assert_allclose(m.predict(machines.astype(str)), m.fitted, rtol=1e-10)


def test_numeric_grouping_column_matches_the_fitted_labels() -> None:
    case = BY_NAME["ss_re_full"]
    nd = newdata_for(case)
    as_int = nd.assign(Subject=nd["Subject"].astype(int))
    np.testing.assert_allclose(run(case, as_int), expected("ss_re_full"), rtol=RTOL)
    assert run(case, nd.iloc[:0]).shape == (0,)


def test_numeric_value_that_is_not_a_level_is_named() -> None:
    case = BY_NAME["cake_new"]
    nd = newdata_for(case).assign(temperature=[175, 180, 999])
    with pytest.raises(DataError, match=r"'temperature'.*'180', '999'"):
        run(case, nd)


def test_text_where_the_fit_had_a_number() -> None:
    case = BY_NAME["ss_string_numeric"]
    with pytest.raises(DataError, match=r"column 'Days' is numeric in the fitted model"):
        run(case)


# -- re_form ------------------------------------------------------------------------------
def test_re_form_spellings() -> None:
    case = BY_NAME["ss_re_int"]
    nd = newdata_for(case)
    want = expected("ss_re_int")
    pop = expected("ss_re_none")
    for rf in ("~(1 | Subject)", "(1|Subject)", " ~ (1 | Subject) "):
        np.testing.assert_allclose(run(case, nd, re_form=rf), want, rtol=RTOL)
    for rf in ("~0", "0", 0, np.nan, pd.NA, "NA", "~NA", " ~ 0 "):
        np.testing.assert_allclose(run(case, nd, re_form=rf), pop, rtol=RTOL)
    np.testing.assert_allclose(run(case, nd, re_form=None), expected("ss_re_full"), rtol=RTOL)


def test_re_form_naming_an_effect_the_model_lacks() -> None:
    case = BY_NAME["ss_re_int"]
    with pytest.raises(DataError, match=r"'Foo'.*the model's grouping factors are 'Subject'"):
        run(case, re_form="~(1 | Foo)")
    m = fit_for(BY_NAME["ss_int_re_slope"])
    with pytest.raises(DataError, match=r"'Days' that the model does not have for 'Subject'"):
        m.predict(newdata_for(case), re_form="~(Days | Subject)")


def test_re_form_on_the_fitted_rows_leaves_the_fit_unchanged() -> None:
    case = BY_NAME["ss_fitted_re_int"]
    m = fit_for(case)
    before = dict(m.design.state)
    run(case)
    assert dict(m.design.state) == before
    sleep = mm.datasets.load("sleepstudy")
    np.testing.assert_allclose(
        m.predict(re_form="~(1 | Subject)"),
        m.predict(sleep, re_form="~(1 | Subject)"),
        rtol=1e-12,
    )


def test_stateful_transforms_keep_the_fit_parameters() -> None:
    for name in ("scale", "poly", "scale_slope"):
        case = BY_NAME[name]
        m = fit_for(case)
        state = dict(m.design.state)
        one_row = newdata_for(case).iloc[[2]]
        got = run(case, one_row, lme4_estimates=True)
        np.testing.assert_allclose(got, expected(name)[[2]], rtol=1e-9)
        assert dict(m.design.state) == state


# -- missing values and missing columns ----------------------------------------------------
def test_missing_grouping_value() -> None:
    case = BY_NAME["ss_new_na"]
    m = fit_for(case)
    nd = pd.DataFrame({"Days": [3.0], "Subject": [None]})
    assert m.predict(nd, allow_new_levels=True)[0] == pytest.approx(282.807, abs=5e-4)
    with pytest.raises(ValueError, match=r"missing values \(NA\) in the grouping factor 'Subject'"):
        m.predict(nd)
    # a term left out by re_form is not checked
    np.testing.assert_allclose(
        m.predict(nd, re_form="~0"), m.predict(nd, allow_new_levels=True), rtol=1e-12
    )


def test_missing_column_is_named_as_not_in_newdata() -> None:
    m = fit_for(BY_NAME["ss_new_na"])
    with pytest.raises(ColumnNotFoundError, match=r"column 'Days' .*is not in newdata"):
        m.predict(pd.DataFrame({"Subject": ["308"]}))
    with pytest.raises(ColumnNotFoundError, match=r"column 'Subject' .*is not in newdata"):
        m.predict(pd.DataFrame({"Days": [1.0]}))
    np.testing.assert_allclose(
        m.predict(pd.DataFrame({"Days": [1.0]}), re_form="~0"),
        m.fixef["(Intercept)"] + m.fixef["Days"],
    )
    scaled = fit_for(BY_NAME["scale"])
    with pytest.raises(ColumnNotFoundError, match=r"'Days' \(used by the fixed effects\)"):
        scaled.predict(pd.DataFrame({"Subject": ["308"]}))
    off = fit_for(BY_NAME["offset_formula"])
    with pytest.raises(ColumnNotFoundError, match=r"'Days'.*not in newdata"):
        off.predict(pd.DataFrame({"Subject": ["308"]}))


# -- fitted values, type, other frames ------------------------------------------------------
def test_no_newdata_gives_the_fitted_values() -> None:
    m = fit_for(BY_NAME["ss_fitted"])
    np.testing.assert_allclose(m.predict(), m.fitted, rtol=1e-12)
    g = fit_for(BY_NAME["cbpp_link"])
    np.testing.assert_allclose(g.predict(type="response"), g.fitted, rtol=1e-12)
    np.testing.assert_allclose(g.predict(), g.linear_predictor, rtol=1e-12)
    case = BY_NAME["cbpp_response"]
    mu = run(case, lme4_estimates=True)
    np.testing.assert_allclose(mu, expected("cbpp_response"), rtol=1e-9)
    eta = run(case, lme4_estimates=True, type="link")
    np.testing.assert_allclose(eta, expected("cbpp_link"), rtol=1e-9)


def test_polars_newdata() -> None:
    pl = pytest.importorskip("polars")
    for name in ("cake_new", "ss_new_na", "pen_new", "mach_new"):
        case = BY_NAME[name]
        nd = newdata_for(case)
        frame = pl.DataFrame({c: nd[c].tolist() for c in nd.columns})
        np.testing.assert_allclose(run(case, frame), expected(name), rtol=RTOL)
        np.testing.assert_allclose(run(case, frame.lazy()), expected(name), rtol=RTOL)


def test_rank_deficient_fit_predicts_with_the_kept_columns() -> None:
    sleep = mm.datasets.load("sleepstudy").assign(Days2=lambda d: 2 * d["Days"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.lmer("Reaction ~ Days + Days2 + (1 | Subject)", sleep)
    ref = mm.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    assert m.design.dropped_columns == ["Days2"]
    nd = sleep.iloc[[0, 17, 100]].assign(Days2=[1.0, 2.0, 3.0])  # ignored: its column was dropped
    np.testing.assert_allclose(m.predict(nd), ref.predict(nd), rtol=1e-8)
