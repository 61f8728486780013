"""Factor metadata out of memory: the same file gives the same model in memory, in DuckDB
and in Dask (level order and ordered factors, mixedmodels.scale.factors)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import DataError

duckdb = pytest.importorskip("duckdb")
scale = pytest.importorskip("mixedmodels.scale")
from mixedmodels.scale.factors import FactorMetadataWarning  # noqa: E402

CAKE = "angle ~ recipe * temperature + (1 | recipe:replicate)"
REFERENCE = Path("/work/shared/reference/cake/case.json")
TEMPERATURES = [175, 185, 195, 205, 215, 225]


@pytest.fixture(scope="module")
def cake_parquet(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, str]:
    """cake written by pandas: temperature an ordered categorical, replicate '1'..'15'."""
    d = mm.datasets.load("cake")
    assert d["temperature"].cat.ordered and not d["recipe"].cat.ordered
    path = tmp_path_factory.mktemp("cake") / "cake.parquet"
    d.to_parquet(path)
    return d, str(path)


def _same_model(m, r) -> None:
    assert m.reml_criterion == pytest.approx(r.reml_criterion, rel=1e-9)
    assert list(m.fixef.index) == list(r.fixef.index)
    np.testing.assert_allclose(m.fixef, r.fixef, rtol=1e-6, atol=1e-8)
    for g, ref in r.ranef.items():
        assert list(m.ranef[g].index) == list(ref.index)


def test_cake_same_model_in_memory_duckdb_dask(cake_parquet) -> None:
    dd = pytest.importorskip("dask.dataframe")
    d, path = cake_parquet
    r = mm.lmer(CAKE, pd.read_parquet(path))
    # lme4 1.1-31: REML criterion 1638.621 with contr.poly for the ordered temperature
    assert r.reml_criterion == pytest.approx(1638.62145988002, rel=1e-9)
    assert "temperature.L" in r.fixef.index and "temperature^5" in r.fixef.index
    if REFERENCE.exists():
        ref = json.loads(REFERENCE.read_text())
        assert list(r.fixef.index) == list(ref["fixef"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", FactorMetadataWarning)
        fits = {
            "duckdb": scale.lmer_duckdb(CAKE, path),
            "duckdb, pandas frame": scale.lmer_duckdb(CAKE, d),
            "dask, read_parquet": scale.lmer_dask(CAKE, dd.read_parquet(path)),
            "dask, from_pandas": scale.lmer_dask(CAKE, dd.from_pandas(d, npartitions=3)),
            "dask, pandas frame": scale.lmer_dask(CAKE, d),
        }
    for m in fits.values():
        _same_model(m, r)


def test_explicit_ordered_and_levels_on_csv(tmp_path, cake_parquet) -> None:
    d, _ = cake_parquet
    path = tmp_path / "cake.csv"
    d.to_csv(path, index=False)  # a CSV file carries no factor metadata
    r = mm.lmer(CAKE, d)
    m = scale.lmer_duckdb(CAKE, str(path), ordered={"temperature": TEMPERATURES})
    assert m.reml_criterion == pytest.approx(r.reml_criterion, rel=1e-9)
    assert list(m.fixef.index) == list(r.fixef.index)
    # plain CSV: numeric temperature, so ordered= also makes it a factor
    unordered = scale.lmer_duckdb(CAKE, str(path), levels={"temperature": TEMPERATURES[::-1]})
    rev = d.assign(
        temperature=d["temperature"].cat.reorder_categories([str(t) for t in TEMPERATURES[::-1]])
        .cat.as_unordered()
    )
    _same_model(unordered, mm.lmer(CAKE, rev))
    assert list(unordered.fixef.index)[3] == "temperature215"


def test_dask_explicit_ordered() -> None:
    d = mm.datasets.load("cake")
    plain = d.assign(temperature=d["temperature"].astype(int))
    r = mm.lmer(CAKE, d)
    m = scale.lmer_dask(CAKE, plain, ordered={"temperature": TEMPERATURES})
    _same_model(m, r)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ordered": {"temperature": TEMPERATURES[:-1]}}, "'225'"),
        ({"ordered": {"temperature": TEMPERATURES}, "levels": {"temperature": TEMPERATURES}},
         "both"),
        ({"levels": {"temp": TEMPERATURES}}, "'temp'"),
        ({"levels": {"temperature": "175"}}, "list of levels"),
        ({"levels": ["temperature"]}, "map column names"),
    ],
)
def test_explicit_metadata_errors(cake_parquet, kwargs: dict, match: str) -> None:
    _, path = cake_parquet
    with pytest.raises(DataError, match=match):
        scale.lmer_duckdb(CAKE, path, **kwargs)
    with pytest.raises(DataError, match=match):
        scale.lmer_dask(CAKE, pd.read_parquet(path), **kwargs)


def test_duckdb_enum_says_ordered_is_unknown(cake_parquet) -> None:
    d, _ = cake_parquet
    con = duckdb.connect()
    rel = con.from_df(d)  # categoricals become ENUMs: order kept, ordered flag lost
    with pytest.warns(FactorMetadataWarning, match="'temperature'.*ordered="):
        m = scale.lmer_duckdb(CAKE, rel, con=con)
    assert "temperature185" in m.fixef.index  # unordered, in the ENUM's order
    with warnings.catch_warnings():
        warnings.simplefilter("error", FactorMetadataWarning)
        given = {"ordered": {"temperature": TEMPERATURES}, "levels": {"recipe": list("ABC")}}
        m = scale.lmer_duckdb(CAKE, rel, con=con, **given)
    _same_model(m, mm.lmer(CAKE, d))


def test_parquet_files_that_disagree_say_so(tmp_path) -> None:
    rng = np.random.default_rng(2)
    n = 200
    levels = ["lo", "mid", "hi"]
    frames = []
    for ordered in (True, False):
        x = pd.Categorical(rng.choice(levels, n), categories=levels, ordered=ordered)
        frames.append(pd.DataFrame({"y": rng.normal(size=n), "x": x, "g": rng.integers(0, 10, n)}))
    frames[0].to_parquet(tmp_path / "a.parquet")
    frames[1].to_parquet(tmp_path / "b.parquet")
    with pytest.warns(FactorMetadataWarning, match="disagree on the ordered flag of .*'x'"):
        m = scale.lmer_duckdb("y ~ x + (1 | g)", str(tmp_path))
    assert list(m.fixef.index) == ["(Intercept)", "xlo", "xmid"]  # R's order, unordered
    # the same dictionary in every file: its order and flag are used
    frames[0].to_parquet(tmp_path / "b.parquet")
    r = mm.lmer("y ~ x + (1 | g)", pd.concat([frames[0], frames[0]], ignore_index=True))
    m = scale.lmer_duckdb("y ~ x + (1 | g)", str(tmp_path / "*.parquet"))
    assert list(m.fixef.index) == list(r.fixef.index) == ["(Intercept)", "x.L", "x.Q"]


def test_values_that_print_alike_are_one_level(tmp_path) -> None:
    """As R's factor (and lmer in memory): 1 and 1 + 2⁻⁵² are one level '1'."""
    rng = np.random.default_rng(3)
    g = np.where(rng.integers(0, 2, 60) == 1, 1.0, 1.0 + 2.0**-52)
    g[:20] = 2.0
    d = pd.DataFrame({"y": rng.normal(size=60), "g": g})
    path = tmp_path / "alike.parquet"
    d.to_parquet(path)
    r = mm.lmer("y ~ 1 + (1 | g)", d)
    for m in (scale.lmer_duckdb("y ~ 1 + (1 | g)", str(path)),
              scale.lmer_dask("y ~ 1 + (1 | g)", d)):
        assert list(m.ranef["g"].index) == list(r.ranef["g"].index) == ["1", "2"]
        assert m.reml_criterion == pytest.approx(r.reml_criterion, rel=1e-9)
