"""The response of a linear mixed model (design.response)."""

from __future__ import annotations

import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.design import build_design, numeric_response
from mixedmodels.errors import DataError


@pytest.fixture
def sleep() -> pd.DataFrame:
    return mm.datasets.load("sleepstudy")


def test_constant_response_is_a_data_error(sleep: pd.DataFrame) -> None:
    for y in (3.0, 0.0):
        with pytest.raises(DataError, match=rf"response 'c' is constant .* is {y:g}"):
            mm.lmer("c ~ Days + (Days | Subject)", sleep.assign(c=y))



def test_response_reproduced_by_the_fixed_effects(sleep: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="reproduce the response 'Reaction' exactly"):
        mm.lmer("Reaction ~ I(2 * Reaction - 1) + (1 | Subject)", sleep)


def test_a_factor_response_is_refused_with_what_to_do(sleep: pd.DataFrame) -> None:
    d = build_design("r ~ Days + (1 | Subject)", sleep.assign(r=sleep["Reaction"].astype(str)))
    with pytest.raises(DataError, match=r"numbers stored as text: convert .*pd.to_numeric"):
        numeric_response(d)
    d = build_design("r ~ Days + (1 | Subject)", sleep.assign(r=sleep["Days"] > 4))
    with pytest.raises(DataError, match="family='binomial'"):
        numeric_response(d)
