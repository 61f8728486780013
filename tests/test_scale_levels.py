"""Level coding out of memory follows the in-memory rules (mixedmodels.design.factors).

The same Parquet file read into pandas (``lmer``), scanned by DuckDB and read
by Dask must give the same levels in the same order: near-equal doubles that
R prints alike are one level, dates and date-times are labelled as R labels
them, strings sort in R's collation and missing values are left out.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from mixedmodels.design.frame import build_design

dd = pytest.importorskip("dask.dataframe")
scale = pytest.importorskip("mixedmodels.scale")

N = 240


def _awkward() -> pd.DataFrame:
    """Columns whose levels are easy to get wrong, each with missing values."""
    rng = np.random.default_rng(11)
    pick = rng.integers(0, 1 << 30, N)

    def cycle(values: list) -> list:
        return [values[i % len(values)] for i in pick]

    doubles = [1.0, 1.0 + 2.0**-52, 0.1 + 0.2, 0.3, 2.0, -0.5, 1e-20, 1e20, 2.5, np.nan]
    days = [pd.Timestamp("2021-03-01") + pd.Timedelta(days=k) for k in (0, 9, 31, 400)]
    stamps = [pd.Timestamp("2021-03-01 10:00:00"), pd.Timestamp("2021-03-01 00:00:00"),
              pd.Timestamp("2020-12-31 23:59:59"), pd.NaT]
    text = ["b", "B", "a", "Ä", "a b", "10", "9", "_x", "ä", None]
    return pd.DataFrame({
        "y": rng.normal(size=N),
        "dbl": cycle(doubles),
        "day": pd.to_datetime(cycle(days + [pd.NaT])),
        "date": cycle([d.date() for d in days] + [None]),
        "stamp": pd.to_datetime(cycle(stamps)),
        "txt": pd.array(cycle(text), dtype="string"),
        "int": pd.array(cycle([3, 20, 100, -1, None]), dtype="Int64"),
        "flag": pd.array(cycle([True, False, None]), dtype="boolean"),
    })


@pytest.fixture(scope="module")
def awkward_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("levels") / "awkward.parquet"
    _awkward().to_parquet(path)
    return str(path)


COLUMNS = ["dbl", "day", "date", "stamp", "txt", "int", "flag"]


@pytest.mark.parametrize("column", COLUMNS)
def test_same_levels_in_memory_duckdb_and_dask(awkward_file: str, column: str) -> None:
    formula = f"y ~ 1 + (1 | {column})"
    frame = pd.read_parquet(awkward_file)
    memory = build_design(formula, frame)
    _, duck, _ = scale.crossprod_duckdb(formula, awkward_file)
    _, dask, _ = scale.crossprod_dask(formula, dd.read_parquet(awkward_file, split_row_groups=True))
    want = memory.terms[0].factor.levels
    assert duck.terms[0].factor.levels == want
    assert dask.terms[0].factor.levels == want
    assert duck.n == dask.n == memory.n  # rows with a missing value left out alike


def test_values_printed_alike_are_one_level(awkward_file: str) -> None:
    """1 and 1 + 2⁻⁵² are level '1', 0.1 + 0.2 and 0.3 level '0.3' (as R's factor)."""
    import mixedmodels as mm

    frame = pd.read_parquet(awkward_file)
    formula = "y ~ 1 + (1 | dbl)"
    ref = mm.lmer(formula, frame)
    levels = ref.design.terms[0].factor.levels
    assert levels[:6] == ["-0.5", "1e-20", "0.3", "1", "2", "2.5"] and len(levels) == 7
    for cp in (scale.crossprod_duckdb(formula, awkward_file)[0],
               scale.crossprod_dask(formula, dd.read_parquet(awkward_file))[0]):
        np.testing.assert_allclose(cp.A11, ref.cp.A11, rtol=1e-13)
        np.testing.assert_allclose(cp.A21, ref.cp.A21, rtol=1e-12, atol=1e-12)
    m = scale.lmer_duckdb(formula, awkward_file)
    assert m.reml_criterion == pytest.approx(ref.reml_criterion, rel=1e-9)


def test_date_labels_as_r_prints_them(awkward_file: str) -> None:
    _, duck, _ = scale.crossprod_duckdb("y ~ 1 + (1 | stamp)", awkward_file)
    assert duck.terms[0].factor.levels == [
        "2020-12-31 23:59:59", "2021-03-01 00:00:00", "2021-03-01 10:00:00"
    ]
    _, duck, _ = scale.crossprod_duckdb("y ~ 1 + (1 | day)", awkward_file)
    assert duck.terms[0].factor.levels[0] == str(dt.date(2021, 3, 1))


@pytest.mark.parametrize(
    "values",
    [
        ["g10", "g9", "a", "g1", "zz", "0"],  # code-point order is R's: sorted by Arrow
        ["b", "B", "a", "A1", "a_b"],  # mixed case and punctuation: R's collation
    ],
)
def test_text_levels_from_arrow_as_in_memory(values: list[str]) -> None:
    duckdb = pytest.importorskip("duckdb")
    pa = pytest.importorskip("pyarrow")
    from mixedmodels.design.factors import to_categorical
    from mixedmodels.scale.duckdb_levels import LevelTables

    levels = LevelTables(duckdb.connect(), "__t_", {})
    codes = levels.register(("g",), [pa.array(values)])
    ref = to_categorical(pd.Series(values))
    assert [lab[0] for lab in levels.labels[("g",)]] == ref.levels
    assert codes.tolist() == ref.codes.tolist()
