"""Held-out check of ``lmer`` against lme4 on simulated designs.

Simulates ~60 data sets (balanced crossed and nested scalar designs with and
without replication, true variances positive and zero, nearly balanced
variants, nested and partially crossed factors, slopes, shifted/scaled y),
fits each with lme4 (``Rscript``, default control) and with ``mm.lmer``, and
prints, per case, the relative criterion difference
``(crit_ours - crit_lme4) / max(1, |crit_lme4|)`` (positive: ours is worse),
and the largest absolute differences in theta, beta, sigma (relative) and the
fixed-effect standard errors (relative).  R is used only to make reference
numbers here; it is no dependency of the library or its tests.

Run: ``python benchmarks/heldout_check.py [outdir]``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

import mixedmodels as mm


def _crossed(rng, na, nb, nrep, sa, sb, sab=0.0, sigma=1.0):
    a, b, r = np.meshgrid(np.arange(na), np.arange(nb), np.arange(nrep), indexing="ij")
    a, b = a.ravel(), b.ravel()
    ua, ub = rng.normal(0, sa, na), rng.normal(0, sb, nb)
    uab = rng.normal(0, sab, (na, nb))
    y = 10 + ua[a] + ub[b] + uab[a, b] + rng.normal(0, sigma, a.size)
    return pd.DataFrame({"a": [f"a{i:02d}" for i in a], "b": [f"b{i:02d}" for i in b],
                         "y": y, "x": rng.normal(size=a.size)})


def _nested(rng, na, nb, nrep, sa, sb, sigma=1.0):
    a, b, r = np.meshgrid(np.arange(na), np.arange(nb), np.arange(nrep), indexing="ij")
    a, b = a.ravel(), b.ravel()
    ua, ub = rng.normal(0, sa, na), rng.normal(0, sb, (na, nb))
    y = 5 + ua[a] + ub[a, b] + rng.normal(0, sigma, a.size)
    return pd.DataFrame({"a": [f"a{i:02d}" for i in a], "b": [f"b{i:02d}" for i in b],
                         "ab": [f"a{i:02d}b{j:02d}" for i, j in zip(a, b)],
                         "y": y, "x": rng.normal(size=a.size)})


def cases(seed: int = 20261206):
    """Yield (name, formula, REML, data, weights column or None, offset column or None)."""
    rng = np.random.default_rng(seed)
    out = []
    for reml in (True, False):
        tag = "R" if reml else "M"
        for sa, sb in ((1.0, 0.7), (0.0, 0.8), (0.8, 0.0), (0.05, 0.05), (0.0, 0.0)):
            d = _crossed(rng, 6, 5, 2, sa, sb)
            out.append((f"cr2_rep_{sa}_{sb}_{tag}", "y ~ 1 + (1|a) + (1|b)", reml, d, None, None))
            d = _crossed(rng, 8, 7, 1, sa, sb)
            out.append((f"cr2_norep_{sa}_{sb}_{tag}", "y ~ 1 + (1|a) + (1|b)", reml, d, None, None))
        for sab in (0.6, 0.0):
            d = _crossed(rng, 5, 4, 3, 1.0, 0.5, sab)
            out.append((f"cr3_{sab}_{tag}", "y ~ 1 + (1|a) + (1|b) + (1|a:b)", reml, d, None, None))
        for sa, sb in ((1.0, 0.5), (0.0, 0.6), (0.7, 0.0)):
            d = _nested(rng, 6, 4, 3, sa, sb)
            out.append((f"nest_{sa}_{sb}_{tag}", "y ~ 1 + (1|a/b)", reml, d, None, None))
            out.append((f"nest2_{sa}_{sb}_{tag}", "y ~ 1 + (1|a) + (1|a:b)", reml, d, None, None))
    base = _crossed(rng, 6, 5, 2, 1.0, 0.6)
    out.append(("near_droprow", "y ~ 1 + (1|a) + (1|b)", True, base.iloc[1:].copy(), None, None))
    d = base.copy()
    d.loc[3, "y"] = np.nan
    out.append(("near_na_y", "y ~ 1 + (1|a) + (1|b)", True, d, None, None))
    d = base.copy()
    d["w"] = rng.uniform(0.5, 2.0, len(d))
    out.append(("near_weights", "y ~ 1 + (1|a) + (1|b)", True, d, "w", None))
    d = base.copy()
    d["w"] = 2.0
    out.append(("near_constweights", "y ~ 1 + (1|a) + (1|b)", True, d, "w", None))
    d = base.copy()
    d["o"] = rng.normal(size=len(d))
    out.append(("near_offset", "y ~ 1 + (1|a) + (1|b)", True, d, None, "o"))
    out.append(("near_covariate", "y ~ x + (1|a) + (1|b)", True, base, None, None))
    out.append(("near_slope", "y ~ x + (x|a) + (1|b)", True, base, None, None))
    out.append(("near_zeroslope", "y ~ x + (0 + x|a) + (1|b)", True, base, None, None))
    out.append(("near_dblbar", "y ~ x + (x||a) + (1|b)", True, base, None, None))
    out.append(("near_fixfactor", "y ~ b + (1|a)", True, base, None, None))
    d = _crossed(rng, 6, 5, 2, 0.0, 0.0)
    out.append(("near_slope_null", "y ~ x + (x|a)", True, d, None, None))
    # partially crossed: drop a block of cells
    d = _crossed(rng, 6, 6, 2, 1.0, 0.7)
    keep = ~((d.a.isin(["a00", "a01"])) & (d.b.isin(["b04", "b05"])))
    out.append(("partial_crossed", "y ~ 1 + (1|a) + (1|b)", True, d[keep].copy(), None, None))
    out.append(("partial_crossed_ML", "y ~ 1 + (1|a) + (1|b)", False, d[keep].copy(), None, None))
    # one level per observation
    d = _crossed(rng, 6, 1, 4, 1.0, 0.0)
    d["obs"] = [f"o{i:03d}" for i in range(len(d))]
    out.append(("obs_level", "y ~ 1 + (1|a) + (1|obs)", True, d, None, None))
    out.append(("obs_level_ML", "y ~ 1 + (1|a) + (1|obs)", False, d, None, None))
    # y shifted and scaled
    for shift, scale in ((1e6, 1.0), (0.0, 1e-4), (1e6, 1e-4)):
        for sa, sb in ((1.0, 0.7), (0.0, 0.8)):
            d = _crossed(rng, 6, 5, 2, sa, sb)
            d["y"] = shift + scale * d["y"]
            out.append((f"shift{shift:g}_scale{scale:g}_{sa}_{sb}", "y ~ 1 + (1|a) + (1|b)",
                        True, d, None, None))
        d = _nested(rng, 5, 3, 2, 1.0, 0.0)
        d["y"] = shift + scale * d["y"]
        out.append((f"shift{shift:g}_scale{scale:g}_nest", "y ~ 1 + (1|a/b)", True, d, None, None))
    # a one-way balanced design
    for s in (1.0, 0.0):
        d = _crossed(rng, 10, 1, 4, s, 0.0)
        out.append((f"oneway_{s}", "y ~ 1 + (1|a)", True, d, None, None))
    return out


R_SCRIPT = r"""
suppressMessages(library(lme4))
args <- commandArgs(TRUE)
spec <- read.delim(args[1], stringsAsFactors = FALSE)
res <- list()
for (i in seq_len(nrow(spec))) {
  d <- read.csv(spec$path[i], stringsAsFactors = TRUE)
  w <- if (nzchar(spec$weights[i])) d[[spec$weights[i]]] else NULL
  o <- if (nzchar(spec$offset[i])) d[[spec$offset[i]]] else NULL
  m <- tryCatch(suppressWarnings(suppressMessages(do.call(lmer, list(
        as.formula(spec$formula[i]), data = d, REML = spec$REML[i],
        weights = w, offset = o)))), error = function(e) conditionMessage(e))
  if (is.character(m)) { res[[spec$name[i]]] <- list(error = m); next }
  res[[spec$name[i]]] <- list(crit = if (spec$REML[i]) REMLcrit(m) else deviance(m),
     theta = unname(getME(m, "theta")), beta = unname(fixef(m)),
     sigma = sigma(m), se = unname(sqrt(diag(as.matrix(vcov(m))))))
}
cat(jsonlite::toJSON(res, digits = NA, auto_unbox = FALSE))
"""


def _ours(formula, reml, d, w, o):
    m = mm.lmer(formula, d, REML=reml, weights=w, offset=o)
    crit = m.reml_criterion if reml else m.deviance
    crit = crit() if callable(crit) else crit
    return m, dict(crit=float(crit), theta=np.asarray(m.theta, float),
                   beta=np.asarray(m.fixef, float), sigma=float(m.sigma),
                   se=np.asarray(m.fixef_se, float))


def main(outdir: str | None = None) -> int:
    out = Path(outdir or tempfile.mkdtemp(prefix="heldout_"))
    out.mkdir(parents=True, exist_ok=True)
    cs = cases()
    rows = []
    for name, f, reml, d, w, o in cs:
        p = out / f"{name}.csv"
        d.to_csv(p, index=False)
        rows.append(dict(name=name, formula=f, REML=reml, path=str(p),
                         weights=w or "", offset=o or ""))
    pd.DataFrame(rows).to_csv(out / "spec.tsv", sep="\t", index=False)
    (out / "fit.R").write_text(R_SCRIPT)
    ref = json.loads(subprocess.run(["Rscript", str(out / "fit.R"), str(out / "spec.tsv")],
                                    check=True, capture_output=True, text=True).stdout)
    worst = dict(crit=-np.inf, theta=0.0, beta=0.0, sigma=0.0, se=0.0)
    flagged = 0
    print(f"{'case':34s} {'dcrit_rel':>10s} {'dtheta':>9s} {'dbeta_rel':>9s} "
          f"{'dsigma_rel':>10s} {'dse_rel':>9s}")
    for name, f, reml, d, w, o in cs:
        if "error" in ref[name]:
            try:
                _ours(f, reml, d, w, o)
                ours_err = "fits"
            except Exception as e:  # noqa: BLE001 - reported, not hidden
                ours_err = f"error too: {type(e).__name__}: {str(e)[:60]}"
            print(f"{name:34s} lme4 refuses ({ref[name]['error'][0][:50]}); ours {ours_err}")
            continue
        r = {k: np.asarray(v, float) for k, v in ref[name].items()}
        _, us = _ours(f, reml, d, w, o)
        scale_y = max(float(r["sigma"][0]), 1e-300)
        dcrit = (us["crit"] - r["crit"][0]) / max(1.0, abs(r["crit"][0]))
        dth = float(np.max(np.abs(us["theta"] - r["theta"])))
        dbeta = float(np.max(np.abs(us["beta"] - r["beta"]) / np.maximum(r["se"], 1e-12 * scale_y)))
        dsig = abs(us["sigma"] - r["sigma"][0]) / scale_y
        dse = float(np.max(np.abs(us["se"] - r["se"]) / np.maximum(r["se"], 1e-300)))
        flag = dcrit > 1e-6
        flagged += flag
        diffs = dict(crit=dcrit, theta=dth, beta=dbeta, sigma=dsig, se=dse)
        for k, v in diffs.items():
            worst[k] = max(worst[k], v)
        print(f"{name:34s} {dcrit:10.2e} {dth:9.2e} {dbeta:9.2e} {dsig:10.2e} {dse:9.2e}"
              + ("  FLAG" if flag else ""))
    print(f"\n{len(cs)} cases, {flagged} flagged (criterion above lme4's by > 1e-6 relative)")
    print("worst: " + ", ".join(f"{k} {v:.2e}" for k, v in worst.items()))
    print("(dbeta in units of lme4's SE; sigma and SE relative; theta absolute)")
    return int(flagged > 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
