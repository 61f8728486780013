"""``import mixedmodels`` is quick: heavy dependencies load on first use (__init__.py)."""

from __future__ import annotations

import subprocess
import sys

import mixedmodels as mm

HEAVY = ("matplotlib", "duckdb", "dask", "scipy.stats", "pandas", "formulaic", "tqdm")


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout


def test_import_loads_no_heavy_dependency():
    out = _run(f"import sys, mixedmodels; print([m for m in {HEAVY!r} if m in sys.modules])")
    assert out.strip() == "[]"


def test_fitting_loads_neither_plots_nor_out_of_core_backends():
    code = ("import sys, mixedmodels as mm; d = mm.datasets.load('sleepstudy'); "
            "m = mm.lmer('Reaction ~ Days + (Days | Subject)', d); m.fixef; "
            "print([m for m in ('matplotlib', 'duckdb', 'dask') if m in sys.modules])")
    assert _run(code).strip() == "[]"


def test_import_time_is_small():
    """The interpreter's own account of the import (-X importtime, start-up excluded)."""
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", "import mixedmodels"],
                         capture_output=True, text=True, check=True).stderr
    line = [ln for ln in err.splitlines() if ln.rstrip().endswith("| mixedmodels")][-1]
    seconds = int(line.split("|")[1]) / 1e6
    assert seconds < 0.5, seconds


def test_every_public_name_resolves():
    for name in mm.__all__:
        assert getattr(mm, name) is not None, name
    assert callable(mm.lmer) and mm.lmer.__module__ == "mixedmodels.lmm"
    from mixedmodels import lmer, plots  # noqa: F401

    assert mm.inference.coef_table is not None and mm.design is not None
    assert "lmer" in dir(mm)
    try:
        mm.not_a_name  # noqa: B018
    except AttributeError as e:
        assert "not_a_name" in str(e)
    else:
        raise AssertionError("unknown attribute did not raise")
