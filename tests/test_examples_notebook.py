"""The sleepstudy notebook runs end to end in a fresh kernel and shows tables and figures."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

NOTEBOOK = Path(__file__).parents[1] / "examples" / "sleepstudy.ipynb"
KERNEL = "mixedmodels-test"


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> object:
    """The notebook executed by a kernel of this interpreter (kernelspec in a temp dir)."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "mixedmodels test", "language": "python",
    }))
    mp = pytest.MonkeyPatch()
    mp.setenv("JUPYTER_PATH", str(root))
    mp.setenv("MPLBACKEND", "Agg")  # figures must show without pyplot's inline backend
    try:
        nb = nbformat.read(NOTEBOOK, as_version=4)
        client = nbclient.NotebookClient(
            nb, timeout=120, kernel_name=KERNEL, resources={"metadata": {"path": str(root)}}
        )
        client.execute()
    finally:
        mp.undo()
    return nb


def _cell(nb: object, source_start: str) -> dict:
    for cell in nb.cells:  # type: ignore[attr-defined]
        if cell.cell_type == "code" and cell.source.startswith(source_start):
            return cell
    raise AssertionError(f"no cell starting with {source_start!r}")


def _data(cell: dict, mime: str) -> list[str]:
    return [o["data"][mime] for o in cell.outputs if "data" in o and mime in o["data"]]


def test_notebook_runs_without_errors(executed: object) -> None:
    for cell in executed.cells:  # type: ignore[attr-defined]
        if cell.cell_type == "code":
            assert not [o for o in cell.outputs if o["output_type"] == "error"], cell.source


def test_results_display_as_lme4_tables(executed: object) -> None:
    (summary,) = _data(_cell(executed, "m.summary()"), "text/html")
    assert "lmerModLmerTest" in summary and "<table" in summary and "251.405" in summary
    (model,) = _data(_cell(executed, "m = mm.lmer"), "text/html")
    assert "lmerMod" in model and "24.740" in model
    (ranef,) = _data(_cell(executed, "m.ranef"), "text/html")
    assert "$Subject" in ranef
    (lrt,) = _data(_cell(executed, "m0 = mm.lmer"), "text/html")
    assert "42.139" in lrt  # lme4's LRT of the random slope
    (lm_summary,) = _data(_cell(executed, 'mm.lm("Reaction'), "text/html")
    assert "47.71" in lm_summary


def test_figures_show_without_magic(executed: object) -> None:
    for start in ("mm.plots.caterpillar", "mm.plots.diagnostics", "mm.plots.effects",
                  "mm.plots.shrinkage", "fits = mm.plots", "mm.plots.data_panels",
                  "mm.plots.coefficient_densities"):
        cell = _cell(executed, start)
        pngs = _data(cell, "image/png")
        assert len(pngs) == 1, (start, [list(o.get("data", {})) for o in cell.outputs])
        assert len(pngs[0]) > 5000
