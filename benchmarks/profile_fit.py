"""Where does a fit spend its time?  Setup vs objective evaluations for one case.

Usage::

    python benchmarks/profile_fit.py sleep_rs
    python benchmarks/profile_fit.py insteval --repeats 3 --depth 3
    python benchmarks/profile_fit.py slope_n1e6        # synthetic cases work too

Two measurements:

1. Unprofiled: the median wall time of the whole ``lmer``/``glmer`` call over
   ``--repeats`` fits (after a warm-up), and from the model's public
   ``optinfo``: the number of objective evaluations (``feval``) and the time
   spent in the optimizer (``seconds``), hence the time per evaluation.
   Setup plus result computation is the rest.
2. Profiled (cProfile, one fit): the call tree below the top-level call, so
   that setup (formula, model frame, cross-products) is split from the
   optimizer, plus self time grouped by module.  Profiler overhead inflates
   these times, most for small, call-heavy fits; read them as shares.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from collections import defaultdict
from typing import Any

import cases
import common
import worker_ours

Func = tuple[str, int, str]


def _find_case(case_id: str) -> cases.Case:
    pool = cases.reference_cases() + cases.slope_cases(cases.SLOPE_ROWS_FULL)
    pool += cases.crossed_cases(cases.CROSSED_LEVELS_FULL)
    for case in pool:
        if case.id == case_id:
            return case
    known = ", ".join(c.id for c in pool)
    raise SystemExit(f"unknown case {case_id!r}; known: {known}")


def _label(func: Func) -> str:
    filename, line, name = func
    if filename == "~":
        return name
    parts = filename.replace("\\", "/").split("/")
    if "mixedmodels" in parts:
        idx = len(parts) - 1 - parts[::-1].index("mixedmodels")
        module = ".".join(parts[idx:])
    else:
        module = parts[-1]
    return f"{module.removesuffix('.py')}:{name}"


def _module_group(func: Func) -> str:
    filename = func[0].replace("\\", "/")
    if filename == "~":
        name = func[2]
        return "numpy (C)" if "numpy" in name else "builtins / C extensions"
    parts = filename.split("/")
    for top in ("mixedmodels", "numpy", "scipy", "pandas", "formulaic", "nlopt"):
        if top in parts:
            idx = len(parts) - 1 - parts[::-1].index(top)
            sub = parts[idx + 1 : idx + 2] if top == "mixedmodels" else []
            return ".".join([top, *[s.removesuffix(".py") for s in sub]])
    return "other Python"


def _callees(stats: dict[Func, Any]) -> dict[Func, list[tuple[Func, float, int]]]:
    edges: dict[Func, list[tuple[Func, float, int]]] = defaultdict(list)
    for func, (_cc, _nc, _tt, _ct, callers) in stats.items():
        for caller, (_ecc, enc, _ett, ect) in callers.items():
            edges[caller].append((func, ect, enc))
    return edges


def _find_root(stats: dict[Func, Any], name: str) -> Func | None:
    best = None
    for func, (_cc, _nc, _tt, ct, _callers) in stats.items():
        if func[2] == name and "mixedmodels" in func[0]:
            if best is None or ct > stats[best][3]:
                best = func
    return best


def _find_objective(stats: dict[Func, Any], feval: int | None) -> Func | None:
    """The mixedmodels function called about `feval` times with the largest cumulative time."""
    if not feval:
        return None
    best = None
    for func, (_cc, nc, _tt, ct, _callers) in stats.items():
        if "mixedmodels" in func[0] and feval <= nc <= feval + 3:
            if best is None or ct > stats[best][3]:
                best = func
    return best


def _descendants(edges: dict[Func, list], start: Func) -> set[Func]:
    seen, todo = {start}, [start]
    while todo:
        for child, _ct, _n in edges.get(todo.pop(), []):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def _tree(
    edges: dict[Func, list], node: Func, total: float, depth: int, min_share: float
) -> list[str]:
    lines: list[str] = []

    def walk(func: Func, level: int, path: set[Func]) -> None:
        if level > depth:
            return
        children = sorted(edges.get(func, []), key=lambda e: -e[1])
        for child, ct, n in children:
            if child in path or ct < min_share * total:
                continue
            lines.append(
                f"{'  ' * level}{ct:9.4f} s {100 * ct / total:5.1f}%  {n:>6}×  {_label(child)}"
            )
            walk(child, level + 1, path | {child})

    walk(node, 1, {node})
    return lines


def profile(case_id: str, repeats: int, depth: int, min_share: float, top: int) -> str:
    """Measure and profile one case; return the text report."""
    case = _find_case(case_id)
    spec_path = cases.materialise(case)
    spec = common.read_spec(spec_path)
    common.use_working_tree()
    import mixedmodels as mm

    frame = common.load_frame(spec)
    worker_ours.fit_once(mm, spec, common.warmup_frame(frame, spec.warmup_rows))
    totals, opt_secs, fevals = [], [], []
    model = None
    for _ in range(repeats):
        start = time.perf_counter()
        model = worker_ours.fit_once(mm, spec, frame)
        totals.append(time.perf_counter() - start)
        info = getattr(model, "optinfo", {}) or {}
        opt_secs.append(info.get("seconds"))
        fevals.append(info.get("feval"))
    total = statistics.median(totals)
    feval = fevals[-1]
    secs = [s for s in opt_secs if s is not None]
    opt = statistics.median(secs) if secs else None

    out = [
        f"case {case.id}: {spec.formula}  ({spec.nrows:,} rows, {case.groups or 'no groups'})",
        f"criterion ({spec.criterion_name}): {worker_ours.criterion_of(model, spec)}",
        "",
        f"unprofiled, median of {repeats} fits after a warm-up:",
        f"  total                        {total:10.4f} s",
    ]
    if opt is not None and feval:
        out += [
            f"  optimizer (optinfo seconds)  {opt:10.4f} s  ({100 * opt / total:.1f}%)",
            f"  objective evaluations        {feval:10d}",
            f"  time per evaluation          {1e3 * opt / feval:10.4f} ms",
            f"  setup + results (the rest)   {total - opt:10.4f} s  "
            f"({100 * (total - opt) / total:.1f}%)",
        ]
    else:
        out.append(f"  optinfo has no feval/seconds (feval={feval}); see the profile below")

    profiler = cProfile.Profile()
    profiler.enable()
    worker_ours.fit_once(mm, spec, frame)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    root = _find_root(stats, "glmer" if spec.kind == "glmer" else "lmer")
    if root is None:
        return "\n".join(out + ["", "cProfile: top-level call not found"])
    edges = _callees(stats)
    ptotal = stats[root][3]
    objective = _find_objective(stats, feval)
    out += ["", f"profiled (cProfile, one fit): total {ptotal:.4f} s"]
    if objective is not None:
        nc, ct = stats[objective][1], stats[objective][3]
        setup = sum(
            ct_e
            for child, ct_e, _n in edges.get(root, [])
            if objective not in _descendants(edges, child)
        )
        fit_stage = ptotal - setup
        out += [
            f"  setup (calls of the top level not leading to the objective) "
            f"{setup:.4f} s ({100 * setup / ptotal:.1f}%)",
            f"  fit stage (optimizer + results)  {fit_stage:.4f} s",
            f"  objective {_label(objective)}: {nc} calls, {ct:.4f} s, "
            f"{1e3 * ct / nc:.4f} ms per call (profiled)",
        ]
    out += ["", "call tree (cumulative time, share of profiled total, calls):"]
    out += _tree(edges, root, ptotal, depth, min_share)
    by_module: dict[str, float] = defaultdict(float)
    for func, (_cc, _nc, tt, _ct, _callers) in stats.items():
        by_module[_module_group(func)] += tt
    out += ["", "self time by module:"]
    for name, tt in sorted(by_module.items(), key=lambda kv: -kv[1])[:top]:
        out.append(f"  {tt:9.4f} s {100 * tt / ptotal:5.1f}%  {name}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("case", help="reference case id (e.g. sleep_rs) or slope_n1eK/crossed_LK")
    parser.add_argument("--repeats", type=int, default=5, help="unprofiled timed fits")
    parser.add_argument("--depth", type=int, default=4, help="depth of the call tree")
    parser.add_argument("--min-share", type=float, default=0.01, help="hide smaller calls")
    parser.add_argument("--top", type=int, default=12, help="modules listed by self time")
    args = parser.parse_args(argv)
    print(profile(args.case, args.repeats, args.depth, args.min_share, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
