"""Predictions from a fitted mixed model, as lme4's ``predict.merMod``.

η = X_new β̂ + Σ_{k ∈ re_form} Z_k,new b̂_k (+ offset). ``re_form=None`` uses
every random-effect term, ``"~0"`` (or ``"NA"``) none, and a formula such
as ``"~(1 | Subject)"`` the terms on the grouping factors it names. Levels
of a grouping factor not seen in the fit raise an error unless
``allow_new_levels=True``, in which case they contribute 0 (the population
level), as in lme4. Rows of ``newdata`` with missing values predict NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..design import as_pandas
from ..design.model_matrix import build_matrix
from ..design.variables import Categorical, Variable, evaluate, to_categorical
from ..errors import DataError
from ..formula import parse_formula

__all__ = ["predict", "selected_terms"]


def _recode(var: Variable, levels: list[str] | None, name: str, kind: str) -> Variable:
    """Map a factor of new data onto the fitted levels."""
    if not isinstance(var, Categorical) or levels is None:
        return var
    lookup = {lv: i for i, lv in enumerate(levels)}
    labels = np.array(var.levels + [""], dtype=object)[var.codes]
    codes = np.array([lookup.get(lab, -2) for lab in labels], dtype=np.intp)
    codes[var.codes < 0] = -1
    if (codes == -2).any():
        bad = sorted({str(lab) for lab, c in zip(labels, codes) if c == -2})
        raise DataError(
            f"{kind} '{name}' has level{'s' if len(bad) > 1 else ''} not seen in the fit: "
            + ", ".join(repr(b) for b in bad[:5])
        )
    return Categorical(codes, list(levels), var.ordered)


def selected_terms(model: Any, re_form: Any) -> list[int]:
    """Indices of the random-effect terms that ``re_form`` keeps."""
    terms = model.design.terms
    if re_form is None:
        return list(range(len(terms)))
    if re_form is False or (isinstance(re_form, float) and np.isnan(re_form)):
        return []
    text = str(re_form).strip()
    if text.replace(" ", "") in ("~0", "NA", "~NA", "0", "~1", "1"):
        return []
    if not text.startswith("~"):
        text = "~" + text
    parsed = parse_formula("y " + text)
    groups = {b.group for b in parsed.bars}
    unknown = groups - {t.group for t in terms}
    if unknown:
        raise DataError(
            f"re_form names grouping factor(s) {sorted(unknown)} that are not in the model; "
            f"the model has {sorted({t.group for t in terms})}"
        )
    return [k for k, t in enumerate(terms) if t.group in groups]


def predict(
    model: Any,
    newdata: Any = None,
    re_form: Any = None,
    allow_new_levels: bool = False,
) -> np.ndarray:
    """Linear predictor (response scale for LMMs) for the fit's data or ``newdata``."""
    d = model.design
    keep = selected_terms(model, re_form)
    if newdata is None:
        eta = d.X @ model._beta + d.offset
        for k in keep:
            t = d.terms[k]
            eta = eta + np.einsum("ij,ij->i", t.Z, model._b[k][t.factor.codes])
        return eta
    data = as_pandas(newdata)
    n = len(data)
    spec = d.fixed_spec
    variables: dict[str, Variable] = {}
    for e in spec.term_spec.variables:
        v = evaluate(e, data, d.state, "newdata")
        variables[e] = _recode(v, spec.levels.get(e), e, "factor")
    X, _ = build_matrix(spec.term_spec, variables, n, spec)
    # columns dropped for rank deficiency at fit time
    if d.dropped_columns:
        _, full_spec = build_matrix(spec.term_spec, variables, n)
        names = full_spec.column_names
        X = X[:, [names.index(c) for c in spec.column_names]]
    with np.errstate(invalid="ignore"):
        eta = X @ model._beta
    for o in spec.term_spec.offsets:
        ov = evaluate(o, data, d.state, "offset()")
        eta = eta + ov.values
    for k in keep:
        t = d.terms[k]
        zvars = {}
        for e in t.spec.term_spec.variables:
            v = evaluate(e, data, d.state, "newdata")
            zvars[e] = _recode(v, t.spec.levels.get(e), e, "factor")
        Z, _ = build_matrix(t.spec.term_spec, zvars, n, t.spec)
        parts = []
        for g in t.bar.group_vars:
            if g not in data.columns:
                raise DataError(
                    f"newdata has no column '{g}' (grouping factor of {t.bar.text}); "
                    "add it or predict with re_form='~0'"
                )
            parts.append(to_categorical(data[g], g))
        codes = _group_codes(parts, t.factor.levels)
        new = codes == -2
        if new.any() and not allow_new_levels:
            labs = sorted({str(x) for x in np.asarray(_labels(parts))[new]})
            raise DataError(
                f"newdata has new level{'s' if len(labs) > 1 else ''} of grouping factor "
                f"'{t.group}': {', '.join(repr(x) for x in labs[:5])}; use "
                "allow_new_levels=True to predict them at the population level (b = 0)"
            )
        b = np.vstack([model._b[k], np.zeros((1, t.S)), np.full((1, t.S), np.nan)])
        idx = np.where(codes >= 0, codes, np.where(codes == -2, t.nl, t.nl + 1))
        eta = eta + np.einsum("ij,ij->i", Z, b[idx])
    return np.asarray(eta, dtype=float)


def _labels(parts: list[Categorical]) -> list[str]:
    labs = [np.array(p.levels + ["<NA>"], dtype=object)[p.codes] for p in parts]
    return [":".join(str(x) for x in row) for row in zip(*labs)]


def _group_codes(parts: list[Categorical], levels: list[str]) -> np.ndarray:
    """Codes of new rows in the fitted levels: −1 missing, −2 unseen level."""
    lookup = {lv: i for i, lv in enumerate(levels)}
    missing = np.zeros(len(parts[0].codes), dtype=bool)
    for p in parts:
        missing |= p.codes < 0
    labels = _labels(parts)
    codes = np.array([lookup.get(lab, -2) for lab in labels], dtype=np.intp)
    codes[missing] = -1
    return codes
