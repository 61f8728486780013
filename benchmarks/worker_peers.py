"""Time a Python peer (lme-python or mixedlm) on one spec; a fresh process per model.

Usage: ``python benchmarks/worker_peers.py TOOL SPEC.tsv --repeats N --budget SECONDS``
with TOOL ``lme-python`` or ``mixedlm``. Prints one ``BENCHRESULT {json}`` line.

The timed call is each package's ``lmer(formula, data, ...)`` on lme4's formula:
``lme_python.lmer`` (``lmer_weighted`` with prior weights; grouping columns
passed as strings, which it reads as factors) and ``mixedlm.lmer``. Both are
only measured, never dependencies: ``pip install lme-python mixedlm`` into the
benchmark's environment. GLMMs are not measured for these peers (lme-python
has no ``cbind`` response; the Gaussian models are the comparison of interest).
The criterion (REML criterion or deviance on lme4's scale) is reported so that
the report can check each peer reached lme4's optimum.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import common
import machine
import pandas as pd

TOOLS = {"lme-python": "lme_python", "mixedlm": "mixedlm"}


def _lme_python(spec: common.Spec, frame: pd.DataFrame) -> tuple[pd.DataFrame, Any, Any]:
    """(frame, fit function, criterion of a fit) for lme-python."""
    import lme_python as lp

    frame = frame.copy()
    for c in spec.columns:  # factors as strings: lme-python's factor columns
        if c.kind in ("factor", "ordered"):
            frame[c.name] = frame[c.name].astype(str)

    def fit(f: pd.DataFrame) -> Any:
        if spec.weights:
            return lp.lmer_weighted(spec.formula, f, spec.reml, f[spec.weights].to_numpy())
        return lp.lmer(spec.formula, f, spec.reml)

    return frame, fit, lambda m: float(m.reml_criterion if spec.reml else m.deviance)


def _mixedlm(spec: common.Spec, frame: pd.DataFrame) -> tuple[pd.DataFrame, Any, Any]:
    """(frame, fit function, criterion of a fit) for mixedlm."""
    import mixedlm

    def fit(f: pd.DataFrame) -> Any:
        kwargs: dict[str, Any] = {"REML": spec.reml}
        if spec.weights:
            kwargs["weights"] = spec.weights
        return mixedlm.lmer(spec.formula, f, **kwargs)

    def criterion(m: Any) -> float:
        value = m.REMLcrit() if spec.reml else m.deviance
        return float(value() if callable(value) else value)

    return frame, fit, criterion


def run(tool: str, spec_path: Path, repeats: int, budget: float) -> dict[str, Any]:
    """Warm up, then time up to `repeats` fits (stopping once `budget` seconds are spent)."""
    spec = common.read_spec(spec_path)
    result: dict[str, Any] = {"tool": tool, "case": spec.id, "status": "error"}
    if spec.kind != "lmer":
        return {**result, "status": "skipped", "message": "GLMMs are not measured for this peer"}
    try:
        __import__(TOOLS[tool])
    except ImportError as exc:
        return {**result, "status": "skipped", "message": f"{tool} not installed: {exc}"}
    result["version"] = machine._module_version(TOOLS[tool])
    frame = common.load_frame(spec).dropna(subset=[c.name for c in spec.columns])
    frame, fit, criterion = (_lme_python if tool == "lme-python" else _mixedlm)(spec, frame)
    model, timing = common.time_fits(fit, frame, spec.warmup_rows, repeats, budget)
    result.update(status="ok", **timing, criterion=criterion(model), n_obs=len(frame))
    return result


def main() -> None:
    """Command-line entry point: the tool's name first, then the worker's usual arguments."""
    tool = sys.argv.pop(1) if len(sys.argv) > 1 else ""
    if tool not in TOOLS:
        raise SystemExit(f"usage: worker_peers.py {{{'|'.join(TOOLS)}}} SPEC [--repeats N]")
    common.worker_main(tool, lambda s, r, b: run(tool, s, r, b), __doc__)


if __name__ == "__main__":
    main()
