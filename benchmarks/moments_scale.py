"""Benchmark of ``lmer(..., method="moments")`` against the exact fit, and at 10⁷ rows.

Simulated crossed random intercepts with levels drawn at random,

    y = 1 + 0.5 x + a_g + b_h + e,  a ~ N(0, 1.0²), b ~ N(0, 0.7²), e ~ N(0, 1.2²),

Cases (each step its own process, so peak memory is that step's own):

* ``mid --levels 100000 1000`` (and ``100000 10000``): 10⁶ rows in memory,
  the moment fit and the exact REML fit on the same data, times and estimates;
* ``lme4 --levels ...``: lme4's REML fit of the same data (Rscript, timed in R);
* ``gen``: 10⁷ rows, 10⁶ × 10⁵ levels, written as Parquet in chunks of 10⁶
  rows (the generator holds one chunk and the effect tables);
* ``big``: ``mm.scale.lmer_duckdb(..., method="moments")`` on those files;
* ``report``: docs/benchmarks_moments.md from the JSON results.

Usage: python benchmarks/moments_scale.py {mid,lme4,gen,big,report} [options]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results_moments"
TRUTH = {"beta": [1.0, 0.5], "sd_g": 1.0, "sd_h": 0.7, "sd_e": 1.2}
FORMULA = "y ~ x + (1 | g) + (1 | h)"


def simulate(n: int, qg: int, qh: int, rng: np.random.Generator,
             a: np.ndarray | None = None, b: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """One chunk of rows; ``a``, ``b`` are the level effects (drawn when None)."""
    a = rng.normal(0.0, TRUTH["sd_g"], qg) if a is None else a
    b = rng.normal(0.0, TRUTH["sd_h"], qh) if b is None else b
    g = rng.integers(0, qg, n)
    h = rng.integers(0, qh, n)
    x = rng.normal(size=n)
    y = TRUTH["beta"][0] + TRUTH["beta"][1] * x + a[g] + b[h] + rng.normal(0, TRUTH["sd_e"], n)
    return {"y": y, "x": x, "g": g, "h": h}


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def load() -> float:
    return os.getloadavg()[0]


def estimates(m: object) -> dict[str, float]:
    vc = m.varcorr.to_frame()  # type: ignore[attr-defined]
    sd = dict(zip(vc["grp"], vc["sdcor"]))
    fe = m.fixef  # type: ignore[attr-defined]
    se = m.fixef_se  # type: ignore[attr-defined]
    return {"b0": float(fe.iloc[0]), "b1": float(fe.iloc[1]), "se0": float(se.iloc[0]),
            "se1": float(se.iloc[1]), "sd_g": float(sd["g"]), "sd_h": float(sd["h"]),
            "sd_e": float(sd["Residual"])}


def save(name: str, rec: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(rec, indent=1))
    print(json.dumps(rec, indent=1))


def run_mid(qg: int, qh: int, n: int, exact: bool) -> None:
    import pandas as pd

    import mixedmodels as mm

    rng = np.random.default_rng(20260 + qh)
    df = pd.DataFrame(simulate(n, qg, qh, rng))
    rec: dict = {"n": n, "qg": qg, "qh": qh, "load_start": load()}
    t = time.perf_counter()
    m = mm.lmer(FORMULA, df, method="moments")
    rec["moments_s"] = time.perf_counter() - t
    rec["moments"] = estimates(m)
    rec["sweeps"] = m.est.iterations
    rec["moments_peak_gib"] = peak_gib()
    if exact:
        t = time.perf_counter()
        e = mm.lmer(FORMULA, df)
        rec["exact_s"] = time.perf_counter() - t
        rec["exact"] = estimates(e)
        rec["exact_peak_gib"] = peak_gib()
    rec["load_end"] = load()
    save(f"mid_{qg}x{qh}", rec)


_R_FIT = r"""
suppressMessages(library(lme4))
d <- read.csv(commandArgs(TRUE)[1])
d$g <- factor(d$g); d$h <- factor(d$h)
t <- system.time(m <- lmer(y ~ x + (1 | g) + (1 | h), d))[["elapsed"]]
vc <- as.data.frame(VarCorr(m))
se <- sqrt(diag(as.matrix(vcov(m))))
cat(sprintf('{"seconds": %.3f, "b0": %.12g, "b1": %.12g, "se0": %.12g, "se1": %.12g, ',
            t, fixef(m)[1], fixef(m)[2], se[1], se[2]))
cat(sprintf('"sd_g": %.12g, "sd_h": %.12g, "sd_e": %.12g}\n',
            vc$sdcor[vc$grp == "g"], vc$sdcor[vc$grp == "h"], vc$sdcor[vc$grp == "Residual"]))
"""


def run_lme4(qg: int, qh: int, n: int, limit: float) -> None:
    """lme4's REML fit of the ``mid`` data (same seed), timed inside R; stopped (and
    recorded as such) after ``limit`` seconds."""
    import subprocess
    import tempfile

    import pandas as pd

    rng = np.random.default_rng(20260 + qh)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "d.csv"
        pd.DataFrame(simulate(n, qg, qh, rng)).to_csv(csv, index=False)
        script = Path(tmp) / "fit.R"
        script.write_text(_R_FIT)
        start = load()
        try:
            out = subprocess.run(["Rscript", str(script), str(csv)], capture_output=True,
                                 text=True, check=True, timeout=limit).stdout
        except subprocess.TimeoutExpired:
            out = None
    f = OUT / f"mid_{qg}x{qh}.json"
    full = json.loads(f.read_text()) if f.exists() else {}
    full["lme4_load"] = [start, load()]
    if out is None:
        full["lme4_timeout_s"] = limit
    else:
        rec = json.loads(out.strip().splitlines()[-1])
        full["lme4_s"] = rec.pop("seconds")
        full["lme4"] = rec
    save(f"mid_{qg}x{qh}", full)


def run_gen(path: Path, n: int, qg: int, qh: int, chunk: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    a = rng.normal(0.0, TRUTH["sd_g"], qg)
    b = rng.normal(0.0, TRUTH["sd_h"], qh)
    t = time.perf_counter()
    for i in range(0, n, chunk):
        cols = simulate(min(chunk, n - i), qg, qh, rng, a, b)
        pq.write_table(pa.table(cols), path / f"part{i // chunk:03d}.parquet")
    print(f"wrote {n} rows in {time.perf_counter() - t:.1f} s, peak {peak_gib():.2f} GiB")


def run_big(path: Path, memory_limit: str, threads: int) -> None:
    import duckdb

    import mixedmodels as mm

    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET threads = {threads}")
    rec: dict = {"path": str(path), "memory_limit": memory_limit, "threads": threads,
                 "load_start": load()}
    t = time.perf_counter()
    m = mm.scale.lmer_duckdb(FORMULA, str(path / "*.parquet"), con=con, method="moments")
    rec["seconds"] = time.perf_counter() - t
    rec["n"] = m.nobs
    rec["groups"] = m.ngroups
    rec["moments"] = estimates(m)
    rec["sweeps"] = m.est.iterations
    rec["peak_gib"] = peak_gib()
    rec["load_end"] = load()
    save("big", rec)
    print(m.summary())


def _row(name: str, e: dict) -> str:
    se0 = f" ({e['se0']:.4f})" if "se0" in e else ""
    se1 = f" ({e['se1']:.5f})" if "se1" in e else ""
    return (f"| {name} | {e['b0']:.4f}{se0} | {e['b1']:.5f}{se1} | "
            f"{e['sd_g']:.4f} | {e['sd_h']:.4f} | {e['sd_e']:.4f} |")


def _truth_row() -> str:
    return _row("truth", {"b0": TRUTH["beta"][0], "b1": TRUTH["beta"][1],
                          **{k: TRUTH[k] for k in ("sd_g", "sd_h", "sd_e")}})


def _agreement(m: dict, e: dict, what: str) -> str:
    """|moments − exact| for β in units of the exact SE, for the SDs relative."""
    db = max(abs(m["b0"] - e["b0"]) / e["se0"], abs(m["b1"] - e["b1"]) / e["se1"])
    dsd = max(abs(m[k] / e[k] - 1.0) for k in ("sd_g", "sd_h", "sd_e"))
    return (f"Moments vs {what}: β within {db:.1e} standard errors, the SDs within "
            f"{100 * dsd:.2f}% relative.")


def run_report() -> None:
    lines = [
        "# Benchmark: `lmer(..., method=\"moments\")` (crossed random intercepts)",
        "",
        "Written by `benchmarks/moments_scale.py`. Model `y ~ x + (1 | g) + (1 | h)`, levels "
        "drawn at random; truth β = (1, 0.5), SD(g) = 1.0, SD(h) = 0.7, SD(residual) = 1.2. "
        "The moment fit is the method of moments of Gao & Owen (2017) with backfitting GLS "
        "(Ghosh, Hastie & Owen 2022), not lme4's REML: see `mixedmodels.moments`. "
        "Times are wall-clock on a shared 2-core machine; the load average (1 min) is given "
        "at the start and end of each step. Standard errors of β are in parentheses "
        "(plug-in GLS for the moment fit, lme4's for REML).",
        "",
    ]
    for f in sorted(OUT.glob("mid_*.json")):
        r = json.loads(f.read_text())
        lines += [f"## {r['n']:,} rows, {r['qg']:,} × {r['qh']:,} levels (in memory)", "",
                  "| fit | (Intercept) | x | SD(g) | SD(h) | SD(residual) |",
                  "|---|---|---|---|---|---|",
                  _truth_row(), _row("moments", r["moments"])]
        if "exact" in r:
            lines.append(_row("exact REML (mixedmodels)", r["exact"]))
        if "lme4" in r:
            lines.append(_row("lme4 REML", r["lme4"]))
        lines.append("")
        t = f"moments {r['moments_s']:.1f} s (peak {r['moments_peak_gib']:.2f} GiB)"
        if "exact_s" in r:
            t += (f"; exact REML {r['exact_s']:.1f} s (process peak "
                  f"{r['exact_peak_gib']:.2f} GiB); ratio exact/moments "
                  f"{r['exact_s'] / r['moments_s']:.0f}×")
        if "lme4_s" in r:
            t += f"; lme4 {r['lme4_s']:.1f} s (load {r['lme4_load'][0]:.1f})"
        elif "lme4_timeout_s" in r:
            t += (f"; lme4 not finished after {r['lme4_timeout_s']:.0f} s, stopped (load "
                  f"{r['lme4_load'][0]:.1f} → {r['lme4_load'][1]:.1f})")
        lines += [f"Time: {t}. Backfitting sweeps {r['sweeps']}. Load average "
                  f"{r['load_start']:.1f} → {r['load_end']:.1f} (the fits ran one after "
                  "the other on a machine shared with other jobs: the ratio is indicative).",
                  ""]
        for key, what in (("exact", "the exact REML fit"), ("lme4", "lme4")):
            if key in r:
                lines += [_agreement(r["moments"], r[key], what), ""]
    big = OUT / "big.json"
    if big.exists():
        r = json.loads(big.read_text())
        g = r["groups"]
        lines += [f"## {r['n']:,} rows, {g['g']:,} × {g['h']:,} levels, Parquet via DuckDB", "",
                  "| fit | (Intercept) | x | SD(g) | SD(h) | SD(residual) |",
                  "|---|---|---|---|---|---|",
                  _truth_row(), _row("moments", r["moments"]), "",
                  f"Time {r['seconds']:.0f} s from the files to the summary; peak resident "
                  f"memory of the process {r['peak_gib']:.2f} GiB (DuckDB memory_limit "
                  f"{r['memory_limit']}, {r['threads']} threads); backfitting sweeps "
                  f"{r['sweeps']}; load average {r['load_start']:.1f} → {r['load_end']:.1f}.",
                  ""]
    (ROOT / "docs" / "benchmarks_moments.md").write_text("\n".join(lines))
    print("\n".join(lines))


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("mid")
    p.add_argument("--levels", nargs=2, type=int, default=[100_000, 1_000])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--no-exact", action="store_true")
    p = sub.add_parser("lme4")
    p.add_argument("--levels", nargs=2, type=int, default=[100_000, 1_000])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--limit", type=float, default=1500.0, help="seconds before lme4 is stopped")
    p = sub.add_parser("gen")
    p.add_argument("--path", type=Path, default=Path("/tmp/mm_moments_parquet"))
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--levels", nargs=2, type=int, default=[1_000_000, 100_000])
    p.add_argument("--chunk", type=int, default=1_000_000)
    p = sub.add_parser("big")
    p.add_argument("--path", type=Path, default=Path("/tmp/mm_moments_parquet"))
    p.add_argument("--memory-limit", default="6GB")
    p.add_argument("--threads", type=int, default=2)
    sub.add_parser("report")
    a = ap.parse_args(argv)
    if a.cmd == "mid":
        run_mid(a.levels[0], a.levels[1], a.rows, not a.no_exact)
    elif a.cmd == "lme4":
        run_lme4(a.levels[0], a.levels[1], a.rows, a.limit)
    elif a.cmd == "gen":
        run_gen(a.path, a.rows, a.levels[0], a.levels[1], a.chunk)
    elif a.cmd == "big":
        run_big(a.path, a.memory_limit, a.threads)
    else:
        run_report()


if __name__ == "__main__":
    main(sys.argv[1:])
