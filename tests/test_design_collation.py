"""String factor levels in R's order (ICU root collation), as R 4.2 with ICU prints them."""

from __future__ import annotations

import numpy as np
import pandas as pd

import mixedmodels as mm
from mixedmodels.design.collation import r_sorted
from mixedmodels.design.variables import to_categorical

# sort(c(...)) in R 4.2.2 (capabilities("ICU") TRUE, LC_COLLATE C.UTF-8)
R_ORDER = [
    "-1", "-10", "1.5", "10", "1a", "9", "a", "A", "a b", "a_b", "a-b", "ab", "aB",
    "Ab", "AB", "ab1", "Ab1", "b", "e", "E", "é", "f", "x_1", "x.1", "x1",
]  # fmt: skip
R_ASCII = " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789" + "".join(
    c + c.upper() for c in "abcdefghijklmnopqrstuvwxyz"
)


def test_r_sorted_matches_r() -> None:
    rng = np.random.default_rng(0)
    assert r_sorted(rng.permutation(R_ORDER).tolist()) == R_ORDER
    assert "".join(r_sorted(rng.permutation(list(R_ASCII)).tolist())) == R_ASCII


def test_factor_levels_and_codes_follow_r_order() -> None:
    values = ["b", "B", "a", None, "A", "b", "a_1", "a1"]
    c = to_categorical(pd.Series(values))
    assert c.levels == ["a", "A", "a_1", "a1", "b", "B"]
    assert [c.levels[i] if i >= 0 else None for i in c.codes] == values
    # lower-case only (or one case): the code-point order is R's order
    assert to_categorical(pd.Series(["b10", "b9", "a"])).levels == ["a", "b10", "b9"]


def test_mixed_case_baseline_is_r_baseline() -> None:
    """R's treatment baseline for levels {"Ctrl", "drug"} is "Ctrl"; for {"ctrl", "Drug"} "ctrl"."""
    rng = np.random.default_rng(2)
    n = 120
    g = rng.integers(0, 12, n)
    trt = np.array(["ctrl", "Drug"])[rng.integers(0, 2, n)]
    y = rng.normal(size=n) + (trt == "Drug") + rng.normal(size=12)[g]
    d = pd.DataFrame({"y": y, "trt": trt, "g": [f"G{i}" if i % 2 else f"g{i}" for i in g]})
    m = mm.lmer("y ~ trt + (1|g)", d)
    assert list(m.fixef.index) == ["(Intercept)", "trtDrug"]
    assert list(m.ranef["g"].index) == r_sorted(d["g"])
