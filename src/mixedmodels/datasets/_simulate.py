"""Simulated repeated-measures data with random intercepts and slopes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..errors import DataError

__all__ = ["simulate_slopes"]


def simulate_slopes(
    n_subjects: int = 30,
    n_sessions: int = 5,
    beta: tuple[float, float] = (600.0, -10.0),
    sd_intercept: float = 50.0,
    sd_slope: float = 25.0,
    rho: float = 0.2,
    sigma: float = 30.0,
    seed: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Simulate reaction times with a random intercept and slope per subject.

    The model is the classic random-slope design (the ``seed_sim`` dataset is
    one draw of it made in R)::

        reaction_time[i, t] = beta0 + b0[i] + (beta1 + b1[i]) * t + e[i, t]
        (b0[i], b1[i]) ~ N(0, [[sd_intercept**2, rho*sd_intercept*sd_slope],
                               [rho*sd_intercept*sd_slope, sd_slope**2]])
        e[i, t] ~ N(0, sigma**2)

    for subjects ``i = 1..n_subjects`` and sessions ``t = 0..n_sessions-1``.
    The random effects are drawn first (one pair per subject), then the
    noise, both from one numpy Generator, so a given ``seed`` always gives
    the same data.

    Parameters
    ----------
    n_subjects, n_sessions:
        Numbers of subjects and of sessions per subject (each at least 1).
    beta:
        Fixed intercept and slope ``(beta0, beta1)``.
    sd_intercept, sd_slope:
        Standard deviations of the random intercepts and slopes (>= 0).
    rho:
        Correlation between a subject's intercept and slope, in [-1, 1].
    sigma:
        Residual standard deviation (>= 0).
    seed:
        Seed or Generator for ``numpy.random.default_rng``; ``None`` draws
        fresh entropy.

    Returns
    -------
    pandas.DataFrame
        ``n_subjects * n_sessions`` rows, sorted by subject then session, with
        columns ``subject`` (Categorical, labels ``"1"``..``"n"``),
        ``session`` (int64), ``intercept_re`` and ``slope_re`` (the subject's
        true random effects, repeated on its rows) and ``reaction_time``. The
        parameters are kept in ``DataFrame.attrs["truth"]``.

    Raises
    ------
    DataError
        If a size is below 1, a standard deviation is negative or ``rho`` is
        outside [-1, 1].
    """
    n_subjects, n_sessions = (
        _check_size("n_subjects", n_subjects),
        _check_size("n_sessions", n_sessions),
    )
    for label, value in (("sd_intercept", sd_intercept), ("sd_slope", sd_slope), ("sigma", sigma)):
        if not (math.isfinite(value) and value >= 0):
            raise DataError(f"{label} must be a finite number >= 0, got {value!r}")
    if not -1.0 <= rho <= 1.0:
        raise DataError(f"rho must lie in [-1, 1], got {rho!r}")
    if len(beta) != 2:
        raise DataError(f"beta must be (intercept, slope), got {beta!r}")
    beta0, beta1 = float(beta[0]), float(beta[1])

    rng = np.random.default_rng(seed)
    # (b0, b1) = (sd0 z0, sd1 (rho z0 + sqrt(1 - rho^2) z1)): the Cholesky
    # factor of the 2x2 covariance, written out so that sd = 0 or |rho| = 1 work.
    z = rng.standard_normal((n_subjects, 2))
    b0 = sd_intercept * z[:, 0]
    b1 = sd_slope * (rho * z[:, 0] + math.sqrt(1.0 - rho * rho) * z[:, 1])
    noise = rng.normal(0.0, sigma, n_subjects * n_sessions)

    subject_idx = np.repeat(np.arange(n_subjects), n_sessions)
    session = np.tile(np.arange(n_sessions, dtype=np.int64), n_subjects)
    intercept_re = b0[subject_idx]
    slope_re = b1[subject_idx]
    reaction_time = beta0 + intercept_re + (beta1 + slope_re) * session + noise

    labels = [str(i + 1) for i in range(n_subjects)]
    frame = pd.DataFrame(
        {
            "subject": pd.Categorical.from_codes(subject_idx, categories=labels),
            "session": session,
            "intercept_re": intercept_re,
            "slope_re": slope_re,
            "reaction_time": reaction_time,
        }
    )
    frame.attrs["truth"] = {
        "beta": (beta0, beta1),
        "sd_intercept": float(sd_intercept),
        "sd_slope": float(sd_slope),
        "rho": float(rho),
        "sigma": float(sigma),
    }
    return frame


def _check_size(label: str, value: int) -> int:
    """Return ``value`` as an int, or raise DataError if it is not a count >= 1."""
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise DataError(f"{label} must be a whole number >= 1, got {value!r}")
    return int(value)
