"""Variance components and their shares (the mixedup package's ``extract_vc(ratio = TRUE)``).

For each random effect (the diagonal of Σ_k = σ²T_kT_k') and the residual σ²:
Variance, SD and Var_prop = Variance / Σ Variances. The intraclass
correlation of group g is ICC_g = σ²_{g,(Intercept)} / (Σ_h σ²_{h,(Intercept)} + σ²).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["variance_decomposition", "icc"]


def variance_decomposition(model: Any) -> pd.DataFrame:
    """Columns Group, Effect, Variance, SD, Var_prop (one row per random effect, then Residual)."""
    rows = []
    for t in model.varcorr.terms:
        for nm, v in zip(t.names, np.diag(t.cov)):
            rows.append((t.group, nm, float(v)))
    rows.append(("Residual", "", float(model._sigma) ** 2))
    df = pd.DataFrame(rows, columns=["Group", "Effect", "Variance"])
    df["SD"] = np.sqrt(df["Variance"])
    df["Var_prop"] = df["Variance"] / df["Variance"].sum()
    return df


def icc(model: Any) -> pd.Series:
    """Intraclass correlation per grouping factor (random intercepts only)."""
    vd = variance_decomposition(model)
    inter = vd[vd["Effect"] == "(Intercept)"]
    total = inter["Variance"].sum() + float(model._sigma) ** 2
    return pd.Series(inter["Variance"].to_numpy() / total, index=list(inter["Group"]),
                     name="ICC")
