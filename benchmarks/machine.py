"""Describe the machine and the software versions a benchmark run used."""

from __future__ import annotations

import datetime as _dt
import importlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
from typing import Any

import common

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024**2
    except OSError:
        return None
    return None


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (other work on the machine skews timings)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _module_version(name: str) -> str | None:
    try:
        module = importlib.import_module(name)
    except Exception:
        return None
    version = getattr(module, "__version__", None)
    if version is None:  # e.g. lme_python: the distribution's metadata has it
        try:
            version = importlib.metadata.version(name.replace("_", "-"))
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
    return str(version)


def _numpy_blas() -> str:
    try:
        import numpy as np

        config = np.show_config(mode="dicts")
        blas = config.get("Build Dependencies", {}).get("blas", {})
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:
        return "unknown"


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=common.REPO_ROOT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _mixedmodels_version(engine: str | None) -> str | None:
    common.use_working_tree()
    version = _module_version("mixedmodels")
    if version is None:
        return None
    if engine and "committed" in engine:
        return f"{version} ({engine})"
    commit = _git("rev-parse", "--short", "HEAD")
    if not commit:
        return version
    dirty = _git("status", "--porcelain", "--", "src")
    if not dirty:
        return f"{version} (commit {commit})"
    changed = _git("diff", "--shortstat", "--", "src") or ""
    untracked = sum(1 for line in dirty.splitlines() if line.startswith("??"))
    extra = ", ".join(p for p in (changed, f"{untracked} untracked" if untracked else "") if p)
    return f"{version} (commit {commit}; uncommitted in src: {extra})"


_R_PROBE = (
    "suppressPackageStartupMessages(library(lme4));"
    "cat(R.version.string, '\\n', as.character(packageVersion('lme4')), '\\n',"
    "as.character(packageVersion('Matrix')), '\\n', sessionInfo()$BLAS, '\\n', sep='')"
)


def r_info() -> dict[str, str] | None:
    """R, lme4, Matrix versions and R's BLAS, or None when R with lme4 is not available."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    try:
        out = subprocess.run([rscript, "-e", _R_PROBE], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    lines = [line.strip() for line in out.stdout.splitlines()]
    if len(lines) < 3:
        return None
    return {
        "R": lines[0],
        "lme4": lines[1],
        "Matrix": lines[2],
        "R BLAS": lines[3] if len(lines) > 3 else "unknown",
        "Rscript": rscript,
    }


def describe(r: dict[str, str] | None, engine: str | None = None) -> dict[str, Any]:
    """Everything the report prints about where and with what a run was measured.

    `engine` says which ``src/`` the workers import (see ``run.snapshot_engine``).
    """
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    mem = _mem_total_gib()
    versions = {
        "Python": platform.python_version(),
        "numpy": _module_version("numpy"),
        "numpy BLAS": _numpy_blas(),
        "scipy": _module_version("scipy"),
        "pandas": _module_version("pandas"),
        "formulaic": _module_version("formulaic"),
        "nlopt": _module_version("nlopt"),
        "mixedmodels": _mixedmodels_version(engine),
        "statsmodels": _module_version("statsmodels"),
        "lme-python": _module_version("lme_python"),
        "mixedlm": _module_version("mixedlm"),
    }
    if r is not None:
        versions.update({k: v for k, v in r.items() if k != "Rscript"})
    return {
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "nproc": usable,
        "memory_gib": None if mem is None else round(mem, 1),
        "os": f"{platform.system()} {platform.release()}",
        "threads": {k: os.environ[k] for k in _THREAD_VARS if k in os.environ},
        "versions": versions,
    }
