"""Fitting θ in the well-conditioned coordinates of :mod:`mixedmodels.crossprod.reparam`.

Where a random-effect column is far off centre or scale, the model is fitted
as Z̃ = Z A⁻¹ (the cross-products accumulated from the centred columns) and
mapped back: θ = chol(A⁻¹Λ̃Λ̃'A⁻ᵀ), b = A⁻¹b̃, Var(b|y) = A⁻¹Var(b̃|y)A⁻ᵀ;
the criterion, β̂, σ̂ and (R_X'R_X)⁻¹ are those of the Z̃ fit unchanged.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from .crossprod import reparam
from .errors import ModelSpecificationError


class ShiftedFit:
    """Mixin of :class:`mixedmodels.lmm.LinearMixedModel`: the fit in Z̃ coordinates."""

    design: Any
    cp: Any
    control: Any
    y: np.ndarray

    def _z_shifts(self) -> list[np.ndarray] | None:
        """Per term A_k of Z_k = Z̃_k A_k, or None when the raw columns are well
        conditioned (computed once per design)."""
        if "_shifts" not in self.__dict__:
            d = self.design
            Zs = [getattr(t, "Z", None) for t in d.terms]
            if any(Z is None or not isinstance(Z, np.ndarray) for Z in Zs):  # no rows
                self._shifts = reparam.cp_shifts(
                    self.cp, [t.names[0] == "(Intercept)" for t in d.terms])
            else:
                w = d.weights if getattr(d, "has_weights", False) else None
                self._shifts = reparam.term_shifts(Zs, w)
        return self._shifts

    @property
    def is_singular(self) -> bool:
        """lme4's test (a diagonal entry of T_k below 1e-4) on θ̃ after a fit in Z̃
        coordinates: the rank of Σ does not depend on them, but a far-off shift makes
        the raw θ's last diagonal entry tiny at any Σ."""
        shadow = self.__dict__.get("_reparam_shadow")
        if shadow is not None:
            return bool(shadow.is_singular)
        return bool(super().is_singular)  # type: ignore[misc]

    def _cond_var(self) -> list[np.ndarray]:
        """Var(b|y) = A⁻¹Var(b̃|y)A⁻ᵀ per level after a fit in Z̃ coordinates."""
        shadow = self.__dict__.get("_reparam_shadow")
        if shadow is None:
            return super()._cond_var()  # type: ignore[misc]
        if self.__dict__.get("_cond_var_cache") is None:
            self._cond_var_cache = [reparam.cond_var_from_tilde(V, A)
                                    for V, A in zip(shadow._cond_var(), self._z_shifts())]
        return self._cond_var_cache

    def _inverse_hessian(self) -> np.ndarray | None:
        """H⁻¹ at the optimum in θ̃ (a refit's start; its fit is in the same θ̃)."""
        shadow = self.__dict__.get("_reparam_shadow")
        if shadow is not None:
            return shadow._inverse_hessian()
        return super()._inverse_hessian()  # type: ignore[misc]

    def _fit_shifted(
        self,
        shifts: list[np.ndarray],
        start: np.ndarray | None,
        verbose: bool,
        progress: Any,
        alternative: np.ndarray | None,
    ) -> Any:
        """Fit the Z̃ model and carry its optimum back to this one."""
        d = self.design
        tris = [t.tri_index for t in d.terms]
        shadow = object.__new__(type(self))
        shadow.__dict__.update(self.__dict__)
        rows = isinstance(getattr(d.terms[0], "Z", None), np.ndarray)
        if rows:
            shadow.design = dataclasses.replace(d, terms=[
                dataclasses.replace(t, Z=reparam.tilde_columns(t.Z, A))
                for t, A in zip(d.terms, shifts)])
        shadow._shifts = None
        for cache in ("_response_rows", "_moment_start", "_anova_start", "_dense",
                      "_inv_hessian_at_optimum", "_last_dense_factor", "_tri_index",
                      "_tri_offsets"):
            shadow.__dict__.pop(cache, None)
        shadow._factor = None  # (a refit's start H⁻¹ is the parent's in θ̃: kept)
        if rows:  # Z̃ summed directly from the centred columns
            y_eff = self.y - d.offset if d.has_offset else self.y
            shadow.cp = shadow._crossprod_of(shadow.design, y_eff, self.control.rest)
        else:
            shadow.cp = reparam.transform_cp(self.cp, shifts, self.control.rest)

        def to_t(th: np.ndarray | None) -> np.ndarray | None:
            if th is None:
                return None
            return reparam.theta_to_tilde(np.asarray(th, dtype=float), shifts, tris)

        shadow.fit(start=to_t(start), verbose=verbose, progress=progress,
                   alternative=to_t(alternative))
        self._adopt(shadow, shifts, tris)
        return self

    def _check_range(self, shifts: list[np.ndarray]) -> None:
        """σ²T_kT_k' must be finite in the units of the data: a far-off shift makes
        the intercept's variance at z = 0 about c²·var(slope), beyond double range
        for data near the limit of it."""
        limit = 0.5 * math.log(np.finfo(float).max)
        for k, (t, A) in enumerate(zip(self.design.terms, shifts)):
            rows = np.linalg.norm(self._T(k), axis=1)
            with np.errstate(divide="ignore"):
                log_sd = math.log(self._sigma) + np.log(rows) if self._sigma > 0 else rows
            if np.any(log_sd > limit):
                cols = ", ".join(n for j, n in enumerate(t.names) if A[j, j] != 1.0
                                 or (j > 0 and A[0, j] != 0.0))
                raise ModelSpecificationError(
                    f"the covariance of the random effects ({' + '.join(t.names)} | "
                    f"{t.group}) is beyond floating-point range in the units of the data "
                    f"(column(s) {cols} far from 0 relative to their spread); centre or "
                    "rescale them, e.g. scale(x) in the formula"
                )

    def _adopt(
        self, shadow: Any, shifts: list[np.ndarray], tris: list[tuple[np.ndarray, np.ndarray]]
    ) -> None:
        """This model's results from the Z̃ fit (θ, b, u and Var(b|y) mapped back)."""
        theta = reparam.theta_from_tilde(shadow._theta, shifts, tris)
        self.opt = dataclasses.replace(shadow.opt, x=theta.copy())
        self.optinfo = shadow.optinfo
        for name in ("_ld_z", "_ld_x", "_log_pwrss", "_crit", "_beta", "_sigma"):
            setattr(self, name, getattr(shadow, name))
        self._theta = theta
        self._check_range(shifts)
        self._b = [reparam.b_from_tilde(b, A) for b, A in zip(shadow._b, shifts)]
        self._u = [np.linalg.lstsq(self._T(k), b.T, rcond=None)[0].T
                   for k, b in enumerate(self._b)]
        self._fitted_cache = None
        self._vcov_cache = None  # the shadow's, when first read (lmm._vcov_pieces)
        self._cond_var_cache = None  # mapped from the shadow's (:meth:`_cond_var`)
        self._reparam_shadow = shadow
        self._fitted_state = True
