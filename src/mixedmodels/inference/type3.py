"""Hypothesis matrices of lmerTest's type I, II and III F tests of fixed-effect terms.

Type III (lmerTest's ``get_contrasts_type3``): with X the full-rank model
matrix recoded by treatment contrasts and X̃ the over-parameterized matrix
(intercept, then every term coded by indicators of all levels),

    L = zap((X⁺ X̃)')          (rows: columns of X̃, columns: columns of X).

Taking terms by decreasing order, the columns of each term contained in
others (its variables a proper subset of theirs, same numeric variables)
are replaced by their residuals after least-squares regression on the
columns of the containing terms. The term's hypothesis matrix is the
transpose of its columns restricted to the rows named as X's columns (rows
with Σ|l| ≤ 1e-8 dropped), mapped to the model's own coding by
zap(X⁺ X_model). ``zap`` is R's ``zapsmall`` (rounding to 7 significant
digits of the largest entry).

Type I (``get_contrasts_type1``, used when the model has one term): with
X'X = L_D U (Doolittle, L_D unit lower triangular), the rows of L_D' that
belong to the term.

Type II (``get_contrasts_type2_unfolded``): a term contained in no other
term is tested by the identity rows of its columns; a term contained in
others by the type I rows after reordering X so that the columns of the term
and of the terms containing it come last (in their own order), i.e. the term
adjusted for every term that does not contain it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..design.dataframes import as_pandas
from ..design.model_matrix import TermSpec, build_matrix
from ..design.rank import drop_dependent_columns
from ..design.variables import Categorical, Numeric, Variable, evaluate

__all__ = ["type1_contrasts", "type2_contrasts", "type3_contrasts", "containment", "zapsmall"]


def zapsmall(x: np.ndarray, digits: int = 7) -> np.ndarray:
    """R's ``zapsmall``: round to ``digits`` minus the magnitude of the largest |entry|."""
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        return x
    mx = float(np.max(np.abs(x)))
    d = max(0, digits - math.ceil(math.log10(mx))) if mx > 0 else digits
    return np.round(x, d)


def _term_codes(terms: tuple[tuple[str, ...], ...]) -> list[dict[str, int]]:
    """R's ``attr(terms, "factors")``: per term, 1 if a variable is coded by
    contrasts (the term without it is empty or within an earlier term), else 2."""
    sets = [frozenset(t) for t in terms]
    out = []
    for j, t in enumerate(terms):
        codes = {}
        for f in t:
            rest = sets[j] - {f}
            codes[f] = 1 if (not rest or any(rest <= sets[k] for k in range(j))) else 2
        out.append(codes)
    return out


def containment(terms: tuple[tuple[str, ...], ...], numeric: set[str]) -> dict[str, list[str]]:
    """lmerTest's ``containment``: for each term, the terms that contain it.

    With V(T) the variables of T coded 1 (see :func:`_term_codes`), T₂
    contains T₁ when V(T₁) ⊂ V(T₂) strictly and both have the same numeric
    variables.
    """
    labels = [":".join(t) for t in terms]
    codes = _term_codes(terms)
    vars_ = [{f for f, c in cd.items() if c == 1} for cd in codes]
    nums = [v & numeric for v in vars_]
    out = {}
    for a, la in enumerate(labels):
        out[la] = [
            lb
            for b, lb in enumerate(labels)
            if vars_[a] <= vars_[b] and vars_[b] - vars_[a] and nums[a] == nums[b]
        ]
    return out


def type1_contrasts(model: Any) -> dict[str, np.ndarray]:
    """Rows of the unit upper-triangular Doolittle factor of X'X per term (|entries| < 1e-6 → 0)."""
    X = model.design.X
    p = X.shape[1]
    spec = model.design.fixed_spec
    assign = np.asarray(spec.assign)
    if p == 0:
        return {}
    Ut = _unit_upper(X)
    Ut[np.abs(Ut) < 1e-6] = 0.0
    out = {}
    for k, t in enumerate(spec.term_spec.terms, start=1):
        cols = np.flatnonzero(assign == k)
        if cols.size:
            out[":".join(t)] = Ut[cols]
    return out


def _unit_upper(X: np.ndarray) -> np.ndarray:
    """L_D' of the Doolittle factorization X'X = L_D U: R / diag(R) with X'X = R'R."""
    R = np.linalg.cholesky(X.T @ X).T
    return R / np.diag(R)[:, None]


def type2_contrasts(model: Any) -> dict[str, np.ndarray]:
    """lmerTest's type II hypothesis matrix per fixed-effect term (module docstring)."""
    d = model.design
    spec = d.fixed_spec
    ts: TermSpec = spec.term_spec
    X = d.X
    p = X.shape[1]
    if p <= 1 or len(ts.terms) <= 1:
        return type1_contrasts(model)
    labels = [":".join(t) for t in ts.terms]
    numeric = {nm for nm in ts.variables if nm not in spec.levels}
    if getattr(model, "data", None) is not None:
        vars_ = _variables(model, ts.variables)
        numeric = {nm for nm, v in vars_.items() if isinstance(v, Numeric) and v.values.ndim == 1}
    contained = containment(ts.terms, numeric)
    assign = np.asarray(spec.assign)
    out = {}
    for k, lab in enumerate(labels, start=1):
        cols = np.flatnonzero(assign == k)
        if not cols.size:
            continue
        if not contained[lab]:
            out[lab] = np.eye(p)[cols]
            continue
        moved = np.isin(assign, [k] + [labels.index(c) + 1 for c in contained[lab]])
        order = np.concatenate([np.flatnonzero(~moved), np.flatnonzero(moved)])
        Ut = _unit_upper(X[:, order])
        L = np.zeros((cols.size, p))
        L[:, order] = Ut[np.flatnonzero(assign[order] == k)]
        out[lab] = L
    return out


def _variables(model: Any, names: list[str]) -> dict[str, Variable]:
    """The fixed-effect variables re-evaluated on the rows the model used."""
    d = model.design
    data = getattr(model, "data", None)
    if data is None:
        raise ValueError(
            "type III contrasts for terms contained in interactions (or with ordered factors) "
            "need the data: fit the model with mm.lmer(...), which keeps it"
        )
    data = as_pandas(data)
    if len(data) != d.n_input:
        raise ValueError("the model's data no longer has the rows it was fitted to")
    out: dict[str, Variable] = {}
    for nm in names:
        v = evaluate(nm, data, d.state, "the fixed effects")
        if isinstance(v, Categorical):
            v = v.take(d.rows).drop_unused()
            want = d.fixed_spec.levels.get(nm)
            if want is not None and list(v.levels) != list(want):
                raise ValueError(f"the levels of '{nm}' in the data differ from the fit's")
            v = Categorical(v.codes, list(v.levels), ordered=False)  # treatment coding
        else:
            v = v.take(d.rows)
        out[nm] = v
    return out


def type3_contrasts(model: Any) -> dict[str, np.ndarray]:
    """lmerTest's type III hypothesis matrix per fixed-effect term (module docstring)."""
    d = model.design
    spec = d.fixed_spec
    ts: TermSpec = spec.term_spec
    Xorig = d.X
    if Xorig.shape[1] <= 1 or len(ts.terms) <= 1:
        return type1_contrasts(model)
    labels = [":".join(t) for t in ts.terms]
    numeric = {nm for nm in ts.variables if nm not in spec.levels}
    contained = containment(ts.terms, numeric)
    if not any(contained.values()) and not any(spec.ordered.values()):
        # treatment coding and no containment: L is the identity on each term's columns
        assign = np.asarray(spec.assign)
        eye = np.eye(Xorig.shape[1])
        return {lab: eye[assign == k] for k, lab in enumerate(labels, start=1)
                if np.any(assign == k)}
    vars_ = _variables(model, ts.variables)
    # numeric matrices (poly(x, 2)) are not R's "numeric" data class
    numeric = {nm for nm, v in vars_.items() if isinstance(v, Numeric) and v.values.ndim == 1}
    contained = containment(ts.terms, numeric)
    n = d.n
    Xfull, xspec = build_matrix(ts, vars_, n)
    keep = drop_dependent_columns(Xfull)
    X = Xfull[:, keep]
    xnames = [xspec.column_names[j] for j in keep]
    assign = np.asarray(xspec.assign)[keep]
    blocks, rd_names = [], []
    if ts.intercept:
        blocks.append(np.ones((n, 1)))
        rd_names.append("(Intercept)")
    for t in ts.terms:
        M, mspec = build_matrix(TermSpec(False, (t,)), vars_, n)
        blocks.append(M)
        rd_names.extend(mspec.column_names)
    rdX = np.hstack(blocks)
    Xpinv = np.linalg.pinv(X)
    L = zapsmall((Xpinv @ rdX).T)  # rows: columns of rdX; columns: columns of X
    colmap = {lab: np.flatnonzero(assign == k) for k, lab in enumerate(labels, start=1)}
    order = sorted(range(len(labels)), key=lambda a: -len(ts.terms[a]))  # stable
    for a in order:
        lab = labels[a]
        if not contained[lab]:
            continue
        cc = np.concatenate([colmap[c] for c in contained[lab]])
        ct = colmap[lab]
        if cc.size == 0 or ct.size == 0:
            continue
        A, B = L[:, cc], L[:, ct]
        coef, *_ = np.linalg.lstsq(A, B, rcond=None)
        L[:, ct] = zapsmall(B - A @ coef)
    pos = {nm: i for i, nm in enumerate(rd_names)}
    missing = [nm for nm in xnames if nm not in pos]
    if missing:
        raise ValueError(f"cannot match model columns {missing} to the indicator coding")
    L = L[[pos[nm] for nm in xnames]]
    to_model = zapsmall(Xpinv @ Xorig)
    out = {}
    for lab in labels:
        Lt = L[:, colmap[lab]].T
        Lt = Lt[np.abs(Lt).sum(axis=1) > 1e-8]
        if Lt.shape[0]:
            out[lab] = Lt @ to_model
    return out
