"""In-memory data path: ``mm.lmer`` on a large frame with string group ids.

Usage::

    python benchmarks/frame_bench.py                       # 10^6 and 10^7 rows
    python benchmarks/frame_bench.py --rows 1e6 --profile  # plus a cProfile listing
    python benchmarks/frame_bench.py --src /path/to/other/checkout/src   # compare

For each size a fresh process generates (fixed seed) a frame of ``n`` rows
with a numeric ``x``, a response ``y`` and a pandas ``string`` column ``g``
of 10^4 group ids as they come out of a CSV file (``"id42"``), then times

* the *baseline*: ``pd.factorize(g)`` and the six ``np.bincount`` moment
  sums of ``y ~ x + (x | g)`` (what any fit must at least do), and
* ``mm.lmer("y ~ x + (x | g)", frame)`` (after a warm-up fit on a small frame),

and reports both times (wall and, in parentheses, the process's CPU time,
which is steadier on a shared machine), their CPU ratio, the resident memory
before the fit (the data and the imports), the peak during the fit (Linux
``VmHWM`` reset after generating the data) and the size of the input frame.
The fit's θ is printed so that runs can be compared.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

SRC = Path(__file__).resolve().parent.parent / "src"
FORMULA = "y ~ x + (x | g)"


def make_frame(n: int, groups: int, seed: int = 20240611) -> pd.DataFrame:
    """``n`` rows, ``groups`` string ids, random intercepts and slopes."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"id{k}" for k in range(groups)], dtype=object)
    code = rng.integers(0, groups, n)
    x = rng.normal(size=n)
    b0 = rng.normal(scale=0.8, size=groups)
    b1 = rng.normal(scale=0.3, size=groups)
    y = 1.0 + 0.5 * x + b0[code] + b1[code] * x + rng.normal(size=n)
    g = pd.array(ids[code], dtype="string")
    return pd.DataFrame({"y": y, "x": x, "g": g})


def baseline(frame: pd.DataFrame) -> tuple[float, float]:
    """Wall and CPU seconds of ``pd.factorize(g)`` plus the six per-group moment sums."""
    t0, c0 = time.perf_counter(), time.process_time()
    codes, uniques = pd.factorize(frame["g"])
    k = len(uniques)
    x = frame["x"].to_numpy()
    y = frame["y"].to_numpy()
    for w in (None, x, x * x, y, x * y, y * y):
        np.bincount(codes, weights=w, minlength=k)
    return time.perf_counter() - t0, time.process_time() - c0


def _peak_rss_mb() -> float:
    """The process's peak resident set size (VmHWM) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak_rss() -> float:
    """Reset the peak RSS to the current RSS (Linux ``clear_refs``), so that the peak
    measured afterwards is that of the fit, not of generating the data; returns it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return _peak_rss_mb()


def measure(n: int, groups: int, profile: bool, src: str) -> dict[str, object]:
    """Run in a child process: one size, returns the measured figures."""
    sys.path.insert(0, src)
    import mixedmodels as mm

    frame = make_frame(n, groups)
    frame_mb = frame.memory_usage(deep=True).sum() / 2**20
    base, base_cpu = min(baseline(frame) for _ in range(2))
    mm.lmer(FORMULA, make_frame(20_000, 100))  # warm-up (imports, caches)
    gc.collect()
    start_mb = _reset_peak_rss()
    t0, c0 = time.perf_counter(), time.process_time()
    if profile:
        prof = cProfile.Profile()
        model = prof.runcall(mm.lmer, FORMULA, frame)
    else:
        model = mm.lmer(FORMULA, frame)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    if profile:
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(35)
    peak_mb = _peak_rss_mb()
    return {
        "rows": n,
        "groups": groups,
        "baseline_s": base,
        "baseline_cpu_s": base_cpu,
        "lmer_s": seconds,
        "lmer_cpu_s": cpu,
        "peak_rss_mb": peak_mb,
        "start_rss_mb": start_mb,
        "frame_mb": frame_mb,
        "theta": [round(float(t), 6) for t in model.theta],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", nargs="+", default=["1e6", "1e7"])
    ap.add_argument("--groups", default="1e4")
    ap.add_argument("--profile", action="store_true", help="print a cProfile listing")
    ap.add_argument("--src", default=str(SRC), help="the mixedmodels sources to measure")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    groups = int(float(args.groups))
    if args.child:
        out = measure(int(float(args.rows[0])), groups, args.profile, args.src)
        print("RESULT " + json.dumps(out))
        return
    print(
        "| rows | groups | baseline s (CPU) | lmer s (CPU) | CPU ratio "
        "| RSS before fit MB | peak RSS MB | frame MB | θ |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for rows in args.rows:
        cmd = [sys.executable, __file__, "--child", "--rows", rows, "--groups", args.groups]
        cmd += ["--src", args.src]
        if args.profile:
            cmd.append("--profile")
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
        line = next(s for s in proc.stdout.splitlines() if s.startswith("RESULT "))
        r = json.loads(line[len("RESULT ") :])
        print(
            f"| {r['rows']:.0e} | {r['groups']} "
            f"| {r['baseline_s']:.2f} ({r['baseline_cpu_s']:.2f}) "
            f"| {r['lmer_s']:.2f} ({r['lmer_cpu_s']:.2f}) "
            f"| {r['lmer_cpu_s'] / r['baseline_cpu_s']:.1f} | {r['start_rss_mb']:.0f} "
            f"| {r['peak_rss_mb']:.0f} "
            f"| {r['frame_mb']:.0f} | {r['theta']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
