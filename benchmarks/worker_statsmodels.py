"""Time statsmodels ``MixedLM`` on one spec; run in a fresh process per model.

Usage: ``python benchmarks/worker_statsmodels.py SPEC.tsv --repeats N --budget SECONDS``.
Reads ``statsmodels.json`` next to the spec (written by ``run.py`` from
`cases.StatsmodelsForm`) and prints one ``BENCHRESULT {json}`` line.

The timed call is ``MixedLM.from_formula(...).fit(reml=...)``.  statsmodels has
no prior weights and no Laplace/adaptive-quadrature GLMM, so only the Gaussian
models it can express are given a form; the caller enforces a wall-clock limit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import common
import numpy as np
import pandas as pd


def fit_once(form: dict[str, Any], frame: pd.DataFrame, reml: bool) -> Any:
    """One ``MixedLM`` fit of `form` on `frame`."""
    from statsmodels.regression.mixed_linear_model import MixedLM

    groups = form.get("groups")
    derive = form.get("derive_groups")
    if derive:
        labels = frame[derive[0]].astype(str)
        for name in derive[1:]:
            labels = labels + ":" + frame[name].astype(str)
        frame = frame.assign(_derived_group=labels)
        groups = "_derived_group"
    elif groups is None:
        frame = frame.assign(_one_group=np.ones(len(frame)))
        groups = "_one_group"
    model = MixedLM.from_formula(
        form["formula"],
        data=frame,
        groups=groups,
        re_formula=form.get("re_formula"),
        vc_formula=form.get("vc_formula"),
        missing="drop",
    )
    return model.fit(reml=reml)


def run(spec_path: Path, repeats: int, budget: float) -> dict[str, Any]:
    """Warm up, then time up to `repeats` fits (stopping once `budget` seconds are spent)."""
    spec = common.read_spec(spec_path)
    result: dict[str, Any] = {"tool": "statsmodels", "case": spec.id, "status": "error"}
    try:
        import statsmodels
    except ImportError as exc:
        return {**result, "status": "skipped", "message": f"statsmodels not installed: {exc}"}
    result["version"] = statsmodels.__version__
    form = json.loads((spec_path.parent / "statsmodels.json").read_text(encoding="utf-8"))
    frame = common.load_frame(spec)
    needed = [c.name for c in spec.columns]
    frame = frame.dropna(subset=needed)
    fitted, timing = common.time_fits(
        lambda f: fit_once(form, f, spec.reml), frame, spec.warmup_rows, repeats, budget
    )
    result.update(
        status="ok",
        **timing,
        criterion=-2.0 * float(fitted.llf),
        converged=bool(getattr(fitted, "converged", True)),
        n_obs=len(frame),
    )
    return result


def main() -> None:
    """Command-line entry point."""
    common.worker_main("statsmodels", run, __doc__)


if __name__ == "__main__":
    main()
