"""Power by simulation for a fixed effect of a linear mixed model (simr's ``powerSim``).

Responses are drawn from the model (a fit's estimates, or a specification
from :func:`~mixedmodels.power.spec.make_lmer`), optionally with the effect
under test replaced; each is refitted with ``model.refit(y)`` — the design,
grouping structure and cross-products of X and Z are reused and the
optimizer starts from the generating fit's θ̂ — and the effect is tested.
The power is the share of p-values below α among the fits that succeeded,
with a Clopper–Pearson interval.

Tests (``method``):

* ``"satterthwaite"``: lmerTest's t test (F test for a multi-column term)
  with Satterthwaite's df, recomputed for every refit;
* ``"kr"``: the same with Kenward–Roger's df and adjusted covariance;
* ``"z"``: Wald z (χ² for a multi-column term) from the refit's V_β;
* ``"lrt"``: likelihood-ratio test of ML fits with and without the
  effect's columns (two refits per simulation).
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ArgumentError, ModelSpecificationError
from ..inference.ddf import _kr_f, _satterthwaite_f, contrast_test, satterthwaite_ddf
from ..inference.type3 import type3_contrasts
from ..lmm import LinearMixedModel
from ..progress import progress_bar
from ..results.html import RichRepr
from .spec import LmmSpec, spec_from_model

__all__ = ["PowerResult", "power_sim", "clopper_pearson"]

_METHODS = {
    "satterthwaite": "Satterthwaite t-test",
    "kr": "Kenward-Roger t-test",
    "z": "Wald z-test",
    "lrt": "likelihood-ratio test",
}
_ALIASES = {"kenward-roger": "kr", "kenward_roger": "kr", "lr": "lrt", "wald": "z",
            "t": "satterthwaite"}


def clopper_pearson(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) binomial confidence interval for successes / trials."""
    if trials <= 0:
        return float("nan"), float("nan")
    a = 1.0 - level
    lo = 0.0 if successes == 0 else float(stats.beta.ppf(a / 2, successes,
                                                         trials - successes + 1))
    hi = 1.0 if successes == trials else float(stats.beta.ppf(1 - a / 2, successes + 1,
                                                              trials - successes))
    return lo, hi


@dataclasses.dataclass
class PowerResult(RichRepr):
    """Outcome of a power simulation.

    ``pvalues`` and ``estimates`` (the first tested contrast, l'β̂) hold one
    entry per simulation, NaN where the fit or test failed; ``singular`` and
    ``converged`` flag each refit (lme4's ``isSingular`` and the optimizer's
    status). Failed fits are left out of the trials.
    """

    test: str
    method: str
    alpha: float
    effect: np.ndarray
    pvalues: np.ndarray
    estimates: np.ndarray
    singular: np.ndarray
    converged: np.ndarray
    nobs: int
    seconds: float

    @property
    def nsim(self) -> int:
        return int(self.pvalues.size)

    @property
    def n_failed(self) -> int:
        """Simulations whose refit or test failed (no p-value)."""
        return int(np.sum(~np.isfinite(self.pvalues)))

    @property
    def trials(self) -> int:
        return self.nsim - self.n_failed

    @property
    def successes(self) -> int:
        """Number of p-values below α."""
        p = self.pvalues[np.isfinite(self.pvalues)]
        return int(np.sum(p < self.alpha))

    @property
    def n_singular(self) -> int:
        return int(np.sum(self.singular))

    @property
    def n_nonconverged(self) -> int:
        return int(np.sum(~self.converged & np.isfinite(self.pvalues)))

    @property
    def power(self) -> float:
        """successes / trials."""
        return self.successes / self.trials if self.trials else float("nan")

    def confint(self, level: float = 0.95) -> tuple[float, float]:
        """Clopper–Pearson interval for the power."""
        return clopper_pearson(self.successes, self.trials, level)

    def to_dict(self) -> dict[str, Any]:
        """The summary figures as a flat dict (one row of :func:`power_curve`'s table)."""
        lo, hi = self.confint()
        return {
            "nobs": self.nobs, "power": self.power, "ci_lower": lo, "ci_upper": hi,
            "successes": self.successes, "trials": self.trials, "nsim": self.nsim,
            "n_failed": self.n_failed, "n_singular": self.n_singular,
            "n_nonconverged": self.n_nonconverged, "seconds": self.seconds,
        }

    def to_frame(self) -> pd.DataFrame:
        """Per-simulation results: pvalue, estimate, singular, converged."""
        return pd.DataFrame({"pvalue": self.pvalues, "estimate": self.estimates,
                             "singular": self.singular, "converged": self.converged})

    def __str__(self) -> str:
        lo, hi = self.confint()
        eff = ", ".join(f"{v:.4g}" for v in self.effect)
        return (
            f"Power for predictor '{self.test}', (95% confidence interval):\n"
            f"      {100 * self.power:.2f}% ({100 * lo:.2f}, {100 * hi:.2f})\n\n"
            f"Test: {_METHODS[self.method]}\n"
            f"      Effect size for {self.test} is {eff}\n\n"
            f"Based on {self.nsim} simulations, ({self.n_failed} failed, "
            f"{self.n_singular} singular, {self.n_nonconverged} not converged)\n"
            f"alpha = {self.alpha:g}, nrow = {self.nobs}\n\n"
            f"Time elapsed: {self.seconds:.2f} s"
        )

    def __repr__(self) -> str:
        lo, hi = self.confint()
        return (f"<PowerResult {self.test!r} ({self.method}): power {self.power:.3f} "
                f"[{lo:.3f}, {hi:.3f}], {self.successes}/{self.trials}>")


@dataclasses.dataclass
class _Hypothesis:
    """What is tested: contrast rows L (q × p) and the columns of X they concern."""

    name: str
    L: np.ndarray
    cols: np.ndarray


def _hypothesis(model: LinearMixedModel, test: str | None) -> _Hypothesis:
    """A coefficient name (one column) or a fixed-effect term name (lmerTest's type III L)."""
    names = list(model.design.x_names)
    assign = np.asarray(model.design.fixed_spec.assign)
    p = len(names)
    if test is None:
        rest = [n for n in names if n != "(Intercept)"]
        if not rest:
            raise ModelSpecificationError("the model has no fixed effect besides the intercept")
        k = assign[names.index(rest[0])]
        cols = np.flatnonzero(assign == k)
        terms = model.design.fixed_spec.term_spec.terms
        test = rest[0] if cols.size == 1 else ":".join(terms[k - 1])
    if test in names:
        j = names.index(test)
        return _Hypothesis(test, np.eye(p)[[j]], np.array([j]))
    terms = type3_contrasts(model)
    if test not in terms:
        raise ModelSpecificationError(
            f"no fixed effect or term named {test!r}; coefficients are {names}, "
            f"terms are {list(terms)}")
    labels = [":".join(t) for t in model.design.fixed_spec.term_spec.terms]
    cols = np.flatnonzero(assign == labels.index(test) + 1)
    return _Hypothesis(test, terms[test], cols)


def _test(fit: LinearMixedModel, hyp: _Hypothesis, method: str,
          reduced: LinearMixedModel | None) -> float:
    """The p-value of H0: Lβ = 0 on one refit."""
    L = hyp.L
    q = L.shape[0]
    if method == "lrt":
        assert reduced is not None
        stat = max(2.0 * (fit.loglik - reduced.loglik), 0.0)
        return float(stats.chi2.sf(stat, q))
    if method == "kr":
        if q == 1:
            return float(contrast_test(fit, L, "Kenward-Roger")["Pr(>|t|)"].iloc[0])
        F, num, den, _ = _kr_f(fit, L)
        return float(stats.f.sf(F, num, den))
    beta = np.asarray(fit._beta)
    V = fit._vcov_unscaled * fit._sigma**2
    if method == "z":
        Lb = L @ beta
        wald = float(Lb @ np.linalg.solve(L @ V @ L.T, Lb))
        return float(stats.chi2.sf(wald, q))
    if q == 1:
        l = L[0]
        t = float(l @ beta) / float(np.sqrt(l @ V @ l))
        return float(2.0 * stats.t.sf(abs(t), satterthwaite_ddf(fit, l)))
    F, num, den = _satterthwaite_f(fit, L)
    return float(stats.f.sf(F, num, den))


def _run(args: tuple[LinearMixedModel, LinearMixedModel | None, _Hypothesis, str, np.ndarray]
         ) -> np.ndarray:
    """Refit and test each column of ys: rows (p-value, estimate, singular, converged)."""
    template, reduced_template, hyp, method, ys = args
    out = np.full((ys.shape[1], 4), np.nan)
    for s in range(ys.shape[1]):
        y = ys[:, s]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fit = template.refit(y)
                reduced = None if reduced_template is None else reduced_template.refit(y)
                pval = _test(fit, hyp, method, reduced)
            except Exception:  # noqa: BLE001 - a failed fit is counted, as simr does
                continue
        out[s] = (pval, float(hyp.L[0] @ fit._beta), fit.is_singular, bool(fit.opt.ok))
    return out


def _template(spec: LmmSpec, y0: np.ndarray | None = None) -> LinearMixedModel:
    """A model on the spec's design: fitted to y0 from the true θ, or unfitted if y0 is None."""
    y = spec.design.y if y0 is None else y0
    model = LinearMixedModel(dataclasses.replace(spec.design, y=y), REML=spec.REML)
    model.data = spec.data  # for lmerTest's type III contrasts
    if y0 is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(start=spec.theta)
    return model


def _reduced(template: LinearMixedModel, hyp: _Hypothesis) -> LinearMixedModel:
    """The ML fit without the tested columns of X (for the likelihood-ratio test)."""
    d = template.design
    keep = np.setdiff1d(np.arange(d.p), hyp.cols)
    design = dataclasses.replace(d, y=template.y, X=d.X[:, keep],
                                 x_names=[d.x_names[j] for j in keep])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LinearMixedModel(design, REML=False).fit(start=template._theta)


def power_sim(
    model: Any,
    test: str | None = None,
    nsim: int = 1000,
    alpha: float = 0.05,
    method: str | None = None,
    seed: int | np.random.Generator | np.random.SeedSequence | None = None,
    effect: float | list[float] | np.ndarray | None = None,
    progress: Any = None,
    n_jobs: int = 1,
) -> PowerResult:
    """Power to detect a fixed effect, by simulation (simr's ``powerSim``).

    Parameters
    ----------
    model:
        A fitted :class:`~mixedmodels.LinearMixedModel` (its estimates
        generate the data), an :class:`~mixedmodels.power.spec.LmmSpec`, or a
        binomial / Poisson :class:`~mixedmodels.GeneralizedLinearMixedModel` fit
        (responses from :mod:`.glmm`; tests ``"z"``, the default, or ``"lrt"``).
    test:
        A coefficient name (``"Days"``, ``"conditionb"``) or a fixed-effect
        term (``"condition"``: an F/χ² test of all its columns, lmerTest's
        type III contrasts). Default: the first fixed effect after the
        intercept.
    nsim:
        Number of simulated data sets.
    alpha:
        Significance level.
    method:
        ``"satterthwaite"`` (default for lmer), ``"kr"``, ``"z"`` (default for glmer) or
        ``"lrt"`` (module docstring).
    seed:
        Seed of the simulations (any numpy seed); a given seed gives the
        same result for any ``n_jobs``.
    effect:
        New value of the tested coefficient(s) in the generating model
        (one per column of the term); ``None`` keeps the model's.
    progress:
        A progress bar over the simulations: ``None`` (default) when
        interactive, ``True`` / ``False``, or a caller's bar to advance
        (:mod:`mixedmodels.progress`).
    n_jobs:
        Worker processes (1: in this process).
    """
    from ..glmm import GeneralizedLinearMixedModel

    if isinstance(model, GeneralizedLinearMixedModel):
        return _power_sim_glmm(model, test, nsim, alpha, method, seed, effect, progress, n_jobs)
    method = _check_run(method, "satterthwaite", _METHODS, alpha, nsim)
    nsim = int(nsim)
    start = time.perf_counter()
    fitted = isinstance(model, LinearMixedModel)
    spec = spec_from_model(model) if fitted else model
    if not isinstance(spec, LmmSpec):
        raise ModelSpecificationError(
            "model must be a fit of mm.lmer or a spec from mm.make_lmer, "
            f"got {type(model).__name__}")
    hyp = _hypothesis(model if fitted else _template(spec), test)
    if effect is not None:
        spec = dataclasses.replace(spec, beta=_with_effect(spec.beta, hyp, effect))
    ys = spec.simulate(nsim, np.random.default_rng(seed))
    template = model if fitted else _template(spec, ys[:, 0])
    reduced = None
    if method == "lrt":
        if template.REML:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                template = template.refit(REML=False)
        reduced = _reduced(template, hyp)
    results = _dispatch(template, reduced, hyp, method, ys, progress, n_jobs)
    return PowerResult(
        test=hyp.name, method=method, alpha=float(alpha), effect=spec.beta[hyp.cols].copy(),
        pvalues=results[:, 0], estimates=results[:, 1],
        singular=results[:, 2] == 1.0, converged=results[:, 3] == 1.0,
        nobs=spec.design.n, seconds=time.perf_counter() - start,
    )


def _check_run(method: Any, default: str, allowed: Any, alpha: float, nsim: Any) -> str:
    """The test method (lower case, aliases resolved), after checking it, alpha and nsim."""
    method = default if method is None else method
    method = _ALIASES.get(str(method).lower(), str(method).lower())
    if method not in allowed:
        names = [repr(a) for a in allowed]
        raise ArgumentError("method", method, ", ".join(names[:-1]) + " or " + names[-1])
    if not 0.0 < alpha < 1.0:
        raise ArgumentError("alpha", alpha, "a number strictly between 0 and 1")
    if int(nsim) < 1:
        raise ArgumentError("nsim", nsim, "a whole number >= 1")
    return method


def _with_effect(beta: np.ndarray, hyp: Any, effect: Any) -> np.ndarray:
    """A copy of β with the tested columns set to ``effect`` (simr's ``fixef<-``)."""
    values = np.atleast_1d(np.asarray(effect, dtype=float))
    if values.size != hyp.cols.size:
        raise ModelSpecificationError(
            f"effect gives {values.size} values for the {hyp.cols.size} columns "
            f"of {hyp.name!r}")
    beta = np.array(beta, dtype=float)
    beta[hyp.cols] = values
    return beta


def _power_sim_glmm(model: Any, test: str | None, nsim: int, alpha: float,
                    method: str | None, seed: Any, effect: Any, progress: bool,
                    n_jobs: int) -> PowerResult:
    """power_sim for a fitted glmer: Wald z (default) or likelihood-ratio tests."""
    from .glmm import reduced_glmm, simulate_glmm

    method = _check_run(method, "z", ("z", "lrt"), alpha, nsim)
    start = time.perf_counter()
    hyp = _hypothesis(model, test)
    beta = np.asarray(model._beta, dtype=float)
    if effect is not None:
        beta = _with_effect(beta, hyp, effect)
    ys = simulate_glmm(model, int(nsim), np.random.default_rng(seed), beta)
    reduced = reduced_glmm(model, hyp.cols) if method == "lrt" else None
    results = _dispatch(model, reduced, hyp, method, ys, progress, n_jobs)
    return PowerResult(
        test=hyp.name, method=method, alpha=float(alpha), effect=beta[hyp.cols].copy(),
        pvalues=results[:, 0], estimates=results[:, 1],
        singular=results[:, 2] == 1.0, converged=results[:, 3] == 1.0,
        nobs=model.design.n, seconds=time.perf_counter() - start,
    )


def _dispatch(template: LinearMixedModel, reduced: LinearMixedModel | None, hyp: _Hypothesis,
              method: str, ys: np.ndarray, progress: Any, n_jobs: int) -> np.ndarray:
    """Run the refits serially or in worker processes, advancing a progress bar."""
    nsim = ys.shape[1]
    parts = []
    with progress_bar(progress, nsim, "power simulation", unit="sim") as bar:
        if n_jobs and n_jobs > 1 and nsim > 1:
            chunks = np.array_split(np.arange(nsim), min(nsim, 4 * n_jobs))
            jobs = [(template, reduced, hyp, method, ys[:, c]) for c in chunks]
            with ProcessPoolExecutor(max_workers=n_jobs) as ex:
                for c, part in zip(chunks, ex.map(_run, jobs)):
                    parts.append(part)
                    bar.update(len(c))
        else:
            step = max(1, nsim // 100)
            for s0 in range(0, nsim, step):
                parts.append(_run((template, reduced, hyp, method, ys[:, s0:s0 + step])))
                bar.update(min(step, nsim - s0))
    return np.vstack(parts)
