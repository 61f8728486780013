"""Shared pieces of the benchmark harness: paths, the case spec format, data loading, memory.

Every benchmarked model is described by a *spec file* (``spec.tsv``): a small
tab-separated file that the Python workers and the R script read alike, so that
all tools fit exactly the same data with the same options.  Each line is a key
followed by one or more tab-separated values::

    id        sleep_rs
    kind      lmer                      (lmer or glmer)
    formula   Reaction ~ Days + (Days | Subject)
    REML      TRUE
    family    gaussian
    link      identity
    nAGQ      1
    weights                             (a column name, or empty)
    format    csv                       (csv: one data.csv; bin: raw column files)
    path      /abs/path/data.csv        (csv file, or folder of <column>.bin files)
    nrows     180
    warmup_rows 0                       (rows of the warm-up fit's subsample; 0: all)
    column    Subject   factor   308  309  ...     (level order as R's)
    column    Reaction  numeric
    column    g         codes    1000              (bin only: int32 codes 1..K)

Binary columns are little-endian ``float64`` (numeric) or ``int32`` (codes), one
file per column, written once per run and read back bit-identically by R.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
SRC_DIR = REPO_ROOT / "src"
RESULTS_DIR = BENCH_DIR / "results"
DATA_DIR = RESULTS_DIR / "data"
DOCS_DIR = REPO_ROOT / "docs"
REFERENCE_DIR = Path(os.environ.get("MIXEDMODELS_REFERENCE_DIR", "/work/shared/reference"))

#: Prefix of the single result line a worker prints on stdout.
RESULT_MARKER = "BENCHRESULT "

#: Above this many rows the warm-up fit uses a subsample of the data (see `warmup_frame`).
WARMUP_FULL_LIMIT = 5_000
WARMUP_SUBSET_ROWS = 2_000


#: Environment variable naming a snapshot of ``src/`` that workers import instead.
SRC_ENV = "MIXEDMODELS_BENCH_SRC"


def use_working_tree() -> None:
    """Make ``import mixedmodels`` resolve to this checkout's ``src/``.

    When ``run.py`` has taken a snapshot of ``src/`` (so that every case of a
    run measures the same engine, even while the tree is being edited), the
    snapshot named by `SRC_ENV` is used instead.
    """
    folder = Path(os.environ.get(SRC_ENV) or SRC_DIR)
    if folder.is_dir() and str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


@dataclass
class Column:
    """One data column: its name, kind (numeric/factor/ordered/codes) and levels."""

    name: str
    kind: str
    levels: list[str] = field(default_factory=list)
    n_codes: int = 0


@dataclass
class Spec:
    """A benchmarked model: the call, its options and where its data lives."""

    id: str
    kind: str
    formula: str
    reml: bool = True
    family: str = "gaussian"
    link: str = "identity"
    nagq: int = 1
    weights: str | None = None
    format: str = "csv"
    path: str = ""
    nrows: int = 0
    warmup_rows: int = 0
    columns: list[Column] = field(default_factory=list)

    @property
    def criterion_name(self) -> str:
        """Name of the optimised criterion compared across tools."""
        if self.kind == "glmer":
            return "-2 logLik"
        return "REML criterion" if self.reml else "deviance"


def write_spec(spec: Spec, target: Path) -> None:
    """Write `spec` as ``spec.tsv`` in the format described in the module docstring."""
    lines = [
        ["id", spec.id],
        ["kind", spec.kind],
        ["formula", spec.formula],
        ["REML", "TRUE" if spec.reml else "FALSE"],
        ["family", spec.family],
        ["link", spec.link],
        ["nAGQ", str(spec.nagq)],
        ["weights", spec.weights or ""],
        ["format", spec.format],
        ["path", spec.path],
        ["nrows", str(spec.nrows)],
        ["warmup_rows", str(spec.warmup_rows)],
    ]
    for col in spec.columns:
        if col.kind == "codes":
            lines.append(["column", col.name, "codes", str(col.n_codes)])
        else:
            lines.append(["column", col.name, col.kind, *col.levels])
    for line in lines:
        for value in line:
            if "\t" in value or "\n" in value:
                raise ValueError(f"spec value {value!r} contains a tab or newline")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join("\t".join(line) + "\n" for line in lines), encoding="utf-8")


def read_spec(path: Path) -> Spec:
    """Read a ``spec.tsv`` written by `write_spec`."""
    spec = Spec(id="", kind="", formula="")
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw:
            continue
        key, *values = raw.split("\t")
        value = values[0] if values else ""
        if key == "column":
            name, kind, *rest = values
            if kind == "codes":
                spec.columns.append(Column(name, kind, n_codes=int(rest[0])))
            else:
                spec.columns.append(Column(name, kind, levels=list(rest)))
        elif key == "REML":
            spec.reml = value == "TRUE"
        elif key == "nAGQ":
            spec.nagq = int(value)
        elif key in {"nrows", "warmup_rows"}:
            setattr(spec, key, int(value))
        elif key == "weights":
            spec.weights = value or None
        elif key in {"id", "kind", "formula", "family", "link", "format", "path"}:
            setattr(spec, key, value)
        else:
            raise ValueError(f"unknown spec key {key!r} in {path}")
    return spec


def load_frame(spec: Spec) -> pd.DataFrame:
    """Load the data of `spec` as a DataFrame with R's factor levels as Categoricals."""
    if spec.format == "csv":
        factor_cols = [c.name for c in spec.columns if c.kind in {"factor", "ordered"}]
        frame = pd.read_csv(
            spec.path,
            dtype={name: str for name in factor_cols},
            keep_default_na=False,
            na_values=[""],
        )
        for col in spec.columns:
            if col.kind in {"factor", "ordered"}:
                frame[col.name] = pd.Categorical(
                    frame[col.name], categories=col.levels, ordered=col.kind == "ordered"
                )
            else:
                frame[col.name] = frame[col.name].astype(float)
        return frame
    if spec.format == "bin":
        data: dict[str, Any] = {}
        folder = Path(spec.path)
        for col in spec.columns:
            if col.kind == "codes":
                codes = np.fromfile(folder / f"{col.name}.bin", dtype="<i4")
                categories = [str(i) for i in range(1, col.n_codes + 1)]
                data[col.name] = pd.Categorical.from_codes(codes - 1, categories=categories)
            else:
                data[col.name] = np.fromfile(folder / f"{col.name}.bin", dtype="<f8")
        return pd.DataFrame(data)
    raise ValueError(f"unknown data format {spec.format!r}")


def default_warmup_rows(nrows: int) -> int:
    """Rows of the warm-up fit: 0 (all) up to `WARMUP_FULL_LIMIT` rows, else a subsample.

    The warm-up only primes imports and first-call costs, so for larger data a
    subsample of about `WARMUP_SUBSET_ROWS` rows does the job without doubling
    the cost of a case.
    """
    return 0 if nrows <= WARMUP_FULL_LIMIT else WARMUP_SUBSET_ROWS


def warmup_frame(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """The data of the warm-up fit: all of `frame` (``rows == 0``) or every k-th row.

    k = ceil(len / rows), starting with the first row, so that all factor
    levels of sorted data are still present; unused levels are dropped.  The
    R script takes the same rows (``seq(1, n, by = k)``).
    """
    if rows <= 0 or rows >= len(frame):
        return frame
    step = -(-len(frame) // rows)
    head = frame.iloc[::step].copy()
    for name in head.columns:
        if isinstance(head[name].dtype, pd.CategoricalDtype):
            head[name] = head[name].cat.remove_unused_categories()
    return head


def _status_kb(key: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux); True on success."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def rss_mb() -> float | None:
    """Current resident set size in MiB."""
    value = _status_kb("VmRSS")
    return None if value is None else value / 1024.0


def peak_rss_mb() -> float | None:
    """Peak resident set size (since start or the last `reset_peak_rss`) in MiB."""
    value = _status_kb("VmHWM")
    if value is None:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return value / 1024.0


def emit_result(result: dict[str, Any]) -> None:
    """Print the worker's result as one marked JSON line on stdout."""
    print(RESULT_MARKER + json.dumps(result, default=float), flush=True)


def worker_main(tool: str, run: Any, description: str | None) -> None:
    """A worker's command line: ``SPEC [--repeats N] [--budget S]``, one result line out.

    ``run(spec_path, repeats, budget)`` returns the result dict; an exception
    becomes an ``error`` result with its traceback instead of a crash.
    """
    import argparse
    import traceback

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("spec", type=Path)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--budget", type=float, default=60.0)
    args = parser.parse_args()
    try:
        result = run(args.spec, args.repeats, args.budget)
    except Exception as exc:
        result = {
            "tool": tool,
            "case": args.spec.parent.name,
            "status": "error",
            "message": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=8),
        }
    emit_result(result)


def parse_result(stdout: str) -> dict[str, Any] | None:
    """Find the last result line in a worker's stdout."""
    found = None
    for line in stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            found = json.loads(line[len(RESULT_MARKER) :])
    return found


def time_budget_reached(times: list[float], repeats: int, budget: float) -> bool:
    """Whether a worker should stop repeating: all repeats done or time budget spent."""
    return len(times) >= repeats or (len(times) >= 1 and sum(times) >= budget)


def time_fits(
    fit: Callable[[pd.DataFrame], Any],
    frame: pd.DataFrame,
    warmup_rows: int,
    repeats: int,
    budget: float,
) -> tuple[Any, dict[str, Any]]:
    """Warm up (on a subsample; the full frame if that fails), then time ``fit(frame)``
    until `repeats` fits or `budget` seconds. Returns the last fit and the timing
    fields of a result: times, median, peak_rss_mb, fit_mem_mb, warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fit(warmup_frame(frame, warmup_rows))
        except Exception:
            fit(frame)
    reset_peak_rss()
    baseline = rss_mb()
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        times: list[float] = []
        model = None
        while not time_budget_reached(times, repeats, budget):
            del model
            start = time.perf_counter()
            model = fit(frame)
            times.append(time.perf_counter() - start)
        caught = sorted({f"{type(w.message).__name__}: {w.message}" for w in records})
    peak = peak_rss_mb()
    return model, {
        "times": times,
        "median": statistics.median(times),
        "peak_rss_mb": peak,
        "fit_mem_mb": None if peak is None or baseline is None else peak - baseline,
        "warnings": caught[:5],
    }
