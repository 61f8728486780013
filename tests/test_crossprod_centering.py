"""Column-wise centers and scales (crossprod.centering) equal the one-column formulas."""

from __future__ import annotations

import numpy as np
import pytest

from mixedmodels.crossprod.centering import _column_means, _column_rms, _mean, _rms


@pytest.mark.parametrize("n", [1, 37, 180, 8193, 10_000])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("order", ["C", "F"])
def test_column_means_and_rms_equal_the_single_column_ones_bit_for_bit(n, weighted, order):
    rng = np.random.default_rng(n + weighted)
    p = 5
    X = rng.normal(size=(n, p)) * 10.0 ** np.arange(-4, 6, 2) + 10.0 ** np.arange(-2, 8, 2)
    X[:, 2] = 0.0  # a zero column: mean 0, RMS 0
    X = np.asarray(X, order=order)
    w = rng.uniform(0.1, 3.0, n) if weighted else None
    V = np.asfortranarray(X)
    m = _column_means(V, w)
    np.testing.assert_array_equal(m, [_mean(X[:, j], w) for j in range(p)])
    assert _column_rms(V - m, w) == [_rms(X[:, j] - m[j], w) for j in range(p)]
    assert m[2] == 0.0 and _column_rms(V - m, w)[2] == 0.0
