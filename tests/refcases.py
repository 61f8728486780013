"""Loading the lme4 reference cases (tests/data/reference) for the inference tests."""

from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path

import pandas as pd

import mixedmodels as mm

REF = Path(__file__).parent / "data" / "reference"


def case_json(name: str) -> dict:
    return json.loads((REF / name / "case.json").read_text())


@cache
def case_data(name: str) -> pd.DataFrame:
    """The data R fitted, with R's factor levels."""
    if name == "insteval":
        return mm.datasets.load("InstEval")
    case = case_json(name)
    data = pd.read_csv(REF / name / "data.csv")
    for col, info in case["columns"].items():
        if "factor" in info["type"]:
            data[col] = pd.Categorical(
                data[col].astype("string").astype(object),
                categories=info["levels"],
                ordered=info["type"] == "ordered factor",
            )
    return data


@cache
def fit_case(name: str) -> mm.LinearMixedModel:
    """The case's lmer fit (warnings of singular fits silenced)."""
    case = case_json(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.lmer(
            case["formula"], case_data(name), REML=case["REML"], weights=case.get("weights")
        )


def lmer_cases_with(key: str) -> list[str]:
    """lmer cases whose case.json has ``key`` (a dotted path)."""
    out = []
    for p in sorted(REF.iterdir()):
        if not p.is_dir():
            continue
        c = case_json(p.name)
        if c.get("type") != "lmer":
            continue
        node = c
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node:
            out.append(p.name)
    return out
