"""The ``mixedmodels`` command line: help, datasets, fits and error reporting."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mixedmodels import datasets
from mixedmodels.cli import main, read_data
from mixedmodels.errors import ConvergenceWarning, DataError

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


def test_help_loads_no_numerics() -> None:
    """``mixedmodels --help`` answers without numpy, pandas or scipy (cli.py imports them late)."""
    code = ("import sys; from mixedmodels.cli import main; main(['fit', '--help'])\n"
            "print([m for m in ('numpy', 'pandas', 'scipy') if m in sys.modules], file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert "--family {binomial,poisson,Gamma,inverse.gaussian,gaussian}" in result.stdout
    assert "--method {moments}" in result.stdout
    assert result.stderr.strip() == "[]"


# ------------------------------------------------------------ one-line errors


def test_fit_truncated_gzip(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    whole = tmp_path / "sleep.csv.gz"
    datasets.load("sleepstudy").to_csv(whole, index=False)
    blob = whole.read_bytes()
    path = tmp_path / "truncated.csv.gz"
    path.write_bytes(blob[: len(blob) // 2])
    status, out, err = run(capsys, "fit", SLEEP_RS, "--data", str(path))
    assert out == ""
    assert_one_line_error(status, err, str(path), "truncated or damaged")
    assert "internal error" not in err


def test_fit_formula_error_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    formula = "Reaction ~ Days + (Days | Subject"
    status, out, err = run(capsys, "fit", formula, "-d", "sleepstudy")
    assert out == ""
    assert_one_line_error(status, err, "'('", f"at position 19 in '{formula}'")


def test_library_error_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import mixedmodels
    from mixedmodels.errors import ModelSpecificationError

    def failing(*args: object, **kwargs: object) -> None:
        warnings.warn("not shown: the fit failed", ConvergenceWarning, stacklevel=1)
        raise ModelSpecificationError("first line\n  second line")

    monkeypatch.setattr(mixedmodels, "lmer", failing)
    status, _, err = run(capsys, "fit", SLEEP_RS, "-d", "sleepstudy")
    assert_one_line_error(status, err, "first line second line")
    assert "warning" not in err


def test_numpy_warnings_do_not_reach_the_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import mixedmodels

    real = mixedmodels.lmer

    def noisy(*args: object, **kwargs: object) -> object:
        np.log(np.array([-1.0, 0.0]))  # numpy RuntimeWarnings: invalid value, divide by zero
        warnings.warn("model failed to converge", ConvergenceWarning, stacklevel=1)
        return real(*args, **kwargs)

    monkeypatch.setattr(mixedmodels, "lmer", noisy)
    status, out, err = run(capsys, "fit", SLEEP_RS, "-d", "sleepstudy")
    assert status == 0 and "Linear mixed model" in out
    assert err == "mixedmodels: warning: model failed to converge\n"


def test_markdown_p_values_as_r_prints_them(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "fit", SLEEP_RS, "-d", "sleepstudy", "-f", "markdown")
    assert status == 0, err
    # lme4's summary: Pr(>|t|) 1.17e-17 (< eps prints as <2e-16) and 3.26e-06
    assert "| 36.838 | <2e-16 |" in out
    assert "| 6.771 | 3.26e-06 |" in out
    assert "0.000000" not in out


# ------------------------------------------------------------------------ glmer

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


def test_fit_cbind_uses_glmer(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "fit", CBPP, "-d", "cbpp")
    assert status == 0, err
    assert "Generalized linear mixed model fit by maximum likelihood" in out
    assert "Family: binomial  ( logit )" in out
    # lme4 1.1-35: fixef(gm1) (Intercept) -1.3983, period4 -1.5798; AIC 194.1
    assert "-1.3983" in out and "-1.5798" in out and "194.1" in out


def test_fit_glmer_markdown_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "fit", CBPP, "-d", "cbpp", "-f", "markdown")
    assert status == 0, err
    assert out.startswith("## Generalized linear mixed model fit by maximum likelihood")
    assert "- **Family:** binomial (logit)" in out
    assert "| 194.053 | 204.18 | -92.0266 | 184.053 | 51 |" in out  # as lme4's summary
    assert "| `(Intercept)` | -1.3983 | 0.2312 | -6.048 | 1.47e-09 |" in out
    status, out, err = run(capsys, "fit", CBPP, "-d", "cbpp", "-f", "json")
    payload = json.loads(out)
    assert payload["family"] == "binomial" and payload["link"] == "logit"
    assert payload["fixef"]["period2"] == pytest.approx(-0.9919, abs=1e-4)


def test_fit_family_link_nagq(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["fit", "incidence ~ period + (1 | herd)", "-d", "cbpp", "--family", "poisson"]
    status, out, err = run(capsys, *argv, "--nAGQ", "5")
    assert status == 0, err
    assert "Family: poisson  ( log )" in out and "nAGQ = 5" in out
    status, out, err = run(capsys, *argv, "--link", "sqrt")
    assert status == 0, err
    assert "Family: poisson  ( sqrt )" in out


def test_fit_gaussian_identity_is_lmer(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "fit", SLEEP_RS, "-d", "sleepstudy", "--family", "gaussian")
    assert status == 0, err
    assert "Linear mixed model fit by REML" in out


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (["--family", "poisson", "--link", "logit"], "link='logit'"),
        (["--link", "logit"], "--link needs --family"),
        (["--nAGQ", "3"], "--nAGQ needs --family"),
    ],
)
def test_fit_glmer_option_errors(
    capsys: pytest.CaptureFixture[str], options: list[str], fragment: str
) -> None:
    status, out, err = run(capsys, "fit", "incidence ~ period + (1 | herd)", "-d", "cbpp", *options)
    assert out == ""
    assert_one_line_error(status, err, fragment)


@pytest.mark.parametrize("options", [["--family", "quasipoisson"], ["--nAGQ", "1.5"]])
def test_fit_glmer_usage_errors(capsys: pytest.CaptureFixture[str], options: list[str]) -> None:
    status, _, err = run(capsys, "fit", CBPP, "-d", "cbpp", *options)
    assert status == 2 and "Traceback" not in err


# ------------------------------------------------------------ --method moments
PEN = "diameter ~ 1 + (1 | plate) + (1 | sample)"


def test_fit_moments_text(capsys: pytest.CaptureFixture[str]) -> None:
    """The moment fit's summary: its estimator named, no likelihood criteria."""
    status, out, err = run(capsys, "fit", PEN, "--data", "Penicillin", "--method", "moments")
    assert status == 0, err
    assert out.startswith("Linear mixed model fit by the method of moments")
    assert "NOT lme4's (RE)ML" in out
    assert "REML criterion at convergence" not in out and "logLik" not in out
    assert "<2e-16" in out


def test_fit_moments_markdown_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    import mixedmodels as mm

    m = mm.lmer(PEN, mm.datasets.load("Penicillin"), method="moments")
    status, md, err = run(capsys, "fit", PEN, "-d", "Penicillin", "--method", "moments",
                          "-f", "markdown")
    assert status == 0, err
    assert md.startswith("## Linear mixed model fit by the method of moments")
    assert "**not** lme4's (RE)ML" in md and "AIC |" not in md
    assert f"| plate | `(Intercept)` | {m.varcorr.to_frame()['vcov'].iloc[0]:.4f} |" in md
    assert "| `(Intercept)` | 22.97 |" in md and "<2e-16 |" in md
    status, text, err = run(capsys, "fit", PEN, "-d", "Penicillin", "--method", "moments",
                            "-f", "json")
    assert status == 0, err
    doc = json.loads(text)
    assert doc["method"] == "moments" and "loglik" not in doc and "aic" not in doc
    assert doc["fixef"]["(Intercept)"] == pytest.approx(m.fixef["(Intercept)"], rel=1e-12)
    assert doc["sigma"] == pytest.approx(m.sigma, rel=1e-12)
    assert doc["ngroups"] == {"plate": 24, "sample": 6}
    assert len(doc["ranef"]["plate"]["values"]) == 24


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        (["--ml"], ("--ml cannot be used with --method moments", "no likelihood")),
        (["--family", "poisson"], ("--family poisson cannot be used with --method moments",)),
        (["--weights", "diameter"], ("weights='diameter'", "method='moments'")),
    ],
)
def test_fit_moments_refusals_are_one_line(
    capsys: pytest.CaptureFixture[str], extra: list[str], fragments: tuple[str, ...]
) -> None:
    status, out, err = run(capsys, "fit", PEN, "-d", "Penicillin", "--method", "moments", *extra)
    assert out == ""
    assert_one_line_error(status, err, *fragments)


def test_fit_moments_random_slopes_refused(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "fit", "Reaction ~ Days + (Days | Subject)", "-d",
                           "sleepstudy", "--method", "moments")
    assert_one_line_error(status, err, "random slopes", "method='moments'")
