"""Time the Python peers' ``glmer`` (mixedlm, lme-python) on one spec, in a fresh process.

Usage: ``python benchmarks/worker_glmm_peers.py SPEC.tsv --tool mixedlm|lme_python
--repeats N --budget SECONDS``. Prints one ``BENCHRESULT {json}`` line (see
`common.emit_result`). The peers are only measured, never a dependency: a peer
that is not installed gives a ``skipped`` result.

A ``cbind(s, f) ~ ...`` response, which neither peer parses, is passed as the
proportion s/(s + f) with prior weights s + f (the same binomial likelihood,
as lme4 documents). The criterion reported is −2 × the peer's log-likelihood.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import common
import numpy as np
import pandas as pd

_CBIND = re.compile(r"^\s*cbind\s*\((?P<s>[^,]+),(?P<f>.+)\)\s*~(?P<rhs>.*)$", re.S)


def binomial_proportion(formula: str, frame: pd.DataFrame) -> tuple[str, pd.DataFrame, Any]:
    """(formula, frame, weights) with a cbind response rewritten as a proportion and a
    two-level factor response as 0/1 (the first level is failure, as in R)."""
    m = _CBIND.match(formula)
    if m is None:
        response = formula.split("~", 1)[0].strip()
        if response in frame and isinstance(frame[response].dtype, pd.CategoricalDtype):
            frame = frame.copy()
            frame[response] = (frame[response].cat.codes != 0).astype(float)
        return formula, frame, None
    s = frame.eval(m.group("s")).to_numpy(float)
    f = frame.eval(m.group("f")).to_numpy(float)
    out = frame.copy()
    trials = s + f
    out["peer_prop_"] = np.where(trials > 0, s / np.where(trials > 0, trials, 1.0), 0.0)
    return "peer_prop_ ~" + m.group("rhs"), out, trials


def _fit_mixedlm(spec: common.Spec, frame: pd.DataFrame) -> tuple[Any, float]:
    import mixedlm

    formula, data, weights = binomial_proportion(spec.formula, frame)
    fam = {"binomial": mixedlm.families.Binomial, "poisson": mixedlm.families.Poisson}
    model = mixedlm.glmer(formula, data, family=fam[spec.family](), nAGQ=spec.nagq,
                          weights=weights)
    return model, -2.0 * float(model.logLik().value)


def _fit_lme_python(spec: common.Spec, frame: pd.DataFrame) -> tuple[Any, float]:
    import lme_python as lp

    formula, data, weights = binomial_proportion(spec.formula, frame)
    for col in data.columns:  # lme-python reads grouping factors as strings
        if isinstance(data[col].dtype, pd.CategoricalDtype):
            data[col] = data[col].astype(str)
    if weights is None:
        model = lp.glmer(formula, data, spec.family, spec.nagq)
    else:
        model = lp.glmer_weighted(formula, data, spec.family, spec.nagq, list(weights))
    return model, -2.0 * float(model.log_likelihood)


FITTERS = {"mixedlm": _fit_mixedlm, "lme_python": _fit_lme_python}


def run(spec_path: Path, repeats: int, budget: float, tool: str) -> dict[str, Any]:
    """Warm up, then time up to `repeats` fits of the peer (within `budget` seconds)."""
    spec = common.read_spec(spec_path)
    result: dict[str, Any] = {"tool": tool, "case": spec.id, "status": "error"}
    try:
        __import__(tool)
    except ImportError as exc:
        return {**result, "status": "skipped", "message": f"{tool} not installed: {exc}"}
    frame = common.load_frame(spec)
    fit = FITTERS[tool]
    (model, criterion), timing = common.time_fits(
        lambda f: fit(spec, f), frame, spec.warmup_rows, repeats, budget
    )
    result.update(status="ok", **timing, criterion=criterion, n_obs=len(frame))
    return result


def main() -> None:
    """Command-line entry point (``--tool`` chooses the peer)."""
    tool = "mixedlm"
    if "--tool" in sys.argv:
        i = sys.argv.index("--tool")
        tool = sys.argv[i + 1]
        del sys.argv[i : i + 2]
    if tool not in FITTERS:
        raise SystemExit(f"--tool must be one of {sorted(FITTERS)}, got {tool!r}")
    common.worker_main(tool, lambda s, r, b: run(s, r, b, tool), __doc__)


if __name__ == "__main__":
    main()
