"""Out-of-memory lmer (mixedmodels.scale) against the in-memory fit on the same rows.

Two levels of parity:

* the cross-products computed by DuckDB equal the in-memory ones to rounding
  (1e-12 relative), and the criterion at a fixed θ agrees to 1e-10;
* the fits agree: the criterion to 1e-9 relative, β̂, σ̂ to 1e-6, θ̂, b̂ and the
  SEs (functions of θ̂) to 1e-5 of their scale — the optimizer stops within its tolerance, and
  summation-order differences of 1e-14 in A move the stopping point that much;
* small fits (the dense BFGS path) start where lmer starts, the starts computed
  from the blocks (:mod:`mixedmodels.start_blocks`): the same evaluations, and
  θ̂, β̂, σ̂ to 1e-10 (:func:`assert_same_path`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import mixedmodels as mm
from mixedmodels.errors import FormulaError, RankDeficiencyWarning

duckdb = pytest.importorskip("duckdb")
scale = pytest.importorskip("mixedmodels.scale")

CASES = [
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)"),
    ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)"),
    ("Pastes", "strength ~ 1 + (1 | batch/cask)"),
]


def synthetic(n: int = 100_000, seed: int = 1) -> pd.DataFrame:
    """Crossed groups (500 and 250 numeric-coded, 40 string-coded), a factor, weights, NAs."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 500, n)
    h = rng.integers(0, 40, n)
    trt = np.array(["ctl", "drugA", "drugB"])[rng.integers(0, 3, n)]
    x = rng.normal(size=n)
    y = (
        1.0
        + 0.5 * x
        + 0.3 * (trt == "drugA")
        + 0.7 * rng.normal(size=500)[g]
        + (0.4 + 0.2 * x) * rng.normal(size=40)[h]
        + rng.normal(size=n)
    )
    df = pd.DataFrame(
        {
            "y": y,
            "x": x,
            "trt": trt,
            "g": g,
            "h": [f"h{i:02d}" for i in h],
            "w": rng.uniform(0.5, 2.0, n),
        }
    )
    df.loc[rng.choice(n, 50, replace=False), "x"] = np.nan
    k = rng.integers(0, 250, n)
    df["k"] = k
    df["y"] += 0.5 * rng.normal(size=250)[k]
    return df


@pytest.fixture(scope="module")
def synthetic_path(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, str]:
    df = synthetic()
    path = tmp_path_factory.mktemp("scale") / "synthetic.parquet"
    df.to_parquet(path)
    return df, str(path)


def _parquet(tmp_path, name: str) -> tuple[pd.DataFrame, str]:
    d = mm.datasets.load(name)
    path = tmp_path / f"{name}.parquet"
    d.to_parquet(path)
    return d, str(path)


def _dense(a) -> np.ndarray:
    return a.toarray() if sp.issparse(a) else np.asarray(a)


def assert_same_crossprod(cp, ref) -> None:
    assert [(d.nl, d.S) for d in cp.dims] == [(d.nl, d.S) for d in ref.dims]
    assert (cp.n, cp.p) == (ref.n, ref.p)
    assert cp.sum_log_w == pytest.approx(ref.sum_log_w, rel=1e-12, abs=1e-9)
    for a, b in [(cp.A11, ref.A11), (_dense(cp.A21), _dense(ref.A21)), (cp.A22, ref.A22)]:
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12 * max(1.0, np.abs(b).max()))


def assert_same_fit(m, r) -> None:
    assert m.reml_criterion == pytest.approx(r.reml_criterion, rel=1e-9)
    assert list(m.fixef.index) == list(r.fixef.index)
    assert list(m.theta.index) == list(r.theta.index)
    np.testing.assert_allclose(m.fixef, r.fixef, rtol=1e-6, atol=1e-8)
    # SEs follow θ̂, which agrees to 1e-5 (flat optimum: the deviance agrees to 1e-9)
    np.testing.assert_allclose(m.fixef_se, r.fixef_se, rtol=1e-5)
    assert m.sigma == pytest.approx(r.sigma, rel=1e-6)
    th = r.theta.to_numpy()
    np.testing.assert_allclose(m.theta, th, rtol=0, atol=1e-5 * max(1.0, np.abs(th).max()))
    assert m.loglik == pytest.approx(r.loglik, rel=1e-9)
    assert m.aic == pytest.approx(r.aic, rel=1e-9)
    assert m.nobs == r.nobs
    assert m.ngroups == r.ngroups
    for g, ref in r.ranef.items():
        got = m.ranef[g].loc[ref.index]
        tol = 1e-5 * max(1.0, np.abs(ref.to_numpy()).max())
        np.testing.assert_allclose(got, ref, rtol=0, atol=tol)
        np.testing.assert_allclose(m.ranef.condsd[g].loc[ref.index], r.ranef.condsd[g], rtol=1e-5)


def assert_same_path(m, r) -> None:
    """A small fit (the dense path) starts where lmer starts — the starts from the blocks
    (:mod:`mixedmodels.start_blocks`) are lmer's to rounding — and takes its steps: the
    same evaluations, θ̂, β̂, σ̂ and the criterion to rounding."""
    assert m.optinfo["feval"] == r.optinfo["feval"]
    th = r.theta.to_numpy()
    np.testing.assert_allclose(m.theta, th, rtol=0, atol=1e-10 * max(1.0, np.abs(th).max()))
    np.testing.assert_allclose(m.fixef, r.fixef, rtol=1e-11)
    assert m.sigma == pytest.approx(r.sigma, rel=1e-11)
    assert m.reml_criterion == pytest.approx(r.reml_criterion, rel=1e-13)


@pytest.mark.parametrize("name,formula", CASES)
def test_duckdb_matches_lmer(tmp_path, name: str, formula: str) -> None:
    d, path = _parquet(tmp_path, name)
    r = mm.lmer(formula, d)
    cp, design, src = scale.crossprod_duckdb(formula, path)
    assert_same_crossprod(cp, r.cp)
    m = scale.SufficientStatsLMM(design, cp, src)
    th = r.theta.to_numpy()
    assert m.objective(th) == pytest.approx(r.objective(th), rel=1e-10)
    m.fit()
    assert_same_fit(m, r)
    assert_same_path(m, r)
    np.testing.assert_allclose(m.fitted, r.fitted, rtol=1e-6)
    np.testing.assert_allclose(m.resid("scaled"), r.resid("scaled"), atol=1e-5)
    s, sr = m.summary(), r.summary()
    np.testing.assert_allclose(s.residual_quantiles, sr.residual_quantiles, atol=2e-4)
    pd.testing.assert_frame_equal(
        s.coefficients, sr.coefficients, check_exact=False, rtol=1e-4, atol=1e-8
    )
    assert "Scaled residuals" in str(s)


def test_engine_on_in_memory_crossprod_is_lmer(tmp_path) -> None:
    """The model class itself adds nothing: on lmer's own A, from the same start (lme4's:
    the starts from the blocks are lmer's to rounding, not to the bit), it reproduces lmer."""
    d, path = _parquet(tmp_path, "sleepstudy")
    f = "Reaction ~ Days + (Days | Subject)"
    control = mm.OptimizerControl(start="lme4")
    r = mm.lmer(f, d, control=control)
    _, design, src = scale.crossprod_duckdb(f, path)
    m = scale.SufficientStatsLMM(design, r.cp, src, control=control).fit()
    assert m.reml_criterion == r.reml_criterion
    np.testing.assert_array_equal(m.theta, r.theta)
    np.testing.assert_array_equal(m.fixef, r.fixef)
    np.testing.assert_array_equal(m.vcov, r.vcov)


@pytest.mark.parametrize(
    "formula,weights,REML",
    [
        ("y ~ x * trt + (1 | g) + (1 | h)", None, True),
        ("y ~ x + trt + (x | h) + (1 | g)", "w", False),
        ("y ~ x + (1 | g) + (1 | k)", "w", True),  # ≥ 200 rest rows: moment start
    ],
)
def test_synthetic_100k(synthetic_path, formula: str, weights: str | None, REML: bool) -> None:
    df, path = synthetic_path
    r = mm.lmer(formula, df, weights=weights, REML=REML)
    cp, design, src = scale.crossprod_duckdb(formula, path, weights=weights)
    assert_same_crossprod(cp, r.cp)
    assert design.n_omitted == 50 == r.design.n_omitted
    m = scale.lmer_duckdb(formula, path, weights=weights, REML=REML)
    assert_same_fit(m, r)
    assert m.deviance == pytest.approx(r.deviance, rel=1e-9)
    np.testing.assert_allclose(
        m.summary(ddf=None).residual_quantiles, r.summary(ddf=None).residual_quantiles, atol=2e-4
    )
    assert "Number of obs: " + str(m.nobs) in str(m.summary(ddf=None))
    new = df.head(20).dropna()
    np.testing.assert_allclose(m.predict(new), r.predict(new), rtol=1e-5)


def test_table_relation_and_expressions() -> None:
    """A DuckDB table and a relation as sources; I(x^2), log() and a factor() column."""
    con = duckdb.connect()
    df = synthetic(5000, seed=3)
    df["pos"] = np.exp(np.random.default_rng(7).normal(size=len(df)))
    con.register("df_view", df)
    con.execute("CREATE TABLE t AS SELECT * FROM df_view")
    f = "y ~ x + I(x^2) + log(pos) + (1 | h)"
    r = mm.lmer(f, df)
    m = scale.lmer_duckdb(f, "t", con=con)
    assert_same_fit(m, r)
    m2 = scale.lmer_duckdb(f, con.table("t"), con=con)
    assert m2.reml_criterion == pytest.approx(r.reml_criterion, rel=1e-9)
    df2 = df.assign(gg=df["g"] % 7)
    con.register("df2", df2)
    f2 = "y ~ x + factor(gg) + (1 | h)"
    r2 = mm.lmer(f2, df2)
    m3 = scale.lmer_duckdb(f2, "df2", con=con)
    assert list(m3.fixef.index) == list(r2.fixef.index)
    assert_same_fit(m3, r2)


def test_rank_deficient_column_dropped() -> None:
    con = duckdb.connect()
    df = synthetic(3000, seed=5).dropna()
    df["x2"] = 2.0 * df["x"]
    con.register("d", df)
    f = "y ~ x + x2 + trt + (1 | h)"
    with pytest.warns(RankDeficiencyWarning):
        r = mm.lmer(f, df)
    with pytest.warns(RankDeficiencyWarning, match="x2"):
        m = scale.lmer_duckdb(f, "d", con=con)
    assert m.design.dropped_columns == ["x2"]
    assert_same_fit(m, r)
    np.testing.assert_allclose(m.fitted, r.fitted, rtol=1e-6)


def test_rows_needed_raise_clearly(tmp_path) -> None:
    _, path = _parquet(tmp_path, "sleepstudy")
    m = scale.lmer_duckdb("Reaction ~ Days + (Days | Subject)", path)
    with pytest.raises(scale.RowsNotAvailableError, match="Kenward-Roger"):
        m.summary(ddf="Kenward-Roger")
    with pytest.raises(scale.RowsNotAvailableError, match="rows"):
        m.refit(y=np.zeros(180))
    with pytest.raises(scale.RowsNotAvailableError):
        _ = m.design.X
    ml = m.refit(REML=False)
    assert ml.reml_criterion == pytest.approx(
        mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"),
                REML=False).reml_criterion, rel=1e-9)
    with pytest.raises(FormulaError, match="SQL"):
        scale.lmer_duckdb("Reaction ~ scale(Days) + (1 | Subject)", path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.tidy()


@pytest.mark.parametrize("name,formula", CASES)
def test_dask_matches_lmer(name: str, formula: str) -> None:
    dd = pytest.importorskip("dask.dataframe")
    d = mm.datasets.load(name)
    r = mm.lmer(formula, d)
    cp, design, src = scale.crossprod_dask(formula, dd.from_pandas(d, npartitions=3))
    assert_same_crossprod(cp, r.cp)
    m = scale.SufficientStatsLMM(design, cp, src).fit()
    assert_same_fit(m, r)
    np.testing.assert_allclose(m.fitted, r.fitted, rtol=1e-6)
    np.testing.assert_allclose(
        m.summary().residual_quantiles, r.summary().residual_quantiles, atol=2e-4
    )


@pytest.mark.parametrize(
    "formula,weights",
    [("y ~ x * trt + (1 | g) + (1 | h)", None), ("y ~ x + (1 | g) + (1 | k)", "w")],
)
def test_dask_synthetic_100k(synthetic_path, formula: str, weights: str | None) -> None:
    dd = pytest.importorskip("dask.dataframe")
    df, path = synthetic_path
    r = mm.lmer(formula, df, weights=weights)
    m = scale.lmer_dask(formula, dd.read_parquet(path), weights=weights)
    assert m.design.n_omitted == 50
    assert_same_fit(m, r)
    assert_same_crossprod(m.cp, r.cp)


def test_duckdb_string_levels_in_r_order(tmp_path) -> None:
    """Mixed-case labels: DuckDB's binary ORDER BY is not R's order; the levels must be."""
    rng = np.random.default_rng(4)
    n = 400
    g = rng.integers(0, 20, n)
    labels = np.array([f"s{i}" if i % 3 else f"S{i}" for i in range(20)])
    trt = np.array(["ctl", "Trt", "b_dose"])[rng.integers(0, 3, n)]
    y = rng.normal(size=n) + rng.normal(size=20)[g] + (trt == "Trt")
    d = pd.DataFrame({"y": y, "trt": trt, "g": labels[g]})
    path = tmp_path / "mixed_case.parquet"
    d.to_parquet(path)
    formula = "y ~ trt + (1 | g)"
    r = mm.lmer(formula, d)
    m = scale.lmer_duckdb(formula, str(path))
    assert list(m.fixef.index) == list(r.fixef.index) == ["(Intercept)", "trtctl", "trtTrt"]
    assert list(m.ranef["g"].index) == list(r.ranef["g"].index)
    np.testing.assert_allclose(m.fixef, r.fixef, rtol=1e-6)


# --------------------------------------------------------------- bad sources, NaN, inf

SLEEP = "Reaction ~ Days + (Days | Subject)"


def test_duckdb_directory_reads_its_parquet_files(tmp_path) -> None:
    d = mm.datasets.load("sleepstudy")
    folder = tmp_path / "parts"
    (folder / "sub").mkdir(parents=True)
    d.iloc[:100].to_parquet(folder / "a.parquet")
    d.iloc[100:].to_parquet(folder / "sub" / "b.parquet")
    r = mm.lmer(SLEEP, d)
    for source in (str(folder), str(folder) + "/", folder):
        m = scale.lmer_duckdb(SLEEP, source)
        assert m.nobs == 180
        assert m.reml_criterion == pytest.approx(r.reml_criterion, rel=1e-9)


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ("{tmp}/empty", "directory '.*empty' holds no .parquet or .csv files"),
        ("{tmp}/missing.parquet", "data file '.*missing.parquet' does not exist"),
        ("{tmp}/empty/*.parquet", "no files match '.*empty/\\*.parquet'"),
        ("no_such_table", "'no_such_table' is neither a data file nor a table"),
        ("{tmp}/bad.parquet", "cannot read '.*bad.parquet'"),
        ("{tmp}/m[13].parquet", "cannot read .*could not be found in file"),
        ("{tmp}/m[12].parquet", "cannot read .*column .y. is numeric in .*m1.parquet. but text"),
    ],
)
def test_duckdb_bad_sources_name_the_path(tmp_path, source: str, match: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.parquet").write_bytes(b"not a parquet file")
    pd.DataFrame({"y": [1.0, 2.0], "g": ["a", "b"]}).to_parquet(tmp_path / "m1.parquet")
    pd.DataFrame({"y": ["x", "z"], "g": ["a", "b"]}).to_parquet(tmp_path / "m2.parquet")
    pd.DataFrame({"g": ["a", "b"]}).to_parquet(tmp_path / "m3.parquet")
    with pytest.raises(mm.errors.DataError, match=match):
        scale.lmer_duckdb("y ~ 1 + (1 | g)", source.format(tmp=tmp_path))


def _sleep_with_nan() -> pd.DataFrame:
    d = mm.datasets.load("sleepstudy")
    d.loc[3, "Reaction"] = np.nan
    d.loc[5, "Days"] = np.nan
    return d


def test_ieee_nan_in_parquet_is_missing(tmp_path) -> None:
    """NaN stored as a float (not a Parquet NULL) is NA, as pandas and R read it."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    d = _sleep_with_nan()
    table = pa.table(
        {
            "Reaction": pa.array(d["Reaction"].to_numpy(), from_pandas=False),
            "Days": pa.array(d["Days"].to_numpy(), from_pandas=False),
            "Subject": pa.array(d["Subject"].astype(str).to_numpy()),
        }
    )
    assert table.column("Reaction").null_count == 0  # true NaN values
    path = tmp_path / "nan.parquet"
    pq.write_table(table, path)
    r = mm.lmer(SLEEP, d)
    assert r.nobs == 178
    m = scale.lmer_duckdb(SLEEP, str(path))
    assert m.nobs == 178 and m.design.n_omitted == 2
    assert_same_fit(m, r)
    dd = pytest.importorskip("dask.dataframe")
    assert_same_fit(scale.lmer_dask(SLEEP, dd.read_parquet(path)), r)


@pytest.mark.parametrize(
    ("column", "formula", "match"),
    [
        ("Reaction", SLEEP, "the response 'Reaction' has 1 infinite values"),
        ("Days", SLEEP, "column 'Days' of the fixed effects has 1 infinite value "),
        (
            "Days",
            "Reaction ~ 1 + (Days | Subject)",
            r"column 'Days' of the random-effect term \(Days \| Subject\) has 1 infinite",
        ),
    ],
)
def test_infinite_values_name_the_column(tmp_path, column: str, formula: str, match: str) -> None:
    dd = pytest.importorskip("dask.dataframe")
    d = mm.datasets.load("sleepstudy")
    d.loc[3, column] = np.inf
    path = tmp_path / "inf.parquet"
    d.to_parquet(path)
    with pytest.raises(mm.errors.DataError, match=match):
        scale.lmer_duckdb(formula, str(path))
    with pytest.raises(mm.errors.DataError, match=match):
        scale.lmer_dask(formula, dd.read_parquet(path))
    with pytest.raises(mm.errors.DataError, match=match):  # as the in-memory fit says it
        mm.lmer(formula, d)


def test_infinite_expression_and_overflow(tmp_path) -> None:
    d = mm.datasets.load("sleepstudy")
    path = tmp_path / "sleep.parquet"
    d.to_parquet(path)
    formula = "Reaction ~ log(Days) + (1 | Subject)"
    match = r"column 'log\(Days\)' of the fixed effects has 18 infinite values \(of 180 rows\)"
    with pytest.raises(mm.errors.DataError, match=match):
        scale.lmer_duckdb(formula, str(path))
    with pytest.raises(mm.errors.DataError, match=match):
        mm.lmer(formula, d)
    # the response and X are shifted and scaled before the sums: y·1e200 fits
    big = d.assign(Reaction=d["Reaction"] * 1e200)
    big.to_parquet(path)
    m = scale.lmer_duckdb(SLEEP, str(path))
    assert m.sigma / 1e200 == pytest.approx(mm.lmer(SLEEP, d).sigma, rel=1e-6)
    # Z is never rescaled (that would change the model): its squares can overflow
    d["Days"] *= 1e200
    d.to_parquet(path)
    match = r"overflow: column 'Days' of the random-effect term \(Days \| Subject\)"
    with pytest.raises(mm.errors.DataError, match=match):
        scale.lmer_duckdb(SLEEP, str(path))


def test_dask_accepts_a_pandas_frame() -> None:
    d = mm.datasets.load("sleepstudy")
    m, r = scale.lmer_dask(SLEEP, d), mm.lmer(SLEEP, d)
    assert_same_fit(m, r)
    assert_same_path(m, r)
    with pytest.raises(mm.errors.DataError, match="needs a Dask DataFrame"):
        scale.lmer_dask(SLEEP, d.to_dict())


class _RecordingConnection:
    """A DuckDB connection that records the SQL it runs."""

    def __init__(self) -> None:
        self.con = duckdb.connect()
        self.queries: list[str] = []

    def execute(self, sql: str, *args: object) -> object:
        self.queries.append(sql)
        return self.con.execute(sql, *args)

    def sql(self, sql: str) -> object:
        self.queries.append(sql)
        return self.con.sql(sql)

    def __getattr__(self, name: str) -> object:
        return getattr(self.con, name)


@pytest.mark.parametrize(
    ("formula", "scans"),
    [
        ("y ~ x + (x | g)", 1),  # levels, n, Z'Z, [X y]'Z and [X y]'[X y]: one scan
        ("y ~ x * trt + (1 | g) + (1 | h)", 4),  # levels of trt, one per factor, the pair
        ("y ~ x + (x | g) + (1 | h) + (1 | trt)", 6),  # one per factor and per pair
    ],
)
def test_duckdb_scans_once_per_grouping_factor_and_pair(
    synthetic_path, formula: str, scans: int
) -> None:
    df, path = synthetic_path
    con = _RecordingConnection()
    cp, design, _ = scale.crossprod_duckdb(formula, path, con=con)
    grouped = [s for s in con.queries if "GROUP BY" in s and "_base" in s]
    assert len(grouped) == scans, grouped
    assert_same_crossprod(cp, mm.lmer(formula, df).cp)


def test_duckdb_all_missing_column_is_named(tmp_path) -> None:
    d = mm.datasets.load("sleepstudy")
    d["Days"] = np.nan
    path = tmp_path / "na.parquet"
    d.to_parquet(path)
    with pytest.raises(mm.errors.DataError, match="'Days' is missing .* in every row"):
        scale.lmer_duckdb(SLEEP, str(path))
    d.iloc[:0].to_parquet(path)
    with pytest.raises(mm.errors.DataError, match="has no rows"):
        scale.lmer_duckdb(SLEEP, str(path))


@pytest.mark.parametrize("REML", [True, False])
@pytest.mark.parametrize("formula", [SLEEP, "Reaction ~ Days + (0 + Days | Subject)"])
def test_weighted_small_fits_take_lmers_path(tmp_path, formula: str, REML: bool) -> None:
    """With weights (or a term without intercept) the level counts and Σw of the starts
    come from the source's moment sums; the fits then follow lmer's path too."""
    dd = pytest.importorskip("dask.dataframe")
    d = mm.datasets.load("sleepstudy")
    d["w"] = np.random.default_rng(2).uniform(0.5, 2.0, len(d))
    path = tmp_path / "sleep_w.parquet"
    d.to_parquet(path)
    r = mm.lmer(formula, d, weights="w", REML=REML)
    assert_same_path(scale.lmer_duckdb(formula, str(path), weights="w", REML=REML), r)
    assert_same_path(scale.lmer_dask(formula, dd.read_parquet(path), weights="w", REML=REML), r)
