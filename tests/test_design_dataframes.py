"""The data argument as pandas (design.dataframes): polars, Arrow, dicts, names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import mixedmodels as mm
from mixedmodels.design import as_pandas, build_design
from mixedmodels.errors import DataError


@pytest.fixture
def sleep() -> pd.DataFrame:
    return mm.datasets.load("sleepstudy")


def test_polars_and_string_groups(sleep: pd.DataFrame) -> None:
    m_pd = mm.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    d = sleep.assign(Subject=sleep["Subject"].astype(str))
    m_pl = mm.lmer("Reaction ~ Days + (1 | Subject)", pl.from_pandas(d))
    assert m_pl.reml_criterion == pytest.approx(m_pd.reml_criterion, rel=1e-10)
    m_num = mm.lmer("Reaction ~ Days + (1 | Subject)", d.assign(Subject=d["Subject"].astype(int)))
    assert m_num.reml_criterion == pytest.approx(m_pd.reml_criterion, rel=1e-10)



def test_polars_decimal_list_and_struct_columns() -> None:
    sleep = mm.datasets.load("sleepstudy")
    frame = pl.from_pandas(sleep).with_columns(
        dec=pl.col("Days").cast(pl.Decimal(10, 2)),
        lst=pl.concat_list("Days", "Days"),
        rec=pl.struct("Days"),
    )
    ref = mm.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    fit = mm.lmer("Reaction ~ dec + (1 | Subject)", frame)
    assert fit.reml_criterion == pytest.approx(ref.reml_criterion, rel=1e-12)
    with pytest.raises(DataError, match=r"column 'lst' holds polars List"):
        mm.lmer("Reaction ~ lst + (1 | Subject)", frame)
    with pytest.raises(DataError, match=r"column 'rec' holds polars Struct"):
        mm.lmer("Reaction ~ Days + (1 | rec)", frame)
    arrow = pa.table({"y": [1.0, 2.0, 3.0, 4.0], "l": [[1], [2], [3], [4]]})
    with pytest.raises(DataError, match="column 'l' holds"):
        build_design("y ~ l + (1 | l)", arrow)



def test_duplicated_column_names_are_named() -> None:
    d = pd.DataFrame(np.ones((4, 3)), columns=["y", "x", "x"])
    with pytest.raises(DataError, match="duplicated column names: 'x'"):
        build_design("y ~ x + (1 | x)", d)


def test_as_pandas_keeps_a_pandas_frame_and_refuses_other_types() -> None:
    d = pd.DataFrame({"y": [1.0, 2.0]})
    assert as_pandas(d) is d
    assert list(as_pandas({"y": [1.0, 2.0], "g": ["a", "b"]}).columns) == ["y", "g"]
    with pytest.raises(DataError, match="must be a pandas or polars DataFrame"):
        as_pandas([1.0, 2.0])
