"""New responses from a fitted linear mixed model, and the parametric bootstrap.

lme4's ``simulate``: y* = Xβ̂ + offset + Σ_k Z_k b*_k + ε*, with per level
b*_l = σ̂ T_k z_l, z_l ~ N(0, I) (or the conditional modes b̂ when
``use_u``) and ε*ᵢ ~ N(0, σ̂²/wᵢ). ``bootstrap`` (lme4's ``bootMer``) refits
the model to each simulated response through ``model.refit(y)``, which
reuses the design and recomputes only the cross-products involving y.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from ..arguments import check_nsim
from ..errors import ArgumentError

__all__ = ["simulate", "bootstrap"]


def simulate(model: Any, nsim: int = 1, seed: int | None = None, use_u: bool = False) -> np.ndarray:
    """``nsim`` simulated responses as an (n, nsim) array (one column per simulation)."""
    rng = np.random.default_rng(seed)
    d = model.design
    mean = d.X @ np.asarray(model._beta) + d.offset
    sigma = float(model._sigma)
    out = np.empty((d.n, nsim))
    for s in range(nsim):
        eta = mean.copy()
        for k, t in enumerate(d.terms):
            if use_u:
                b = model._b[k]
            else:
                T = model.factor.T(model._theta, k)
                b = sigma * rng.standard_normal((t.nl, T.shape[0])) @ T.T
            eta += np.einsum("ij,ij->i", t.Z, b[t.factor.codes])
        out[:, s] = eta + sigma * rng.standard_normal(d.n) / np.sqrt(d.weights)
    return out


def _one(args: tuple[Any, np.ndarray, Callable[[Any], Any]]) -> np.ndarray:
    model, y, fn = args
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.refit(y=y)
    return np.atleast_1d(np.asarray(fn(fit), dtype=float))


def bootstrap(
    model: Any,
    fn: Callable[[Any], Any],
    nsim: int = 100,
    seed: int | None = None,
    use_u: bool = False,
    parallel: int | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Parametric bootstrap (lme4's ``bootMer``): ``fn`` of each refit, one row per simulation.

    ``fn`` maps a fitted model to a scalar, array or Series (its index names
    the columns). ``parallel`` = number of worker processes (None: serial);
    ``progress`` writes a counter to stderr.
    """
    nsim = check_nsim(nsim)
    if not callable(fn):
        raise ArgumentError("fn", fn, "a function of a fitted model, e.g. lambda m: m.fixef")
    ys = simulate(model, nsim, seed=seed, use_u=use_u)
    first = fn(model)
    names = list(first.index) if isinstance(first, pd.Series) else None
    jobs = [(model, ys[:, s], fn) for s in range(nsim)]
    rows: list[np.ndarray] = []
    if parallel and parallel > 1:
        with ProcessPoolExecutor(max_workers=parallel) as ex:
            rows = list(ex.map(_one, jobs, chunksize=max(1, nsim // (4 * parallel))))
    else:
        for s, job in enumerate(jobs):
            rows.append(_one(job))
            if progress:
                print(f"\rbootstrap {s + 1}/{nsim}", end="", file=sys.stderr)
        if progress:
            print(file=sys.stderr)
    return pd.DataFrame(np.vstack(rows), columns=names)
