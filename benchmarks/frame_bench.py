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

and reports both times, their ratio, the process's peak RSS and the size of
the input frame. The fit's θ is printed so that runs can be compared.
"""

from __future__ import annotations

import argparse
import cProfile
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


def baseline(frame: pd.DataFrame) -> float:
    """Seconds for ``pd.factorize(g)`` plus the six per-group moment sums."""
    t0 = time.perf_counter()
    codes, uniques = pd.factorize(frame["g"])
    k = len(uniques)
    x = frame["x"].to_numpy()
    y = frame["y"].to_numpy()
    for w in (None, x, x * x, y, x * y, y * y):
        np.bincount(codes, weights=w, minlength=k)
    return time.perf_counter() - t0


def measure(n: int, groups: int, profile: bool, src: str) -> dict[str, object]:
    """Run in a child process: one size, returns the measured figures."""
    sys.path.insert(0, src)
    import mixedmodels as mm

    frame = make_frame(n, groups)
    frame_mb = frame.memory_usage(deep=True).sum() / 2**20
    base = min(baseline(frame) for _ in range(2))
    mm.lmer(FORMULA, make_frame(20_000, 100))  # warm-up (imports, caches)
    t0 = time.perf_counter()
    if profile:
        prof = cProfile.Profile()
        model = prof.runcall(mm.lmer, FORMULA, frame)
    else:
        model = mm.lmer(FORMULA, frame)
    seconds = time.perf_counter() - t0
    if profile:
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(35)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "rows": n,
        "groups": groups,
        "baseline_s": base,
        "lmer_s": seconds,
        "peak_rss_mb": peak_mb,
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
    print("| rows | groups | baseline s | lmer s | ratio | peak RSS MB | frame MB | θ |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for rows in args.rows:
        cmd = [sys.executable, __file__, "--child", "--rows", rows, "--groups", args.groups]
        cmd += ["--src", args.src]
        if args.profile:
            cmd.append("--profile")
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
        line = next(s for s in proc.stdout.splitlines() if s.startswith("RESULT "))
        r = json.loads(line[len("RESULT ") :])
        print(
            f"| {r['rows']:.0e} | {r['groups']} | {r['baseline_s']:.2f} | {r['lmer_s']:.2f} "
            f"| {r['lmer_s'] / r['baseline_s']:.1f} | {r['peak_rss_mb']:.0f} "
            f"| {r['frame_mb']:.0f} | {r['theta']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
