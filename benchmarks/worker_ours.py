"""Time ``mixedmodels.lmer``/``glmer`` on one spec; run in a fresh process per model.

Usage: ``python benchmarks/worker_ours.py SPEC.tsv --repeats N --budget SECONDS``.
Prints one ``BENCHRESULT {json}`` line (see `common.emit_result`).

The timed call is the user-facing one, ``lmer(formula, data, ...)``: formula
parsing, model frame, cross-products, optimisation and the result object.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import common
import numpy as np
import pandas as pd


def fit_once(mm: Any, spec: common.Spec, frame: pd.DataFrame) -> Any:
    """One fit of `spec` on `frame` through the public API."""
    if spec.kind == "glmer":
        kwargs: dict[str, Any] = {"family": spec.family, "nAGQ": spec.nagq}
        if spec.link and spec.link != _canonical_link(spec.family):
            kwargs["link"] = spec.link
        if spec.weights:
            kwargs["weights"] = spec.weights
        return mm.glmer(spec.formula, frame, **kwargs)
    kwargs = {"REML": spec.reml}
    if spec.weights:
        kwargs["weights"] = spec.weights
    return mm.lmer(spec.formula, frame, **kwargs)


def _canonical_link(family: str) -> str:
    return {"binomial": "logit", "poisson": "log", "gaussian": "identity"}.get(family, "")


def criterion_of(model: Any, spec: common.Spec) -> float | None:
    """The optimised criterion on lme4's scale (see `common.Spec.criterion_name`)."""
    try:
        if spec.kind == "glmer":
            return -2.0 * float(model.loglik)
        if spec.reml:
            return float(model.reml_criterion)
        return float(model.deviance)
    except Exception:
        return None


def _optinfo(model: Any) -> dict[str, Any]:
    info = getattr(model, "optinfo", None)
    if not isinstance(info, dict):
        return {}
    out: dict[str, Any] = {}
    for key, value in info.items():
        if isinstance(value, bool | int | float | str) or value is None:
            out[key] = value
        elif isinstance(value, np.generic):
            out[key] = value.item()
    return out


def run(spec_path: Path, repeats: int, budget: float) -> dict[str, Any]:
    """Warm up, then time up to `repeats` fits (stopping once `budget` seconds are spent)."""
    spec = common.read_spec(spec_path)
    result: dict[str, Any] = {"tool": "ours", "case": spec.id, "status": "error"}
    common.use_working_tree()
    try:
        import mixedmodels as mm
    except Exception as exc:
        return {**result, "status": "skipped", "message": f"mixedmodels not importable: {exc}"}
    fn_name = "glmer" if spec.kind == "glmer" else "lmer"
    if not hasattr(mm, fn_name):
        return {**result, "status": "skipped", "message": f"mixedmodels.{fn_name} not available"}
    result["version"] = getattr(mm, "__version__", "unknown")
    frame = common.load_frame(spec)
    model, timing = common.time_fits(
        lambda f: fit_once(mm, spec, f), frame, spec.warmup_rows, repeats, budget
    )
    result.update(
        status="ok",
        **timing,
        criterion=criterion_of(model, spec),
        optinfo=_optinfo(model),
        feval=_optinfo(model).get("feval"),
        n_obs=len(frame),
    )
    return result


def main() -> None:
    """Command-line entry point."""
    common.worker_main("ours", run, __doc__)


if __name__ == "__main__":
    main()
