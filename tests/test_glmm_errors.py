"""glmer on bad input: a MixedModelsError that says what happened, never a LAPACK message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import DataError, FamilyError, MixedModelsError, PirlsError
from mixedmodels.family import make_family, make_link


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 200
    x = rng.standard_normal(n)
    return pd.DataFrame({
        "x": x,
        "g": np.repeat(np.arange(20), 10).astype(str),
        "ysep": (x > 0).astype(float),
        "cnt": rng.poisson(2, n).astype(float),
        "z": rng.integers(0, 3, n).astype(float),
        "yneg": rng.standard_normal(n),
        "yb": (rng.random(n) < 0.3).astype(float),
    })


def test_complete_separation_is_named(frame):
    # lme4 1.1-31 fails on these data too ("pwrssUpdate did not converge in (maxit) iterations")
    with pytest.raises(PirlsError, match="separate the outcomes.*200 of 200 rows") as info:
        mm.glmer("ysep ~ x + (1|g)", frame, family="binomial")
    assert isinstance(info.value, MixedModelsError)


def test_infinite_offset(frame, capfd):
    with pytest.raises(DataError, match=r"offset has \d+ infinite value"):
        mm.glmer("cnt ~ x + offset(log(z)) + (1|g)", frame, family="poisson")
    assert "DLASCL" not in capfd.readouterr().err


def test_gaussian_log_needs_positive_response(frame, capfd):
    with pytest.raises(DataError, match="cannot find valid starting values.*log link"):
        mm.glmer("yneg ~ x + (1|g)", frame, family="gaussian", link="log")
    assert "DLASCL" not in capfd.readouterr().err


def test_binomial_log_link_fits(frame, capfd):
    m = mm.glmer("yb ~ x + (1|g)", frame, family="binomial", link="log")
    assert np.isfinite(m.loglik)
    assert np.all(m.fitted < 1)
    assert "DLASCL" not in capfd.readouterr().err


def test_unknown_family_and_link():
    with pytest.raises(FamilyError, match="family must be one of 'binomial'"):
        make_family("binomil")
    with pytest.raises(FamilyError, match="'logit', 'probit'"):
        make_family("binomial", "logt")
    with pytest.raises(FamilyError, match="link must be one of"):
        make_link("nope")
    with pytest.raises(MixedModelsError):
        make_family(3)
