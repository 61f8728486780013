"""Benchmark mixedmodels against lme4 (R) and statsmodels, interleaved, in one command.

Usage::

    python benchmarks/run.py            # full run, writes docs/benchmarks.md and the plot
    python benchmarks/run.py --quick    # a few minutes; writes benchmarks/results/
    python benchmarks/run.py --only sleep,insteval --repeats 3
    python benchmarks/run.py --report-only   # re-render the last run's JSON
    python benchmarks/run.py --commit HEAD   # measure src/ as committed, not the working tree

For every case the tools run one after another (ours, lme4, statsmodels,
lme-python, mixedlm), each in its own process with a wall-clock limit.  A peer
that is not installed (R with lme4, statsmodels, lme-python, mixedlm) is skipped
with a note, never estimated.  Raw
results go to ``benchmarks/results/<report name>.json``; only a complete full
run writes ``docs/``, quick and partial (``--only``, ``--max-rows``) runs write
their report under ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import cases
import common
import machine
import report

DEFAULTS = {
    # repeats, budget (s of timed fits per model and tool), limits (s per process)
    "full": {"repeats": 5, "budget": 60.0, "ours": 900, "lme4": 1200, "statsmodels": 300,
             "lme-python": 300, "mixedlm": 300},
    "quick": {"repeats": 3, "budget": 10.0, "ours": 300, "lme4": 300, "statsmodels": 60,
              "lme-python": 60, "mixedlm": 60},
}


def _limit(tool: str) -> str:
    """The argparse destination of a tool's wall-clock limit."""
    return "limit_" + tool.replace("-", "_")


def _run_process(argv: list[str], limit: float) -> tuple[dict[str, Any] | None, str, bool]:
    """Run a worker in its own process group; return (result, stderr tail, timed out)."""
    proc = subprocess.Popen(
        argv,
        cwd=common.BENCH_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        return None, stderr[-2000:], True
    return common.parse_result(stdout), (stderr or "")[-2000:], False


def run_tool(
    tool: str, case: cases.Case, spec_path: Path, args: argparse.Namespace, peers: dict[str, str]
) -> dict[str, Any]:
    """Benchmark one case with one tool; always returns a result dict with a status."""
    if tool in peers:
        return {"tool": tool, "status": "skipped", "message": peers[tool]}
    if tool == "statsmodels" and case.statsmodels.skip:
        return {"tool": tool, "status": "skipped", "message": case.statsmodels.skip}
    repeats, budget = str(args.repeats), str(args.budget)
    if tool == "lme4":
        argv = ["Rscript", str(common.BENCH_DIR / "lme4_bench.R"), str(spec_path), repeats, budget]
    elif tool in ("lme-python", "mixedlm"):
        argv = [sys.executable, str(common.BENCH_DIR / "worker_peers.py"), tool, str(spec_path)]
        argv += ["--repeats", repeats, "--budget", budget]
    else:
        worker = "worker_ours.py" if tool == "ours" else "worker_statsmodels.py"
        argv = [sys.executable, str(common.BENCH_DIR / worker), str(spec_path)]
        argv += ["--repeats", repeats, "--budget", budget]
    limit = getattr(args, _limit(tool))
    start = time.perf_counter()
    result, stderr, timed_out = _run_process(argv, limit)
    wall = time.perf_counter() - start
    if timed_out:
        return {"tool": tool, "status": "timeout", "limit_s": limit, "process_s": wall}
    if result is None:
        tail = stderr.strip().splitlines()[-1:] or ["no output"]
        return {"tool": tool, "status": "error", "message": tail[0], "process_s": wall}
    result["process_s"] = wall
    return result


def snapshot_engine(commit: str | None) -> str:
    """Put the engine to measure into the results folder and point the workers at it.

    Without `commit`: a copy of the working tree's ``src/``; with it: ``src/``
    as committed at `commit` (``git archive``).  Every case of the run then
    measures the same engine even if the working tree changes meanwhile.
    Returns a description of what is measured.
    """
    target = common.RESULTS_DIR / "engine"
    if target.exists():
        shutil.rmtree(target)
    if commit is not None:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", commit],
            cwd=common.REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        archive = subprocess.run(
            ["git", "archive", "--format=tar", rev, "src"],
            cwd=common.REPO_ROOT,
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
        os.environ[common.SRC_ENV] = str(target / "src")
        return f"src/ as committed at {rev}"
    shutil.copytree(
        common.SRC_DIR, target / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    os.environ[common.SRC_ENV] = str(target / "src")
    return "src/ of the working tree"


def check_peers(args: argparse.Namespace) -> tuple[dict[str, str], dict[str, str] | None]:
    """Which peers are missing (tool -> reason) and R's version info."""
    missing: dict[str, str] = {}
    r = None
    if args.no_r:
        missing["lme4"] = "disabled with --no-r"
    else:
        r = machine.r_info()
        if r is None:
            missing["lme4"] = "Rscript with the lme4 package not found"
    if args.no_statsmodels:
        missing["statsmodels"] = "disabled with --no-statsmodels"
    else:
        try:
            import statsmodels  # noqa: F401
        except ImportError:
            missing["statsmodels"] = "statsmodels not installed (pip install .[bench])"
    for tool, module in (("lme-python", "lme_python"), ("mixedlm", "mixedlm")):
        if getattr(args, "no_" + tool.replace("-", "_")):
            missing[tool] = f"disabled with --no-{tool}"
            continue
        try:
            __import__(module)
        except ImportError:
            missing[tool] = f"{tool} not installed (pip install {tool}; measured only)"
    return missing, r


def _selected(all_cases: list[cases.Case], only: str | None, max_rows: int | None) -> list:
    chosen = all_cases
    if only:
        keys = [k.strip() for k in only.split(",") if k.strip()]
        chosen = [c for c in chosen if any(k in c.id for k in keys)]
    if max_rows:
        chosen = [c for c in chosen if c.spec.nrows <= max_rows]
    return chosen


def _entry(case: cases.Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "series": case.series,
        "size": case.size,
        "n_obs": case.spec.nrows,
        "groups": case.groups,
        "formula": case.spec.formula,
        "kind": case.spec.kind,
        "criterion_name": case.spec.criterion_name,
        "reference_criterion": case.reference_criterion,
        "reference_seconds": case.reference_seconds,
        "reference_feval": case.reference_feval,
        "results": {},
    }


def _progress(case_id: str, res: dict[str, Any]) -> None:
    status = res.get("status")
    detail = f"{res['median']:.4f} s" if status == "ok" else (res.get("message") or "")
    if status == "ok" and res.get("criterion") is not None:
        detail += f"  crit {res['criterion']:.6f}"
    print(f"  {case_id:<18} {res['tool']:<12} {status:<8} {detail}", file=sys.stderr, flush=True)


def _caps(quick: bool) -> list[str]:
    caps = [
        f"slope series rows: {', '.join(f'{n:,}' for n in cases.SLOPE_ROWS_FULL)}"
        f" (quick: up to {cases.SLOPE_ROWS_QUICK[-1]:,})",
        f"crossed series levels: {', '.join(map(str, cases.CROSSED_LEVELS_FULL))}"
        f" (quick: up to {cases.CROSSED_LEVELS_QUICK[-1]}), capped to keep a full run"
        " within about an hour",
        f"statsmodels: slope series up to {cases.STATSMODELS_MAX_ROWS:,} rows; one-group"
        f" variance-component forms (crossed) up to {cases.STATSMODELS_MAX_ONE_GROUP_ROWS:,}"
        f" rows (quick: {cases.STATSMODELS_MAX_ONE_GROUP_ROWS_QUICK:,});"
        " plus the wall-clock limit per process",
    ]
    if quick:
        caps.append("quick mode: smaller series, fewer repeats, shorter limits")
    return caps


def write_outputs(run: dict[str, Any], md_path: Path, png_path: Path) -> None:
    """Render the markdown report and the scaling plot."""
    has_series = any(e["series"] != "reference" for e in run["cases"])
    png_ok = has_series and report.plot_scaling(run["cases"], png_path)
    rel_png = os.path.relpath(png_path, md_path.parent) if png_ok else None
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(report.render_markdown(run, rel_png), encoding="utf-8")
    print(f"wrote {md_path}" + (f" and {png_path}" if png_ok else ""), file=sys.stderr)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small series, few repeats (minutes)")
    p.add_argument("--repeats", type=int, help="timed repeats per model and tool")
    p.add_argument("--budget", type=float, help="stop repeating after this many timed seconds")
    p.add_argument("--only", help="comma-separated substrings of case ids")
    p.add_argument("--max-rows", type=int, help="skip cases with more rows")
    p.add_argument("--no-r", action="store_true", help="do not run lme4")
    p.add_argument("--no-statsmodels", action="store_true", help="do not run statsmodels")
    p.add_argument("--limit-ours", type=float, help="wall-clock limit per process (s)")
    p.add_argument("--limit-lme4", type=float, help="wall-clock limit per process (s)")
    p.add_argument("--limit-statsmodels", type=float, help="wall-clock limit per process (s)")
    p.add_argument("--no-lme-python", action="store_true", help="do not run lme-python")
    p.add_argument("--no-mixedlm", action="store_true", help="do not run mixedlm")
    p.add_argument("--limit-lme-python", type=float, help="wall-clock limit per process (s)")
    p.add_argument("--limit-mixedlm", type=float, help="wall-clock limit per process (s)")
    p.add_argument("--markdown", type=Path, help="report path (default by mode)")
    p.add_argument("--plot", type=Path, help="plot path (default by mode)")
    p.add_argument("--commit", help="measure src/ as committed at this revision (e.g. HEAD)")
    p.add_argument("--report-only", action="store_true", help="re-render the last JSON")
    args = p.parse_args(argv)
    mode = DEFAULTS["quick" if args.quick else "full"]
    args.repeats = args.repeats or mode["repeats"]
    args.budget = args.budget if args.budget is not None else mode["budget"]
    for tool in report.TOOLS:
        key = _limit(tool)
        if getattr(args, key) is None:
            setattr(args, key, float(mode[tool]))
    # Only a complete full run writes docs/; quick and partial runs stay in results/.
    partial = bool(args.only or args.max_rows)
    stem = "benchmarks_quick" if args.quick else "benchmarks_partial" if partial else "benchmarks"
    out_dir = common.RESULTS_DIR if args.quick or partial else common.DOCS_DIR
    args.markdown = args.markdown or out_dir / f"{stem}.md"
    args.plot = args.plot or out_dir / f"{stem}_scaling.png"
    args.json = common.RESULTS_DIR / f"{args.markdown.stem}.json"
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the report."""
    args = parse_args(argv)
    if args.report_only:
        run = json.loads(args.json.read_text(encoding="utf-8"))
        run["meta"]["caps"] = _caps(run["meta"]["quick"])
        write_outputs(run, args.markdown, args.plot)
        return 0
    common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    engine = snapshot_engine(args.commit)
    missing, r = check_peers(args)
    for tool, why in missing.items():
        print(f"note: {tool} skipped: {why}", file=sys.stderr)
    shown = [a for a in (argv if argv is not None else sys.argv[1:])]
    run: dict[str, Any] = {
        "meta": {
            "command": "python benchmarks/run.py" + "".join(f" {shlex.quote(a)}" for a in shown),
            "quick": args.quick,
            "repeats": args.repeats,
            "budget": args.budget,
            "limits": {t: getattr(args, _limit(t)) for t in report.TOOLS},
            "machine": machine.describe(r, engine),
            "loadavg_start": machine.load_average(),
            "caps": _caps(args.quick),
        },
        "cases": [],
    }
    selected = _selected(cases.all_cases(args.quick), args.only, args.max_rows)
    common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    timed_out: dict[tuple[str, str], str] = {}
    for case in selected:
        spec_path = cases.materialise(case)
        entry = _entry(case)
        for tool in report.TOOLS:
            earlier = timed_out.get((case.series, tool))
            if earlier is not None:
                res = {"tool": tool, "status": "skipped", "message": f"{earlier} timed out"}
            else:
                res = run_tool(tool, case, spec_path, args, missing)
            if res["status"] == "timeout" and case.series != "reference":
                timed_out[(case.series, tool)] = f"the smaller {case.id}"
            entry["results"][tool] = res
            _progress(case.id, res)
        run["cases"].append(entry)
        args.json.write_text(json.dumps(run, indent=1, default=float), encoding="utf-8")
    run["meta"]["loadavg_end"] = machine.load_average()
    args.json.write_text(json.dumps(run, indent=1, default=float), encoding="utf-8")
    write_outputs(run, args.markdown, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
