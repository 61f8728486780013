"""GLMM benchmark: glmer against lme4 at nAGQ = 1 and 0, idle and beside a busy process.

Usage::

    python benchmarks/glmm_bench.py                 # default cases -> docs/benchmarks_glmm.md
    python benchmarks/glmm_bench.py --only crossed_logit_2e5 --repeats 2
    python benchmarks/glmm_bench.py --big           # adds the 10^6-row crossed case

Cases (data from `glmm_data`, fixed seeds, written once as CSV):

* ``crossed_logit_{1e4,2e5}`` (``--big``: ``1e6``): ``y ~ x + cond + (1|subj) + (1|item)``,
  binomial; 500 × 100, 2,000 × 400 (5,000 × 1,000) subjects × items;
* ``crossed_poisson_1e5``: ``y ~ x + (1|subj) + (1|item)``, Poisson, 1,000 × 200;
* ``logit_slope_2e4``: ``y ~ x + (x|g)``, binomial, 1,000 groups × 20;
* ``cbpp``: lme4's ``cbind(incidence, size - incidence) ~ period + (1|herd)``;
* ``grouseticks``: lme4's ``TICKS ~ YEAR + HEIGHT + (1|BROOD) + (1|LOCATION)``, Poisson
  (403 rows, broods nested in locations);
* ``VerbAgg``: ``r2 ~ Anger + Gender + btype + situ + (1|id) + (1|item)``, binomial
  (7,584 rows, 316 × 24 crossed).

The bundled datasets are read from ``src/mixedmodels/datasets``.

Each (case, nAGQ) is timed by the benchmark's workers (`worker_ours.py`,
`lme4_bench.R`, `worker_glmm_peers.py` for mixedlm and lme-python: fresh process,
one warm-up fit, then up to ``--repeats`` fits within ``--budget`` seconds; the
median is reported), first with nothing else started by the benchmark ("idle")
and then beside one ``while True: pass`` Python process ("busy"). Ratios are
each tool's median time over ours. The peers are timed only where installed
(``--no-peers`` skips them) and on the small and mid-sized cases (``--peers-max-rows``);
their −2 logLik is listed so that a fit at another optimum shows. The load
average at each measurement is recorded: other work on the machine shows there.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common
import glmm_data
import pandas as pd
from run import _run_process

ROOT = common.BENCH_DIR.parent
RESULTS = common.BENCH_DIR / "results" / "glmm"


@dataclass
class GlmmCase:
    """One benchmarked GLMM: data builder, formula, family and the nAGQ values timed."""

    id: str
    formula: str
    family: str
    make: Any
    nagq: tuple[int, ...] = (1, 0)
    small: bool = False  # timed with ``--repeats-small`` repeats (noisy otherwise)


def all_cases(big: bool) -> list[GlmmCase]:
    """The cases of the module docstring (the 10^6-row one with ``big``)."""
    cases = [
        GlmmCase("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial",
                 lambda: None, small=True),
        GlmmCase("grouseticks", "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | LOCATION)", "poisson",
                 lambda: None, small=True),
        GlmmCase("VerbAgg", "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)",
                 "binomial", lambda: None, small=True),
        GlmmCase("crossed_logit_1e4", "y ~ x + cond + (1 | subj) + (1 | item)", "binomial",
                 lambda: glmm_data.crossed_logistic(10_000, 500, 100), small=True),
        GlmmCase("crossed_logit_2e5", "y ~ x + cond + (1 | subj) + (1 | item)", "binomial",
                 lambda: glmm_data.crossed_logistic(200_000, 2_000, 400)),
        GlmmCase("crossed_poisson_1e5", "y ~ x + (1 | subj) + (1 | item)", "poisson",
                 lambda: glmm_data.crossed_poisson(100_000, 1_000, 200)),
        GlmmCase("logit_slope_2e4", "y ~ x + (x | g)", "binomial",
                 lambda: glmm_data.logistic_slope(1_000, 20), nagq=(1,), small=True),
    ]
    if big:
        cases.append(GlmmCase("crossed_logit_1e6", "y ~ x + cond + (1 | subj) + (1 | item)",
                              "binomial", lambda: glmm_data.crossed_logistic(10**6, 5_000, 1_000)))
    return cases


BUNDLED = {"cbpp": "cbpp", "grouseticks": "grouseticks", "VerbAgg": "VerbAgg"}
PEERS = ("mixedlm", "lme_python")


def _bundled(name: str) -> tuple[pd.DataFrame, dict[str, list[str]], list[str]]:
    """A bundled dataset with its R level orders (from ``datasets.json``), read directly so
    that the benchmark needs no import of the library."""
    folder = ROOT / "src" / "mixedmodels" / "datasets" / "data"
    meta = json.loads((folder / "datasets.json").read_text())[name]
    types = meta["columns"]
    factors = {c: t["levels"] for c, t in types.items() if "levels" in t}
    frame = pd.read_csv(folder / meta["file"], dtype={c: str for c in factors},
                        keep_default_na=False, na_values=[""])
    numeric = [c for c in types if c not in factors]
    return frame, factors, numeric


def _spec(case: GlmmCase, nagq: int) -> Path:
    """Write the case's data (once) and the spec for one nAGQ; return the spec path."""
    folder = RESULTS / case.id
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "data.csv"
    if case.id in BUNDLED:
        frame, factors, numeric = _bundled(BUNDLED[case.id])
    else:
        frame = case.make()
        factors = {c: list(frame[c].cat.categories) for c in frame.columns
                   if isinstance(frame[c].dtype, pd.CategoricalDtype)}
        numeric = [c for c in frame.columns if c not in factors]
    if not csv.exists():
        glmm_data.write_csv(frame, csv)
    columns = [common.Column(c, "factor", levels=[str(v) for v in factors[c]]) if c in factors
               else common.Column(c, "numeric") for c in frame.columns if c in factors
               or c in numeric]
    spec = common.Spec(id=f"{case.id}_agq{nagq}", kind="glmer", formula=case.formula,
                       reml=False, family=case.family,
                       link="logit" if case.family == "binomial" else "log", nagq=nagq,
                       format="csv", path=str(csv), nrows=len(frame),
                       warmup_rows=common.default_warmup_rows(len(frame)), columns=columns)
    path = folder / f"spec_agq{nagq}.tsv"
    common.write_spec(spec, path)
    return path


def _time(tool: str, spec: Path, repeats: int, budget: float, limit: float) -> dict[str, Any]:
    if tool == "lme4":
        argv = ["Rscript", str(common.BENCH_DIR / "lme4_bench.R"), str(spec), str(repeats),
                str(budget)]
    elif tool in PEERS:
        argv = [sys.executable, str(common.BENCH_DIR / "worker_glmm_peers.py"), str(spec),
                "--tool", tool, "--repeats", str(repeats), "--budget", str(budget)]
    else:
        argv = [sys.executable, str(common.BENCH_DIR / "worker_ours.py"), str(spec),
                "--repeats", str(repeats), "--budget", str(budget)]
    load0 = os.getloadavg()[0]
    result, stderr, timed_out = _run_process(argv, limit)
    if timed_out:
        return {"status": "timeout", "limit_s": limit, "load": load0}
    if result is None:
        tail = stderr.strip().splitlines()[-1:] or ["no output"]
        return {"status": "error", "message": tail[0], "load": load0}
    result["load"] = load0
    return result


def _rows(case: GlmmCase) -> int:
    """Rows of a case's data (from its id, or the bundled dataset's metadata)."""
    if case.id in BUNDLED:
        folder = ROOT / "src" / "mixedmodels" / "datasets" / "data"
        return int(json.loads((folder / "datasets.json").read_text())[BUNDLED[case.id]]["rows"])
    return int(float(case.id.rsplit("_", 1)[-1]))


def _median(res: dict[str, Any]) -> float | None:
    value = res.get("median")
    return None if value is None else float(value)


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Time every selected (case, nAGQ, load, tool); returns one row per measurement."""
    common.use_working_tree()
    rows = []
    have_r = subprocess.run(["Rscript", "-e", "library(lme4)"], capture_output=True).returncode == 0
    have_peer = {t: subprocess.run([sys.executable, "-c", f"import {t}"],
                                   capture_output=True).returncode == 0 for t in PEERS}
    for case in all_cases(args.big):
        if args.only and not any(o in case.id for o in args.only.split(",")):
            continue
        for nagq in case.nagq:
            spec = _spec(case, nagq)
            for load in ("idle", "busy"):
                busy = None
                if load == "busy":
                    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
                    time.sleep(1.0)
                try:
                    tools = ["ours", "lme4"]
                    if not args.no_peers and _rows(case) <= args.peers_max_rows:
                        tools += [t for t in PEERS if have_peer[t]]
                    for tool in tools:
                        if tool == "lme4" and not have_r:
                            continue
                        repeats = args.repeats_small if case.small else args.repeats
                        limit = args.peer_limit if tool in PEERS else args.limit
                        res = _time(tool, spec, repeats, args.budget, limit)
                        row = {"case": case.id, "nAGQ": nagq, "load": load, "tool": tool,
                               "median_s": _median(res), "criterion": res.get("criterion"),
                               "status": res.get("status"), "loadavg": res.get("load"),
                               "message": res.get("message")}
                        rows.append(row)
                        print(json.dumps(row), flush=True)
                finally:
                    if busy is not None:
                        busy.kill()
                        busy.wait()
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    """Markdown report: one line per (case, nAGQ, load), ours vs lme4 and the peers."""
    by = {(r["case"], r["nAGQ"], r["load"], r["tool"]): r for r in rows}
    order = [c.id for c in all_cases(True)]
    keys = sorted({(r["case"], r["nAGQ"], r["load"]) for r in rows},
                  key=lambda k: (order.index(k[0]) if k[0] in order else len(order), -k[1],
                                 k[2] != "idle"))
    others = ["lme4"] + [t for t in PEERS if any(r["tool"] == t for r in rows)]
    names = {"lme4": "lme4", "mixedlm": "mixedlm", "lme_python": "lme-python"}
    lines = [
        "# GLMM benchmark: glmer vs lme4 and the Python peers",
        "",
        "Written by `python benchmarks/glmm_bench.py` (see its docstring); never edited by hand.",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}.",
        "`busy` = beside one `while True: pass` process started by the benchmark; `loadavg` is",
        "the 1-minute load average when our timed process started (other work on the machine",
        "shows there). Times are medians of the timed fits (after one warm-up fit) in seconds;",
        "the busy/idle ratio of our times is the thread-discipline check (target ≤ 1.5).",
        "×: the tool's time over ours (> 1: we are faster). −2 logLik of every tool at the end",
        "(a peer at another optimum shows there; — where not run).",
        "",
        "| case | nAGQ | load | loadavg | ours (s) | "
        + " | ".join(f"{names[t]} (s) | ×" for t in others)
        + " | ours busy/idle | −2 logLik ours | "
        + " | ".join(names[t] for t in others) + " |",
        "|" + "---|" * (6 + 2 * len(others) + len(others) + 1),
    ]

    def fmt(x: Any, spec: str) -> str:
        return "—" if x is None else format(x, spec)

    for case, nagq, load in keys:
        o = by.get((case, nagq, load, "ours"), {})
        to = o.get("median_s")
        so = fmt(to, ".3f") if o.get("status") == "ok" else o.get("status", "—")
        cells, crits = [], []
        for t in others:
            r = by.get((case, nagq, load, t), {})
            tr = r.get("median_s")
            st = fmt(tr, ".3f") if r.get("status") == "ok" else r.get("status", "—")
            cells.append(f"{st} | {fmt(tr / to if to and tr else None, '.1f')}")
            crits.append(fmt(r.get("criterion"), ".3f"))
        idle = by.get((case, nagq, "idle", "ours"), {}).get("median_s")
        slow = to / idle if load == "busy" and to and idle else None
        lines.append(f"| {case} | {nagq} | {load} | {fmt(o.get('loadavg'), '.1f')} | {so} | "
                     + " | ".join(cells) + f" | {fmt(slow, '.2f')} | "
                     f"{fmt(o.get('criterion'), '.3f')} | " + " | ".join(crits) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", help="comma-separated substrings of case ids")
    p.add_argument("--big", action="store_true", help="add the 10^6-row crossed case")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--repeats-small", type=int, default=9,
                   help="repeats of the small cases (cbpp, 10^4 rows, random slope)")
    p.add_argument("--budget", type=float, default=60.0)
    p.add_argument("--limit", type=float, default=1800.0, help="seconds per worker process")
    p.add_argument("--markdown", type=Path, default=ROOT / "docs" / "benchmarks_glmm.md")
    p.add_argument("--report-only", action="store_true", help="re-render the last run's JSON")
    p.add_argument("--no-peers", action="store_true", help="time only ours and lme4")
    p.add_argument("--merge", action="store_true",
                   help="keep the last run's other measurements (re-time a few cases)")
    p.add_argument("--peer-limit", type=float, default=300.0,
                   help="seconds per peer worker process (a timeout is reported as such)")
    p.add_argument("--peers-max-rows", type=int, default=20_000,
                   help="time the peers only on cases with at most this many rows")
    args = p.parse_args(argv)
    raw = RESULTS / "glmm_bench.json"
    if args.report_only:
        rows = json.loads(raw.read_text())
    else:
        rows = measure(args)
        if args.merge and raw.exists():  # this run's rows replace the same measurements
            new = {(r["case"], r["nAGQ"], r["load"], r["tool"]) for r in rows}
            rows = [r for r in json.loads(raw.read_text())
                    if (r["case"], r["nAGQ"], r["load"], r["tool"]) not in new] + rows
        RESULTS.mkdir(parents=True, exist_ok=True)
        raw.write_text(json.dumps(rows, indent=1))
    args.markdown.write_text(render(rows))
    print(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
