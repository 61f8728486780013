"""Bad input to lmer_duckdb and lmer_dask: one clear DataError naming the file or column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import DataError

dd = pytest.importorskip("dask.dataframe")
scale = pytest.importorskip("mixedmodels.scale")

FORMULA = "y ~ x + (1 | g)"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """good.parquet, no_x.parquet (no column x), text_y.parquet (y as text), an empty folder."""
    root = tmp_path_factory.mktemp("bad")
    (root / "empty").mkdir()
    rng = np.random.default_rng(5)
    good = pd.DataFrame({"y": rng.normal(size=40), "x": rng.normal(size=40),
                         "g": [f"s{i % 5}" for i in range(40)],
                         "f": [("a", "b", "c")[i % 3] for i in range(40)]})
    good.to_parquet(root / "good.parquet")
    good.drop(columns="x").to_parquet(root / "no_x.parquet")
    good.assign(y=good["y"].map(lambda v: f"{v:.3f}")).to_parquet(root / "text_y.parquet")
    return root


FACTOR = "y ~ x + f + (1 | g)"  # a factor in X: its levels are scanned first


def _duckdb(source: object) -> None:
    scale.lmer_duckdb(FORMULA, source)


def _duckdb_factor(source: object) -> None:
    scale.lmer_duckdb(FACTOR, source)


def _duckdb_moments(source: object) -> None:
    scale.lmer_duckdb(FORMULA, source, method="moments")


def _dask(source: object) -> None:
    scale.lmer_dask(FORMULA, source)


def _dask_factor(source: object) -> None:
    scale.lmer_dask(FACTOR, source)


def _dask_moments(source: object) -> None:
    scale.lmer_dask(FORMULA, source, method="moments")


DUCKDB = (_duckdb, _duckdb_factor, _duckdb_moments)
BACKENDS = [pytest.param(fit, id=fit.__name__.strip("_")) for fit in
            (*DUCKDB, _dask, _dask_factor, _dask_moments)]


@pytest.mark.parametrize("fit", BACKENDS)
def test_missing_file_and_empty_glob_are_named(files: Path, fit) -> None:
    with pytest.raises(DataError, match="data file '.*missing.parquet' does not exist"):
        fit(str(files / "missing.parquet"))
    with pytest.raises(DataError, match="no files match '.*empty/\\*.parquet'"):
        fit(str(files / "empty" / "*.parquet"))


def test_dask_frame_of_no_files_is_named(files: Path) -> None:
    with pytest.raises(DataError, match="no columns .*match no files"):
        _dask(dd.read_parquet(str(files / "empty" / "*.parquet")))


@pytest.mark.parametrize("fit", BACKENDS)
def test_column_missing_in_some_files(files: Path, fit) -> None:
    source = str(files / "[gn]o*.parquet") if fit in DUCKDB else dd.read_parquet(
        [str(files / "good.parquet"), str(files / "no_x.parquet")])
    with pytest.raises(DataError, match="no_x.parquet|no column 'x'"):
        fit(source)


@pytest.mark.parametrize("fit", [_dask, _dask_factor, _dask_moments])
def test_dask_files_missing_a_column_name_the_file(files: Path, fit) -> None:
    """A glob given to lmer_dask is read file by file: the file without the column is named."""
    with pytest.raises(DataError, match="'.*no_x.parquet' has no column 'x'"):
        fit(str(files / "[gn]o*.parquet"))


@pytest.mark.parametrize("fit", BACKENDS)
def test_types_that_differ_between_files(files: Path, fit) -> None:
    pattern = str(files / "[gt]*.parquet")  # good.parquet, text_y.parquet
    with pytest.raises(DataError, match="column 'y' is numeric in '.*good.parquet' but text "
                                         "in '.*text_y.parquet'; give the column the same"):
        fit(pattern)


def test_dask_partitions_of_different_types(files: Path) -> None:
    """A Dask frame whose files disagree on a column's type: the partition is refused."""
    ddf = dd.read_parquet([str(files / "good.parquet"), str(files / "text_y.parquet")])
    with pytest.raises(DataError, match="'y' is not numeric in a partition"):
        _dask(ddf)


@pytest.mark.parametrize("fit", BACKENDS)
def test_missing_group_ids_are_left_out_as_in_memory(tmp_path, fit) -> None:
    """NA group ids are R's NA: those rows are omitted (as lmer and lme4 do), from a file
    and from a frame; a grouping factor missing in every row is an error naming it
    (below)."""
    d = mm.datasets.load("sleepstudy").rename(columns={"Reaction": "y", "Days": "x",
                                                       "Subject": "g"})
    d["g"] = d["g"].astype(str).astype(object)
    d["f"] = np.array(["a", "b", "c"])[np.arange(len(d)) % 3]
    d.loc[[0, 7, 50], "g"] = None
    path = tmp_path / "na_g.parquet"
    d.to_parquet(path)
    formula = FACTOR if fit in (_duckdb_factor, _dask_factor) else FORMULA
    method = "moments" if fit in (_duckdb_moments, _dask_moments) else None
    r = mm.lmer(formula, d, method=method)
    fitter = scale.lmer_duckdb if fit in DUCKDB else scale.lmer_dask
    for source in (str(path), d):
        m = fitter(formula, source, method=method)
        assert m.nobs == r.nobs == 177
        np.testing.assert_allclose(m.fixef, r.fixef, rtol=1e-8)
        if method is None:
            assert m.reml_criterion == pytest.approx(r.reml_criterion, rel=1e-9)


ALL_MISSING = [pytest.param(fit, column, id=f"{fit.__name__.strip('_')}-{column}")
               for fit in (*DUCKDB, _dask, _dask_factor, _dask_moments) for column in "xg"]
ALL_MISSING += [pytest.param(fit, "f", id=f"{fit.__name__.strip('_')}-f")
                for fit in (_duckdb_factor, _dask_factor)]


@pytest.mark.parametrize(("fit", "column"), ALL_MISSING)
def test_all_missing_column_is_named(tmp_path, fit, column: str) -> None:
    d = pd.DataFrame({"y": np.arange(12.0), "x": np.arange(12.0) % 5,
                      "g": [f"s{i % 3}" for i in range(12)], "f": ["a", "b"] * 6})
    d[column] = np.nan if column == "x" else None
    path = tmp_path / f"na_{column}.parquet"
    d.to_parquet(path)
    with pytest.raises(DataError, match=f"'{column}' is missing .* in every row"):
        fit(str(path))


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_duckdb_weights_not_positive_are_refused(bad: float) -> None:
    rng = np.random.default_rng(2)
    d = pd.DataFrame({"y": rng.normal(size=60), "x": rng.normal(size=60),
                      "g": [f"s{i % 6}" for i in range(60)], "w": rng.uniform(0.5, 2.0, 60)})
    d.loc[17, "w"] = bad
    with pytest.raises(DataError, match="weights must be positive"):
        scale.lmer_duckdb(FORMULA, d, weights="w", progress=False)
