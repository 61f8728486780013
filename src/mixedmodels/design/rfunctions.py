"""R's values, operators and functions for formula expressions, on numpy arrays.

Values are doubles (numpy arrays: 0-d for a scalar, 1-d for a column, 2-d for
a matrix), :class:`Logical` vectors (1/0 with NaN for NA), :class:`Columns`
(a matrix with named columns), strings and factors. The operators follow R:
``^`` is ``pow`` on doubles (overflow gives ``Inf``), ``%%`` and ``%/%`` are
floored, comparisons give NA where an operand is NA, ``&``/``|`` use R's
three-valued logic (FALSE & NA is FALSE, TRUE | NA is TRUE), ``!x`` is
``x == 0`` for a number. :data:`R_FUNCTIONS` are R's functions with R's
argument names (``na.rm`` is written ``na_rm``) and defaults; a failure is a
:class:`Fail` with an R-like reason, turned into a ``FormulaError`` by
:mod:`mixedmodels.design.expressions`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

__all__ = [
    "R_FUNCTIONS",
    "CONSTANTS",
    "STATEFUL",
    "Logical",
    "Value",
    "Columns",
    "Fail",
    "binary",
    "lgl",
    "num",
    "scalar",
    "truth",
    "usage",
]


@dataclass
class Logical:
    """An R logical vector: ``values`` holds 1.0 (TRUE), 0.0 (FALSE), NaN (NA)."""

    values: np.ndarray


@dataclass
class Columns:
    """A numeric matrix with R's column names (``dummy(f)`` names them by level)."""

    values: np.ndarray
    names: list[str] = field(default_factory=list)


class Fail(Exception):
    """A failure while evaluating, with an R-like reason (becomes a FormulaError)."""


Value = Any  # np.ndarray | Logical | Columns | str | list[str] | Categorical | None


# -- conversions --------------------------------------------------------------


def is_factor(v: Value) -> bool:
    return hasattr(v, "codes") and hasattr(v, "levels")


def num(v: Value, what: str) -> np.ndarray:
    """``v`` as doubles (R's coercion of logicals), or a failure naming ``what``."""
    if isinstance(v, np.ndarray):
        return v
    if isinstance(v, (float, int, np.generic)) and not isinstance(v, str):
        return np.asarray(v, dtype=float)
    if isinstance(v, Logical):
        return v.values
    if isinstance(v, Columns):
        return v.values
    if is_factor(v):
        raise Fail(f"{what} is not meaningful for a factor (categorical column)")
    if isinstance(v, (str, list)):
        raise Fail(f"{what} needs numbers, not text")
    raise Fail(f"{what} needs numbers, not NULL")


def lgl(v: Value, what: str) -> np.ndarray:
    """``v`` as 1/0/NaN (a number is TRUE when it is not 0)."""
    if isinstance(v, Logical):
        return v.values
    x = num(v, what)
    return np.where(np.isnan(x), np.nan, (x != 0).astype(float))


def scalar(v: Value, what: str) -> float:
    x = num(v, what)
    if x.size != 1:
        raise Fail(f"{what} must be a single number")
    return float(x.ravel()[0])


def _align(a: np.ndarray, b: np.ndarray, op: str) -> tuple[np.ndarray, np.ndarray]:
    """R's recycling for the cases that make sense in a model frame."""
    la = a.shape[0] if a.ndim else 1
    lb = b.shape[0] if b.ndim else 1
    if la != lb and la != 1 and lb != 1:
        raise Fail(f"'{op}' combines {la} values with {lb} values")
    if a.ndim == 2 and b.ndim == 1 and lb == la:
        b = b[:, None]
    elif b.ndim == 2 and a.ndim == 1 and la == lb:
        a = a[:, None]
    return a, b


# -- operators ------------------------------------------------------------------

_ARITH: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.true_divide,
    "^": np.power,
    "%%": np.mod,
    "%/%": np.floor_divide,
}
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    ">": np.greater,
    "<=": np.less_equal,
    ">=": np.greater_equal,
}


def _compare(op: str, a: Value, b: Value) -> Logical:
    if is_factor(a) or is_factor(b) or isinstance(a, str) or isinstance(b, str):
        if op not in ("==", "!="):
            raise Fail(f"'{op}' is not meaningful for factors or text")
        labels = [_labels(a), _labels(b)]
        if any(lab is None for lab in labels):
            raise Fail(f"'{op}' compares a factor or text with numbers")
        la, lb = labels
        eq = np.asarray(la, dtype=object) == np.asarray(lb, dtype=object)
        out = eq.astype(float) if op == "==" else 1.0 - eq.astype(float)
        missing = np.zeros(np.shape(out), dtype=bool)
        for v in (a, b):
            if is_factor(v):
                missing |= np.asarray(v.codes) < 0
        return Logical(np.where(missing, np.nan, out))
    x, y = _align(num(a, f"'{op}'"), num(b, f"'{op}'"), op)
    out = _COMPARE[op](x, y).astype(float)
    return Logical(np.where(np.isnan(x) | np.isnan(y), np.nan, out))


def _labels(v: Value) -> Any:
    if is_factor(v):
        lv = np.asarray(list(v.levels) + [""], dtype=object)
        return lv[np.where(np.asarray(v.codes) >= 0, v.codes, len(v.levels))]
    if isinstance(v, str):
        return v
    return None


def _and(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """R's ``&``: FALSE wins over NA."""
    out = np.where(np.isnan(a) | np.isnan(b), np.nan, a * b)
    return np.where((a == 0) | (b == 0), 0.0, out)


def _or(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """R's ``|``: TRUE wins over NA."""
    out = np.where(np.isnan(a) | np.isnan(b), np.nan, np.maximum(a, b))
    return np.where((a == 1) | (b == 1), 1.0, out)


def binary(op: str, a: Value, b: Value) -> Value:
    if op in _ARITH:
        x, y = _align(num(a, f"'{op}'"), num(b, f"'{op}'"), op)
        return _ARITH[op](x, y)
    if op in _COMPARE:
        return _compare(op, a, b)
    if op in ("&", "&&", "|", "||"):
        x, y = _align(lgl(a, f"'{op}'"), lgl(b, f"'{op}'"), op)
        return Logical(_and(x, y) if op in ("&", "&&") else _or(x, y))
    if op == "%in%":
        table = b if isinstance(b, list) else [b]
        if is_factor(a) or isinstance(a, str):
            labels = np.asarray(_labels(a), dtype=object)
            wanted = [t for t in table if isinstance(t, str)]
            return Logical(np.isin(labels, wanted).astype(float))
        x = num(a, "'%in%'")
        values = np.concatenate([np.ravel(num(t, "'%in%'")) for t in table])
        return Logical(np.isin(x, values).astype(float))
    if op == ":":
        raise Fail(
            "':' inside a function call is R's sequence operator (from:to); an "
            "interaction a:b belongs outside I() and other calls"
        )
    raise Fail(f"the operator '{op}' is not supported in formula expressions")


# -- R functions ------------------------------------------------------------------


def _unary(fn: Callable[[np.ndarray], np.ndarray], name: str) -> Callable[..., np.ndarray]:
    def f(x: Value) -> np.ndarray:
        return fn(num(x, f"{name}()"))

    f.__name__ = name
    return f


def _log(x: Value, base: Value = math.e) -> np.ndarray:
    b = scalar(base, "the base of log()")
    lx = np.log(num(x, "log()"))
    return lx if b == math.e else lx / np.log(b)


def _round(x: Value, digits: Value = 0.0) -> np.ndarray:
    d = scalar(digits, "the digits of round()")
    v = num(x, "round()")
    if not d == d or d > 15:
        return v
    return np.round(v, int(max(d, -308)))


def _median(x: Value, na_rm: Value = False) -> np.ndarray:
    v = num(x, "median()").ravel()
    if truth(na_rm):
        v = v[~np.isnan(v)]
    return np.asarray(np.median(v) if v.size and not np.isnan(v).any() else np.nan)


def _mean(x: Value, trim: Value = 0.0, na_rm: Value = False) -> np.ndarray:
    v = num(x, "mean()").ravel()
    t = scalar(trim, "the trim of mean()")
    if truth(na_rm):
        v = v[~np.isnan(v)]
    if v.size == 0 or np.isnan(v).any():
        return np.asarray(np.nan)
    if t > 0:
        if t >= 0.5:
            return np.asarray(np.median(v))
        k = int(math.floor(v.size * t))
        v = np.sort(v)[k : v.size - k]
    return np.asarray(v.mean())


def _spread(ddof_fn: Callable[[np.ndarray], float], name: str) -> Callable[..., np.ndarray]:
    def f(x: Value, na_rm: Value = False) -> np.ndarray:
        v = num(x, f"{name}()").ravel()
        if truth(na_rm):
            v = v[~np.isnan(v)]
        return np.asarray(ddof_fn(v) if v.size > 1 else np.nan)

    f.__name__ = name
    return f


def truth(v: Value) -> bool:
    if isinstance(v, bool):
        return v
    x = lgl(v, "a TRUE/FALSE argument")
    if x.size != 1 or np.isnan(x).any():
        raise Fail("a TRUE/FALSE argument must be a single TRUE or FALSE")
    return bool(x.ravel()[0])


def _summary(fn: Callable[[np.ndarray], Any], name: str) -> Callable[..., np.ndarray]:
    def f(*args: Value, na_rm: Value = False) -> np.ndarray:
        if not args:
            raise Fail(f"{name}() needs at least one argument")
        v = np.concatenate([np.ravel(num(a, f"{name}()")) for a in args])
        if truth(na_rm):
            v = v[~np.isnan(v)]
        if v.size == 0:
            raise Fail(f"{name}() of no values")
        return np.asarray(fn(v))

    f.__name__ = name
    return f


def _parallel(fn: Callable[..., np.ndarray], name: str) -> Callable[..., np.ndarray]:
    def f(*args: Value, na_rm: Value = False) -> np.ndarray:
        if not args:
            raise Fail(f"{name}() needs at least one argument")
        out = num(args[0], f"{name}()")
        for a in args[1:]:
            x, y = _align(out, num(a, f"{name}()"), name)
            out = (np.fmin if fn is np.minimum else np.fmax)(x, y) if truth(na_rm) else fn(x, y)
        return out

    f.__name__ = name
    return f


def _ifelse(test: Value, yes: Value, no: Value) -> Value:
    t = lgl(test, "the test of ifelse()")
    y, n_ = num(yes, "ifelse()"), num(no, "ifelse()")
    t, y = _align(t, y, "ifelse")
    t, n_ = _align(t, n_, "ifelse")
    with np.errstate(invalid="ignore"):
        out = np.where(t == 1, y, n_)
    out = np.where(np.isnan(t), np.nan, out)
    both_logical = isinstance(yes, Logical) and isinstance(no, Logical)
    return Logical(out) if both_logical else out


def _as_numeric(x: Value) -> np.ndarray:
    """R's ``as.numeric``: a factor's integer codes (1, 2, …), a logical's 0/1,
    and the numbers written in a character (string) column."""
    if is_factor(x):
        codes = np.asarray(x.codes)
        if getattr(x, "logical", False):  # FALSE/TRUE → 0/1, not level codes
            return np.where(codes >= 0, codes.astype(float), np.nan)
        if getattr(x, "text", False):
            return np.where(codes >= 0, _parse_numbers(list(x.levels))[codes], np.nan)
        return np.where(codes >= 0, codes + 1.0, np.nan)
    return np.asarray(num(x, "as.numeric()"), dtype=float)


def _parse_numbers(labels: list[str]) -> np.ndarray:
    """The numbers written in ``labels`` (R's ``as.numeric`` of text); text that
    is not a number is an error here, where R would silently give NA and drop
    the rows."""
    import pandas as pd

    stripped = pd.Series([lab.strip() for lab in labels], dtype=object)
    values = np.asarray(pd.to_numeric(stripped, errors="coerce"), dtype=float)
    missing = {"NA", "NaN"}  # R reads these as NA without complaint
    bad = [lab for lab, v in zip(labels, values) if np.isnan(v) and lab.strip() not in missing]
    if bad:
        shown = ", ".join(repr(b) for b in bad[:3]) + (" …" if len(bad) > 3 else "")
        verb = "is" if len(bad) == 1 else "are"
        raise Fail(
            f"as.numeric() of a text column: {shown} {verb} not a number "
            "(R would make these NA and drop their rows); convert the column with "
            "pd.to_numeric before fitting, or use factor() for level codes"
        )
    return values


def _concat(*args: Value) -> Value:
    if args and all(isinstance(a, str) for a in args):
        return list(args)
    return np.concatenate([np.ravel(num(a, "c()")) for a in args]) if args else None


def _pnorm(q: Value, mean: Value = 0.0, sd: Value = 1.0) -> np.ndarray:
    return special.ndtr((num(q, "pnorm()") - num(mean, "pnorm()")) / num(sd, "pnorm()"))


def _qnorm(p: Value, mean: Value = 0.0, sd: Value = 1.0) -> np.ndarray:
    return num(mean, "qnorm()") + num(sd, "qnorm()") * special.ndtri(num(p, "qnorm()"))


def _dnorm(x: Value, mean: Value = 0.0, sd: Value = 1.0) -> np.ndarray:
    s = num(sd, "dnorm()")
    z = (num(x, "dnorm()") - num(mean, "dnorm()")) / s
    return np.exp(-0.5 * z * z) / (np.sqrt(2 * np.pi) * s)


def _plogis(q: Value, location: Value = 0.0, scale: Value = 1.0) -> np.ndarray:
    z = (num(q, "plogis()") - num(location, "plogis()")) / num(scale, "plogis()")
    return special.expit(z)


def _qlogis(p: Value, location: Value = 0.0, scale: Value = 1.0) -> np.ndarray:
    return num(location, "qlogis()") + num(scale, "qlogis()") * special.logit(num(p, "qlogis()"))


def _factor_of(x: Value) -> Any:
    from .variables import to_categorical

    if is_factor(x):
        return x
    if isinstance(x, Logical):
        lab = np.where(np.isnan(x.values), None, np.where(x.values == 1, True, False))
        import pandas as pd

        return to_categorical(pd.Series(lab, dtype=object))
    return to_categorical(np.asarray(num(x, "factor()"), dtype=float))


def _factor(x: Value, levels: Value = None, ordered_: bool = False) -> Any:
    from .variables import Categorical

    f = _factor_of(x)
    if levels is None:
        return Categorical(f.codes, list(f.levels), ordered_ or bool(f.ordered))
    want = [lv if isinstance(lv, str) else _label(lv) for lv in _as_list(levels)]
    pos = {lv: i for i, lv in enumerate(want)}
    remap = np.array([pos.get(lv, -1) for lv in f.levels] + [-1], dtype=np.intp)
    codes = remap[np.where(f.codes >= 0, f.codes, len(f.levels))]
    return Categorical(codes, want, ordered_)


def _as_list(v: Value) -> list[Any]:
    if isinstance(v, list):
        return v
    if isinstance(v, str):
        return [v]
    return list(np.ravel(num(v, "levels")))


def _label(v: float) -> str:
    from .variables import r_label

    return r_label(float(v))


def _ordered(x: Value, levels: Value = None) -> Any:
    return _factor(x, levels, ordered_=True)


def _relevel(x: Value, ref: Value) -> Any:
    from .variables import Categorical

    f = _factor_of(x)
    r = ref if isinstance(ref, str) else _label(scalar(ref, "ref"))
    if r not in f.levels:
        raise Fail(f"'ref' level {r!r} is not a level of the factor")
    want = [r] + [lv for lv in f.levels if lv != r]
    pos = {lv: i for i, lv in enumerate(want)}
    remap = np.array([pos[lv] for lv in f.levels] + [-1], dtype=np.intp)
    return Categorical(remap[np.where(f.codes >= 0, f.codes, len(f.levels))], want, f.ordered)


_MISSING = object()


def _dummy(f: Value, levelsToKeep: Value = _MISSING) -> Value:  # noqa: N803 (lme4's name)
    """lme4's ``dummy(f, levelsToKeep)``: 0/1 indicator columns of the kept levels
    (all but the first when ``levelsToKeep`` is missing), named by level."""
    fac = _factor_of(f)
    levels = list(fac.levels)
    if levelsToKeep is _MISSING:
        keep = levels[1:]
    else:
        keep = [lv if isinstance(lv, str) else _label(lv) for lv in _as_list(levelsToKeep)]
    if not any(lv in levels for lv in keep):
        raise Fail(
            "at least some of the levels in f must also be present in levelsToKeep "
            f"(levels: {', '.join(levels[:10])})"
        )
    unknown = [lv for lv in keep if lv not in levels]
    if unknown:
        raise Fail(f"all of the levelsToKeep must be levels of f; {unknown[0]!r} is not")
    codes = np.asarray(fac.codes)
    cols = np.column_stack([(codes == levels.index(lv)).astype(float) for lv in keep])
    cols[codes < 0] = np.nan
    return Columns(cols, keep)


R_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "log": _log,
    "log2": _unary(np.log2, "log2"),
    "log10": _unary(np.log10, "log10"),
    "log1p": _unary(np.log1p, "log1p"),
    "exp": _unary(np.exp, "exp"),
    "expm1": _unary(np.expm1, "expm1"),
    "sqrt": _unary(np.sqrt, "sqrt"),
    "abs": _unary(np.abs, "abs"),
    "sin": _unary(np.sin, "sin"),
    "cos": _unary(np.cos, "cos"),
    "tan": _unary(np.tan, "tan"),
    "floor": _unary(np.floor, "floor"),
    "ceiling": _unary(np.ceil, "ceiling"),
    "trunc": _unary(np.trunc, "trunc"),
    "sign": _unary(np.sign, "sign"),
    "round": _round,
    "mean": _mean,
    "median": _median,
    "sd": _spread(lambda v: float(np.std(v, ddof=1)), "sd"),
    "var": _spread(lambda v: float(np.var(v, ddof=1)), "var"),
    "min": _summary(np.min, "min"),
    "max": _summary(np.max, "max"),
    "sum": _summary(np.sum, "sum"),
    "prod": _summary(np.prod, "prod"),
    "pmin": _parallel(np.minimum, "pmin"),
    "pmax": _parallel(np.maximum, "pmax"),
    "ifelse": _ifelse,
    "as.numeric": _as_numeric,
    "as.double": _as_numeric,
    "as.integer": lambda x: np.trunc(_as_numeric(x)),
    "as.logical": lambda x: Logical(lgl(x, "as.logical()")),
    "is.na": lambda x: (
        Logical(np.isnan(num(x, "is.na()")).astype(float))
        if not is_factor(x)
        else Logical((np.asarray(x.codes) < 0).astype(float))
    ),
    "plogis": _plogis,
    "qlogis": _qlogis,
    "pnorm": _pnorm,
    "qnorm": _qnorm,
    "dnorm": _dnorm,
    "I": lambda x: x,
    "c": _concat,
    "factor": _factor,
    "as.factor": lambda x: _factor_of(x),
    "ordered": _ordered,
    "relevel": _relevel,
    "dummy": _dummy,
}
STATEFUL = {"scale", "center", "poly"}
CONSTANTS: dict[str, Any] = {
    "TRUE": Logical(np.asarray(1.0)),
    "FALSE": Logical(np.asarray(0.0)),
    "T": Logical(np.asarray(1.0)),
    "F": Logical(np.asarray(0.0)),
    "NA": Logical(np.asarray(np.nan)),
    "NaN": np.asarray(np.nan),
    "Inf": np.asarray(np.inf),
    "pi": np.asarray(np.pi),
    "NULL": None,
}


def usage(name: str, fn: Callable[..., Any]) -> str:
    """R-style argument list of ``fn``, e.g. ``x, na.rm = FALSE``."""
    parts = []
    for p in inspect.signature(fn).parameters.values():
        r_name = p.name.rstrip("_").replace("_", ".")
        if p.kind is p.KEYWORD_ONLY:
            continue
        if p.kind is p.VAR_POSITIONAL:
            parts.append("...")
        elif p.default is p.empty or p.default is _MISSING:
            parts.append(r_name)
        else:
            d = p.default
            shown = (
                "TRUE"
                if d is True
                else "FALSE"
                if d is False
                else "NULL"
                if d is None
                else "exp(1)"
                if d == math.e
                else f"{d:g}"
                if isinstance(d, float)
                else str(d)
            )
            parts.append(f"{r_name} = {shown}")
    return f"{name}({', '.join(parts)})"
