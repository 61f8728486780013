"""Scale benchmark: in-memory ``lmer``, ``lmer_duckdb`` and ``lmer_dask`` (distributed) against
the plain scans every fit must at least do, from 10⁵ rows up.

One command::

    python benchmarks/scale_bench.py                    # the default grid, up to 10^7 rows
    python benchmarks/scale_bench.py --max-rows 1e8     # adds 10^8 rows (out of core only)
    python benchmarks/scale_bench.py --quick            # 10^5 and 10^6 rows only
    python benchmarks/scale_bench.py --report-only docs/benchmarks_scale.json   # redraw
    python benchmarks/scale_bench.py --min-rows 1e8 --max-rows 1e8 --repeat 3 \
        --methods "duckdb baseline" lmer_duckdb --merge docs/benchmarks_scale.json
                                                        # re-run 10^8 only, into the report

writes ``docs/benchmarks_scale.md`` and ``docs/benchmarks_scale.png``.

For each case (rows n, string group ids ``g`` with G levels, a model) the
data is generated once, in chunks of 10⁶ rows, into Parquet files under a
temporary folder (deleted at the end). Every measurement runs in a fresh
process, one after the other for the same case, so that the ratios compare
runs of the same minute:

* ``memory baseline``: the frame read from the files, then ``pd.factorize(g)``
  and the six ``np.bincount`` sums of ``y ~ x + (x | g)`` (n, Σx, Σx², Σy,
  Σxy, Σy² per group);
* ``lmer``: ``mm.lmer`` on the same frame (not run beyond 10⁷ rows);
* ``duckdb baseline``: one ``GROUP BY g`` computing the same six sums over
  the files (10⁸ rows: 50 files of 2·10⁶ rows);
* ``lmer_duckdb``: ``mm.scale.lmer_duckdb`` on the files;
* ``lmer_dask``: ``mm.scale.lmer_dask`` on the files (the glob, as
  ``lmer_duckdb`` gets them: one partition per file, string ids read
  dictionary-encoded) with a ``dask.distributed.LocalCluster`` of 2 worker
  processes (1 thread each); the cluster's start is not timed;
* ``lmer_dask frame``: the same on ``dd.read_parquet`` of the files (a Dask
  frame built by the user: strings decoded and hashed again per partition).

Times are wall-clock seconds of the fit (or the scan), after the imports
and a warm-up fit on a small frame; ``--repeat k`` runs the methods of a case k
times, interleaved (baseline, fit, baseline, fit, ...), and reports each
method's median run. The process's CPU seconds (all its threads) are recorded
too: on a shared machine their ratio is the steadier one. Peak RSS is the process's high-water
mark (``VmHWM``, reset after the data is read for the in-memory runs);
for ``lmer_dask`` the client's plus both workers'. The machine's load
average is recorded before and after: other work on a shared machine
slows everything, which is why only ratios within a case are compared.
``--merge`` puts a run's cases into a saved results file (replacing the same
cases), so that a case can be re-run at a quieter moment; each case keeps the
load average of its own run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import emit_result, parse_result, peak_rss_mb, reset_peak_rss, rss_mb  # noqa: E402
from machine import load_average  # noqa: E402

SRC = HERE.parent / "src"
DOCS = HERE.parent / "docs"
CHUNK = 1_000_000
MAX_FILES = 50  # 10^8 rows: 50 files of 2·10^6 rows
SLOPES = "y ~ x + (x | g)"
CROSSED = "y ~ x + (1 | g) + (1 | h)"
H_LEVELS = 100  # the second (crossed) factor's levels
METHODS = ["memory baseline", "lmer", "duckdb baseline", "lmer_duckdb", "lmer_dask",
           "lmer_dask frame"]
BASELINE_SQL = (
    "SELECT g, count(*) AS n, sum(x) AS sx, sum(x * x) AS sxx, sum(y) AS sy, "
    "sum(x * y) AS sxy, sum(y * y) AS syy FROM read_parquet('{glob}') GROUP BY g"
)


# -- data ----------------------------------------------------------------------------
def write_data(folder: Path, rows: int, groups: int, seed: int = 20240611) -> str:
    """``rows`` rows in Parquet files of :data:`CHUNK` rows (at most :data:`MAX_FILES`
    files, larger ones beyond): y, x, string ids g (``groups`` levels, random intercepts
    and slopes) and h (:data:`H_LEVELS` levels, crossed). One file's rows in memory at
    a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ids = np.array([f"id{k}" for k in range(groups)], dtype=object)
    hids = np.array([f"h{k}" for k in range(H_LEVELS)], dtype=object)
    b0 = rng.normal(scale=0.8, size=groups)
    b1 = rng.normal(scale=0.3, size=groups)
    c0 = rng.normal(scale=0.5, size=H_LEVELS)
    per_file = max(CHUNK, -(-rows // MAX_FILES))
    for i, start in enumerate(range(0, rows, per_file)):
        m = min(per_file, rows - start)
        g = rng.integers(0, groups, m)
        h = rng.integers(0, H_LEVELS, m)
        x = rng.normal(size=m)
        y = 1.0 + 0.5 * x + b0[g] + b1[g] * x + c0[h] + rng.normal(size=m)
        table = pa.table({"y": y, "x": x, "g": pa.array(ids[g], pa.string()),
                          "h": pa.array(hids[h], pa.string())})
        pq.write_table(table, folder / f"part{i:04d}.parquet")
    return str(folder / "*.parquet")


def _small_frame() -> Any:
    """A small frame for the warm-up fits (imports, caches)."""
    import pandas as pd

    rng = np.random.default_rng(1)
    g = rng.integers(0, 50, 5000)
    x = rng.normal(size=5000)
    y = x + rng.normal(size=50)[g] + rng.normal(size=5000)
    return pd.DataFrame({"y": y, "x": x, "g": [f"a{i}" for i in g],
                         "h": [f"b{i % 7}" for i in range(5000)]})


# -- one measurement per process --------------------------------------------------------
_CPU: list[float] = []


def _timed(run: Any) -> tuple[float, Any]:
    """Wall seconds of ``run()``; its CPU seconds (all threads) are kept in :data:`_CPU`."""
    c0 = sum(os.times()[:2])
    t0 = time.perf_counter()
    out = run()
    seconds = time.perf_counter() - t0
    _CPU.append(sum(os.times()[:2]) - c0)
    return seconds, out


def measure(method: str, glob: str, formula: str) -> dict[str, Any]:
    """Run in a child: one method on one case; wall seconds and peak RSS (MiB)."""
    sys.path.insert(0, str(SRC))
    import pandas as pd

    import mixedmodels as mm

    out: dict[str, Any] = {"method": method}
    if method in ("memory baseline", "lmer"):
        frame = pd.read_parquet(glob.rsplit("/", 1)[0])
        out["frame_mb"] = float(frame.memory_usage(deep=True).sum() / 2**20)
        if method == "lmer":
            mm.lmer(formula, _small_frame())
        reset_peak_rss()
        out["start_rss_mb"] = rss_mb()
        if method == "lmer":
            seconds, model = _timed(lambda: mm.lmer(formula, frame))
            out["theta"] = [round(float(t), 6) for t in model.theta]
        else:
            def scan() -> None:
                codes, uniques = pd.factorize(frame["g"])
                x = frame["x"].to_numpy()
                y = frame["y"].to_numpy()
                for w in (None, x, x * x, y, x * y, y * y):
                    np.bincount(codes, weights=w, minlength=len(uniques))
            seconds, _ = _timed(scan)
        out["seconds"] = seconds
        out["peak_rss_mb"] = peak_rss_mb()
        return out
    if method == "duckdb baseline":
        import duckdb

        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")  # as lmer_duckdb's connections
        reset_peak_rss()
        seconds, _ = _timed(lambda: con.execute(BASELINE_SQL.format(glob=glob)).fetchnumpy())
        return {**out, "seconds": seconds, "peak_rss_mb": peak_rss_mb()}
    if method == "lmer_duckdb":
        mm.scale.lmer_duckdb(formula, _small_frame(), progress=False)
        reset_peak_rss()
        seconds, model = _timed(lambda: mm.scale.lmer_duckdb(formula, glob, progress=False))
        theta = [round(float(t), 6) for t in model.theta]
        return {**out, "seconds": seconds, "peak_rss_mb": peak_rss_mb(), "theta": theta}
    if method in ("lmer_dask", "lmer_dask frame"):
        import dask.dataframe as dd
        from dask.distributed import Client, LocalCluster

        def source() -> Any:
            return glob if method == "lmer_dask" else dd.read_parquet(glob)

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            mm.scale.lmer_dask(formula, dd.from_pandas(_small_frame(), npartitions=2))
            reset_peak_rss()
            client.run(reset_peak_rss)
            seconds, model = _timed(lambda: mm.scale.lmer_dask(formula, source()))
            workers = client.run(peak_rss_mb)
        theta = [round(float(t), 6) for t in model.theta]
        peak = (peak_rss_mb() or 0.0) + sum(v or 0.0 for v in workers.values())
        return {**out, "seconds": seconds, "peak_rss_mb": peak, "theta": theta}
    raise ValueError(method)


def run_child(method: str, glob: str, formula: str, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", method, glob, formula]
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"method": method, "error": f"over {timeout:.0f} s"}
    got = parse_result(proc.stdout)
    if got is None:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"method": method, "error": tail[0][:200]}
    return got


# -- the grid and the report ----------------------------------------------------------------
def grid(max_rows: float, quick: bool) -> list[tuple[int, int, str]]:
    """(rows, groups, formula) of every case, smallest first."""
    cases = [
        (10**5, 10**3, SLOPES),
        (10**6, 10**3, SLOPES),
        (10**6, 10**4, SLOPES),
        (10**6, 10**4, CROSSED),
        (10**7, 10**4, SLOPES),
        (10**7, 10**5, SLOPES),
        (10**7, 10**4, CROSSED),
        (10**8, 10**5, SLOPES),
    ]
    limit = 10**6 if quick else max_rows
    return [c for c in cases if c[0] <= limit]


def _fmt(r: dict[str, Any] | None) -> str:
    if r is None:
        return "—"
    if "error" in r:
        return f"failed ({r['error']})"
    return f"{r['seconds']:.2f} s, {r['peak_rss_mb']:.0f} MB"


def _ratio(a: dict[str, Any] | None, b: dict[str, Any] | None, key: str = "seconds") -> str:
    if not a or not b or not a.get(key) or not b.get(key):
        return "—"
    return f"{a[key] / b[key]:.1f}×"


def report(results: list[dict[str, Any]], loads: tuple[Any, Any], note: str) -> str:
    lines = [
        "# Scale benchmark: lmer, lmer_duckdb, lmer_dask against plain scans",
        "",
        "Generated by `python benchmarks/scale_bench.py` (see its docstring for what each "
        "column measures). String group ids `g`, Parquet files of 10⁶ rows (10⁸ rows: 50 "
        f"files of 2·10⁶ rows); crossed model: `{CROSSED}` with {H_LEVELS} levels of `h`. "
        "Each cell: wall seconds, peak RSS (the median of the runs when a case was repeated). "
        "Ratios compare runs of the same case, made one after the other; `CPU` is the ratio "
        "of the processes' CPU seconds (all threads), steadier than wall time on a shared "
        "machine.",
        "",
        f"Load average (1, 5, 15 min) before: {loads[0]}, after: {loads[1]}; the last "
        f"column is each case's 1-minute load before → after its runs. {note} "
        "On a 2-core machine a load above 2 means other work shared the cores: absolute "
        "times are inflated, ratios of runs made in the same minutes much less so.",
        "",
        "| rows | groups | model | memory baseline | lmer | lmer / baseline | frame MB "
        "| duckdb baseline | lmer_duckdb | duckdb / baseline | CPU | lmer_dask (2 workers) "
        "| dask / duckdb | lmer_dask on dd.read_parquet | frame / duckdb | load (1 min) |",
        "|---:|---:|---|---|---|---:|---:|---|---|---:|---:|---|---:|---|---:|---|",
    ]
    for r in results:
        m = r["methods"]
        frame = (m.get("lmer") or m.get("memory baseline") or {}).get("frame_mb")
        runs = f" ({r['repeat']} runs)" if r.get("repeat", 1) > 1 else ""
        lines.append(
            f"| {r['rows']:.0e} | {r['groups']:.0e} | `{r['formula']}`{runs} "
            f"| {_fmt(m.get('memory baseline'))} | {_fmt(m.get('lmer'))} "
            f"| {_ratio(m.get('lmer'), m.get('memory baseline'))} "
            f"| {'—' if frame is None else f'{frame:.0f}'} "
            f"| {_fmt(m.get('duckdb baseline'))} | {_fmt(m.get('lmer_duckdb'))} "
            f"| {_ratio(m.get('lmer_duckdb'), m.get('duckdb baseline'))} "
            f"| {_ratio(m.get('lmer_duckdb'), m.get('duckdb baseline'), 'cpu_seconds')} "
            f"| {_fmt(m.get('lmer_dask'))} | {_ratio(m.get('lmer_dask'), m.get('lmer_duckdb'))} "
            f"| {_fmt(m.get('lmer_dask frame'))} "
            f"| {_ratio(m.get('lmer_dask frame'), m.get('lmer_duckdb'))} | {_load(r)} |"
        )
    lines += ["", *targets(results), "", "![time against rows](benchmarks_scale.png)", ""]
    thetas = []
    for r in results:
        got = {k: v.get("theta") for k, v in r["methods"].items() if v and v.get("theta")}
        thetas.append(f"- {r['rows']:.0e} rows, {r['groups']:.0e} groups, `{r['formula']}`: "
                      + "; ".join(f"{k} {v}" for k, v in got.items()))
    lines += ["θ̂ of each fit (the same model everywhere):", "", *thetas, ""]
    return "\n".join(lines)


def _load(r: dict[str, Any]) -> str:
    """The 1-minute load average before → after a case (its own run's)."""
    load = r.get("load")
    if not load or not isinstance(load[0], list):
        return "—"
    return " → ".join(f"{v[0]:.1f}" for v in load if v)


def targets(results: list[dict[str, Any]]) -> list[str]:
    """The issue's targets against this run: lmer ≤ 5× its baseline (10⁷ rows, 10⁴
    groups, random slopes), lmer_duckdb ≤ 1.5× its GROUP BY (largest case), lmer_dask
    ≤ 2× lmer_duckdb (10⁷ rows)."""

    def seconds(r: dict[str, Any], m: str) -> float | None:
        return (r["methods"].get(m) or {}).get("seconds")

    def case(rows: int, groups: int | None = None) -> dict[str, Any] | None:
        hits = [r for r in results if r["rows"] == rows and r["formula"] == SLOPES
                and (groups is None or r["groups"] == groups)]
        return hits[0] if hits else None

    out = ["Targets (ratios of wall times in this run):", ""]
    checks = [("lmer ≤ 5× memory baseline", case(10**7, 10**4), "lmer", "memory baseline", 5.0)]
    largest = max((r["rows"] for r in results if r["formula"] == SLOPES), default=0)
    top = [r for r in results if r["rows"] == largest and r["formula"] == SLOPES]
    for r in top:
        checks.append(("lmer_duckdb ≤ 1.5× duckdb baseline", r, "lmer_duckdb",
                       "duckdb baseline", 1.5))
    for r in [r for r in results if r["rows"] == 10**7]:
        for m in ("lmer_dask", "lmer_dask frame"):
            checks.append((f"{m} ≤ 2× lmer_duckdb (`{r['formula']}`)", r, m, "lmer_duckdb",
                           2.0))
    r = case(10**7, 10**4)
    fit = (r or {}).get("methods", {}).get("lmer") or {}
    if fit.get("start_rss_mb") and fit.get("frame_mb"):
        grow = (fit["peak_rss_mb"] - fit["start_rss_mb"]) / fit["frame_mb"]
        out.append(f"- lmer's memory (peak RSS − RSS before the fit) ≤ 2.5× the frame at "
                   f"1e+07 rows: {grow:.1f}× ({'met' if grow <= 2.5 else 'not met'}; the "
                   f"whole process peaks at {fit['peak_rss_mb'] / fit['frame_mb']:.1f}× the "
                   "frame, imports and the frame itself included)")
    for label, r, a, b, limit in checks:
        if r is None or not seconds(r, a) or not seconds(r, b):
            out.append(f"- {label}: not measured")
            continue
        ratio = seconds(r, a) / seconds(r, b)  # type: ignore[operator]
        cpu = _ratio(r["methods"].get(a), r["methods"].get(b), "cpu_seconds")
        extra = f"; CPU {cpu}" if cpu != "—" and not a.startswith("lmer_dask") else ""
        out.append(f"- {label} at {r['rows']:.0e} rows, {r['groups']:.0e} groups: "
                   f"{ratio:.1f}× ({'met' if ratio <= limit else 'not met'}{extra}; "
                   f"load {_load(r)})")
    return out


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = {"memory baseline": ("C0", "--"), "lmer": ("C0", "-"),
              "duckdb baseline": ("C1", "--"), "lmer_duckdb": ("C1", "-"),
              "lmer_dask": ("C2", "-"), "lmer_dask frame": ("C2", ":")}
    slopes = [r for r in results if r["formula"] == SLOPES]
    for method, (color, style) in styles.items():
        pts = sorted((r["rows"], r["groups"], r["methods"][method]["seconds"]) for r in slopes
                     if "seconds" in (r["methods"].get(method) or {}))
        for groups in sorted({g for _, g, _ in pts}):
            xs = [n for n, g, _ in pts if g == groups]
            ys = [s for _, g, s in pts if g == groups]
            marker = {10**3: "o", 10**4: "s", 10**5: "^"}.get(groups, "x")
            ax.plot(xs, ys, style, color=color, marker=marker,
                    label=f"{method} ({groups:.0e} groups)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rows")
    ax.set_ylabel("wall seconds")
    ax.set_title(f"{SLOPES}: fits (solid) and plain scans (dashed)")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time (failed runs only when all failed); the
    wall and CPU seconds of every run kept in ``runs``."""
    ok = sorted((r for r in runs if "seconds" in r), key=lambda r: r["seconds"])
    if not ok:
        return runs[-1]
    out = dict(ok[(len(ok) - 1) // 2])
    if len(runs) > 1:
        out["runs"] = [[r.get("seconds"), r.get("cpu_seconds")] for r in runs]
    return out


def run_case(rows: int, groups: int, formula: str, glob: str, methods: list[str],
             repeat: int, timeout: float) -> dict[str, Any]:
    """Every method on one case, ``repeat`` times interleaved; the median run of each."""
    load_before = load_average()
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    for _ in range(repeat):
        for method in methods:
            got = run_child(method, glob, formula, timeout)
            runs[method].append(got)
            print(f"{rows:.0e} {groups:.0e} {formula}: {method}: {_fmt(got)}", flush=True)
    return {"rows": rows, "groups": groups, "formula": formula,
            "methods": {m: _median_run(r) for m, r in runs.items()},
            "load": [load_before, load_average()], "repeat": repeat}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max-rows", type=float, default=1e7,
                    help="largest case (1e8 adds 10^8 rows out of core; needs ~4 GB of disk)")
    ap.add_argument("--min-rows", type=float, default=0, help="smallest case")
    ap.add_argument("--quick", action="store_true", help="10^5 and 10^6 rows only")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs of each method per case, interleaved; the median is reported")
    ap.add_argument("--methods", nargs="+", choices=METHODS, default=METHODS,
                    help="methods to run (default: all)")
    ap.add_argument("--data-dir", help="keep the generated Parquet files here and reuse "
                    "them in later runs (default: a temporary folder, deleted at the end)")
    ap.add_argument("--merge", metavar="JSON",
                    help="add this run's cases to a saved results file (same cases replaced) "
                    "and report them all")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per measurement")
    ap.add_argument("--out", default=str(DOCS / "benchmarks_scale.md"))
    ap.add_argument("--report-only", metavar="JSON",
                    help="rewrite the report and plot from a saved results file")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        got = measure(*args.child)
        if _CPU and "seconds" in got:
            got["cpu_seconds"] = _CPU[-1]  # lmer_dask: the client's only
        emit_result(got)
        return
    out = Path(args.out)
    if args.report_only:
        saved = json.loads(Path(args.report_only).read_text())
        plot(saved["results"], out.with_suffix(".png"))
        out.write_text(report(saved["results"], tuple(saved["loads"]), saved["note"]))
        print(f"wrote {out}")
        return
    loads_before = load_average()
    keep = args.data_dir is not None
    root = Path(args.data_dir) if keep else Path(
        tempfile.mkdtemp(prefix="mm_scale_bench_", dir="/tmp"))
    results: list[dict[str, Any]] = []
    try:
        data: dict[tuple[int, int], str] = {}
        for rows, groups, formula in grid(args.max_rows, args.quick):
            if rows < args.min_rows:
                continue
            key = (rows, groups)
            if key not in data:
                if not keep:  # keep one data set on disk at a time
                    for old in list(data):
                        shutil.rmtree(Path(data.pop(old)).parent, ignore_errors=True)
                folder = root / f"n{rows}_g{groups}"
                done = root / f"n{rows}_g{groups}.done"  # written completely before
                data[key] = str(folder / "*.parquet") if keep and done.exists() else write_data(
                    folder, rows, groups)
                done.touch()
            methods = [m for m in args.methods
                       if rows <= 10**7 or m not in ("memory baseline", "lmer")]
            results.append(run_case(rows, groups, formula, data[key], methods, args.repeat,
                                    args.timeout))
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    loads = (loads_before, load_average())
    largest = max([r["rows"] for r in results], default=0)
    if args.merge and Path(args.merge).exists():
        saved = json.loads(Path(args.merge).read_text())
        new = {(r["rows"], r["groups"], r["formula"]) for r in results}
        old = [r for r in saved["results"] if (r["rows"], r["groups"], r["formula"]) not in new]
        for r in old:  # a case of the saved run keeps that run's load average
            r.setdefault("load", saved["loads"])
        order = [(n, g, f) for n, g, f in grid(1e8, False)]
        results = sorted(old + results, key=lambda r: order.index(
            (r["rows"], r["groups"], r["formula"])))
        largest = max(largest, max(r["rows"] for r in results))
    note = (f"Largest case: {largest:.0e} rows"
            + ("" if largest >= 1e8 else " (10⁸ rows not run here)") + ".")
    plot(results, out.with_suffix(".png"))
    out.write_text(report(results, loads, note))
    saved = {"results": results, "loads": loads, "note": note}
    (out.with_suffix(".json")).write_text(json.dumps(saved, indent=1, default=float))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
