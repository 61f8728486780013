"""Factors coded by hashing: every column type, R's level order and labels, interactions."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import mixedmodels as mm
from mixedmodels.design import as_pandas, build_design
from mixedmodels.design.factors import Categorical, interaction, numbers_as_text, to_categorical
from mixedmodels.errors import DataError, ModelSpecificationError

VALUES = ["b", None, "B", "a_1", "a", "b", "a1", "A", None, "a"]
LEVELS = ["a", "A", "a_1", "a1", "b", "B"]  # R 4.2 (ICU): sort(unique(VALUES))


def _decoded(c: Categorical) -> list[str | None]:
    return [c.levels[i] if i >= 0 else None for i in c.codes]


@pytest.mark.parametrize(
    "column",
    [
        pd.Series(VALUES, dtype=object),
        pd.Series(VALUES, dtype="string"),
        pd.Series(VALUES, dtype="string[pyarrow]"),
        pd.Series(VALUES, dtype=pd.ArrowDtype(pa.large_string())),
        pd.Series(VALUES, dtype=object).astype("category"),
    ],
    ids=["object", "string", "string-pyarrow", "arrow-large-string", "categorical"],
)
def test_string_columns_of_every_type_give_r_levels(column: pd.Series) -> None:
    c = to_categorical(column, "g")
    if isinstance(column.dtype, pd.CategoricalDtype):  # a Categorical keeps its order
        assert c.levels == list(column.cat.categories)
    else:
        assert c.levels == LEVELS
    assert _decoded(c) == VALUES


def test_polars_and_arrow_tables_give_the_same_factor() -> None:
    frame = pl.DataFrame({"g": VALUES, "gc": pl.Series(VALUES, dtype=pl.Categorical)})
    pdf = as_pandas(frame)
    for col in ("g", "gc"):  # a polars Categorical's order is of appearance: R sorts it
        c = to_categorical(pdf[col], col)
        assert c.levels == LEVELS and _decoded(c) == VALUES
    c = to_categorical(as_pandas(pa.table({"g": VALUES}))["g"], "g")
    assert c.levels == LEVELS and _decoded(c) == VALUES


def test_numbers_logicals_and_missing_values() -> None:
    c = to_categorical(pd.Series([10, 9, -1, 10, 100]))
    assert c.levels == ["-1", "9", "10", "100"] and c.codes.tolist() == [2, 1, 0, 2, 3]
    c = to_categorical(pd.Series([2.5, np.nan, 2.0, -np.inf, 2.5]))
    assert c.levels == ["-Inf", "2", "2.5"] and c.codes.tolist() == [2, -1, 1, 0, 2]
    c = to_categorical(pd.Series([3, None, 1], dtype="Int64"))
    assert c.levels == ["1", "3"] and c.codes.tolist() == [1, -1, 0]
    for col in (
        pd.Series([True, None, False], dtype="boolean"),
        pd.Series([True, None, False], dtype=object),
    ):
        c = to_categorical(col)
        assert c.levels == ["FALSE", "TRUE"] and c.codes.tolist() == [1, -1, 0]
    # R: factor(c(TRUE, 1, 2)) has levels "1" "2" (logicals and numbers are numbers)
    assert to_categorical(pd.Series([True, 1, 2], dtype=object)).levels == ["1", "2"]
    # numbers in an object column are labels, sorted as R sorts strings
    assert to_categorical(pd.Series([10, "a", 9], dtype=object)).levels == ["10", "9", "a"]


def test_doubles_printing_alike_are_one_level_as_in_r() -> None:
    """R 4.2.2: x <- c(1, 1+2^-52, 1+2^-51, 1+1e-15, 1+1e-14, 0.1+0.2, 2.5, 123456.7,
    1e-20, 1/3); levels(factor(x)) and as.integer(factor(x)). R makes the levels from
    as.character(sort(unique(x))) (15 significant digits) and merges values that print
    alike; so do we, so that no two levels share a label."""
    x = [1, 1 + 2**-52, 1 + 2**-51, 1 + 1e-15, 1 + 1e-14, 0.1 + 0.2, 2.5, 123456.7, 1e-20, 1 / 3]
    c = to_categorical(pd.Series(x))
    assert c.levels == [
        "1e-20", "0.3", "0.333333333333333", "1", "1.00000000000001", "2.5", "123456.7",
    ]  # fmt: skip
    assert (c.codes + 1).tolist() == [4, 4, 4, 4, 5, 2, 6, 7, 1, 3]
    # as grouping factor: one group, not three groups all labelled "1"
    d = pd.DataFrame({"y": np.arange(8.0) % 3, "g": [1.0, 1 + 2**-52, 1 + 2**-51, 2.0] * 2})
    assert build_design("y ~ 1 + (1 | g)", d).terms[0].factor.levels == ["1", "2"]


def test_dates_as_grouping_factors_are_labelled_as_r() -> None:
    """R: levels(factor(as.Date("2020-01-01") + c(0, 1, 1, 40))) and of POSIXct."""
    d = pd.Series(pd.to_datetime("2020-01-01") + pd.to_timedelta([0, 1, 1, 40], "D"))
    assert to_categorical(d).levels == ["2020-01-01", "2020-01-02", "2020-02-10"]
    t = pd.Series(pd.to_datetime("2020-01-01") + pd.to_timedelta([0, 86400, 3600.5], "s"))
    c = to_categorical(t)
    assert c.levels == ["2020-01-01 00:00:00", "2020-01-01 01:00:00", "2020-01-02 00:00:00"]
    assert c.codes.tolist() == [0, 2, 1]
    f = to_categorical(pd.Series([pd.NaT, *d]))
    assert f.codes[0] == -1 and f.levels == ["2020-01-01", "2020-01-02", "2020-02-10"]


def test_interaction_keeps_only_combinations_present() -> None:
    a = to_categorical(pd.Series(["x", "y", "x", None, "y", "x"]))
    b = to_categorical(pd.Series([2, 1, 1, 1, 1, 2]))
    ab = interaction([a, b])
    assert ab.levels == ["x:1", "x:2", "y:1"]  # first factor slowest; "y:2" absent
    assert _decoded(ab) == ["x:2", "y:1", "x:1", None, "y:1", "x:2"]
    # 10^4 x 10^4 possible combinations, 2·10^4 present: hashed, not enumerated
    n = 20_000
    rng = np.random.default_rng(1)
    big = [Categorical(rng.integers(0, 10_000, n), [f"l{i}" for i in range(10_000)])] * 2
    t0 = time.perf_counter()
    out = interaction(big)
    assert time.perf_counter() - t0 < 5.0
    assert len(out.levels) == len(set(zip(big[0].codes.tolist(), big[0].codes.tolist())))


def test_large_string_column_is_coded_without_per_row_python() -> None:
    """10^6 rows with 10^3 string ids: the same codes as a reference coding, fast."""
    rng = np.random.default_rng(7)
    ids = np.array([f"id{k}" for k in range(1000)], dtype=object)
    code = rng.integers(0, 1000, 1_000_000)
    col = pd.Series(pd.array(ids[code], dtype="string"))
    t0 = time.perf_counter()
    c = to_categorical(col, "g")
    assert time.perf_counter() - t0 < 3.0
    order = sorted(range(1000), key=lambda k: ids[k])
    assert c.levels == [ids[k] for k in order]
    rank = np.argsort(order)
    np.testing.assert_array_equal(c.codes, rank[code])


def test_datetime_predictors_are_refused_with_a_conversion_hint() -> None:
    sleep = mm.datasets.load("sleepstudy")
    d = sleep.assign(t=pd.Timestamp("2020-01-01") + pd.to_timedelta(sleep["Days"], "D"))
    with pytest.raises(DataError, match=r"column 't' holds dates.*\.dt\.days"):
        mm.lmer("Reaction ~ t + (1 | Subject)", d)
    with pytest.raises(DataError, match="column 'dur' holds durations"):
        mm.lmer("Reaction ~ dur + (1 | Subject)", d.assign(dur=d["t"] - d["t"].min()))
    with pytest.raises(DataError, match="column 't' holds dates"):
        mm.lmer("Reaction ~ t + (1 | Subject)", pl.from_pandas(d.assign(t=d["t"].dt.date)))
    with pytest.raises(DataError, match="weights column 't' holds dates"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", d, weights="t")
    m = mm.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    with pytest.raises(DataError, match="column 'Days' holds dates"):
        m.predict(d.assign(Days=d["t"]))
    # a date as grouping factor is a factor of its printed values, as in R
    levels = build_design("Reaction ~ Days + (1 | t)", d).terms[0].factor.levels
    assert levels[:2] == ["2020-01-01", "2020-01-02"] and len(levels) == 10


def test_numbers_stored_as_text_fail_clearly_with_a_hint() -> None:
    rng = np.random.default_rng(0)
    n = 60
    d = pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "x": [f"{v:.3f}" for v in rng.normal(size=n)],
            "g": np.repeat(np.arange(6), 10),
        }
    )
    with pytest.raises(ModelSpecificationError, match="60 linearly independent") as err:
        mm.lmer("y ~ x + (1 | g)", d)
    assert "column 'x' holds numbers stored as text" in str(err.value)
    assert "pd.to_numeric" in str(err.value)
    with pytest.raises(DataError, match="'x' .* numbers stored as text"):
        mm.lmer("x ~ 1 + (1 | g)", d)
    assert numbers_as_text(["1.5", "-2", "1e3"]) and not numbers_as_text(["1.5", "a"])
    # as in R, text is a factor: a numeric conversion gives the slope
    fit = mm.lmer("y ~ x + (1 | g)", d.assign(x=pd.to_numeric(d["x"])))
    assert list(fit.fixef.index) == ["(Intercept)", "x"]


def test_arrow_backed_dates_durations_and_dictionaries() -> None:
    ts = pd.Series(
        pd.array(
            [pd.Timestamp("2020-01-02"), None, pd.Timestamp("2020-01-01")],
            dtype=pd.ArrowDtype(pa.timestamp("us")),
        )
    )
    c = to_categorical(ts)
    assert c.levels == ["2020-01-01", "2020-01-02"] and c.codes.tolist() == [1, -1, 0]
    dur = pd.Series(pd.to_timedelta([10, 2, 1], "D"))
    assert to_categorical(dur).codes.tolist() == [2, 1, 0]  # by time, not as text
    # a dictionary column (a factor as Parquet stores it) keeps the dictionary's order,
    # as pandas' Categorical from the same file does (and the out-of-core backends)
    chunks = pa.chunked_array(
        [pa.array(["b", "a", None]).dictionary_encode(), pa.array(["c", "a"]).dictionary_encode()]
    )
    c = to_categorical(pd.Series(pd.arrays.ArrowExtensionArray(chunks)))
    assert c.levels == ["b", "a", "c"] and c.codes.tolist() == [0, 1, -1, 2, 1]
    d = pd.array([pd.Timedelta(days=k) for k in range(6)], dtype=pd.ArrowDtype(pa.duration("us")))
    frame = pd.DataFrame({"y": np.arange(6.0), "g": ["a", "b"] * 3, "d": d})
    with pytest.raises(DataError, match="column 'd' holds durations"):
        build_design("y ~ d + (1 | g)", frame)
