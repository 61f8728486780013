"""Per-fit, refit and bootstrap time of small LMMs, beside lme-python when installed.

Usage::

    python benchmarks/small_fits.py                    # this tree's src/
    python benchmarks/small_fits.py --src /other/src   # another engine (before/after)
    python benchmarks/small_fits.py --rounds 5 --fits 200 --nsim 1000

One process, cases run in interleaved rounds so that a loaded machine slows
every tool alike: in each round, for sleepstudy ``Reaction ~ Days + (Days | Subject)``
and Penicillin ``diameter ~ 1 + (1|plate) + (1|sample)``,

* ``fit``: ``mixedmodels.lmer(formula, data)`` ``--fits`` times (formula, frame,
  cross-products, optimization and results: the whole call);
* ``refit``: ``m.refit(y)`` ``--fits`` times with the fitted model's own response;
* ``boot``: ``mixedmodels.bootstrap(m, nsim=--nsim)`` (parametric, one process);

and the same three with lme-python (``lme_python.lmer``, ``fit_prepared`` with a
new ``y``, ``boot_lmer`` with ``n_jobs=1``) when it is importable. lme-python
is only measured, never a dependency: ``pip install lme-python`` into the
benchmark's environment. Both are checked to reach the same REML criterion.
Figures are medians over rounds of wall time per fit (``time.perf_counter``)
and process CPU time per fit (``time.process_time``); ratios in one run are
what compares, absolute times depend on the machine's load.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

CASES = {
    "sleepstudy": ("sleepstudy", "Reaction ~ Days + (Days | Subject)", "Reaction"),
    "penicillin": ("Penicillin", "diameter ~ 1 + (1|plate) + (1|sample)", "diameter"),
}


def _timed(fn: Callable[[], Any], reps: int) -> tuple[float, float]:
    """Wall and CPU seconds per call of ``fn`` over ``reps`` calls."""
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - w0) / reps, (time.process_time() - c0) / reps


def _tasks(mm: Any, lp: Any, fits: int, nsim: int) -> dict[tuple[str, str, str], Any]:
    """(case, tool, what) -> (callable, repetitions), after a warm-up and a check."""
    tasks: dict[tuple[str, str, str], Any] = {}
    for case, (name, formula, yname) in CASES.items():
        data = mm.datasets.load(name)
        m = mm.lmer(formula, data)
        y = m.y.copy()
        tasks[case, "ours", "fit"] = (lambda f=formula, d=data: mm.lmer(f, d), fits)
        tasks[case, "ours", "refit"] = (lambda m=m, y=y: m.refit(y), fits)
        tasks[case, "ours", "boot"] = (lambda m=m: mm.bootstrap(m, nsim=nsim, seed=1,
                                                                progress=False), 1)
        if lp is None:
            continue
        pdata = data.copy()
        for col in pdata.columns:  # lme-python reads strings for grouping factors
            if str(pdata[col].dtype) == "category":
                pdata[col] = pdata[col].astype(str)
        fit = lp.lmer(formula, pdata)
        if abs(fit.reml_criterion - m.reml_criterion) > 1e-6 * abs(m.reml_criterion):
            print(f"# {case}: lme-python REML criterion {fit.reml_criterion!r} != "
                  f"ours {m.reml_criterion!r}", file=sys.stderr)
        prep = lp.prepare_lmer(formula, pdata)
        ylist = [float(v) for v in pdata[yname]]
        tasks[case, "lme-python", "fit"] = (lambda f=formula, d=pdata: lp.lmer(f, d), fits)
        tasks[case, "lme-python", "refit"] = (
            lambda p=prep, yl=ylist: lp.fit_prepared(p, y=yl), fits)
        tasks[case, "lme-python", "boot"] = (
            lambda f=formula, d=pdata, fit=fit: lp.boot_lmer(f, d, fit, nsim=nsim, seed=1,
                                                             n_jobs=1), 1)
    for fn, _ in tasks.values():  # warm-up: imports, caches
        fn()
    return tasks


def main() -> None:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", default=str(here.parent / "src"), help="engine to measure")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--fits", type=int, default=200, help="fits (refits) timed per round")
    ap.add_argument("--nsim", type=int, default=1000, help="bootstrap refits per round")
    ap.add_argument("--no-lme-python", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, args.src)
    warnings.simplefilter("ignore")
    import mixedmodels as mm

    lp = None
    if not args.no_lme_python:
        try:
            import lme_python as lp  # type: ignore[no-redef]
        except ImportError:
            print("# lme-python not installed: only ours is timed", file=sys.stderr)
    tasks = _tasks(mm, lp, args.fits, args.nsim)
    wall: dict[Any, list[float]] = {k: [] for k in tasks}
    cpu: dict[Any, list[float]] = {k: [] for k in tasks}
    for _ in range(args.rounds):
        for key, (fn, reps) in tasks.items():
            w, c = _timed(fn, reps)
            wall[key].append(w)
            cpu[key].append(c)
    print(f"engine: {args.src}; median of {args.rounds} interleaved rounds")
    print(f"{'case':<11} {'tool':<11} {'what':<6} {'wall':>10} {'cpu':>10}  per")
    for key in tasks:
        per = f"{args.nsim} refits" if key[2] == "boot" else "fit"
        w, c = statistics.median(wall[key]), statistics.median(cpu[key])
        unit, scale = ("s", 1.0) if key[2] == "boot" else ("ms", 1e3)
        print(f"{key[0]:<11} {key[1]:<11} {key[2]:<6} {w * scale:>8.3f}{unit:>2} "
              f"{c * scale:>8.3f}{unit:>2}  {per}")
    if lp is not None:
        print("ratio ours / lme-python (wall, cpu):")
        for case in CASES:
            for what in ("fit", "refit", "boot"):
                a, b = (case, "ours", what), (case, "lme-python", what)
                rw = statistics.median(wall[a]) / statistics.median(wall[b])
                rc = statistics.median(cpu[a]) / statistics.median(cpu[b])
                print(f"  {case:<11} {what:<6} {rw:6.2f} {rc:6.2f}")


if __name__ == "__main__":
    main()
