"""Power along a sample-size dimension (simr's ``extend`` + ``powerCurve``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ModelSpecificationError
from ..lmm import LinearMixedModel
from ..progress import progress_bar
from ..results.html import RichRepr
from .design import along_levels, extend_design
from .sim import power_sim
from .spec import LmmSpec, spec_from_model

__all__ = ["PowerCurve", "power_curve"]


class PowerCurve(RichRepr, pd.DataFrame):
    """The table of :func:`power_curve` (one row per break); displays as simr's
    ``print(powerCurve)`` in a notebook and draws itself with :meth:`plot`."""

    @property
    def _constructor(self) -> type[pd.DataFrame]:
        return pd.DataFrame  # a slice or a computed frame is an ordinary DataFrame

    def plot(self, **kwargs: Any) -> Any:
        """Power against the number of levels with its 95% interval
        (:func:`mixedmodels.plots.power_curve`)."""
        from ..plots import power_curve as plot_power_curve

        return plot_power_curve(self, **kwargs)


def _default_breaks(n_levels: int) -> list[int]:
    """simr's default: up to 10 sizes from 3 to the number of levels."""
    lo = min(3, n_levels)
    return sorted({int(round(v)) for v in np.linspace(lo, n_levels, 10)})


def power_curve(
    model: Any,
    test: str | None = None,
    along: str | None = None,
    breaks: Sequence[int] | None = None,
    nsim: int = 1000,
    alpha: float = 0.05,
    method: str | None = None,
    seed: int | np.random.SeedSequence | None = None,
    effect: float | list[float] | np.ndarray | None = None,
    progress: bool | None = None,
    n_jobs: int = 1,
) -> PowerCurve:
    """Power for a range of sample sizes along one variable (simr's ``powerCurve``).

    For each ``n`` in ``breaks`` the data keep the first ``n`` levels of
    ``along`` — or gain copies of existing ones when ``n`` exceeds them
    (:func:`~mixedmodels.power.design.extend_design`) — and
    :func:`~mixedmodels.power.sim.power_sim` is run with the model's
    parameters on that design. The i-th size uses the i-th random stream
    spawned from ``seed``, so a seed always gives the same table.

    Parameters
    ----------
    model:
        A fitted :class:`~mixedmodels.LinearMixedModel` (fitted with
        ``mm.lmer``, which keeps its data), an
        :class:`~mixedmodels.power.spec.LmmSpec`, or a binomial / Poisson
        glmer fit (its θ̂ and β̂ on each extended design).
    along:
        Column to vary: a grouping factor (subjects, items) or any variable
        whose distinct values index blocks of rows. Default: the grouping
        factor of the first random-effect term (the one with most levels).
    breaks:
        Numbers of levels of ``along``; default up to 10 values from 3 to
        the current number.
    test, nsim, alpha, method, effect, n_jobs:
        As :func:`~mixedmodels.power.sim.power_sim`.
    progress:
        One progress bar over all the simulations of all the breaks, the
        last break's power shown beside it (None: when interactive;
        :mod:`mixedmodels.progress`). Nothing is printed to stdout.

    Returns
    -------
    PowerCurve
        A DataFrame with one row per break: ``along``, ``n`` (levels), ``nobs``, ``power``,
        ``ci_lower``, ``ci_upper`` (95% Clopper–Pearson), ``successes``,
        ``trials``, ``nsim``, ``n_failed``, ``n_singular``,
        ``n_nonconverged``, ``seconds``, plus ``test`` and ``method``.
    """
    from ..glmm import GeneralizedLinearMixedModel

    if isinstance(model, GeneralizedLinearMixedModel):
        return _glmm_curve(model, test, along, breaks, nsim, alpha, method, seed, effect,
                           progress, n_jobs)
    spec = model if isinstance(model, LmmSpec) else spec_from_model(model)
    if isinstance(model, LinearMixedModel):
        if getattr(model, "data", None) is None:
            raise ModelSpecificationError(
                "power_curve needs the model's data: fit it with mm.lmer(...)")
        base = spec.data.iloc[spec.design.rows].reset_index(drop=True)
    else:
        base = spec.data
    if along is None:
        terms = spec.design.terms
        if not terms or len(terms[0].bar.group_vars) != 1:
            raise ModelSpecificationError("name the variable to vary with along=")
        along = terms[0].bar.group_vars[0]
    n_levels = len(along_levels(base, along))
    return _curve(lambda n: spec.on_data(extend_design(base, along, n)), along, n_levels,
                  test, breaks, nsim, alpha, method, seed, effect, progress, n_jobs)


def _glmm_curve(model: Any, test: str | None, along: str | None, breaks: Any, nsim: int,
                alpha: float, method: str | None, seed: Any, effect: Any, progress: bool,
                n_jobs: int) -> PowerCurve:
    """power_curve of a binomial / Poisson glmer fit: its θ̂, β̂ on each extended design."""
    from ..design import as_pandas
    from .glmm import template_on

    if getattr(model, "data", None) is None:
        raise ModelSpecificationError("power_curve needs the model's data: fit it with "
                                      "mm.glmer(...)")
    base = as_pandas(model.data).iloc[model.design.rows].reset_index(drop=True)
    if along is None:
        terms = model.design.terms
        if len(terms[0].bar.group_vars) != 1:
            raise ModelSpecificationError("name the variable to vary with along=")
        along = terms[0].bar.group_vars[0]
    n_levels = len(along_levels(base, along))
    return _curve(lambda n: template_on(model, extend_design(base, along, n)), along,
                  n_levels, test, breaks, nsim, alpha, method, seed, effect, progress, n_jobs)


def _curve(model_at: Any, along: str, n_levels: int, test: str | None, breaks: Any,
           nsim: int, alpha: float, method: str | None, seed: Any, effect: Any,
           progress: bool, n_jobs: int) -> PowerCurve:
    """power_sim on ``model_at(n)`` for each size n of the breaks."""
    sizes = _default_breaks(n_levels) if breaks is None else [int(b) for b in breaks]
    if not sizes or min(sizes) < 1:
        raise ValueError(f"breaks must be whole numbers >= 1, got {breaks!r}")
    seeds = np.random.SeedSequence(seed).spawn(len(sizes))
    rows = []
    with progress_bar(progress, nsim * len(sizes), "power curve", unit="sim") as bar:
        for size, ss in zip(sizes, seeds):
            t0 = time.perf_counter()
            res = power_sim(model_at(size), test=test, nsim=nsim, alpha=alpha, method=method,
                            seed=ss, effect=effect, n_jobs=n_jobs, progress=bar)
            row = {"along": along, "n": size, **res.to_dict()}
            row["seconds"] = time.perf_counter() - t0
            row.update(test=res.test, method=res.method)
            rows.append(row)
            bar.set_postfix_str(f"{along} = {size}: power {res.power:.3f}")
    return PowerCurve(pd.DataFrame(rows))
