"""Rebuild the bundled datasets from the lme4 reference cases.

Copies each reference ``data.csv`` (exactly the data R fitted) into
``src/mixedmodels/datasets/data/`` -- gzip-compressed when larger than
100 kB -- and writes ``datasets.json`` with, per dataset, its file, row
count and every column's R type and level order (taken from ``case.json``).

Usage::

    python tools/build_datasets.py [REFERENCE_DIR]

``REFERENCE_DIR`` defaults to ``../shared/reference`` beside the repository.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEST = ROOT / "src" / "mixedmodels" / "datasets" / "data"

#: bundled name -> reference case holding its data
SOURCES: dict[str, str] = {
    "sleepstudy": "sleep_rs",
    "sleepstudy_missing": "sleep_missing",
    "Dyestuff": "dyestuff",
    "Dyestuff2": "dyestuff2",
    "Penicillin": "penicillin",
    "Pastes": "pastes",
    "cake": "cake",
    "Machines": "machines",
    "ergoStool": "ergostool",
    "InstEval": "insteval",
    "cbpp": "cbpp",
    "VerbAgg": "verbagg",
    "seed_sim": "seed_sim_rs",
}

GZIP_ABOVE = 100_000


def build(reference: Path) -> dict[str, dict]:
    """Copy every dataset's CSV into the package and return the metadata."""
    DEST.mkdir(parents=True, exist_ok=True)
    meta: dict[str, dict] = {}
    for name, case in SOURCES.items():
        case_dir = reference / case
        raw = (case_dir / "data.csv").read_bytes()
        info = json.loads((case_dir / "case.json").read_text())
        for old in DEST.glob(f"{name}.csv*"):
            old.unlink()
        if len(raw) > GZIP_ABOVE:
            filename = f"{name}.csv.gz"
            (DEST / filename).write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
        else:
            filename = f"{name}.csv"
            (DEST / filename).write_bytes(raw)
        header = raw.split(b"\n", 1)[0].decode().strip()
        order = [c.strip('"') for c in header.split(",")]
        columns: dict[str, dict] = {}
        for col in order:
            spec = info["columns"][col]
            entry: dict = {"type": spec["type"]}
            if "levels" in spec:
                entry["levels"] = spec["levels"]
            columns[col] = entry
        n_rows = raw.count(b"\n") - 1 + (0 if raw.endswith(b"\n") else 1)
        meta[name] = {
            "file": filename,
            "rows": n_rows,
            "r_source": info.get("dataset", ""),
            "columns": columns,
        }
    return meta


def _dumps(meta: dict[str, dict]) -> str:
    """JSON text with one line per column, so that diffs stay readable."""
    lines = ["{"]
    for i, (name, entry) in enumerate(meta.items()):
        head = {k: v for k, v in entry.items() if k != "columns"}
        lines.append(f" {json.dumps(name)}: {{")
        for key, value in head.items():
            lines.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},")
        lines.append('  "columns": {')
        cols = list(entry["columns"].items())
        for j, (col, spec) in enumerate(cols):
            sep = "," if j < len(cols) - 1 else ""
            lines.append(f"   {json.dumps(col)}: {json.dumps(spec, ensure_ascii=False)}{sep}")
        lines.append("  }")
        lines.append(" }" + ("," if i < len(meta) - 1 else ""))
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """Entry point: ``python tools/build_datasets.py [REFERENCE_DIR]``."""
    reference = Path(argv[0]) if argv else ROOT.parent / "shared" / "reference"
    meta = build(reference)
    text = _dumps(meta)
    (DEST / "datasets.json").write_text(text)
    print(f"wrote {len(meta)} datasets to {DEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
