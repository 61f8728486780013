"""Time ``import mixedmodels`` and the first use of its heavier parts, each in a fresh
interpreter (warm file cache: one untimed run first).

Run: python benchmarks/import_time.py [--repeats 7]

Each stage is timed with ``python -X importtime`` (the interpreter's own
account of the imports, without its start-up), as the median over the
repeats: ``import mixedmodels``; then the fitting stack (``mm.lmer``: pandas,
SciPy's linear algebra, NLopt); summaries and tests (``mm.inference``:
scipy.stats); plots (``mm.plots.caterpillar``: matplotlib).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

STAGES = {
    "import mixedmodels": "import mixedmodels as mm",
    "+ mm.lmer (fitting stack)": "import mixedmodels as mm; mm.lmer",
    "+ mm.inference (tests, scipy.stats)": "import mixedmodels as mm; mm.lmer; mm.inference",
    "+ mm.plots.caterpillar (matplotlib)": "import mixedmodels as mm; mm.plots.caterpillar",
}
NOT_IMPORTED = ("matplotlib", "duckdb", "dask", "scipy.stats", "pandas", "formulaic", "tqdm")


def import_seconds(code: str) -> float:
    """Cumulative import time (s) of every top-level import ``code`` makes."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", code],
                         capture_output=True, text=True, check=True).stderr
    total, started = 0, False
    for line in out.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        top = not name.startswith("  ")  # depth 0: counted with everything below it
        if top and name.strip() == "mixedmodels":
            started = True  # imports before it at depth 0 are the interpreter's start-up
        if top and started:
            total += int(cumulative)
    return total / 1e6


def loaded_by_import() -> list[str]:
    code = ("import sys, mixedmodels; "
            f"print(' '.join(m for m in {NOT_IMPORTED!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    print("| stage | median import time (s) | min (s) |")
    print("|---|---:|---:|")
    for label, code in STAGES.items():
        import_seconds(code)  # warm the file cache
        times = [import_seconds(code) for _ in range(args.repeats)]
        print(f"| {label} | {statistics.median(times):.3f} | {min(times):.3f} |")
    loaded = loaded_by_import()
    print(f"\nloaded by `import mixedmodels`: {', '.join(loaded) if loaded else 'none of'} "
          f"{'' if loaded else ', '.join(NOT_IMPORTED)}")


if __name__ == "__main__":
    main()
