"""The ``mixedmodels`` command: fit a model from the shell, list datasets.

Examples
--------
.. code-block:: sh

    mixedmodels fit "Reaction ~ Days + (Days | Subject)" --data sleepstudy
    mixedmodels fit "y ~ x + (1 | g)" --data mydata.parquet --ml --format json
    mixedmodels fit "cbind(incidence, size - incidence) ~ period + (1 | herd)" --data cbpp
    mixedmodels fit "y ~ x + (1 | g)" --data counts.csv --family poisson
    mixedmodels fit "y ~ x + (1 | g) + (1 | h)" --data big.parquet --method moments
    mixedmodels datasets
    mixedmodels datasets sleepstudy --csv \\
        | mixedmodels fit "Reaction ~ Days + (1 | Subject)" --data -

Errors a user can fix (a bad formula, an unknown column, an unreadable
file) are reported as one ``mixedmodels: error: ...`` line on stderr with
exit status 2, never as a traceback. The library's warnings (convergence,
singular fit, dropped columns) are one ``mixedmodels: warning: ...`` line
each; floating-point warnings from numpy do not reach the terminal.
"""

from __future__ import annotations

import argparse
import json
import lzma
import re
import sys
import warnings
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .errors import DataError, FormulaError, MixedModelsError
from .family_names import FAMILIES

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["main", "read_data", "build_parser"]

PROG = "mixedmodels"

_PARQUET_SUFFIXES = {".parquet", ".pq"}
_TSV_SUFFIXES = {".tsv", ".tab"}
_DATA_SUFFIXES = {".csv", ".txt", ".gz", ".bz2", ".xz", ".zip", ".zst"}
_DATA_SUFFIXES |= _PARQUET_SUFFIXES | _TSV_SUFFIXES
# what a damaged or truncated file raises while it is parsed (pyarrow's errors are ValueErrors)
_READ_ERRORS = (
    OSError,
    ValueError,
    UnicodeDecodeError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    zipfile.BadZipFile,
)


# --------------------------------------------------------------------------- data


def read_data(spec: str, stdin: TextIO | None = None) -> tuple[pd.DataFrame, str]:
    """Read the data named by ``--data``.

    Parameters
    ----------
    spec:
        ``-`` (CSV on standard input), the path of a CSV / TSV / Parquet file
        (compressed CSV such as ``.csv.gz`` works), or the name of a bundled
        dataset (see ``mixedmodels datasets``). An existing file wins over a
        dataset of the same name.
    stdin:
        Stream read for ``-``; ``sys.stdin`` when omitted.

    Returns
    -------
    (DataFrame, str)
        The data and a label naming where they came from.

    Raises
    ------
    DataError
        The file is missing or cannot be parsed (the message names the
        path), or ``spec`` is neither a file nor a bundled dataset.
    """
    import pandas as pd

    from . import datasets

    if spec == "-":
        stream = sys.stdin if stdin is None else stdin
        try:
            return pd.read_csv(stream), "<stdin>"
        except _READ_ERRORS as exc:
            raise DataError(f"cannot read CSV from standard input: {_first_line(exc)}") from exc
    path = Path(spec).expanduser()
    if path.is_file():
        return _read_file(path), spec
    if path.is_dir():
        raise DataError(f"data path '{spec}' is a directory, not a data file")
    known = {name.lower() for name in datasets.list_datasets()}
    if spec.lower() in known:
        return datasets.load(spec), spec
    if any(sep in spec for sep in ("/", "\\")) or path.suffix.lower() in _DATA_SUFFIXES:
        raise DataError(f"data file '{spec}' does not exist")
    raise DataError(
        f"'{spec}' is neither a data file nor a bundled dataset "
        f"(bundled: {', '.join(datasets.list_datasets())})"
    )


def _read_file(path: Path) -> pd.DataFrame:
    """Parse ``path`` by its suffix: Parquet, TSV, else CSV (maybe compressed)."""
    import pandas as pd

    suffixes = [s.lower() for s in path.suffixes]
    try:
        if suffixes and suffixes[-1] in _PARQUET_SUFFIXES:
            return pd.read_parquet(path)
        sep = "\t" if set(suffixes) & _TSV_SUFFIXES else ","
        frame = pd.read_csv(path, sep=sep)
    except ImportError as exc:
        raise DataError(
            f"cannot read data file '{path}': {_first_line(exc)} "
            "(install the 'polars' extra: pip install 'mixedmodels[polars]')"
        ) from exc
    except (EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile) as exc:
        raise DataError(
            f"cannot read data file '{path}': {_first_line(exc)} "
            "(the compressed file is truncated or damaged)"
        ) from exc
    except _READ_ERRORS as exc:
        raise DataError(f"cannot read data file '{path}': {_first_line(exc)}") from exc
    if frame.shape[1] < 2:
        raise DataError(
            f"cannot read data file '{path}': found {frame.shape[1]} column(s); "
            "expected a table with a header row and comma-separated columns"
        )
    return frame


def _first_line(exc: BaseException) -> str:
    """First non-empty line of an exception's message (or its type name)."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__


def error_line(exc: MixedModelsError) -> str:
    """A library error as one line of text.

    A :class:`FormulaError` prints the formula with a caret under the
    offending text on extra lines; here the reason is followed by
    ``at position N in '<formula>'`` (N counted from 1). Any other message
    has its lines joined.
    """
    if isinstance(exc, FormulaError) and getattr(exc, "formula", None) is not None:
        text = " ".join(str(getattr(exc, "reason", exc)).split())
        formula = str(exc.formula).replace("\n", " ")
        position = getattr(exc, "position", None)
        where = "" if position is None else f"at position {int(position) + 1} "
        return f"{text} ({where}in '{formula}')"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines) or type(exc).__name__


# ------------------------------------------------------------------------ commands


class UsageError(MixedModelsError):
    """Command-line options that do not go together (reported like any library error)."""


_CBIND = re.compile(r"^\s*cbind\s*\(")


def _fit(args: argparse.Namespace, data: pd.DataFrame, label: str) -> Any:
    """Fit with ``lmer``, or ``glmer`` for a ``cbind()`` response or a ``--family``.

    R's rule for ``glmer(family = gaussian)`` with the identity link applies:
    that is a linear mixed model, fitted by ``lmer``.
    """
    import mixedmodels

    from .family import make_family

    cbind = bool(_CBIND.match(args.formula.split("~", 1)[0]))
    if getattr(args, "method", None) == "moments":
        return _fit_moments(args, data, label, cbind)
    family = args.family or ("binomial" if cbind else None)
    if family is None:
        if args.link is not None or args.nAGQ is not None:
            option = "--link" if args.link is not None else "--nAGQ"
            raise UsageError(f"{option} needs --family (e.g. --family binomial)")
        return mixedmodels.lmer(
            args.formula, data, REML=not args.ml, weights=args.weights, data_name=label
        )
    try:
        fam = make_family(family, args.link)
    except ValueError as exc:  # unknown link for this family
        raise UsageError(_first_line(exc)) from exc
    if fam.family == "gaussian" and fam.link.name == "identity" and not cbind:
        if args.nAGQ is not None:
            raise UsageError("--nAGQ applies to generalized models; gaussian(identity) is lmer")
        return mixedmodels.lmer(
            args.formula, data, REML=not args.ml, weights=args.weights, data_name=label
        )
    return mixedmodels.glmer(
        args.formula,
        data,
        family=fam,
        nAGQ=1 if args.nAGQ is None else args.nAGQ,
        weights=args.weights,
        data_name=label,
    )


def _fit_moments(args: argparse.Namespace, data: pd.DataFrame, label: str, cbind: bool) -> Any:
    """``--method moments``: ``lmer(..., method="moments")``, crossed random intercepts
    of a numeric response; the options of the exact fits are refused by name."""
    import mixedmodels

    what_to_do = (
        "--method moments fits crossed random intercepts of a numeric response, "
        "y ~ x + (1 | g) + (1 | h), by the method of moments (lmer only)"
    )
    if args.family is not None or cbind:
        given = f"--family {args.family}" if args.family is not None else "a cbind() response"
        raise UsageError(f"{given} cannot be used with --method moments: {what_to_do}; "
                         "drop --method to fit the generalized model exactly")
    for option, value in (("--ml", args.ml), ("--link", args.link), ("--nAGQ", args.nAGQ)):
        if value not in (None, False):
            raise UsageError(f"{option} cannot be used with --method moments: {what_to_do}, "
                             "which has no likelihood to maximise; drop one of the two")
    return mixedmodels.lmer(args.formula, data, weights=args.weights, data_name=label,
                            method="moments")


def _cmd_fit(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``mixedmodels fit``: read the data, fit with lmer or glmer, print the result.

    Warnings raised while fitting and printing are collected: the library's
    own (``UserWarning`` and its subclasses) are written once each as a
    ``mixedmodels: warning:`` line after the result; floating-point
    ``RuntimeWarning``s from numpy are dropped (a failed fit is reported by
    its error, a finished one by its numbers). On an error nothing but the
    error line is written.
    """
    from .cli_render import jsonable, render_markdown

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data, label = read_data(args.data)
        model = _fit(args, data, label)
        if args.format == "json":
            text = json.dumps(jsonable(model.to_dict()), indent=2, allow_nan=False) + "\n"
        elif args.format == "markdown":
            text = render_markdown(model, label, formula=args.formula)
        else:
            text = str(model.summary()).rstrip("\n") + "\n"
    out.write(text)
    _write_warnings(caught, err)
    return 0


def _write_warnings(caught: list[Any], err: TextIO) -> None:
    """The library's warnings, once each, as ``mixedmodels: warning:`` lines."""
    seen: set[str] = set()
    for w in caught:
        message = " ".join(str(w.message).split())
        if issubclass(w.category, UserWarning) and message not in seen:
            seen.add(message)
            err.write(f"{PROG}: warning: {message}\n")


def _cmd_report(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``mixedmodels report``: fit as ``fit`` does, write the HTML report to ``--output``."""
    from .report import write_report

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data, label = read_data(args.data)
        model = _fit(args, data, label)
        write_report(args.output, model, data, profile=args.profile)
    _write_warnings(caught, err)
    err.write(f"{PROG}: wrote {args.output}\n")
    return 0


def _nagq(text: str) -> int:
    """``--nAGQ``: an integer from 0 to 100 (lme4's range)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer: '{text}'") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be between 0 and 100, got {value}")
    return value


def _cmd_datasets(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``mixedmodels datasets [NAME] [--csv]``: list, describe or dump datasets."""
    from . import datasets

    if args.name is None:
        if args.csv:
            raise DataError("--csv needs a dataset name, e.g. 'mixedmodels datasets cake --csv'")
        names = datasets.list_datasets()
        width = max(len(n) for n in names)
        for name in names:
            meta = datasets.info(name)
            out.write(f"{name:<{width}}  {meta.rows:>6} rows  {meta.title}\n")
        return 0
    if args.csv:
        datasets.load(args.name).to_csv(out, index=False)
    else:
        out.write(datasets.describe(args.name) + "\n")
    return 0


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """FORMULA, --data and the model options shared by 'fit' and 'report'."""
    parser.add_argument("formula", metavar="FORMULA", help="lme4 model formula, quoted")
    parser.add_argument(
        "--data",
        "-d",
        required=True,
        metavar="DATA",
        help="bundled dataset name, CSV/TSV/Parquet file, or '-' for CSV on stdin",
    )
    parser.add_argument(
        "--ml",
        action="store_true",
        help="maximum likelihood instead of REML (REML=FALSE); generalized models always use it",
    )
    parser.add_argument("--weights", metavar="COLUMN", help="column of prior weights")
    parser.add_argument(
        "--family",
        choices=FAMILIES,
        help="fit a generalized linear mixed model (glmer) of this family; "
        "binomial is implied by a cbind(successes, failures) response",
    )
    parser.add_argument(
        "--link", metavar="LINK", help="link function of --family (default: the family's own)"
    )
    parser.add_argument(
        "--nAGQ",
        type=_nagq,
        metavar="N",
        help="glmer: 1 = Laplace (default), 0 = faster and less exact, >1 = adaptive "
        "Gauss-Hermite points (one scalar random-effect term)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``mixedmodels`` command."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Linear mixed-effects models with lme4's formulas and numbers.",
        epilog=f"Run '{PROG} COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback of unexpected errors"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    fit = sub.add_parser(
        "fit",
        help="fit a mixed model (lme4's lmer or glmer) and print its summary",
        description=(
            "Fit a linear mixed model, as lme4's lmer(FORMULA, data), or with --family or a "
            "cbind(successes, failures) response a generalized one, as glmer(FORMULA, data, "
            "family), and print it."
        ),
        epilog=(
            "examples:\n"
            '  mixedmodels fit "Reaction ~ Days + (Days | Subject)" --data sleepstudy\n'
            '  mixedmodels fit "cbind(incidence, size - incidence) ~ period + (1 | herd)" '
            "--data cbpp\n"
            '  mixedmodels fit "y ~ x + (1 | g)" --data counts.csv --family poisson\n'
            '  mixedmodels fit "y ~ x + (1 | g) + (1 | h)" --data big.parquet --method moments'
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_model_arguments(fit)
    fit.add_argument(
        "--method",
        choices=("moments",),
        help="moments: crossed random intercepts y ~ x + (1 | g) + (1 | h) by the method of "
        "moments and backfitting GLS in O(N) time (not lme4's (RE)ML: no logLik or AIC)",
    )
    fit.add_argument(
        "--format",
        "-f",
        choices=("text", "json", "markdown"),
        default="text",
        help="output: lme4's summary text (default), every number as JSON, or Markdown",
    )
    fit.set_defaults(handler=_cmd_fit)

    report = sub.add_parser(
        "report",
        help="fit a mixed model and write a one-page HTML report with figures",
        description=(
            "Fit FORMULA as 'fit' does and write one self-contained HTML file: the summary, "
            "the pooling comparison, shrinkage, caterpillar plot, diagnostics and effects "
            "(figures inline as PNG). Needs matplotlib."
        ),
        epilog=(
            "example:\n"
            '  mixedmodels report "Reaction ~ Days + (Days | Subject)" --data sleepstudy '
            "-o report.html"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_model_arguments(report)
    report.add_argument("--output", "-o", default="report.html", metavar="FILE",
                        help="HTML file to write (default: report.html)")
    report.add_argument("--profile", action="store_true",
                        help="add profile-likelihood confidence intervals (slower)")
    report.set_defaults(handler=_cmd_report)

    ds = sub.add_parser(
        "datasets",
        help="list the bundled datasets, or describe one",
        description="List the bundled datasets; with NAME, describe that dataset.",
    )
    ds.add_argument("name", nargs="?", metavar="NAME", help="dataset to describe")
    ds.add_argument("--csv", action="store_true", help="write the dataset as CSV to stdout")
    ds.set_defaults(handler=_cmd_datasets)
    return parser


def _version() -> str:
    """Installed version of the package ("unknown" when run from a bare tree)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mixedmodels")
    except PackageNotFoundError:
        return "unknown"


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mixedmodels`` command line; return the exit status.

    0 on success, 2 for errors a user can fix (bad arguments, formula,
    columns, data), 1 for an unexpected internal error, 130 on Ctrl-C.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    out, err = sys.stdout, sys.stderr
    try:
        return args.handler(args, out, err)
    except MixedModelsError as exc:
        err.write(f"{PROG}: error: {error_line(exc)}\n")
    except KeyboardInterrupt:
        err.write(f"{PROG}: interrupted\n")
        return 130
    except BrokenPipeError:  # e.g. piped into head: stop quietly
        _silence_stdout()
        return 0
    except Exception as exc:
        if args.debug:
            raise
        err.write(
            f"{PROG}: internal error: {type(exc).__name__}: {_first_line(exc)} "
            "(run with --debug for the traceback)\n"
        )
        return 1
    return 2
