"""Assemble the rest block A22 = R'WR, dense or sparse, after choosing the path.

Every backend (in memory, DuckDB, Dask) produces the rest block from the
same pieces: the rest terms' own rz × rz block A22_zz as sparse level-pair
sums, [X̃ ỹ]'WZ_rest (dense, (p+1) × rz) and [X̃ ỹ]'W[X̃ ỹ]. The plan
(:func:`mixedmodels.linalg.rest_plan.plan_rest`) decides from A21 and the
pattern of A22_zz whether the block is held as a dense r × r array or as a
sparse matrix for :class:`~mixedmodels.linalg.sparse_rest.SparseRestCholesky`;
no r × r array exists unless the dense path is chosen and fits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    from ..linalg.rest_plan import RestPlan

__all__ = ["assemble_rest", "plan_crossproducts", "replan_rest"]


def assemble_rest(
    dims: Sequence[tuple[int, int]],
    p: int,
    A21: sp.spmatrix,
    A22zz: sp.spmatrix,
    zxy: np.ndarray,
    xyxy: np.ndarray,
    mode: str = "auto",
) -> tuple[np.ndarray | sp.csc_matrix, RestPlan | None]:
    """(A22, plan): A22 = [[A22_zz, zxy'], [zxy, xyxy]] dense or sparse as planned.

    ``mode="keep"`` skips the plan and returns the sparse block (partial sums
    of a backend that adds blocks before planning once).
    """
    from ..linalg.rest_plan import plan_rest  # linalg imports crossprod

    A22zz = sp.csc_matrix(A22zz)
    if mode == "keep":
        plan = None
    else:
        plan = plan_rest(dims, p, A21, A22zz, mode)
    if plan is None or plan.sparse:
        A22 = sp.bmat([[A22zz, sp.csc_matrix(zxy.T)], [sp.csc_matrix(zxy), xyxy]], format="csc")
        return A22, plan
    rz = A22zz.shape[0]
    r = rz + p + 1
    dense = np.zeros((r, r))
    coo = A22zz.tocoo()
    dense[coo.row, coo.col] = coo.data
    dense[rz:, :rz] = zxy
    dense[:rz, rz:] = zxy.T
    dense[rz:, rz:] = xyxy
    return dense, plan


def replan_rest(
    dims: Sequence[tuple[int, int]], p: int, A21: sp.spmatrix, A22: sp.spmatrix, mode: str
) -> tuple[np.ndarray | sp.csc_matrix, RestPlan | None]:
    """Plan a sparse A22 summed from ``mode="keep"`` parts (see :func:`assemble_rest`)."""
    A22 = sp.csc_matrix(A22)
    rz = A22.shape[0] - p - 1
    return assemble_rest(
        dims, p, A21, A22[:rz, :rz], A22[rz:, :rz].toarray(), A22[rz:, rz:].toarray(), mode
    )


def plan_crossproducts(cp: Any, mode: str = "auto") -> Any:
    """The :class:`~mixedmodels.crossprod.CrossProducts` ``cp`` with its rest block planned.

    Backends that sum sparse, unplanned parts (``mode="keep"``) call this once
    on the total; a block already planned, or a model with one term, is returned as is.
    """
    if getattr(cp, "rest_plan", None) is not None or not sp.issparse(cp.A22):
        return cp
    dims = [(d.nl, d.S) for d in cp.dims]
    A22, plan = replan_rest(dims, cp.p, cp.A21, cp.A22, mode)
    return dataclasses.replace(cp, A22=A22, rest_plan=plan)
