"""Bundled datasets: every one loads with R's types, rows and level orders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mixedmodels import datasets
from mixedmodels.errors import DataError

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"

#: bundled dataset -> reference case whose data.csv it ships
CASES = {
    "sleepstudy": "sleep_rs",
    "sleepstudy_missing": "sleep_missing",
    "Dyestuff": "dyestuff",
    "Dyestuff2": "dyestuff2",
    "Penicillin": "penicillin",
    "Pastes": "pastes",
    "cake": "cake",
    "Machines": "machines",
    "ergoStool": "ergostool",
    "InstEval": "insteval",
    "cbpp": "cbpp",
    "VerbAgg": "verbagg",
    "seed_sim": "seed_sim_rs",
    "grouseticks": "grouseticks",
}
#: bundled datasets without a reference folder: R's facts in tests/data/glmm_reference.json
LOCAL = json.loads((Path(__file__).parent / "data" / "glmm_reference.json").read_text())

ROWS = {
    "sleepstudy": 180,
    "sleepstudy_missing": 180,
    "Dyestuff": 30,
    "Dyestuff2": 30,
    "Penicillin": 144,
    "Pastes": 60,
    "cake": 270,
    "Machines": 54,
    "ergoStool": 36,
    "InstEval": 73421,
    "cbpp": 56,
    "VerbAgg": 7584,
    "seed_sim": 150,
    "grouseticks": 403,
}


def _case(case: str) -> dict:
    if case in LOCAL and "columns" in LOCAL[case]:
        return LOCAL[case]
    path = REFERENCE / case / "case.json"
    if not path.exists():
        pytest.skip(f"reference data not found at {REFERENCE}")
    return json.loads(path.read_text())


def test_list_names() -> None:
    names = datasets.list()
    assert names == datasets.list_datasets()
    assert set(names) == set(CASES)
    assert names == sorted(names, key=str.lower)
    assert isinstance(names, list)


@pytest.mark.parametrize("name", sorted(CASES))
def test_load_matches_r_types_and_levels(name: str) -> None:
    case = _case(CASES[name])
    frame = datasets.load(name)
    assert len(frame) == ROWS[name]
    if name != "sleepstudy_missing":
        assert len(frame) == case["n_obs"]
    assert set(frame.columns) == set(case["columns"])
    for col, spec in case["columns"].items():
        series = frame[col]
        if spec["type"] in ("factor", "ordered factor"):
            assert isinstance(series.dtype, pd.CategoricalDtype), col
            assert list(series.cat.categories) == spec["levels"], col
            assert series.cat.ordered == (spec["type"] == "ordered factor"), col
            assert all(isinstance(level, str) for level in series.cat.categories)
            assert series.notna().all()
        elif spec["type"] == "integer":
            assert series.dtype == np.int64, col
        else:
            assert series.dtype == np.float64, col


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_equal_reference_csv(name: str) -> None:
    if "column_sums" in LOCAL.get(CASES[name], {}):  # no data.csv: R's column sums
        frame = datasets.load(name)
        for col, total in LOCAL[CASES[name]]["column_sums"].items():
            assert frame[col].sum() == pytest.approx(total, rel=1e-12, abs=1e-9), col
        return
    path = REFERENCE / CASES[name] / "data.csv"
    if not path.exists():
        pytest.skip(f"reference data not found at {REFERENCE}")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame = datasets.load(name)
    assert list(frame.columns) == list(raw.columns)
    for col in raw.columns:
        got = frame[col]
        if isinstance(got.dtype, pd.CategoricalDtype):
            assert got.astype(str).tolist() == raw[col].tolist()
        else:
            want = pd.to_numeric(raw[col].replace("", np.nan)).to_numpy(dtype=float)
            np.testing.assert_array_equal(got.to_numpy(dtype=float), want)


def test_r_level_orders() -> None:
    assert datasets.load("InstEval")["dept"].cat.categories[:3].tolist() == ["15", "5", "10"]
    temperature = datasets.load("cake")["temperature"]
    assert temperature.cat.ordered
    assert temperature.cat.categories.tolist() == ["175", "185", "195", "205", "215", "225"]
    assert datasets.load("Machines")["Worker"].cat.categories.tolist() == list("624135")
    subject = datasets.load("sleepstudy")["Subject"]
    assert subject.cat.categories[0] == "308" and not subject.cat.ordered


def test_missing_cells() -> None:
    frame = datasets.load("sleepstudy_missing")
    assert frame["Reaction"].isna().sum() == 3
    assert frame["Days"].isna().sum() == 1
    assert len(frame.dropna()) == 176


def test_name_is_case_insensitive_and_copy_is_fresh() -> None:
    a = datasets.load("SLEEPSTUDY")
    a.loc[0, "Reaction"] = -1.0
    b = datasets.load("sleepstudy")
    assert b.loc[0, "Reaction"] == pytest.approx(249.56)


def test_unknown_dataset() -> None:
    with pytest.raises(DataError, match="no bundled dataset named 'sleepstdy'"):
        datasets.load("sleepstdy")


def test_describe_and_info() -> None:
    text = datasets.describe("sleepstudy")
    assert text.startswith("sleepstudy: ")
    for word in ("Reaction", "Days", "Subject", "180 rows", "Belenky"):
        assert word in text
    for name in datasets.list():
        meta = datasets.info(name)
        assert meta.title and "\n" not in meta.title
        assert set(meta.text.variables) == set(meta.columns)
        assert meta.rows == ROWS[name]
    assert datasets.info("cake").columns["temperature"] == "ordered factor"


def test_simulate_slopes_shape_and_reproducibility() -> None:
    a = datasets.simulate_slopes(seed=314)
    b = datasets.simulate_slopes(seed=314)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(datasets.simulate_slopes(seed=315))
    assert list(a.columns) == ["subject", "session", "intercept_re", "slope_re", "reaction_time"]
    assert len(a) == 150
    assert a["subject"].cat.categories.tolist() == [str(i) for i in range(1, 31)]
    assert a["session"].tolist()[:6] == [0, 1, 2, 3, 4, 0]
    assert a.groupby("subject", observed=True)["intercept_re"].nunique().eq(1).all()


def test_simulate_slopes_follows_the_model() -> None:
    d = datasets.simulate_slopes(n_subjects=5, n_sessions=4, beta=(10, 2), sigma=0.0, seed=1)
    expected = 10 + d["intercept_re"] + (2 + d["slope_re"]) * d["session"]
    np.testing.assert_allclose(d["reaction_time"], expected)


def test_simulate_slopes_moments_for_large_n() -> None:
    d = datasets.simulate_slopes(n_subjects=20000, n_sessions=3, seed=7)
    per_subject = d.groupby("subject", observed=True)[["intercept_re", "slope_re"]].first()
    assert per_subject["intercept_re"].std() == pytest.approx(50, rel=0.03)
    assert per_subject["slope_re"].std() == pytest.approx(25, rel=0.03)
    assert per_subject.corr().iloc[0, 1] == pytest.approx(0.2, abs=0.03)
    noise = d["reaction_time"] - (600 + d["intercept_re"] + (-10 + d["slope_re"]) * d["session"])
    assert noise.std() == pytest.approx(30, rel=0.03)


@pytest.mark.parametrize(
    "kwargs",
    [{"n_subjects": 0}, {"n_sessions": 1.5}, {"sd_slope": -1.0}, {"rho": 1.5}, {"sigma": -2}],
)
def test_simulate_slopes_rejects_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(DataError):
        datasets.simulate_slopes(**kwargs)


def test_simulate_slopes_degenerate_correlation() -> None:
    d = datasets.simulate_slopes(n_subjects=50, rho=1.0, seed=3)
    per_subject = d.groupby("subject", observed=True)[["intercept_re", "slope_re"]].first()
    np.testing.assert_allclose(per_subject["slope_re"], per_subject["intercept_re"] / 2)
