"""The README's examples run as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from mixedmodels.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def test_python_tour_runs(capsys: pytest.CaptureFixture[str]) -> None:
    (tour,) = _blocks("python")
    namespace: dict = {}
    exec(compile(tour, str(README), "exec"), namespace)
    out = capsys.readouterr().out
    assert "REML criterion at convergence" in out
    assert namespace["m"].nobs == 180


def test_shell_examples_on_bundled_data(capsys: pytest.CaptureFixture[str]) -> None:
    commands = [
        line.split("#")[0].strip()
        for block in _blocks("sh")
        for line in block.splitlines()
        if line.startswith("mixedmodels ") and "mydata" not in line
    ]
    assert len(commands) >= 4
    for command in commands:
        argv = shlex.split(command)[1:]
        assert main(argv) == 0, command
    capsys.readouterr()
