"""design/frame.py: building the design from a formula and a frame."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

import mixedmodels as mm
from mixedmodels.design.frame import _without_response
from mixedmodels.design.model_matrix import TermSpec


def test_response_warning_only_when_the_response_is_on_the_right() -> None:
    # two equal but distinct specs: the cached removal must not mistake one for the other
    first = TermSpec(True, (("x",),))
    second = TermSpec(True, (("x",),))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _without_response(first, "y") is first
        assert _without_response(second, "y") is second
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kept = _without_response(TermSpec(True, (("x",), ("y",))), "y")
    assert kept.terms == (("x",),)
    assert any("appeared on the right-hand side" in str(w.message) for w in caught)


def test_refitting_a_formula_warns_about_nothing() -> None:
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(6), 10)
    x = rng.normal(size=60)
    y = x + 2.0 * rng.normal(size=6)[g] + rng.normal(size=60)
    d = pd.DataFrame({"y": y, "x": x, "g": np.array(list("abcdef"))[g]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(2):
            mm.lmer("y ~ x + (1 | g)", d.copy())
