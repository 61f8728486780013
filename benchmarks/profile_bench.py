"""Time of profile-likelihood intervals, ``confint(m, method = "profile")``, beside lme4.

Usage::

    python benchmarks/profile_bench.py                          # this tree's src/
    python benchmarks/profile_bench.py --src /other/src --rounds 5   # another engine too

For sleepstudy ``Reaction ~ Days + (Days | Subject)`` and Penicillin
``diameter ~ 1 + (1|plate) + (1|sample)`` (REML fits, profiled by ML as lme4
does), each round times ``confint(m, "profile")`` on an already fitted model in
one fresh process per engine (this tree's ``src/`` and every ``--src``) and in
one ``Rscript`` process (lme4's ``confint(m, method = "profile")``), in turn, so
that a loaded machine slows every tool alike. Figures are medians over rounds of
the per-call wall time; the ratios to lme4 are what compares. The largest
difference of an interval end from lme4's (relative to max(1, |end|)) is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

CASES = {
    "sleepstudy": ("sleepstudy", "Reaction ~ Days + (Days | Subject)"),
    "penicillin": ("Penicillin", "diameter ~ 1 + (1|plate) + (1|sample)"),
}

_PY = r"""
import json, sys, time, warnings
import mixedmodels as mm
reps = int(sys.argv[1]); cases = json.loads(sys.argv[2]); out = {}
warnings.simplefilter("ignore")
for case, (name, formula) in cases.items():
    m = mm.lmer(formula, mm.datasets.load(name))
    ci = mm.confint(m, "profile", progress=False)  # warm-up
    t0 = time.perf_counter()
    for _ in range(reps):
        ci = mm.confint(m, "profile", progress=False)
    out[case] = {"seconds": (time.perf_counter() - t0) / reps,
                 "lower": ci.iloc[:, 0].tolist(), "upper": ci.iloc[:, 1].tolist()}
print(json.dumps(out))
"""

_R = r"""
suppressMessages(library(lme4))
args <- commandArgs(TRUE); reps <- as.integer(args[1])
out <- list()
m <- list(sleepstudy = lmer(Reaction ~ Days + (Days | Subject), sleepstudy),
          penicillin = lmer(diameter ~ 1 + (1|plate) + (1|sample), Penicillin))
for (case in names(m)) {
  prof_ci <- function() suppressWarnings(confint(m[[case]], method = "profile", oldNames = FALSE))
  ci <- prof_ci()
  t0 <- proc.time()[["elapsed"]]
  for (i in seq_len(reps)) ci <- prof_ci()
  out[[case]] <- list(seconds = (proc.time()[["elapsed"]] - t0) / reps,
                      lower = unname(ci[, 1]), upper = unname(ci[, 2]))
}
cat(jsonlite::toJSON(out, digits = 15, auto_unbox = TRUE))
"""


def _ours(src: str, reps: int) -> dict:
    env = dict(os.environ, PYTHONPATH=src)
    got = subprocess.run([sys.executable, "-c", _PY, str(reps), json.dumps(CASES)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(got.stdout)


def _lme4(reps: int) -> dict:
    got = subprocess.run(["Rscript", "-e", _R, str(reps)], capture_output=True, text=True,
                         check=True)
    return json.loads(got.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", action="append", default=[], help="another engine's src/")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=5, help="calls per process and case")
    args = ap.parse_args()
    engines = {"this": str(Path(__file__).resolve().parents[1] / "src")}
    engines.update({f"src{i}": s for i, s in enumerate(args.src)})
    runs: dict[str, list[dict]] = {name: [] for name in [*engines, "lme4"]}
    for _ in range(args.rounds):
        for name, src in engines.items():
            runs[name].append(_ours(src, args.reps))
        runs["lme4"].append(_lme4(args.reps))
    print(f"load average at the end: {os.getloadavg()}")
    for case in CASES:
        r = statistics.median(run[case]["seconds"] for run in runs["lme4"])
        ref = runs["lme4"][-1][case]
        print(f"{case}: lme4 {r * 1e3:.1f} ms per confint")
        for name, src in engines.items():
            t = statistics.median(run[case]["seconds"] for run in runs[name])
            got = runs[name][-1][case]
            dev = max(abs(a - b) / max(1.0, abs(b)) for k in ("lower", "upper")
                      for a, b in zip(got[k], ref[k]))
            print(f"  {name} ({src}): {t * 1e3:.1f} ms, {r / t:.1f}x faster than lme4, "
                  f"largest relative difference of an end from lme4's {dev:.2e}")


if __name__ == "__main__":
    main()
