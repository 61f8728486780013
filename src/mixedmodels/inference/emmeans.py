"""Estimated marginal means and their contrasts, as R's ``emmeans``, ``pairs`` and ``contrast``.

The reference grid has every level of each factor of the fixed part and
every numeric covariate at its mean over the rows of the fit (or at the
values given in ``at``). With X_g the fixed-effect model matrix of the grid
(the fit's codings and transforms) and o_g its ``offset()`` terms, the
estimated marginal mean of a cell c of the ``specs`` × ``by`` variables is
the equally weighted average over the other grid variables,

    ℓ_c = mean_{g ∈ c} X_g,   EMM_c = ℓ_c'β̂ + mean_{g ∈ c} o_g,

with SE_c = √(ℓ_c' V ℓ_c). A contrast of EMMs with coefficients w has
ℓ = Σ w_c ℓ_c. Degrees of freedom (``ddf``), as emmeans' ``lmer.df``:

* ``"Kenward-Roger"`` (emmeans' default for REML lmer fits with ≤ 3000 rows
  and at most 6000 random effects):
  V = Φ_A, pbkrtest's adjusted covariance, ν from pbkrtest's ``Lb_ddf``;
* ``"Satterthwaite"`` (its default for ML fits): V = vcov(β̂), lmerTest's ν;
* ``"asymptotic"`` (glmer fits, and lmer fits beyond 3000 rows): ν = ∞.

Intervals are ℓ'β̂ ± c·SE with c from :mod:`.multiplicity`; tests are
t (or z) = ℓ'β̂ / SE. ``type="response"`` back-transforms a GLMM's EMMs:
μ = g⁻¹(η), SE(μ) = |dμ/dη| SE(η) (delta method), interval ends g⁻¹ of the
link-scale ends. Pairwise differences on a log or logit scale become ratios
(odds ratios) exp(Δ), SE exp(Δ)·SE(Δ), tests on the link scale.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..design import as_pandas
from ..design.variables import expression_names
from ..errors import ArgumentError, ModelSpecificationError
from .ddf import _kr, normalize_ddf, satterthwaite_ddf
from .kenward_roger import MAX_Q, kr_ddf
from .multiplicity import adjust_p, critical_value, normalize_adjust

__all__ = ["EMMeans", "EMMContrasts", "emmeans", "pairs"]

_AUTO_LIMIT = 3000  # emmeans' pbkrtest.limit and lmerTest.limit


@dataclass
class _Engine:
    """Estimates, SEs and df of linear functions ℓ'β̂ for one df method."""

    model: Any
    method: str  # "kenward-roger", "satterthwaite" or "asymptotic"
    V: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if self.method == "kenward-roger":
            self.V = _kr(self.model).phi_adj
        else:
            self.V = np.asarray(self.model.vcov, dtype=float)

    def estimate(self, L: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        beta = np.asarray(self.model._beta, dtype=float)
        est = L @ beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", L, self.V, L))
        if self.method == "asymptotic":
            df = np.full(len(L), np.inf)
        elif self.method == "kenward-roger":
            adj = _kr(self.model)
            df = np.array([kr_ddf(l[None, :], adj)[0] if np.any(l) else np.nan for l in L])
        else:
            df = np.array([satterthwaite_ddf(self.model, l) if np.any(l) else np.nan for l in L])
        return est, se, df


def _ddf_method(model: Any, ddf: str | None) -> str:
    is_glmm = not isinstance(model.family, str)
    if ddf is None:
        if is_glmm or model.nobs > _AUTO_LIMIT:
            return "asymptotic"
        q = sum(t.nl * t.S for t in model.design.terms)
        return "kenward-roger" if model.REML and q <= MAX_Q else "satterthwaite"
    key = str(ddf).lower()
    if key in ("asymptotic", "inf", "z"):
        return "asymptotic"
    if is_glmm:
        raise ValueError("a generalized linear mixed model has asymptotic (z) tests only: "
                         "use ddf=None or 'asymptotic'")
    return normalize_ddf(ddf).lower()


def _is_num(levels: list[str]) -> bool:
    try:
        [float(x) for x in levels]
    except ValueError:
        return False
    return True


def _parse_specs(specs: Any, by: Any) -> tuple[list[str], list[str]]:
    """``"a"``, ``["a", "b"]`` or ``"~ a * b | c"`` into (specs, by)."""
    by_l = [by] if isinstance(by, str) else list(by or [])
    if isinstance(specs, str) and ("~" in specs or "|" in specs):
        rhs = specs.split("~", 1)[-1]
        parts = rhs.split("|", 1)
        if len(parts) == 2:
            by_l += [v.strip() for v in parts[1].replace("*", "+").replace(":", "+").split("+")]
        specs = [v.strip() for v in parts[0].replace("*", "+").replace(":", "+").split("+")]
    spec_l = [specs] if isinstance(specs, str) else list(specs)
    spec_l = [s for s in spec_l if s and s != "1"]
    return spec_l, [b for b in by_l if b]


class ReferenceGrid:
    """emmeans' reference grid of a fit: factor levels × covariate means (or ``at`` values)."""

    def __init__(self, model: Any, at: dict[str, Any] | None = None):
        d = model.design
        spec = d.fixed_spec
        tspec = spec.term_spec
        at = dict(at or {})
        data = getattr(model, "data", None)
        frame = as_pandas(data).iloc[np.asarray(d.rows)] if data is not None else None
        self.levels: dict[str, list[Any]] = {}
        self.factors: list[str] = []
        exprs = list(tspec.variables) + list(tspec.offsets)
        for e in exprs:
            if e in spec.levels:
                name = e.strip().strip("`")
                if frame is not None and name not in frame.columns:
                    raise ModelSpecificationError(
                        f"emmeans needs the factor '{e}' as a column of the data: add it as a "
                        "column (e.g. data['f'] = data['x'].astype('category')) and refit"
                    )
                levs = list(spec.levels[e])
                if name in at:
                    want = [str(v) for v in np.atleast_1d(at.pop(name))]
                    bad = [v for v in want if v not in levs]
                    if bad:
                        raise ModelSpecificationError(
                            f"at['{name}'] has level(s) {bad} that factor '{name}' does not "
                            f"have; its levels are {levs}"
                        )
                    levs = want
                self.levels[name] = levs
                self.factors.append(name)
                continue
            for name in expression_names(e):
                if name in self.levels:
                    continue
                if name in at:
                    self.levels[name] = [float(v) for v in np.atleast_1d(at.pop(name))]
                    continue
                if frame is None:
                    raise ModelSpecificationError(
                        f"the covariate '{name}' needs the fit's data for its mean: pass "
                        f"at={{'{name}': value}}"
                    )
                self.levels[name] = [float(pd.to_numeric(frame[name]).mean())]
        if at:
            raise ModelSpecificationError(
                f"at names {sorted(at)}, which the fixed effects do not use; the grid's "
                f"variables are {list(self.levels)}"
            )
        names = list(self.levels)
        # expand.grid order: the first variable varies fastest
        combos = list(itertools.product(*[self.levels[n] for n in reversed(names)]))
        cols = {n: [c[len(names) - 1 - i] for c in combos] for i, n in enumerate(names)}
        self.frame = pd.DataFrame(cols)
        for n in self.factors:
            self.frame[n] = pd.Categorical(self.frame[n], categories=self.levels[n])
        from ..results.predict import fixed_design

        self.X, self.offset = fixed_design(model, self.frame)
        self.data = frame

    def _counts(self, factors: list[str]) -> np.ndarray:
        """Per grid row: the number of rows of the fit with its levels of ``factors``."""
        if not factors:
            return np.ones(len(self.frame))
        if self.data is None:
            raise ModelSpecificationError("weights other than 'equal' need the fit's data")
        key = self.data[factors].astype(str).agg("\x1f".join, axis=1).value_counts()
        grid_key = self.frame[factors].astype(str).agg("\x1f".join, axis=1)
        return grid_key.map(key).fillna(0.0).to_numpy(float)

    def cells(self, variables: list[str], weights: str = "equal"
              ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """Labels, ℓ rows and mean offsets of every combination of ``variables``
        (first varying fastest), averaging the grid over the rest with ``weights``:
        ``"equal"``, ``"proportional"`` (frequencies in the data of the combinations
        averaged over) or ``"cells"`` (frequencies of the grid's cells), as emmeans."""
        if weights not in ("equal", "proportional", "cells"):
            raise ArgumentError("weights", weights, "'equal', 'proportional' or 'cells'")
        if weights == "equal":
            w = np.ones(len(self.frame))
        elif weights == "cells":
            w = self._counts(self.factors)
        else:
            w = self._counts([f for f in self.factors if f not in variables])
        for v in variables:
            if v not in self.levels:
                raise ModelSpecificationError(
                    f"'{v}' is not a variable of the reference grid; it has {list(self.levels)}"
                )
        combos = list(itertools.product(*[self.levels[n] for n in reversed(variables)]))
        rows, offs, labels = [], [], []
        for c in combos:
            c = c[::-1]
            mask = np.ones(len(self.frame), dtype=bool)
            for n, v in zip(variables, c):
                mask &= (self.frame[n] == v).to_numpy()
            wm = w[mask]
            with np.errstate(invalid="ignore"):
                rows.append(wm @ self.X[mask] / wm.sum())
                offs.append(float(wm @ self.offset[mask]) / wm.sum())
            labels.append(c)
        lab = pd.DataFrame(labels, columns=variables)
        return lab, np.array(rows).reshape(len(rows), self.X.shape[1]), np.array(offs)


class _LinearFunctions:
    """Shared printing and interval logic of EMMs and contrasts."""

    engine: _Engine
    labels: pd.DataFrame
    L: np.ndarray
    offset: np.ndarray
    by: list[str]
    type: str
    level: float
    notes: list[str]

    def _family_ids(self) -> np.ndarray:
        if not self.by:
            return np.zeros(len(self.L), dtype=int)
        keys = self.labels[self.by].astype(str).agg("\x1f".join, axis=1)
        return pd.factorize(keys)[0]

    def _link(self) -> tuple[str, str]:
        fam = self.engine.model.family
        if isinstance(fam, str):
            return fam, "identity"
        return fam.family, fam.link.name

    def __str__(self) -> str:
        return self.to_frame().to_string(index=False) + "\n\n" + "\n".join(self.notes)

    def __repr__(self) -> str:
        return self.__str__()


class EMMeans(_LinearFunctions):
    """Estimated marginal means; ``to_frame()`` is emmeans' ``summary``."""

    def __init__(self, engine: _Engine, labels: pd.DataFrame, L: np.ndarray, offset: np.ndarray,
                 specs: list[str], by: list[str], type: str, level: float, averaged: list[str]):
        self.engine, self.labels, self.L, self.offset = engine, labels, L, offset
        self.specs, self.by, self.type, self.level = specs, by, type, level
        self.est, self.se, self.df = engine.estimate(L)
        self.est = self.est + offset
        self.averaged = averaged
        self.notes = []
        if averaged:
            self.notes.append(f"Results are averaged over the levels of: {', '.join(averaged)}")
        self.notes.append(f"Degrees-of-freedom method: {engine.method}")
        self.notes.append(f"Confidence level used: {level}")
        fam, link = self._link()
        if type == "response" and link != "identity":
            self.notes.append(f"Intervals are back-transformed from the {link} scale")

    def to_frame(self, level: float | None = None) -> pd.DataFrame:
        """One row per EMM: labels, emmean (or prob / rate / response), SE, df, CL."""
        level = self.level if level is None else level
        c = critical_value(self.df, level, "none", 1, 1)
        lo, hi = self.est - c * self.se, self.est + c * self.se
        out = self.labels.copy()
        fam, link = self._link()
        name, est, se = "emmean", self.est, self.se
        if self.type == "response" and link != "identity":
            inv = self.engine.model.family
            name = {"binomial": "prob", "poisson": "rate"}.get(fam, "response")
            est, se = inv.linkinv(self.est), np.abs(inv.mu_eta(self.est)) * self.se
            lo, hi = np.sort(np.vstack([inv.linkinv(lo), inv.linkinv(hi)]), axis=0)
        asym = np.all(np.isinf(self.df))
        out[name], out["SE"], out["df"] = est, se, self.df
        out["asymp.LCL" if asym else "lower.CL"] = lo
        out["asymp.UCL" if asym else "upper.CL"] = hi
        return out

    def contrast(self, method: str | dict[str, Any] = "pairwise",
                 adjust: str | None = None, type: str | None = None) -> EMMContrasts:
        """Contrasts within each ``by`` group: ``"pairwise"`` (i − j, i < j),
        ``"revpairwise"`` (j − i) or a dict {name: coefficients over the EMMs of a group}."""
        fam_ids = self._family_ids()
        rows, labs = [], []
        spec_labels = self.labels[self.specs].copy()
        for v in self.specs:
            vals = [str(x) for x in spec_labels[v]]
            if _is_num(vals):
                spec_labels[v] = [f"{v}{x}" for x in vals]
        names = spec_labels.astype(str).agg(" ".join, axis=1).to_list()
        fam, link = self._link()
        resp = (type or self.type) == "response"
        ratio = resp and link in ("log", "logit") and method in ("pairwise", "revpairwise")
        sep = " / " if ratio else " - "
        for f in np.unique(fam_ids):
            idx = np.flatnonzero(fam_ids == f)
            k = idx.size
            if method == "pairwise":
                pairs_ij = [(i, j) for i in range(k) for j in range(i + 1, k)]
            elif method == "revpairwise":
                pairs_ij = [(j, i) for j in range(1, k) for i in range(j)]
            elif isinstance(method, dict):
                pairs_ij = []
                for nm, w in method.items():
                    w = np.asarray(w, dtype=float)
                    if w.size != k:
                        raise ValueError(f"contrast '{nm}' has {w.size} coefficients; the "
                                         f"groups have {k} estimates")
                    rows.append(w @ self.L[idx])
                    labs.append((nm, idx[0]))
            else:
                raise ValueError("method must be 'pairwise', 'revpairwise' or a dict of "
                                 f"coefficients, got {method!r}")
            for i, j in pairs_ij:
                rows.append(self.L[idx[i]] - self.L[idx[j]])
                labs.append((f"{names[idx[i]]}{sep}{names[idx[j]]}", idx[0]))
        labels = pd.DataFrame({"contrast": [c for c, _ in labs]})
        for b in self.by:
            labels[b] = [self.labels[b].iloc[i] for _, i in labs]
        pairwise = method in ("pairwise", "revpairwise")
        k = int(np.bincount(fam_ids).max())
        default = "tukey" if pairwise else "none"
        adj = normalize_adjust(default if adjust is None else adjust, pairwise)
        return EMMContrasts(self.engine, labels, np.array(rows), self.by, adj, k,
                            "ratio" if ratio else "link", self.level,
                            {"logit": "odds.ratio", "log": "ratio"}.get(link, "estimate"),
                            pairwise)

    def pairs(self, adjust: str | None = "tukey", reverse: bool = False,
              type: str | None = None) -> EMMContrasts:
        """All pairwise differences within each ``by`` group (emmeans' ``pairs``)."""
        return self.contrast("revpairwise" if reverse else "pairwise", adjust, type)


class EMMContrasts(_LinearFunctions):
    """Contrasts of EMMs with tests and (adjusted) intervals; ``to_frame()`` is emmeans'
    ``summary``, ``confint()`` its intervals."""

    def __init__(self, engine: _Engine, labels: pd.DataFrame, L: np.ndarray, by: list[str],
                 adjust: str, k: int, scale: str, level: float, ratio_name: str,
                 pairwise: bool = True):
        self.engine, self.labels, self.L, self.by = engine, labels, L, by
        self.pairwise = pairwise
        self.adjust, self.k, self.scale, self.level = adjust, k, scale, level
        self.ratio_name = ratio_name
        self.offset = np.zeros(len(L))
        self.type = "response" if scale == "ratio" else "link"
        self.est, self.se, self.df = engine.estimate(L)
        self.notes = [f"Degrees-of-freedom method: {engine.method}"]
        if scale == "ratio":
            scale_name = "log odds ratio" if self._link()[1] == "logit" else "log"
            self.notes.append(f"Tests are performed on the {scale_name} scale")

    def _m(self) -> int:
        return int(np.bincount(self._family_ids()).max())

    def _adjust(self, adjust: str | None) -> str:
        return self.adjust if adjust is None else normalize_adjust(adjust, self.pairwise)

    def _note(self, adj: str, what: str) -> str:
        if adj == "tukey":
            return f"{what}: tukey method for comparing a family of {self.k} estimates"
        if adj == "none":
            return ""
        return f"{what}: {adj} method for {self._m()} tests"

    def to_frame(self, adjust: str | None = None) -> pd.DataFrame:
        """Contrast labels, estimate (or ratio), SE, df, t.ratio / z.ratio, p.value."""
        adj = self._adjust(adjust)
        stat = self.est / self.se
        p = adjust_p(stat, self.df, adj, self._family_ids(), self.k)
        out = self.labels.copy()
        asym = np.all(np.isinf(self.df))
        if self.scale == "ratio":
            r = np.exp(self.est)
            out[self.ratio_name], out["SE"], out["df"], out["null"] = r, r * self.se, self.df, 1.0
        else:
            out["estimate"], out["SE"], out["df"] = self.est, self.se, self.df
        out["z.ratio" if asym else "t.ratio"] = stat
        out["p.value"] = p
        return out

    def confint(self, level: float | None = None, adjust: str | None = None) -> pd.DataFrame:
        """Intervals with the family's adjustment (Holm's intervals are Bonferroni's)."""
        level = self.level if level is None else level
        adj = self._adjust(adjust)
        c = critical_value(self.df, level, adj, self._m(), self.k)
        lo, hi = self.est - c * self.se, self.est + c * self.se
        out = self.labels.copy()
        asym = np.all(np.isinf(self.df))
        if self.scale == "ratio":
            r = np.exp(self.est)
            out[self.ratio_name], out["SE"], out["df"] = r, r * self.se, self.df
            lo, hi = np.exp(lo), np.exp(hi)
        else:
            out["estimate"], out["SE"], out["df"] = self.est, self.se, self.df
        out["asymp.LCL" if asym else "lower.CL"] = lo
        out["asymp.UCL" if asym else "upper.CL"] = hi
        return out

    def __str__(self) -> str:
        notes = [n for n in self.notes + [self._note(self.adjust, "P value adjustment")] if n]
        return self.to_frame().to_string(index=False) + "\n\n" + "\n".join(notes)


def emmeans(model: Any, specs: str | list[str], by: str | list[str] | None = None,
            at: dict[str, Any] | None = None, type: str = "link", ddf: str | None = None,
            level: float = 0.95, weights: str = "equal") -> EMMeans:
    """Estimated marginal means of ``specs`` (a factor, a list, or ``"~ a | b"``), R's
    ``emmeans(m, specs, by, at, type, lmer.df, weights)``.

    ``weights`` averages the grid over the other factors with equal weights (default),
    ``"proportional"`` to the frequencies of their combinations in the data, or by
    ``"cells"`` (the frequencies of each grid cell).
    ``at`` fixes covariates (values) or restricts factors (levels); ``type="response"``
    back-transforms GLMM means (delta-method SEs); ``ddf`` is ``"Kenward-Roger"``,
    ``"Satterthwaite"`` or ``"asymptotic"`` (default as emmeans: Kenward–Roger for
    REML lmer fits, Satterthwaite for ML, asymptotic for glmer and beyond 3000 rows).
    """
    if type not in ("link", "response"):
        raise ValueError(f"type must be 'link' or 'response', got {type!r}")
    spec_l, by_l = _parse_specs(specs, by)
    grid = ReferenceGrid(model, at)
    variables = spec_l + [b for b in by_l if b not in spec_l]
    labels, L, off = grid.cells(variables, weights)
    averaged = [f for f in grid.factors if f not in variables and len(grid.levels[f]) > 1]
    engine = _Engine(model, _ddf_method(model, ddf))
    return EMMeans(engine, labels, L, off, spec_l, by_l, type, level, averaged)


def pairs(emm: EMMeans, adjust: str | None = "tukey", reverse: bool = False) -> EMMContrasts:
    """emmeans' ``pairs(emm)``: pairwise differences within each ``by`` group."""
    return emm.pairs(adjust=adjust, reverse=reverse)
