"""BLAS thread policy: one thread unless the dense work is large, set once per fit."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import mixedmodels as mm
from mixedmodels.linalg import threads
from mixedmodels.linalg.threads import BIG_ORDER, blas_threads, threads_for


def _blas_counts() -> list[int]:
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_policy_by_size(monkeypatch):
    monkeypatch.delenv("MIXEDMODELS_BLAS_THREADS", raising=False)
    assert threads_for(10) == 1
    assert threads_for(BIG_ORDER) == 1
    assert threads_for(BIG_ORDER + 1) is None
    assert threads_for(100, flops=1e12) is None
    monkeypatch.setenv("MIXEDMODELS_BLAS_THREADS", "2")
    assert threads_for(10) == 2


def test_limit_applies_and_restores():
    before = _blas_counts()
    with blas_threads(1):
        assert all(n == 1 for n in _blas_counts())
        with blas_threads(1):  # already in force: nothing to do
            assert threads._current == 1
        assert all(n == 1 for n in _blas_counts())
    assert _blas_counts() == before
    assert threads._current is None
    assert threads.in_force(None) and not threads.in_force(1)
    with blas_threads(1):
        assert threads.in_force(1)
    with blas_threads(None):
        assert _blas_counts() == before


def test_fits_run_on_one_thread(monkeypatch):
    """A cbpp-sized GLMM and sleepstudy run single-threaded inside their fits."""
    monkeypatch.delenv("MIXEDMODELS_BLAS_THREADS", raising=False)
    seen: list[int | None] = []
    original = mm.glmm.pwls.PWLS._solve

    def spy(self, *args):
        seen.append(threads._current)
        return original(self, *args)

    monkeypatch.setattr(mm.glmm.pwls.PWLS, "_solve", spy)
    cbpp = mm.datasets.load("cbpp")
    m = mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
                 family="binomial")
    assert m.pirls.joint.blas_threads == 1
    assert seen and set(seen) == {1}
    sleep = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    assert sleep.factor.blas_threads == 1
    assert threads._current is None
    assert np.isfinite(sleep.reml_criterion)


def test_lmm_results_at_the_optimum_on_one_thread(monkeypatch):
    """β̂, R_X⁻¹ and the fitted values of a small LMM (fit and refit) are computed under
    the fit's thread limit: busy-waiting BLAS threads make even 2×2 solves slow."""
    monkeypatch.delenv("MIXEDMODELS_BLAS_THREADS", raising=False)
    seen: list[int | None] = []
    original = mm.lmm.LinearMixedModel._finalize

    def spy(self, theta, dense=None):
        seen.append(threads._current)
        return original(self, theta, dense)

    monkeypatch.setattr(mm.lmm.LinearMixedModel, "_finalize", spy)
    m = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    r = m.refit(m.y * 1.01)
    assert seen == [1, 1]
    assert threads._current is None
    in_limit: list[int | None] = []
    rx_inverse = mm.linalg.BlockedCholesky.rx_inverse

    def spy_rx(self):
        in_limit.append(threads._current)
        return rx_inverse(self)

    monkeypatch.setattr(mm.linalg.BlockedCholesky, "rx_inverse", spy_rx)
    assert np.all(np.isfinite(r.vcov.to_numpy()))  # computed on first read
    assert in_limit == [1]
    assert threads._current is None


@pytest.mark.parametrize("order", [50, 5000])
def test_pwls_policy_matches_size(order):
    assert threads_for(order) == (1 if order <= BIG_ORDER else None)
