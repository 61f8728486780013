"""The benchmarked models: lme4's reference cases and two synthetic scaling series.

* Reference cases: every ``lmer``/``glmer`` folder of the lme4 reference set
  (``case.json`` + ``data.csv``), fitted with the call recorded there.
* ``slope`` series: ``y ~ x + (x | g)`` with 100 rows per group, from
  10^3 rows / 10 groups up to 10^7 rows / 10^5 groups.
* ``crossed`` series: ``y ~ x + (1 | a) + (1 | b)`` with L levels per factor
  and 20·L rows (each row's levels drawn at random), L from 10 up to 3000.

Synthetic data are simulated with a fixed seed and written once per run as raw
binary columns (see `common`), so every tool reads bit-identical numbers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common
import numpy as np

#: Rows of the ``slope`` series (groups = rows / 100).
SLOPE_ROWS_FULL = [10**3, 10**4, 10**5, 10**6, 10**7]
SLOPE_ROWS_QUICK = [10**3, 10**4, 10**5]
#: Levels per factor of the ``crossed`` series (rows = 20 · levels).
CROSSED_LEVELS_FULL = [10, 30, 100, 300, 1000, 3000]
CROSSED_LEVELS_QUICK = [10, 30, 100, 300]
CROSSED_ROWS_PER_LEVEL = 20

#: statsmodels' one-group variance-component form builds a dense n × q design and
#: its cost grows about cubically; above this many rows it is skipped (quick: less).
STATSMODELS_MAX_ONE_GROUP_ROWS = 10_000
STATSMODELS_MAX_ONE_GROUP_ROWS_QUICK = 2_000
#: statsmodels loops over groups in Python; beyond this it runs past any time limit.
STATSMODELS_MAX_ROWS = 10**6


@dataclass
class StatsmodelsForm:
    """How statsmodels ``MixedLM`` expresses a model, or why it cannot.

    ``groups=None`` means one all-ones group (crossed/nested variance components).
    ``derive_groups`` names columns pasted together into the grouping column.
    """

    formula: str | None = None
    groups: str | None = None
    re_formula: str | None = None
    vc_formula: dict[str, str] | None = None
    derive_groups: list[str] | None = None
    skip: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The form as the statsmodels worker reads it."""
        return {
            "formula": self.formula,
            "groups": self.groups,
            "re_formula": self.re_formula,
            "vc_formula": self.vc_formula,
            "derive_groups": self.derive_groups,
        }


@dataclass
class Case:
    """One benchmarked model with its spec, its statsmodels form and reference facts."""

    spec: common.Spec
    series: str = "reference"
    size: int = 0
    groups: str = ""
    statsmodels: StatsmodelsForm = field(default_factory=StatsmodelsForm)
    reference_criterion: float | None = None
    reference_seconds: float | None = None
    reference_feval: int | None = None
    prepare: Any = None

    @property
    def id(self) -> str:
        """The case's identifier."""
        return self.spec.id


_NO_GLMM = "statsmodels has no Laplace/adaptive-quadrature GLMM (only variational Bayes)"

#: statsmodels forms of the reference cases it can express.
REFERENCE_STATSMODELS: dict[str, StatsmodelsForm] = {
    "dyestuff": StatsmodelsForm("Yield ~ 1", "Batch"),
    "dyestuff2": StatsmodelsForm("Yield ~ 1", "Batch"),
    "ergostool": StatsmodelsForm("effort ~ Type", "Subject"),
    "machines": StatsmodelsForm("score ~ Machine", "Worker", re_formula="~Machine"),
    "cake": StatsmodelsForm(
        "angle ~ recipe * C(temperature, Poly)", derive_groups=["recipe", "replicate"]
    ),
    "pastes": StatsmodelsForm(
        "strength ~ 1", "batch", re_formula="1", vc_formula={"cask": "0 + C(cask)"}
    ),
    "pastes_colon": StatsmodelsForm(
        "strength ~ 1", "batch", re_formula="1", vc_formula={"cask": "0 + C(cask)"}
    ),
    "penicillin": StatsmodelsForm(
        "diameter ~ 1",
        None,
        re_formula="0",
        vc_formula={"plate": "0 + C(plate)", "sample": "0 + C(sample)"},
    ),
    "insteval": StatsmodelsForm(
        skip="not attempted: crossed factors need one all-ones group, i.e. a dense"
        " 73,421 × 4,128 random-effects design (2.4 GB) and dense solves of that size"
        " in every evaluation"
    ),
    "seed_sim_ri": StatsmodelsForm("reaction_time ~ 1 + session", "subject"),
    "seed_sim_rs": StatsmodelsForm("reaction_time ~ 1 + session", "subject", re_formula="~session"),
    "sleep_ri": StatsmodelsForm("Reaction ~ 1 + Days", "Subject"),
    "sleep_rs": StatsmodelsForm("Reaction ~ 1 + Days", "Subject", re_formula="~Days"),
    "sleep_rs_ml": StatsmodelsForm("Reaction ~ 1 + Days", "Subject", re_formula="~Days"),
    "sleep_missing": StatsmodelsForm("Reaction ~ Days", "Subject", re_formula="~Days"),
    "sleep_rs_w": StatsmodelsForm(skip="statsmodels MixedLM has no prior weights"),
    "sleep_slope_only": StatsmodelsForm("Reaction ~ Days", "Subject", re_formula="~0 + Days"),
    "sleep_uncorr": StatsmodelsForm(
        "Reaction ~ Days", "Subject", re_formula="1", vc_formula={"Days": "0 + Days"}
    ),
}


def _reference_criterion(case: dict[str, Any]) -> float | None:
    if case["type"] == "glmer":
        loglik = case.get("logLik")
        return None if loglik is None else -2.0 * float(loglik)
    key = "REML_criterion" if case.get("REML", True) else "deviance"
    value = case.get(key)
    return None if value is None else float(value)


def reference_cases(reference_dir: Path = common.REFERENCE_DIR) -> list[Case]:
    """Every lmer/glmer case of the reference set, in name order (empty if it is absent)."""
    out: list[Case] = []
    if not reference_dir.is_dir():
        return out
    for folder in sorted(p for p in reference_dir.iterdir() if (p / "case.json").is_file()):
        case = json.loads((folder / "case.json").read_text(encoding="utf-8"))
        if case.get("type") not in {"lmer", "glmer"}:
            continue
        columns = []
        for name, info in case["columns"].items():
            kind = {"factor": "factor", "ordered factor": "ordered"}.get(info["type"], "numeric")
            columns.append(common.Column(name, kind, levels=list(info.get("levels", []))))
        nrows = int(case.get("n_rows_data", case.get("n_obs", 0)))
        spec = common.Spec(
            id=folder.name,
            kind=case["type"],
            formula=case["formula"],
            reml=bool(case.get("REML", True)),
            family=case.get("family", "gaussian"),
            link=case.get("link", "identity"),
            nagq=int(case.get("nAGQ") or 1),
            weights=case.get("weights"),
            format="csv",
            path=str(folder / "data.csv"),
            nrows=nrows,
            warmup_rows=common.default_warmup_rows(nrows),
            columns=columns,
        )
        form = REFERENCE_STATSMODELS.get(folder.name)
        if case["type"] == "glmer":
            form = StatsmodelsForm(skip=_NO_GLMM)
        elif form is None:
            form = StatsmodelsForm(skip="no statsmodels form written for this case")
        optinfo = case.get("optimizer") or {}
        out.append(
            Case(
                spec=spec,
                size=int(case.get("n_obs", nrows)),
                groups=", ".join(f"{k}: {v}" for k, v in (case.get("ngroups") or {}).items()),
                statsmodels=form,
                reference_criterion=_reference_criterion(case),
                reference_seconds=case.get("lme4_seconds"),
                reference_feval=optinfo.get("feval"),
            )
        )
    return out


def _write_bin(folder: Path, columns: dict[str, np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, values in columns.items():
        dtype = "<i4" if values.dtype.kind in "iu" else "<f8"
        values.astype(dtype).tofile(folder / f"{name}.bin")


def simulate_slope(rows: int, folder: Path, seed: int = 20240601) -> None:
    """Simulate ``y ~ x + (x | g)`` data: rows/100 groups, correlated intercepts and slopes."""
    rng = np.random.default_rng(seed + rows)
    n_groups = max(rows // 100, 2)
    g = np.concatenate([np.arange(n_groups), rng.integers(0, n_groups, rows - n_groups)])
    rng.shuffle(g)
    cov = np.array([[1.0, 0.3 * 0.5], [0.3 * 0.5, 0.25]])
    b = rng.multivariate_normal([0.0, 0.0], cov, size=n_groups)
    x = rng.standard_normal(rows)
    y = 1.0 + 0.5 * x + b[g, 0] + b[g, 1] * x + rng.standard_normal(rows)
    _write_bin(folder, {"y": y, "x": x, "g": (g + 1).astype(np.int32)})


def simulate_crossed(levels: int, folder: Path, seed: int = 20240602) -> None:
    """Simulate ``y ~ x + (1 | a) + (1 | b)`` data with `levels` levels per factor."""
    rng = np.random.default_rng(seed + levels)
    rows = CROSSED_ROWS_PER_LEVEL * levels
    codes = []
    for _ in range(2):
        c = np.concatenate([np.arange(levels), rng.integers(0, levels, rows - levels)])
        rng.shuffle(c)
        codes.append(c)
    a, b = codes
    ua = rng.normal(0.0, 0.8, levels)
    ub = rng.normal(0.0, 0.5, levels)
    x = rng.standard_normal(rows)
    y = 2.0 - 0.3 * x + ua[a] + ub[b] + rng.standard_normal(rows)
    _write_bin(
        folder, {"y": y, "x": x, "a": (a + 1).astype(np.int32), "b": (b + 1).astype(np.int32)}
    )


def slope_cases(rows_list: list[int]) -> list[Case]:
    """The ``slope`` series for the given row counts."""
    out = []
    for rows in rows_list:
        n_groups = max(rows // 100, 2)
        cid = f"slope_n1e{round(np.log10(rows))}"
        folder = common.DATA_DIR / cid
        spec = common.Spec(
            id=cid,
            kind="lmer",
            formula="y ~ x + (x | g)",
            format="bin",
            path=str(folder),
            nrows=rows,
            warmup_rows=common.default_warmup_rows(rows),
            columns=[
                common.Column("y", "numeric"),
                common.Column("x", "numeric"),
                common.Column("g", "codes", n_codes=n_groups),
            ],
        )
        form = StatsmodelsForm("y ~ x", "g", re_formula="~x")
        if rows > STATSMODELS_MAX_ROWS:
            form = StatsmodelsForm(
                skip=f"more than {STATSMODELS_MAX_ROWS:,} rows: far beyond the time limit"
            )
        out.append(
            Case(
                spec=spec,
                series="slope",
                size=rows,
                groups=f"g: {n_groups}",
                statsmodels=form,
                prepare=(simulate_slope, rows, folder),
            )
        )
    return out


def crossed_cases(
    levels_list: list[int], sm_max_rows: int = STATSMODELS_MAX_ONE_GROUP_ROWS
) -> list[Case]:
    """The ``crossed`` series for the given numbers of levels per factor."""
    out = []
    for levels in levels_list:
        rows = CROSSED_ROWS_PER_LEVEL * levels
        cid = f"crossed_L{levels}"
        folder = common.DATA_DIR / cid
        spec = common.Spec(
            id=cid,
            kind="lmer",
            formula="y ~ x + (1 | a) + (1 | b)",
            format="bin",
            path=str(folder),
            nrows=rows,
            warmup_rows=common.default_warmup_rows(rows),
            columns=[
                common.Column("y", "numeric"),
                common.Column("x", "numeric"),
                common.Column("a", "codes", n_codes=levels),
                common.Column("b", "codes", n_codes=levels),
            ],
        )
        form = StatsmodelsForm(
            "y ~ x", None, re_formula="0", vc_formula={"a": "0 + C(a)", "b": "0 + C(b)"}
        )
        if rows > sm_max_rows:
            form = StatsmodelsForm(
                skip=f"one-group variance components need a dense {rows:,} × {2 * levels:,} "
                f"design; skipped above {sm_max_rows:,} rows"
            )
        out.append(
            Case(
                spec=spec,
                series="crossed",
                size=levels,
                groups=f"a: {levels}, b: {levels}",
                statsmodels=form,
                prepare=(simulate_crossed, levels, folder),
            )
        )
    return out


def all_cases(quick: bool) -> list[Case]:
    """Reference cases, then the slope and crossed series (smaller in quick mode)."""
    if quick:
        return (
            reference_cases()
            + slope_cases(SLOPE_ROWS_QUICK)
            + crossed_cases(CROSSED_LEVELS_QUICK, STATSMODELS_MAX_ONE_GROUP_ROWS_QUICK)
        )
    return reference_cases() + slope_cases(SLOPE_ROWS_FULL) + crossed_cases(CROSSED_LEVELS_FULL)


def materialise(case: Case) -> Path:
    """Write the case's data (synthetic only, once) and spec files; return the spec path."""
    folder = common.DATA_DIR / case.id
    folder.mkdir(parents=True, exist_ok=True)
    if case.prepare is not None:
        simulate, size, data_folder = case.prepare
        marker = data_folder / "y.bin"
        if not marker.exists() or marker.stat().st_size != 8 * case.spec.nrows:
            simulate(size, data_folder)
    spec_path = folder / "spec.tsv"
    common.write_spec(case.spec, spec_path)
    (folder / "statsmodels.json").write_text(
        json.dumps(case.statsmodels.to_json(), indent=1), encoding="utf-8"
    )
    return spec_path
