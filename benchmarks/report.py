"""Render a benchmark run (its JSON under ``results/``) as markdown and a log-log scaling plot."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

TOOLS = ("ours", "lme4", "statsmodels", "lme-python", "mixedlm")
PEERS = ("lme4", "statsmodels", "lme-python", "mixedlm")


def criterion_tolerance(reference: float) -> float:
    """Largest criterion difference still counted as the same optimum."""
    return 1e-3 + 1e-7 * abs(reference)


def optimum_check(entry: dict[str, Any], tool: str = "ours") -> dict[str, Any]:
    """Compare `tool`'s criterion with lme4's of the same run, else with the stored reference.

    Returns ``{"status": ..., "delta": ..., "against": ...}`` where status is
    ``ok`` (|Δ| within `criterion_tolerance`), ``lower`` (a better optimum than
    lme4's), ``higher`` (a worse one), or ``unchecked``.
    """
    res = entry["results"].get(tool, {})
    value = res.get("criterion") if res.get("status") == "ok" else None
    if value is None:
        return {"status": "unchecked", "delta": None, "against": None}
    lme4 = entry["results"].get("lme4", {})
    if lme4.get("status") == "ok" and lme4.get("criterion") is not None:
        target, against = float(lme4["criterion"]), "lme4"
    elif entry.get("reference_criterion") is not None:
        target, against = float(entry["reference_criterion"]), "stored lme4"
    else:
        return {"status": "unchecked", "delta": None, "against": None}
    delta = float(value) - target
    tol = criterion_tolerance(target)
    status = "ok" if abs(delta) <= tol else ("lower" if delta < 0 else "higher")
    return {"status": status, "delta": delta, "against": against}


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 1:
        return f"{value:.2f}"
    if value >= 0.01:
        return f"{value:.3f}"
    return f"{value:.4f}"


def _mb(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def _tool_cell(res: dict[str, Any] | None) -> str:
    if not res:
        return "—"
    status = res.get("status")
    if status == "ok":
        runs = len(res.get("times", []))
        return f"{_seconds(res.get('median'))} ({runs})"
    if status == "timeout":
        return f"timeout > {res.get('limit_s', '?')} s"
    if status == "skipped":
        return "skipped"
    return "error"


def _ratio_cell(entry: dict[str, Any], peer: str) -> str:
    ours = entry["results"].get("ours", {})
    other = entry["results"].get(peer, {})
    if ours.get("status") != "ok" or other.get("status") != "ok":
        return "—"
    if optimum_check(entry)["status"] != "ok":
        return "n/a (optimum)"
    if peer != "lme4" and optimum_check(entry, peer)["status"] != "ok":
        return "n/a (peer optimum)"
    return f"{other['median'] / ours['median']:.2f}"


def _delta(value: float | None) -> str:
    if value is None:
        return "—"
    if value == 0:
        return "0"
    return f"{value:+.2e}"


def _check_cell(entry: dict[str, Any], tool: str) -> str:
    check = optimum_check(entry, tool)
    if check["status"] == "unchecked":
        return "—"
    mark = {"ok": "ok", "lower": "LOWER", "higher": "HIGHER"}[check["status"]]
    return f"{_delta(check['delta'])} {mark}"


def _feval(res: dict[str, Any] | None) -> str:
    if not res or res.get("status") != "ok" or res.get("feval") is None:
        return "—"
    return str(int(res["feval"]))


def speed_table(entries: list[dict[str, Any]]) -> list[str]:
    """Per-case medians, peer/ours ratios, and peak memory."""
    peers = " | ".join(f"{t} s (runs) | {t}/ours" for t in PEERS)
    lines = [
        f"| case | n | ours s (runs) | {peers} | "
        + " | ".join(f"{t} MiB" for t in TOOLS)
        + " | optimum |",
        "|---|---:|---:|" + "---:|---:|" * len(PEERS) + "---:|" * len(TOOLS) + "---|",
    ]
    for e in entries:
        r = e["results"]
        check = optimum_check(e)["status"]
        cells = [f"`{e['id']}`", f"{e['n_obs']:,}", _tool_cell(r.get("ours"))]
        for t in PEERS:
            cells += [_tool_cell(r.get(t)), _ratio_cell(e, t)]
        cells += [_mb((r.get(t) or {}).get("fit_mem_mb")) for t in TOOLS]
        cells.append({"ok": "same", "unchecked": "—"}.get(check, f"**{check.upper()}**"))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def correctness_table(entries: list[dict[str, Any]]) -> list[str]:
    """Criterion at the optimum: lme4's value and each tool's difference from it."""
    others = [t for t in TOOLS if t != "lme4"]
    lines = [
        "| case | criterion | lme4 (this run) | stored lme4 1.1-31 | "
        + " | ".join(f"{t} − lme4" for t in others)
        + " | evaluations ours / lme4 |",
        "|---|---|---:|---:|" + "---:|" * len(others) + "---:|",
    ]
    for e in entries:
        r = e["results"]
        lme4 = r.get("lme4") or {}
        live = lme4.get("criterion") if lme4.get("status") == "ok" else None
        stored = e.get("reference_criterion")
        cells = [
            f"`{e['id']}`",
            e["criterion_name"],
            "—" if live is None else f"{live:.6f}",
            "—" if stored is None else f"{stored:.6f}",
            *[_check_cell(e, t) for t in others],
            f"{_feval(r.get('ours'))} / {_feval(r.get('lme4'))}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def loglog_slope(sizes: list[float], times: list[float]) -> float | None:
    """Least-squares slope of log(time) on log(size); None with fewer than two points."""
    if len(sizes) < 2:
        return None
    return float(np.polyfit(np.log10(sizes), np.log10(times), 1)[0])


def series_points(entries: list[dict[str, Any]], series: str, tool: str) -> tuple[list, list]:
    """(sizes, median times) of a tool's successful fits within a series."""
    sizes, times = [], []
    for e in entries:
        res = e["results"].get(tool) or {}
        if e["series"] == series and res.get("status") == "ok":
            sizes.append(float(e["size"]))
            times.append(float(res["median"]))
    return sizes, times


def slope_summary(entries: list[dict[str, Any]], series: str) -> dict[str, dict[str, Any]]:
    """Per tool: log-log slope over all points and over the three largest sizes."""
    out = {}
    for tool in TOOLS:
        sizes, times = series_points(entries, series, tool)
        out[tool] = {
            "all": loglog_slope(sizes, times),
            "top3": loglog_slope(sizes[-3:], times[-3:]) if len(sizes) >= 3 else None,
            "range": (min(sizes), max(sizes)) if sizes else None,
        }
    return out


def _fmt_slope(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _fmt_size(value: float, series: str) -> str:
    if series == "slope":
        return f"10^{round(math.log10(value))}"
    return f"{value:.0f}"


def slope_table(entries: list[dict[str, Any]], series: str, unit: str) -> list[str]:
    """Fitted log-log slopes (time ∝ size^slope) per tool."""
    summary = slope_summary(entries, series)
    lines = [
        f"| tool | {unit} range | slope (all points) | slope (three largest) |",
        "|---|---|---:|---:|",
    ]
    for tool, s in summary.items():
        rng = s["range"]
        span = "—" if rng is None else f"{_fmt_size(rng[0], series)} – {_fmt_size(rng[1], series)}"
        lines.append(f"| {tool} | {span} | {_fmt_slope(s['all'])} | {_fmt_slope(s['top3'])} |")
    return lines


def plot_scaling(entries: list[dict[str, Any]], path: Path) -> bool:
    """Write the log-log scaling plot; False (nothing written) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    styles = {"ours": ("C0", "o"), "lme4": ("C3", "s"), "statsmodels": ("C2", "^"),
              "lme-python": ("C1", "v"), "mixedlm": ("C4", "D")}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    panels = [
        ("slope", "rows (groups = rows / 100)", "y ~ x + (x | g)"),
        ("crossed", "levels per factor (rows = 20 × levels)", "y ~ x + (1 | a) + (1 | b)"),
    ]
    for ax, (series, xlabel, title) in zip(axes, panels):
        summary = slope_summary(entries, series)
        for tool in TOOLS:
            sizes, times = series_points(entries, series, tool)
            if not sizes:
                continue
            color, marker = styles[tool]
            slope = summary[tool]["all"]
            label = tool if slope is None else f"{tool} (slope {slope:.2f})"
            ax.loglog(sizes, times, marker=marker, color=color, label=label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("median wall time of one fit (s)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _notes(entries: list[dict[str, Any]]) -> list[str]:
    lines = []
    for e in entries:
        for tool in TOOLS:
            res = e["results"].get(tool) or {}
            status = res.get("status")
            if status in {"skipped", "error", "timeout"}:
                msg = res.get("message") or (
                    f"no result within {res.get('limit_s')} s" if status == "timeout" else ""
                )
                lines.append(f"- `{e['id']}` / {tool}: {status} — {msg}")
            elif status == "ok" and tool != "lme4" and res.get("warnings"):
                lines.append(f"- `{e['id']}` / {tool} warned: {'; '.join(res['warnings'][:2])}")
            elif status == "ok" and tool == "statsmodels" and res.get("converged") is False:
                lines.append(f"- `{e['id']}` / statsmodels reported non-convergence")
    return lines


def render_markdown(run: dict[str, Any], png_name: str | None) -> str:
    """The whole report."""
    meta, entries = run["meta"], run["cases"]
    machine = meta["machine"]
    ref = [e for e in entries if e["series"] == "reference"]
    slope = [e for e in entries if e["series"] == "slope"]
    crossed = [e for e in entries if e["series"] == "crossed"]
    mem = machine.get("memory_gib")
    out = [
        "# Benchmarks",
        "",
        "<!-- Generated by benchmarks/run.py; do not edit by hand. -->",
        "",
        f"Generated by `{meta['command']}` on {machine['date']}"
        f" ({'quick' if meta['quick'] else 'full'} mode, up to {meta['repeats']} timed repeats"
        f" per model, {meta['budget']:.0f} s of timed fits at most per model and tool).",
        "",
        "GLMMs (glmer against lme4, mixedlm and lme-python, idle and beside a busy process): "
        "[benchmarks_glmm.md](benchmarks_glmm.md), written by `benchmarks/glmm_bench.py`.",
        "",
        "## Machine",
        "",
        f"- CPU: {machine['cpu']}, {machine['nproc']} usable cores"
        + (f", {mem} GiB memory" if mem else ""),
        f"- OS: {machine['os']}"
        + (f"; thread settings: {machine['threads']}" if machine["threads"] else ""),
        f"- load average (1, 5, 15 min) at start: {meta.get('loadavg_start')},"
        f" at end: {meta.get('loadavg_end')} (other work on the machine slows every tool)",
    ]
    for name, version in machine["versions"].items():
        out.append(f"- {name}: {version if version is not None else 'not installed'}")
    out += [
        "",
        "## How it is measured",
        "",
        "Each model is fitted in a fresh process per tool, in the order ours → lme4 →"
        " statsmodels → lme-python → mixedlm, case after case, so that machine noise"
        " hits all tools alike."
        " A process loads the data, does one untimed warm-up fit (on a subsample of"
        " every k-th row, about 2,000 rows, for data above 5,000 rows), then times"
        " repeated fits of the"
        " full user-facing call (formula to fitted model:"
        " `mixedmodels.lmer(...)`, R's `lmer(...)`,"
        " `MixedLM.from_formula(...).fit(...)`, `lme_python.lmer(...)`,"
        " `mixedlm.lmer(...)`) and reports the median wall time."
        " Repeats stop early once the time budget is spent (at least one timed fit)."
        " Our workers import a copy of `src/` taken when the run starts (working"
        " tree, or a commit with `--commit`), so every case measures the same"
        " engine (mixedmodels line above)."
        " Memory is the growth of the process's peak resident set during the timed"
        " fits over its resident set before them (Linux `VmHWM`, reset via"
        " `/proc/self/clear_refs`), in MiB.",
        "",
        "Ratios are peer time / our time: above 1 means we are faster. A ratio is"
        " only shown when our fit reached lme4's optimum: |Δ criterion| ≤"
        " 1e-3 + 1e-7·|criterion| (REML criterion, ML deviance, or −2 logLik for"
        " glmer), against lme4 in the same run, else against the stored lme4 1.1-31"
        " value. A peer's ratio additionally needs the peer at that optimum"
        " (lme-python and mixedlm fit the linear models only).",
        "",
        "## Reference cases",
        "",
        *speed_table(ref),
        "",
        "### Optimum check",
        "",
        *correctness_table(ref),
        "",
    ]
    for name, rows, unit, desc in [
        ("slope", slope, "rows", "`y ~ x + (x | g)`, 100 rows per group on average"),
        ("crossed", crossed, "levels", "`y ~ x + (1 | a) + (1 | b)`, 20 rows per level"),
    ]:
        if not rows:
            continue
        out += [
            f"## Scaling: {name} series",
            "",
            f"{desc}. Time ∝ size^slope, slopes fitted by least squares on log-log axes.",
            "",
            *slope_table(rows, name, unit),
            "",
            *speed_table(rows),
            "",
            *correctness_table(rows),
            "",
        ]
    if png_name:
        out += [f"![scaling]({png_name})", ""]
    notes = _notes(entries)
    out += ["## Skipped, failed and warned", ""]
    out += notes if notes else ["Nothing was skipped."]
    out += [""]
    caps = meta.get("caps")
    if caps:
        out += ["## Size caps", "", *[f"- {c}" for c in caps], ""]
    return "\n".join(out)
