"""The names of the GLM families, R's spelling (no numerics: the command line reads them).

:mod:`mixedmodels.family` defines each family; this tuple is their order
for messages and for ``mixedmodels fit --family``.
"""

from __future__ import annotations

__all__ = ["FAMILIES"]

FAMILIES: tuple[str, ...] = ("binomial", "poisson", "Gamma", "inverse.gaussian", "gaussian")
