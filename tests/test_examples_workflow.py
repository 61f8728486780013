"""The sleepstudy workflow example runs end to end."""

from __future__ import annotations

import runpy
from pathlib import Path

EXAMPLE = Path(__file__).parents[1] / "examples" / "sleepstudy_workflow.py"


def test_sleepstudy_workflow_runs(capsys):
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "Residual standard error: 47.71 on 178 degrees of freedom" in out
    assert "42.139" in out  # LRT statistic of m0 vs m1
    assert "Days in" in out  # ranova row
    assert "Type III Analysis of Variance Table" in out
