"""Predictions from a fitted mixed model, as lme4's ``predict.merMod``.

η = X_new β̂ + offset + Σ_{bars of re_form} Z_new b̂ on the new rows.

* The coding of every factor (its levels, whether it is ordered and so its
  contrasts) is the fit's; ``newdata`` only supplies labels. A numeric
  column where the fit had a factor is read as R's labels of its values
  (``175`` -> ``"175"``); labels the fit did not see raise an error, as
  does a text column where the fit had a number. Stateful transforms
  (``scale``, ``poly``) use the fit's parameters.
* ``offset(...)`` terms of the formula are evaluated on ``newdata``; an
  offset given through the ``offset=`` argument of the fit is not (as in
  lme4, it has no expression to evaluate on new rows). Without
  ``newdata`` every offset of the fit is added.
* ``re_form=None`` uses every random-effect term; ``np.nan`` / ``pd.NA``,
  ``0``, ``False``, ``"~0"`` or ``"NA"`` none (population level); any
  other value that is not text is refused
  (:func:`mixedmodels.arguments.check_re_form`). A formula
  (``"~(1 | Subject)"``, the ``~`` optional) gives its own bars: each
  bar's model-matrix columns are built from its left side with the fit's
  factor codings, and each column picks the conditional mode of the same
  name among the fit's terms on the same grouping factor, so that
  ``"~(1 | Subject)"`` on ``(Days | Subject)`` adds only the intercepts.
  A grouping factor or a column the fit does not have is an error, as is
  a formula without bars.
* A level of a grouping factor not seen in the fit, or a missing value in
  a grouping factor, is an error unless ``allow_new_levels=True``: then the
  term adds 0 for that row (the population level).
* A missing value in a fixed-effect variable gives NaN for that row (R's
  ``na.action = na.pass``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..arguments import check_flag, check_re_form
from ..design import as_pandas
from ..design.factors import interaction
from ..design.model_matrix import MatrixSpec, TermSpec, build_matrix, parse_terms
from ..design.variables import (
    Categorical,
    Numeric,
    TransformState,
    Variable,
    evaluate,
    expression_names,
    to_categorical,
)
from ..errors import ColumnNotFoundError, DataError, FormulaError
from ..formula import RandomBar, parse_formula

__all__ = ["predict", "fixed_design", "selected_terms", "NewdataColumnError"]


class NewdataColumnError(ColumnNotFoundError):
    """A column the fitted model needs is not in ``newdata``."""

    def __init__(self, name: str, available: Any, needed_by: str, hint: str = ""):
        super().__init__(name, available, head=f"column '{name}' (used by {needed_by}) is not "
                         "in newdata", data_label="newdata", hint=hint)


# -- coding of new data -------------------------------------------------------------------


def _shown(values: list[str], limit: int = 5) -> str:
    out = ", ".join(repr(v) for v in values[:limit])
    return out + (f" (and {len(values) - limit} more)" if len(values) > limit else "")


def _as_factor(var: Variable, name: str) -> Categorical:
    """A variable of new data as a factor of its labels (R's ``as.character``)."""
    if isinstance(var, Categorical):
        return var
    if var.values.ndim != 1:
        raise DataError(f"'{name}' is a factor in the fitted model but gives a matrix in newdata")
    return to_categorical(var.values, name)


def _match_levels(factor: Categorical, levels: list[str]) -> np.ndarray:
    """Codes of the rows' labels among ``levels``: −1 where missing, −2 for a label
    that is not one of ``levels`` (matched once per level, then gathered)."""
    lookup = {lv: i for i, lv in enumerate(levels)}
    position = np.array([lookup.get(lv, -2) for lv in factor.levels] + [-1], dtype=np.intp)
    return position[factor.codes]


def _unmatched(factor: Categorical, codes: np.ndarray) -> list[str]:
    """The labels of the rows whose code is −2 (not a level of the fit), sorted."""
    seen = np.unique(factor.codes[codes == -2])
    return sorted(factor.levels[i] for i in seen)


def _recode(var: Variable, levels: list[str] | None, ordered: bool, name: str) -> Variable:
    """Put a variable of new data in the fit's coding.

    ``levels is None`` means the fit had a numeric variable: a factor (text)
    in new data is an error. Otherwise the values' labels are matched to the
    fit's ``levels`` (codes into them, −1 where missing) and the factor takes
    the fit's ``ordered`` flag, which decides its contrasts.
    """
    if levels is None:
        if isinstance(var, Categorical):
            seen = [var.levels[i] for i in np.unique(var.codes[var.codes >= 0])]
            raise DataError(
                f"column '{name}' is numeric in the fitted model but newdata gives it as "
                f"categorical (text) values: {_shown(seen)}; convert it to numbers"
            )
        return var
    factor = _as_factor(var, name)
    codes = _match_levels(factor, levels)
    if (codes == -2).any():
        bad = _unmatched(factor, codes)
        raise DataError(
            f"factor '{name}' in newdata has value{'s' if len(bad) > 1 else ''} that "
            f"{'are not levels' if len(bad) > 1 else 'is not a level'} of the fitted model: "
            f"{_shown(bad)}; its levels are {_shown(list(levels), 10)}"
        )
    return Categorical(codes, list(levels), bool(ordered))


@dataclass
class _Coding:
    """The fit's coding of one variable: ``levels`` is ``None`` for a numeric one."""

    levels: list[str] | None
    ordered: bool = False


def _coding_from(specs: list[MatrixSpec], expr: str) -> _Coding | None:
    for spec in specs:
        if expr in spec.levels:
            return _Coding(spec.levels[expr], bool(spec.ordered.get(expr, False)))
    for spec in specs:
        if expr in spec.term_spec.variables:
            return _Coding(None)
    return None


def _check_columns(data: pd.DataFrame, exprs: list[str], needed_by: str) -> None:
    """Raise :class:`NewdataColumnError` for the first column ``exprs`` refer to
    that ``data`` lacks."""
    for expr in exprs:
        if expr.strip().strip("`") in data.columns:
            continue
        try:
            names = expression_names(expr)
        except FormulaError:
            continue  # evaluate() reports the expression itself
        for name in names:
            if name not in data.columns:
                raise NewdataColumnError(name, data.columns, needed_by)


def _evaluate_coded(
    exprs: list[str],
    data: pd.DataFrame,
    state: TransformState,
    codings: dict[str, _Coding | None],
    where: str,
) -> dict[str, Variable]:
    """Evaluate each expression on ``data`` and recode it as the fit coded it
    (a variable the fit does not know is left as evaluated)."""
    out: dict[str, Variable] = {}
    for e in exprs:
        v = evaluate(e, data, state, where)
        c = codings.get(e)
        out[e] = v if c is None else _recode(v, c.levels, c.ordered, e)
    return out


def _grouping_factor(data: pd.DataFrame, bar: RandomBar) -> Categorical:
    """The rows' grouping factor of ``bar`` (an interaction ``a:b`` labelled
    ``"a1:b1"``, as R labels it), with only the levels present."""
    return interaction([to_categorical(data[g], g) for g in bar.group_vars])


def _group_codes(data: pd.DataFrame, bar: RandomBar, levels: list[str]) -> np.ndarray:
    """Codes of the rows' grouping-factor levels among the fitted ``levels``:
    −1 where a grouping variable is missing, −2 for a level not in the fit."""
    return _match_levels(_grouping_factor(data, bar), levels)


# -- re_form -------------------------------------------------------------------------------


def _is_missing_scalar(x: Any) -> bool:
    if x is None or isinstance(x, (str, bytes)):
        return False
    try:
        return bool(pd.isna(x)) and np.ndim(x) == 0
    except (TypeError, ValueError):
        return False


def _re_form_bars(model: Any, re_form: Any) -> list[RandomBar] | None:
    """The bars of ``re_form``: ``None`` for every term of the fit, ``[]`` for none."""
    if re_form is None:
        return None
    if re_form is False or _is_missing_scalar(re_form):
        return []
    if isinstance(re_form, (int, float, np.integer, np.floating)) and re_form == 0:
        return []
    text = str(re_form).strip()
    body = text[1:].strip() if text.startswith("~") else text
    if body.replace(" ", "") in ("0", "NA", "-1+0", "0-1"):
        return []
    try:
        parsed = parse_formula("y ~ " + body)
    except FormulaError as exc:
        raise FormulaError(f"cannot read re_form '{text}': {exc.reason}") from exc
    if not parsed.bars:
        raise FormulaError(
            f"re_form '{text}' has no random-effect terms: give terms such as "
            "'~(1 | Subject)', None for all of the model's, or '~0' (NA) for none"
        )
    known = {t.group for t in model.design.terms}
    unknown = sorted({b.group for b in parsed.bars} - known)
    if unknown:
        raise DataError(
            f"re_form names grouping factor{'s' if len(unknown) > 1 else ''} "
            f"{_shown(unknown)} that the model does not have; the model's grouping "
            f"factors are {_shown(sorted(known), 20)}"
        )
    return list(parsed.bars)


def selected_terms(model: Any, re_form: Any) -> list[int]:
    """Indices of the model's random-effect terms whose grouping factor appears in
    ``re_form`` (all for ``None``, none for ``NA``/``"~0"``)."""
    bars = _re_form_bars(model, re_form)
    terms = model.design.terms
    if bars is None:
        return list(range(len(terms)))
    groups = {b.group for b in bars}
    return [k for k, t in enumerate(terms) if t.group in groups]


def _column_sources(model: Any, bar: RandomBar, names: list[str]) -> list[tuple[int, int]]:
    """For each column name of a re_form bar, the (term, column) of the fit's
    random effects of the same name on the same grouping factor."""
    where: dict[str, tuple[int, int]] = {}
    for k, t in enumerate(model.design.terms):
        if t.group == bar.group:
            for s, nm in enumerate(t.names):
                where.setdefault(nm, (k, s))
    missing = [nm for nm in names if nm not in where]
    if missing:
        raise DataError(
            f"re_form term {bar.text} has random effect{'s' if len(missing) > 1 else ''} "
            f"{_shown(missing)} that the model does not have for '{bar.group}'; the model's "
            f"are {_shown(list(where), 20)}"
        )
    return [where[nm] for nm in names]


def _fit_specs(model: Any, group: str | None = None) -> list[MatrixSpec]:
    """The fit's matrix specs, those of terms on ``group`` first, the fixed one last."""
    terms = model.design.terms
    first = [t.spec for t in terms if group is not None and t.group == group]
    rest = [t.spec for t in terms if group is None or t.group != group]
    return first + rest + [model.design.fixed_spec]


def _placeholders(
    spec: TermSpec, model: Any, group: str, state: TransformState
) -> dict[str, Variable]:
    """Zero-row variables in the fit's coding, enough to name a bar's columns."""
    out: dict[str, Variable] = {}
    specs = _fit_specs(model, group)
    for e in spec.variables:
        c = _coding_from(specs, e)
        if c is not None and c.levels is not None:
            out[e] = Categorical(np.zeros(0, dtype=np.intp), list(c.levels), c.ordered)
            continue
        try:
            probe = {n: [0.0] for n in expression_names(e)}
            v = evaluate(e, pd.DataFrame(probe), state, "re_form")
        except (DataError, FormulaError):
            v = Numeric(np.zeros(1))
        if isinstance(v, Numeric) and v.values.ndim == 2:
            out[e] = Numeric(np.zeros((0, v.values.shape[1])), v.suffixes)
        else:
            out[e] = Numeric(np.zeros(0))
    return out


# -- prediction ---------------------------------------------------------------------------


def _training_predictions(
    model: Any, bars: list[RandomBar] | None, state: TransformState
) -> np.ndarray:
    """η on the fit's own rows: Xβ̂ + offset + the random effects of ``bars``."""
    d = model.design
    eta = d.X @ model._beta + d.offset
    if bars is None:
        for t, b in zip(d.terms, model._b):
            eta = eta + np.einsum("ij,ij->i", t.Z, b[t.factor.codes])
        return np.asarray(eta, dtype=float)
    for bar in bars:
        spec = parse_terms(bar.expr, bar.text)
        _, zspec = build_matrix(spec, _placeholders(spec, model, bar.group, state), 0)
        for k, s in _column_sources(model, bar, zspec.column_names):
            t = d.terms[k]
            eta = eta + t.Z[:, s] * model._b[k][t.factor.codes, s]
    return np.asarray(eta, dtype=float)


def _check_groups(
    data: pd.DataFrame, codes: list[tuple[RandomBar, np.ndarray]], allow_new_levels: bool
) -> None:
    """lme4's checks: missing grouping values first, then unseen levels."""
    if allow_new_levels:
        return
    for bar, c in codes:
        if (c == -1).any():
            cols = [g for g in bar.group_vars if data[g].isna().any()]
            rows = [str(x) for x in data.index[c == -1][:5]]
            raise DataError(
                f"newdata has missing values (NA) in the grouping factor "
                f"{', '.join(repr(g) for g in cols)} of {bar.text} "
                f"(row{'s' if len(rows) > 1 else ''} {', '.join(rows)}"
                f"{' ...' if (c == -1).sum() > 5 else ''}): NAs are not allowed in grouping "
                "variables unless allow_new_levels=True, which predicts those rows at the "
                "population level for that term"
            )
    for bar, c in codes:
        if (c == -2).any():
            new = _unmatched(_grouping_factor(data, bar), c)
            raise DataError(
                f"newdata has new level{'s' if len(new) > 1 else ''} of grouping factor "
                f"'{bar.group}': {_shown(new)}; use allow_new_levels=True to predict "
                f"{'them' if len(new) > 1 else 'it'} at the population level (b = 0)"
            )


def _fixed_part(
    model: Any, data: pd.DataFrame, state: TransformState
) -> tuple[np.ndarray, np.ndarray]:
    """X (the fit's columns and coding) and the ``offset(...)`` terms on ``data``'s rows."""
    d = model.design
    spec = d.fixed_spec
    tspec = spec.term_spec
    n = len(data)
    codings = {e: _coding_from([spec], e) for e in tspec.variables}
    variables = _evaluate_coded(tspec.variables, data, state, codings, "newdata")
    X, _ = build_matrix(tspec, variables, n, spec)
    if d.dropped_columns:  # columns dropped for rank deficiency at fit time
        _, full_spec = build_matrix(tspec, variables, n)
        names = full_spec.column_names
        X = X[:, [names.index(c) for c in spec.column_names]]
    off = np.zeros(n)
    for o in tspec.offsets:
        ov = evaluate(o, data, state, "offset()")
        if isinstance(ov, Categorical):
            raise DataError(f"offset({o}) is categorical in newdata; an offset must be numeric")
        off = off + (ov.values if ov.values.ndim == 1 else ov.values[:, 0])
    return X, off


def fixed_design(model: Any, newdata: Any) -> tuple[np.ndarray, np.ndarray]:
    """The fixed-effect model matrix X and the formula's offsets on ``newdata``'s rows.

    The fit's factor codings and stateful transforms are used, as in
    :func:`predict`; X has the fit's columns (rank-deficient ones dropped).
    """
    data = as_pandas(newdata)
    _check_columns(data, model.design.fixed_spec.term_spec.variables, "the fixed effects")
    _check_columns(data, list(model.design.fixed_spec.term_spec.offsets), "an offset() term")
    return _fixed_part(model, data, TransformState(model.design.state))


def predict(
    model: Any,
    newdata: Any = None,
    re_form: Any = None,
    allow_new_levels: bool = False,
) -> np.ndarray:
    """The linear predictor Xβ̂ + offset + Zb̂ (response scale for LMMs), as lme4's
    ``predict.merMod``, on the fit's rows (``newdata=None``) or on ``newdata``.

    ``re_form`` selects the random effects (see the module description);
    ``allow_new_levels=True`` predicts unseen or missing levels of a grouping
    factor at the population level of that term. ``newdata`` may be any
    frame :func:`mixedmodels.design.as_pandas` accepts (pandas, polars,
    pyarrow, a dict of columns). Returns one value per row; NaN where a
    fixed-effect variable or an offset is missing.
    """
    check_re_form(re_form)
    allow_new_levels = check_flag(allow_new_levels, "allow_new_levels")
    d = model.design
    bars = _re_form_bars(model, re_form)
    state = TransformState(d.state)  # predictions never alter the fit's transforms
    if newdata is None:
        return _training_predictions(model, bars, state)
    data = as_pandas(newdata)
    n = len(data)
    spec = d.fixed_spec
    tspec = spec.term_spec

    # -- columns -----------------------------------------------------------------
    _check_columns(data, tspec.variables, "the fixed effects")
    _check_columns(data, list(tspec.offsets), "an offset() term")
    if bars is None:
        z_parts = [(t.bar, t.spec.term_spec) for t in d.terms]
    else:
        z_parts = [(b, parse_terms(b.expr, b.text)) for b in bars]
    for bar, zt in z_parts:
        _check_columns(data, zt.variables, f"the random-effect term {bar.text}")
        for g in bar.group_vars:
            if g not in data.columns:
                raise NewdataColumnError(
                    g,
                    data.columns,
                    f"the grouping factor of {bar.text}",
                    "add it, or predict at the population level with re_form='~0'",
                )

    # -- fixed part --------------------------------------------------------------
    X, off = _fixed_part(model, data, state)
    with np.errstate(invalid="ignore"):
        eta = X @ model._beta + off

    # -- random effects ----------------------------------------------------------
    blocks: list[tuple[RandomBar, np.ndarray, np.ndarray, np.ndarray]] = []
    group_codes: list[tuple[RandomBar, np.ndarray]] = []
    if bars is None:
        for k, t in enumerate(d.terms):
            zc = {e: _coding_from([t.spec], e) for e in t.spec.term_spec.variables}
            zvars = _evaluate_coded(
                t.spec.term_spec.variables, data, state, zc, f"the term {t.bar.text}"
            )
            Z, _ = build_matrix(t.spec.term_spec, zvars, n, t.spec)
            codes = _group_codes(data, t.bar, t.factor.levels)
            blocks.append((t.bar, Z, codes, model._b[k]))
            group_codes.append((t.bar, codes))
    else:
        for bar, zt in z_parts:
            specs = _fit_specs(model, bar.group)
            zc = {e: _coding_from(specs, e) for e in zt.variables}
            zvars = _evaluate_coded(zt.variables, data, state, zc, f"re_form {bar.text}")
            Z, zspec = build_matrix(zt, zvars, n)
            if Z.shape[1] == 0:
                continue
            sources = _column_sources(model, bar, zspec.column_names)
            levels = d.terms[sources[0][0]].factor.levels
            b = np.column_stack([model._b[k][:, s] for k, s in sources])
            codes = _group_codes(data, bar, levels)
            blocks.append((bar, Z, codes, b))
            group_codes.append((bar, codes))
    _check_groups(data, group_codes, allow_new_levels)
    for _bar, Z, codes, b in blocks:
        # unseen and missing levels take the row of zeros appended after the fitted ones
        padded = np.vstack([b, np.zeros((1, b.shape[1]))])
        idx = np.where(codes >= 0, codes, b.shape[0])
        with np.errstate(invalid="ignore"):
            eta = eta + np.einsum("ij,ij->i", Z, padded[idx])
    return np.asarray(eta, dtype=float)
