"""lmer's starts from the cross-product blocks equal the starts from the rows."""

from __future__ import annotations

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.linalg.dense import DenseCriterion
from mixedmodels.start import MomentStart
from mixedmodels.start_anova import anova_start
from mixedmodels.start_blocks import BlockMomentStart, block_anova_start


def _sleep_weighted():
    d = mm.datasets.load("sleepstudy")
    d["w"] = np.random.default_rng(0).uniform(0.5, 2.0, len(d))
    return d


MOMENT_CASES = [
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)", None),
    ("sleepstudy", "Reaction ~ Days + (Days || Subject)", None),
    ("sleepstudy", "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", None),
    ("sleepstudy", "Reaction ~ 0 + Days + (0 + Days | Subject)", None),
    ("weighted", "Reaction ~ Days + (Days | Subject)", "w"),
    ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", None),
    ("Pastes", "strength ~ 1 + (1 | batch) + (1 | cask:batch)", None),
    ("ergoStool", "effort ~ Type + (1 | Subject)", None),
    ("Machines", "score ~ Machine + (Machine | Worker)", None),
]


def _data(name: str):
    return _sleep_weighted() if name == "weighted" else mm.datasets.load(name)


def _blocks(m):
    """The dense A of the fit, the row count of every level and Σw."""
    d = m.design
    A = DenseCriterion(m.cp, [t.tri_index for t in d.terms], False).A
    counts = [np.bincount(t.factor.codes, minlength=t.nl) for t in d.terms]
    return A, counts, float(d.weights.sum())


@pytest.mark.parametrize("name,formula,weights", MOMENT_CASES)
def test_block_moment_start_equals_rows(name, formula, weights):
    m = mm.lmer(formula, _data(name), weights=weights)
    d = m.design
    A, counts, sum_w = _blocks(m)
    rows = MomentStart(d)
    blocks = BlockMomentStart(A, d.terms, m.cp.p, d.n, counts, sum_w)
    assert blocks.rank_within == rows.rank_within
    assert blocks.dof == rows.dof
    for reml in (True, False):
        want = rows(m.y - d.offset, reml)
        np.testing.assert_allclose(blocks(None, reml), want, rtol=1e-10, atol=1e-12)


def test_block_moment_start_levels_without_spare_rows():
    # levels with as many rows as effects are left out of the pass, as from rows
    d = mm.datasets.load("sleepstudy")
    d = d[~((d["Subject"].astype(str).isin(["308", "309"])) & (d["Days"] > 1))]
    m = mm.lmer("Reaction ~ Days + (Days | Subject)", d)
    A, counts, sum_w = _blocks(m)
    assert min(c.min() for c in counts) == 2
    rows = MomentStart(m.design)
    blocks = BlockMomentStart(A, m.design.terms, m.cp.p, m.design.n, counts, sum_w)
    assert blocks.dof == rows.dof
    np.testing.assert_allclose(blocks(None, True), rows(m.y, True), rtol=1e-10)


@pytest.mark.parametrize("name,formula", [
    ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)"),
    ("Pastes", "strength ~ 1 + (1 | batch) + (1 | cask:batch)"),
    ("Dyestuff", "Yield ~ 1 + (1 | Batch)"),
])
def test_block_anova_start_equals_rows(name, formula):
    m = mm.lmer(formula, mm.datasets.load(name))
    A, counts, _ = _blocks(m)
    rows = anova_start(m.design)
    blocks = block_anova_start(A, m.design.terms, m.design.x_names, m.design.n, counts, False)
    assert rows is not None and blocks is not None
    assert blocks.coarser == rows.coarser
    for reml in (True, False):
        np.testing.assert_allclose(blocks(None, reml), rows(m.y, reml), rtol=1e-10)


def test_block_anova_start_refuses_unbalanced_and_weighted():
    d = mm.datasets.load("Penicillin").iloc[1:]
    m = mm.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", d)
    A, counts, _ = _blocks(m)
    assert anova_start(m.design) is None
    assert block_anova_start(A, m.design.terms, m.design.x_names, m.design.n, counts,
                             False) is None
    m = mm.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", mm.datasets.load("Penicillin"))
    A, counts, _ = _blocks(m)
    assert block_anova_start(A, m.design.terms, m.design.x_names, m.design.n, counts,
                             True) is None
    m = mm.lmer("Reaction ~ Days + (1 | Subject)", mm.datasets.load("sleepstudy"))
    A, counts, _ = _blocks(m)
    assert block_anova_start(A, m.design.terms, m.design.x_names, m.design.n, counts,
                             False) is None
