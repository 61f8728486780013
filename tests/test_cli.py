"""The ``mixedmodels`` command line: help, datasets, fits and error reporting."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mixedmodels import datasets
from mixedmodels.cli import main, read_data
from mixedmodels.errors import DataError

SLEEP_RS = "Reaction ~ Days + (Days | Subject)"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the command in-process; return (status, stdout, stderr)."""
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_line_error(status: int, err: str, *fragments: str) -> None:
    """Exit status 2, a single ``mixedmodels: error:`` line, no traceback."""
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("mixedmodels: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


# ---------------------------------------------------------------- help, datasets


@pytest.mark.parametrize("argv", [["--help"], ["fit", "--help"], ["datasets", "--help"]])
def test_help(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    status, out, _ = run(capsys, *argv)
    assert status == 0
    assert out.startswith("usage: mixedmodels")


def test_no_command_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys)
    assert status == 2 and out == ""
    assert "usage: mixedmodels" in err


def test_usage_error_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "fit", SLEEP_RS)  # --data missing
    assert status == 2
    assert "--data" in err and "Traceback" not in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--version")
    assert status == 0 and out.startswith("mixedmodels ")


def test_datasets_lists_every_name(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "datasets")
    assert status == 0 and err == ""
    lines = out.strip().splitlines()
    assert [line.split()[0] for line in lines] == datasets.list()
    sleep = next(line for line in lines if line.startswith("sleepstudy "))
    assert "180 rows" in sleep and "sleep" in sleep.lower()


def test_datasets_describe_and_csv(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "datasets", "PENICILLIN")
    assert status == 0 and out.startswith("Penicillin: ")
    status, out, _ = run(capsys, "datasets", "Dyestuff", "--csv")
    assert status == 0
    frame = pd.read_csv(io.StringIO(out))
    assert list(frame.columns) == ["Batch", "Yield"] and len(frame) == 30


def test_datasets_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "datasets", "sleepstdy")
    assert_one_line_error(status, err, "sleepstdy")


# ------------------------------------------------------------------ data errors


def test_fit_unknown_dataset(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "fit", SLEEP_RS, "--data", "sleepstdy")
    assert out == ""
    assert_one_line_error(status, err, "'sleepstdy'", "sleepstudy")


def test_fit_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "absent.csv"
    status, _, err = run(capsys, "fit", SLEEP_RS, "--data", str(path))
    assert_one_line_error(status, err, str(path), "does not exist")


def test_fit_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = run(capsys, "fit", SLEEP_RS, "--data", str(tmp_path))
    assert_one_line_error(status, err, str(tmp_path), "directory")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bad.parquet", b"this is not parquet at all"),
        ("empty.csv", b""),
        ("binary.csv", b"\xff\xfe\x00\x81\x00garbage\x00\xc3\x28"),
        ("onecolumn.csv", b"just one column\n1\n2\n"),
    ],
)
def test_fit_unreadable_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, content: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    status, _, err = run(capsys, "fit", SLEEP_RS, "--data", str(path))
    assert_one_line_error(status, err, "cannot read data file", str(path))


def test_read_data_sources(tmp_path: Path) -> None:
    sleep = datasets.load("sleepstudy")
    csv = tmp_path / "sleep.csv"
    sleep.to_csv(csv, index=False)
    frame, label = read_data(str(csv))
    assert label == str(csv) and frame.shape == (180, 3)
    parquet = tmp_path / "sleep.parquet"
    sleep.to_parquet(parquet)
    frame, _ = read_data(str(parquet))
    assert isinstance(frame["Subject"].dtype, pd.CategoricalDtype)
    tsv = tmp_path / "sleep.tsv"
    sleep.to_csv(tsv, sep="\t", index=False)
    assert read_data(str(tsv))[0].shape == (180, 3)
    frame, label = read_data("-", stdin=io.StringIO(sleep.to_csv(index=False)))
    assert label == "<stdin>" and frame.shape == (180, 3)
    frame, label = read_data("SleepStudy")
    assert label == "SleepStudy" and frame["Subject"].cat.categories[0] == "308"
    with pytest.raises(DataError, match="standard input"):
        read_data("-", stdin=io.StringIO(""))


# ------------------------------------------------------------------------- fits


def test_fit_text_summary(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "fit", SLEEP_RS, "--data", "sleepstudy")
    assert status == 0, err
    assert "Linear mixed model fit by REML" in out
    assert "REML criterion at convergence: 1743.6" in out
    for word in ("Random effects:", "Fixed effects:", "Subject", "Residual", "251.405"):
        assert word in out
    assert "Traceback" not in err


def test_fit_ml_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "fit", SLEEP_RS, "--data", "sleepstudy", "--ml", "-f", "json")
    assert status == 0, err
    payload = json.loads(out)
    text = json.dumps(payload)
    assert "1751.9" in text  # ML deviance of the sleepstudy model, as in lme4
    assert "251.40" in text


def test_fit_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "fit", SLEEP_RS, "--data", "sleepstudy", "--format", "markdown")
    assert status == 0, err
    assert out.startswith("## Linear mixed model fit by REML")
    assert "| REML criterion at convergence |" in out
    assert "| Groups | Name | Variance | Std.Dev. | Corr |" in out
    assert "| `(Intercept)` | 251.41 |" in out
    assert "| Residual |" in out
    assert "Subject, 18" in out


def test_fit_markdown_ml_three_correlations(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["fit", "score ~ Machine + (Machine | Worker)", "--data", "Machines", "--ml"]
    status, out, err = run(capsys, *argv, "-f", "markdown")
    assert status == 0, err
    assert "| AIC | BIC | logLik | deviance | df.resid |" in out
    assert "| Corr |   |" in out  # a 3x3 correlation matrix needs two columns


def test_fit_weights_and_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sleep = datasets.load("sleepstudy")
    sleep["w"] = [1.0, 2.0] * 90
    monkeypatch.setattr(sys, "stdin", io.StringIO(sleep.to_csv(index=False)))
    status, out, err = run(capsys, "fit", SLEEP_RS, "--data", "-", "--weights", "w")
    assert status == 0, err
    assert "Linear mixed model fit by REML" in out


def test_fit_unknown_column(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "fit", "Reaction ~ Day + (Day | Subject)", "-d", "sleepstudy")
    assert out == ""
    assert_one_line_error(status, err, "'Day'", "Days")


def test_fit_unknown_weights_column(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "fit", SLEEP_RS, "-d", "sleepstudy", "--weights", "wt")
    assert_one_line_error(status, err, "'wt'")


def test_fit_bad_formula(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "fit", "Reaction ~ Days + (Days | )", "-d", "sleepstudy")
    assert status == 2 and out == ""
    assert err.startswith("mixedmodels: error: ")
    assert "Traceback" not in err


def test_module_entry_point_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mixedmodels", "datasets"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "sleepstudy" in result.stdout
    result = subprocess.run(
        [sys.executable, "-m", "mixedmodels", "fit", SLEEP_RS, "--data", "no/such/file.csv"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == "mixedmodels: error: data file 'no/such/file.csv' does not exist\n"
