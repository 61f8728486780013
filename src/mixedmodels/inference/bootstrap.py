"""Bootstrap of a fitted mixed model: parametric, residual (CGR) and case resampling (lmeresampler).

Each replicate refits the model to new data built from the fit's own design
(no re-parsing; factor codings and transforms are the fit's), then applies
``fn`` (default: the fixed effects).

* ``"parametric"`` (lme4's ``bootMer``): y* from :func:`.simulate.simulate`,
  refitted through ``model.refit(y*)``.
* ``"residual"`` (Carpenter, Goldstein & Rasbash 2003, lmeresampler's
  residual bootstrap, LMMs): the conditional modes Û_k (levels × effects of
  term k) and the residuals ê = y − ŷ are centred and rescaled so that their
  empirical covariances are the estimated ones,
  Ũ_k = Û_k (L_emp⁻¹)' L_k' with L_emp L_emp' = Û_k'Û_k / n_k and
  L_k L_k' = Σ̂_k, ẽ = ê σ̂ / √(ê'ê/n); rows of Ũ_k (per term) and
  elements of ẽ are drawn with replacement and
  y* = Xβ̂ + Σ_k Z_k ũ*_k + ẽ*.
* ``"case"`` (lmeresampler's case bootstrap): the grouping factors, which
  must be nested, are ordered from the coarsest and followed by the rows;
  ``resample[i]`` says whether level i is resampled with replacement
  within the units drawn above it (one grouping factor: ``[True, False]``
  draws whole groups and keeps their rows, ``[True, True]`` then also draws
  rows within each group). As lmeresampler, a group drawn twice keeps its
  label, so its rows form one group of the refit (``relabel=True`` makes
  each copy a group of its own). The model is refitted to the drawn rows
  of its design.

Intervals (``BootstrapResult.confint``), with t̂ the estimate and t*_(q)
the q-quantile of the replicates: percentile [t*_(α/2), t*_(1−α/2)];
basic [2t̂ − t*_(1−α/2), 2t̂ − t*_(α/2)]; normal (bias-corrected)
2t̂ − mean(t*) ± z_{1−α/2} sd(t*).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..arguments import check_nsim
from ..errors import ArgumentError, ModelSpecificationError
from ..linalg.threads import blas_threads, model_threads
from ..progress import progress_bar
from .simulate import simulate

__all__ = ["BootstrapResult", "bootstrap", "case_resample_rows", "refit_rows"]

TYPES = ("parametric", "residual", "case")


@dataclasses.dataclass
class BootstrapResult:
    """Replicates of ``fn`` (one row per resample; NaN rows where a refit failed), the
    estimate ``t0`` on the original fit, and intervals. Reads as the replicates frame
    (``result["(Intercept)"]``, ``result.quantile(...)``) for bootMer-style code."""

    replicates: pd.DataFrame
    t0: pd.Series
    type: str
    n_failed: int = 0

    def confint(self, level: float = 0.95, method: str = "perc") -> pd.DataFrame:
        """``"perc"`` (percentile), ``"norm"`` (bias-corrected normal) or ``"basic"``."""
        a = (1.0 - level) / 2.0
        cols = [f"{100 * a:.3g} %", f"{100 * (1 - a):.3g} %"]
        r = self.replicates
        t0 = self.t0.reindex(r.columns)
        lo_q, hi_q = r.quantile(a), r.quantile(1 - a)
        if method == "perc":
            lo, hi = lo_q, hi_q
        elif method == "basic":
            lo, hi = 2 * t0 - hi_q, 2 * t0 - lo_q
        elif method == "norm":
            z = stats.norm.ppf(1 - a)
            centre, sd = 2 * t0 - r.mean(), r.std(ddof=1)
            lo, hi = centre - z * sd, centre + z * sd
        else:
            raise ArgumentError("method", method, "'perc', 'norm' or 'basic'")
        return pd.DataFrame({cols[0]: lo, cols[1]: hi})

    def summary(self) -> pd.DataFrame:
        """Per statistic: estimate, bootstrap bias, SE and mean (lmeresampler's summary)."""
        r = self.replicates
        t0 = self.t0.reindex(r.columns)
        return pd.DataFrame({"estimate": t0, "bias": r.mean() - t0, "std.error": r.std(ddof=1),
                             "mean": r.mean()})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("replicates", "t0", "type", "n_failed"):
            raise AttributeError(name)
        return getattr(self.replicates, name)

    def __getitem__(self, key: Any) -> Any:
        return self.replicates[key]

    def __len__(self) -> int:
        return len(self.replicates)

    def __repr__(self) -> str:
        return (f"<BootstrapResult {self.type}: {len(self.replicates)} replicates of "
                f"{list(self.replicates.columns)}; {self.n_failed} failed>")


# -- resampling --------------------------------------------------------------------------


def _nested_levels(model: Any) -> tuple[list[str], list[np.ndarray]]:
    """The distinct grouping factors, coarsest first, and their codes; checks that they nest."""
    seen: dict[str, np.ndarray] = {}
    for t in model.design.terms:
        seen.setdefault(t.group, t.factor.codes)
    order = sorted(seen, key=lambda g: len(np.unique(seen[g])))
    codes = [seen[g] for g in order]
    for upper, (g, lower) in zip(codes, list(zip(order, codes))[1:]):
        pairs = np.unique(np.column_stack([lower, upper]), axis=0)
        if len(np.unique(pairs[:, 0])) != len(pairs):
            raise ModelSpecificationError(
                f"case resampling needs nested grouping factors; '{g}' is crossed with a "
                f"coarser factor ({order}): use type='parametric' or 'residual'"
            )
    return order, codes


def case_resample_rows(
    model: Any, resample: list[bool], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One case-bootstrap sample (lmeresampler's ``.resamp.cases``): row positions and,
    per row and grouping level, the number of the draw that brought the row in."""
    order, levels = _nested_levels(model)
    n = model.design.n
    if len(resample) != len(levels) + 1:
        raise ModelSpecificationError(
            f"resample needs {len(levels) + 1} values (one per grouping level, coarsest "
            f"first ({', '.join(order)}), then the rows), got {len(resample)}"
        )
    levels = levels + [np.arange(n)]
    rows = np.arange(n)
    draw = np.zeros((n, len(levels)), dtype=np.int64)
    for i, (codes, flag) in enumerate(zip(levels, resample)):
        if not flag:
            continue
        parent = levels[i - 1][rows] if i else np.zeros(rows.size, dtype=np.int64)
        pieces, ids = [], []
        for p in pd.unique(parent):
            sub = np.flatnonzero(parent == p)
            units = pd.unique(codes[rows[sub]])
            for j, u in enumerate(rng.choice(units, size=units.size, replace=True)):
                pieces.append(sub[codes[rows[sub]] == u])
                ids.append(np.full(pieces[-1].size, j))
        take = np.concatenate(pieces)
        rows, draw = rows[take], draw[take]
        draw[:, i] = np.concatenate(ids)
    return rows, draw


def _take_design(d: Any, rows: np.ndarray, group_codes: dict[str, np.ndarray] | None) -> Any:
    terms = []
    for t in d.terms:
        f = t.factor.take(rows).drop_unused()
        if group_codes is not None and t.group in group_codes:
            codes, _ = pd.factorize(group_codes[t.group])
            f = dataclasses.replace(f, codes=codes.astype(f.codes.dtype),
                                    levels=[str(v) for v in range(codes.max() + 1)])
        terms.append(dataclasses.replace(t, factor=f, Z=t.Z[rows]))
    return dataclasses.replace(
        d, y=d.y[rows], response=d.response.take(rows), X=d.X[rows], weights=d.weights[rows],
        offset=d.offset[rows], terms=terms, row_positions=d.rows[rows], index=None,
    )


def _relabelled(model: Any, rows: np.ndarray, draw: np.ndarray) -> dict[str, np.ndarray]:
    """Per grouping factor: one label per (level, draws of it and of the levels above)."""
    order, levels = _nested_levels(model)
    out = {}
    for i, (g, codes) in enumerate(zip(order, levels)):
        key = np.column_stack([codes[rows], draw[:, : i + 1]])
        out[g] = np.unique(key, axis=0, return_inverse=True)[1].ravel()
    return out


def refit_rows(model: Any, rows: np.ndarray,
               group_codes: dict[str, np.ndarray] | None = None) -> Any:
    """The model refitted to the rows ``rows`` (positions, repeats allowed) of its design;
    ``group_codes`` (grouping factor → codes on those rows) relabels groups."""
    d = _take_design(model.design, np.asarray(rows), group_codes)
    if np.linalg.matrix_rank(d.X) < d.p:
        raise ModelSpecificationError("the resampled fixed-effects matrix is rank deficient")
    if isinstance(model.family, str):
        new = type(model)(d, REML=model.REML, control=model.control, data_name=model.data_name)
        return new.fit(start=model._theta)
    from ..glmm.response import GlmmResponse

    r = model.response
    resp = GlmmResponse(r.y[rows], r.trials[rows], r.prior_weights[rows], r.kind)
    new = type(model)(d, resp, model.family, model.nAGQ, model.control, model.data_name)
    return new.fit(start={"theta": model._theta, "fixef": model._beta})


def residual_responses(model: Any, nsim: int, rng: np.random.Generator) -> np.ndarray:
    """CGR residual-bootstrap responses, (n, nsim)."""
    if not isinstance(model.family, str):
        raise ModelSpecificationError("the residual bootstrap is for linear mixed models; use "
                                      "type='parametric' or 'case' for a glmer fit")
    d = model.design
    mean = d.X @ np.asarray(model._beta) + d.offset
    e = model.y - model._fitted
    e = e - e.mean()
    e = e * model._sigma / np.sqrt(np.mean(e**2))
    scaled = []
    for k, t in enumerate(d.terms):
        U = model._b[k] - model._b[k].mean(axis=0)
        S_emp = U.T @ U / t.nl
        S_mod = model._term_cov(k)
        L_emp = np.linalg.cholesky(S_emp + 1e-12 * np.eye(t.S) * max(np.trace(S_emp), 1e-300))
        L_mod = np.linalg.cholesky(S_mod + 1e-12 * np.eye(t.S) * max(np.trace(S_mod), 1e-300))
        scaled.append(U @ np.linalg.inv(L_emp).T @ L_mod.T)
    out = np.empty((d.n, nsim))
    for s in range(nsim):
        y = mean.copy()
        for t, U in zip(d.terms, scaled):
            draw = U[rng.integers(0, t.nl, t.nl)]
            y += np.einsum("ij,ij->i", t.Z, draw[t.factor.codes])
        out[:, s] = y + e[rng.integers(0, d.n, d.n)] / np.sqrt(d.weights)
    return out


# -- the loop ------------------------------------------------------------------------


def _one(args: tuple[Any, str, Any, Callable[[Any], Any]]) -> np.ndarray | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _replicate(args)


def _replicate(args: tuple[Any, str, Any, Callable[[Any], Any]]) -> np.ndarray | None:
    """``fn`` of one refit (``None`` where it failed); the caller silences warnings."""
    model, kind, data, fn = args
    try:
        fit = refit_rows(model, *data) if kind == "case" else model.refit(y=data)
        return np.atleast_1d(np.asarray(fn(fit), dtype=float))
    except (np.linalg.LinAlgError, ValueError, ArithmeticError):
        return None


def _fixef(m: Any) -> pd.Series:
    return m.fixef


def _fixef_values(m: Any) -> np.ndarray:
    """β̂ of a replicate without building a Series (the names come from the fit's)."""
    return m._beta


def bootstrap(
    model: Any,
    fn: Callable[[Any], Any] | None = None,
    nsim: int = 100,
    seed: int | None = None,
    use_u: bool = False,
    parallel: int | None = None,
    progress: bool | None = None,
    type: str = "parametric",
    resample: list[bool] | None = None,
    n_jobs: int | None = None,
    relabel: bool = False,
) -> BootstrapResult:
    """``nsim`` bootstrap replicates of ``fn(refit)`` (default: the fixed effects).

    ``type``: ``"parametric"`` (lme4's ``bootMer``; ``use_u`` conditions on b̂),
    ``"residual"`` (CGR) or ``"case"`` with ``resample`` (one flag per grouping level,
    coarsest first, then the rows; default: resample the coarsest groups only);
    ``relabel=True`` makes each drawn group a group of its own (lmeresampler, the
    default, merges the copies of a group drawn twice).
    ``n_jobs`` (or ``parallel``) worker processes; ``progress``: a progress bar
    (None: when interactive, see :mod:`mixedmodels.progress`).
    """
    nsim = check_nsim(nsim)
    if type not in TYPES:
        raise ArgumentError("type", type, ", ".join(repr(t) for t in TYPES))
    fn = _fixef if fn is None else fn
    if not callable(fn):
        raise ArgumentError("fn", fn, "a function of a fitted model, e.g. lambda m: m.fixef")
    rng = np.random.default_rng(seed)
    first = fn(model)
    names = list(first.index) if isinstance(first, pd.Series) else None
    t0_vals = np.atleast_1d(np.asarray(first, dtype=float))
    if type == "case":
        if resample is None:
            resample = [True] + [False] * len(_nested_levels(model)[0])
        draws: list[Any] = []
        for _ in range(nsim):
            rows, draw = case_resample_rows(model, list(resample), rng)
            draws.append((rows, _relabelled(model, rows, draw) if relabel else None))
    elif type == "residual":
        ys = residual_responses(model, nsim, rng)
        draws = [ys[:, s] for s in range(nsim)]
    else:
        ys = simulate(model, nsim, seed=seed, use_u=use_u)
        draws = [ys[:, s] for s in range(nsim)]
    rep_fn = _fixef_values if fn is _fixef and hasattr(model, "_beta") else fn
    jobs = [(model, type, data, rep_fn) for data in draws]
    workers = n_jobs or parallel
    rows = []
    with progress_bar(progress, nsim, f"{type} bootstrap") as bar:
        if workers and workers > 1:
            with ProcessPoolExecutor(max_workers=workers) as ex:
                for row in ex.map(_one, jobs, chunksize=max(1, nsim // (4 * workers))):
                    rows.append(row)
                    bar.update()
        else:
            # once for the loop, not per refit: warnings off and the fit's BLAS thread
            # limit (each refit's own limit is then already in force)
            with warnings.catch_warnings(), blas_threads(model_threads(model)):
                warnings.simplefilter("ignore")
                for job in jobs:
                    rows.append(_replicate(job))
                    bar.update()
    failed = sum(r is None for r in rows)
    mat = np.vstack([np.full(t0_vals.size, np.nan) if r is None else r for r in rows])
    reps = pd.DataFrame(mat, columns=names)
    t0 = pd.Series(t0_vals, index=reps.columns)
    return BootstrapResult(reps, t0, type, failed)
