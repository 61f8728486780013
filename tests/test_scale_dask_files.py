"""lmer_dask on Parquet files: Arrow tables reduced without a pandas frame of the ids
(dictionary indices as level codes) give the in-memory blocks and fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
dd = pytest.importorskip("dask.dataframe")
scale = pytest.importorskip("mixedmodels.scale")
from mixedmodels.scale.dask_files import dictionary_codes, distinct_tuples  # noqa: E402

FORMULA = "y ~ x + (x | g)"


def _frame(n: int = 4000, groups: int = 50, seed: int = 7) -> pd.DataFrame:
    """Random intercepts and slopes; string ids g, a crossed factor h."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    h = rng.integers(0, 6, n)
    x = rng.normal(size=n)
    y = 1.0 + 0.5 * x + rng.normal(size=groups)[g] + 0.3 * rng.normal(size=groups)[g] * x \
        + 0.5 * rng.normal(size=6)[h] + rng.normal(size=n)
    ids = pd.array([f"s{i}" if i % 3 else f"S{i}" for i in g], dtype="string")
    return pd.DataFrame({"y": y, "x": x, "g": ids, "h": pd.array([f"h{i}" for i in h],
                                                                 dtype="string")})


def _write(d: pd.DataFrame, folder, files: int = 3, **kw) -> str:
    for i, part in enumerate(np.array_split(np.arange(len(d)), files)):
        pq.write_table(pa.Table.from_pandas(d.iloc[part], preserve_index=False),
                       folder / f"p{i}.parquet", **kw)
    return str(folder / "*.parquet")


def _assert_blocks_equal(formula: str, glob: str, d: pd.DataFrame) -> None:
    """The blocks from the files equal lmer's on the same rows to rounding."""
    cp, _, _ = scale.crossprod_dask(formula, glob)
    ref = mm.lmer(formula, d).cp
    assert cp.n == ref.n
    for a, b in [(cp.A11, ref.A11), (cp.A21, ref.A21), (cp.A22, ref.A22)]:
        a = a.toarray() if hasattr(a, "toarray") else a
        b = b.toarray() if hasattr(b, "toarray") else b
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12 * np.abs(b).max())


def _assert_fit_equals_lmer(m, r) -> None:
    assert m.reml_criterion == pytest.approx(r.reml_criterion, rel=1e-8)
    np.testing.assert_allclose(m.fixef, r.fixef, rtol=1e-8)
    np.testing.assert_allclose(m.theta, r.theta, rtol=0, atol=1e-6)
    assert m.sigma == pytest.approx(r.sigma, rel=1e-8)
    for g in r.ranef:
        assert list(m.ranef[g].index) == list(r.ranef[g].index)


def test_string_ids_with_missing_rows_give_lmer_blocks(tmp_path) -> None:
    """NULL ids, NULL and NaN in y and x: those rows left out; levels met only in
    left-out rows are no levels; upper and lower case ids in R's order."""
    d = _frame()
    d.loc[[5, 900, 3999], "g"] = pd.NA
    d.loc[[7, 2500], "y"] = np.nan
    d.loc[[11], "x"] = np.nan
    only = d.index[d["g"] == d["g"].dropna().iloc[0]]
    d.loc[only, "x"] = np.nan  # a level whose every row is incomplete
    glob = _write(d, tmp_path)
    _assert_blocks_equal(FORMULA, glob, d)
    r = mm.lmer(FORMULA, d)
    m = scale.lmer_dask(FORMULA, glob, progress=False)
    _assert_fit_equals_lmer(m, r)
    assert m.nobs == r.nobs and m.design.n_omitted == len(d) - r.nobs


@pytest.mark.parametrize(("formula", "dx"), [(FORMULA, 0.0), ("y ~ x + (1 | g)", 1e4)])
def test_shifted_y_and_x_give_the_same_fit(tmp_path, formula: str, dx: float) -> None:
    """y + 10⁶ and x + dx (each file centred on its own rows): θ̂ and σ̂ unchanged,
    β̂ moved as the shift says, and equal to lmer on the shifted rows. (x is not shifted
    under a random slope in x: that re-parametrizes the covariance.)"""
    d = _frame()
    s = d.assign(y=d["y"] + 1e6, x=d["x"] + dx)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    m0 = scale.lmer_dask(formula, _write(d, tmp_path / "a"), progress=False)
    m1 = scale.lmer_dask(formula, _write(s, tmp_path / "b"), progress=False)
    _assert_fit_equals_lmer(m1, mm.lmer(formula, s))
    np.testing.assert_allclose(m1.theta, m0.theta, rtol=0, atol=1e-5)
    assert m1.sigma == pytest.approx(m0.sigma, rel=1e-7)
    assert m1.fixef.iloc[1] == pytest.approx(m0.fixef.iloc[1], rel=1e-7)
    assert m1.fixef.iloc[0] == pytest.approx(
        m0.fixef.iloc[0] + 1e6 - dx * m0.fixef.iloc[1], rel=1e-9)


def test_categorical_and_integer_ids(tmp_path) -> None:
    """A categorical id (its categories order the levels, as in memory) and integer ids
    (hashed) in the files."""
    d = _frame()
    cats = sorted(d["g"].unique(), reverse=True)
    d["g"] = pd.Categorical(d["g"].astype(str), categories=cats)
    d["k"] = (d["g"].cat.codes.astype(np.int64) * 7) % 31
    glob = _write(d, tmp_path)
    r = mm.lmer(FORMULA, d)
    m = scale.lmer_dask(FORMULA, glob, progress=False)
    _assert_fit_equals_lmer(m, r)
    assert list(m.ranef["g"].index)[:3] == cats[:3]
    formula = "y ~ x + (1 | k)"
    _assert_blocks_equal(formula, glob, d)
    _assert_fit_equals_lmer(scale.lmer_dask(formula, glob, progress=False), mm.lmer(formula, d))


@pytest.mark.parametrize("formula", ["y ~ x + (1 | g) + (1 | h)", "y ~ x + (1 | g:h)",
                                     "y ~ log(x + 10) + (1 + x | h)"])
def test_crossed_nested_and_transformed_terms(tmp_path, formula: str) -> None:
    d = _frame()
    d.loc[[3, 30], "h"] = pd.NA
    glob = _write(d, tmp_path)
    _assert_blocks_equal(formula, glob, d)
    _assert_fit_equals_lmer(scale.lmer_dask(formula, glob, progress=False),
                            mm.lmer(formula, d))


def test_row_groups_with_their_own_dictionaries(tmp_path) -> None:
    """Row groups holding different ids (each its own dictionary): the chunks' codes
    are unified, and every id keeps its value."""
    d = _frame().sort_values("g", ignore_index=True)
    path = tmp_path / "one.parquet"
    pq.write_table(pa.Table.from_pandas(d, preserve_index=False), path, row_group_size=500)
    column = pq.read_table(path, columns=["g"], read_dictionary=["g"]).column("g")
    assert column.num_chunks > 1
    assert not column.chunk(0).dictionary.equals(column.chunk(column.num_chunks - 1).dictionary)
    codes, values = dictionary_codes(column)
    assert list(values.to_numpy()[codes]) == list(d["g"])
    _assert_fit_equals_lmer(scale.lmer_dask(FORMULA, str(path), progress=False),
                            mm.lmer(FORMULA, d))


def test_distinct_tuples_of_two_columns() -> None:
    """Codes of (a, b) pairs over the pairs met, values taken from each column."""
    a = (np.array([0, 1, 0, 2, 1]), pd.Series(["u", "v", "w", "unused"]))
    b = (np.array([1, 0, 1, 0, 0]), pd.Series([10, 20]))
    codes, distinct = distinct_tuples([a, b], ("a", "b"))
    got = list(zip(distinct["a"].iloc[codes], distinct["b"].iloc[codes]))
    assert got == [("u", 20), ("v", 10), ("u", 20), ("w", 10), ("v", 10)]
    assert len(distinct) == 3


def test_x_stored_as_integers_in_one_file_and_an_empty_file(tmp_path) -> None:
    """Files differing in a numeric column's type and a file with no rows add up to the
    in-memory fit."""
    d = _frame()
    d["x"] = np.round(d["x"] * 4)
    glob = _write(d, tmp_path)
    first = pq.read_table(tmp_path / "p0.parquet")
    pq.write_table(first.set_column(1, "x", first.column("x").cast(pa.int64())),
                   tmp_path / "p0.parquet")
    pq.write_table(first.slice(0, 0), tmp_path / "p9.parquet")
    _assert_fit_equals_lmer(scale.lmer_dask(FORMULA, glob, progress=False),
                            mm.lmer(FORMULA, d))


def test_string_x_in_one_file_is_named(tmp_path) -> None:
    d = _frame()
    glob = _write(d, tmp_path)
    t = pq.read_table(tmp_path / "p1.parquet")
    pq.write_table(t.set_column(1, "x", t.column("x").cast(pa.string())),
                   tmp_path / "p1.parquet")
    with pytest.raises(mm.errors.DataError,
                       match="column 'x' is numeric in '.*p0.parquet' but text in '.*p1.parquet'"):
        scale.lmer_dask(FORMULA, glob, progress=False)


def test_one_task_of_files_with_their_own_levels(tmp_path, monkeypatch) -> None:
    """All files in one task (their sums added on the worker, each on its own centering):
    files with ids of their own, an id whose rows are incomplete in one file and complete
    in a later one, an id complete nowhere, an empty file; y far from 0 in later files."""
    from mixedmodels.scale import dask_files

    monkeypatch.setattr(dask_files, "worker_threads", lambda: 1)
    d = _frame().sort_values("g", ignore_index=True)
    d["y"] += np.where(np.arange(len(d)) > 2000, 1e5, 0.0)
    late = d["g"].iloc[-1]
    d.loc[d.index[:5], "g"] = late
    d.loc[d.index[:5], "x"] = np.nan  # incomplete in file 0, complete in the last file
    d.loc[d.index[5:8], "g"] = "nowhere"
    d.loc[d.index[5:8], "y"] = np.nan
    glob = _write(d, tmp_path, files=4)
    pq.write_table(pq.read_table(tmp_path / "p1.parquet").slice(0, 0), tmp_path / "p1b.parquet")
    _assert_blocks_equal(FORMULA, glob, d)
    m = scale.lmer_dask(FORMULA, glob, progress=False)
    _assert_fit_equals_lmer(m, mm.lmer(FORMULA, d))
    assert "nowhere" not in m.ranef["g"].index
