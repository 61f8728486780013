"""glmer in the well-conditioned coordinates of :mod:`mixedmodels.crossprod.reparam`.

The same shift and scale applies to the fixed effects: X = X̃A_X (A_X from
:func:`~mixedmodels.crossprod.reparam.term_shifts` on X, the intercept in
column 0), Xβ = X̃β̃ with β̃ = A_Xβ; PIRLS over (u, β) fails on a far-off
column of X as it does on one of Z. The fit in X̃ is mapped back by
β = A_X⁻¹β̃, vcov(β̂) = A_X⁻¹ vcov(β̃) A_X⁻ᵀ.

A GLMM with a correlated term (1 + x | g) is the same model for x → c + s·x̃:
Z = Z̃A, Zb = Z̃b̃ with b̃ = Ab, Σ̃ = AΣA', so the Laplace (and nAGQ = 0)
deviance of Z̃ at (θ̃, β) equals that of Z at (θ, β) with ΛΛ' = A⁻¹Λ̃Λ̃'A⁻ᵀ.
Where a random-effect column is far off centre or scale, the raw optimum is a
ridge on which PIRLS fails; the model is then fitted as Z̃ = Z A⁻¹ and mapped
back: θ = chol(A⁻¹Λ̃Λ̃'A⁻ᵀ), b = A⁻¹b̃, Var(b|y) = A⁻¹Var(b̃|y)A⁻ᵀ. β̂, η̂, μ̂,
the deviance and vcov(β̂) (the β block of 2H⁻¹, invariant to how θ is
parametrized at the optimum) are those of the Z̃ fit; ``hessian`` and
``gradient`` stay in the fitted coordinates (θ̃, β̃).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..crossprod import reparam
from ..lmm_reparam import ShiftedFit

__all__ = ["ShiftedGlmm"]


class ShiftedGlmm(ShiftedFit):
    """Mixin of :class:`mixedmodels.glmm.model.GeneralizedLinearMixedModel`: the fit in
    Z̃ coordinates (is_singular, Var(b|y) and the choice of A from :class:`ShiftedFit`)."""

    def _glmm_shifts(self) -> tuple[list[np.ndarray], np.ndarray] | None:
        """(A_k per term, A_X) of Z_k = Z̃_kA_k and X = X̃A_X, or None when every
        column of X and Z is well conditioned (or this is already the centred fit)."""
        if self.__dict__.get("_centred"):
            return None
        zs = self._z_shifts()
        X = self.design.X
        xs = reparam.term_shifts([X], None) if X.shape[1] else None
        if zs is None and xs is None:
            return None
        if zs is None:
            zs = [np.eye(t.S) for t in self.design.terms]
        return zs, np.eye(X.shape[1]) if xs is None else xs[0]

    def _fit_centred(self, shifts: tuple[list[np.ndarray], np.ndarray], start: Any,
                     progress: Any) -> Any:
        """Fit the same GLMM on Z̃ = Z A⁻¹, X̃ = X A_X⁻¹ and carry its optimum back."""
        d = self.design
        zs, ax = shifts
        self._shifts = zs  # (identities where only X is far off: read by _cond_var)
        tris = [t.tri_index for t in d.terms]
        design_t = dataclasses.replace(d, X=reparam.tilde_columns(d.X, ax), terms=[
            dataclasses.replace(t, Z=reparam.tilde_columns(t.Z, A))
            for t, A in zip(d.terms, zs)])
        shadow = type(self)(design_t, self.response, self.family, self.nAGQ,  # type: ignore[attr-defined]
                            self.control, self.data_name)  # type: ignore[attr-defined]
        shadow._centred = True
        for name in ("na_action", "weights_name", "offset_name", "data"):
            if name in self.__dict__:
                setattr(shadow, name, self.__dict__[name])
        shadow.fit(start=self._start_to_tilde(start, zs, ax, tris), progress=progress)
        self._adopt_glmm(shadow, zs, ax, tris)
        return self

    @staticmethod
    def _start_to_tilde(start: Any, shifts: list[np.ndarray], ax: np.ndarray,
                        tris: list[tuple[np.ndarray, np.ndarray]]) -> Any:
        """A start in lme4's θ (array, or dict with ``theta`` and ``fixef``) as
        θ̃ = chol(AΛΛ'A') and β̃ = A_Xβ."""
        if start is None:
            return None
        if isinstance(start, dict):
            out = dict(start)
            th = start.get("theta")
            if th is not None:
                out["theta"] = reparam.theta_to_tilde(
                    np.asarray(th, dtype=float).ravel(), shifts, tris)
            key = "fixef" if "fixef" in start else "beta"
            fe = start.get(key)
            if fe is not None:
                out[key] = ax @ np.asarray(fe, dtype=float).ravel()
            return out
        return reparam.theta_to_tilde(np.asarray(start, dtype=float).ravel(), shifts, tris)

    def _adopt_glmm(self, shadow: Any, shifts: list[np.ndarray], ax: np.ndarray,
                    tris: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """This model's results from the centred fit: θ, b, u, β and vcov(β̂) mapped
        back; η̂, μ̂, σ̂ and the deviance unchanged."""
        theta = reparam.theta_from_tilde(shadow._theta, shifts, tris)
        beta = reparam.b_from_tilde(shadow._beta[None, :], ax)[0]
        nt = theta.size
        x = np.asarray(shadow.opt.x, dtype=float).copy()
        x[:nt] = theta
        if x.size > nt:
            x[nt:] = beta
        self.opt = dataclasses.replace(shadow.opt, x=x)
        self.optinfo = shadow.optinfo
        self.optinfo["coordinates"] = "centred random-effect columns (Z = Z̃A)"
        # η does not depend on the coordinates: this model's objective (profiles)
        # starts PIRLS from the centred fit's linear predictors, as that fit's did
        for name in ("_crit", "_eta", "_fitted", "_sigma", "hessian", "gradient",
                     "_eta_start", "_eta_stage2"):
            setattr(self, name, getattr(shadow, name))
        self._vcov_unscaled = reparam.cond_var_from_tilde(shadow._vcov_unscaled[None], ax)[0]
        self._theta, self._beta = theta, beta
        self._check_range(shifts)
        self._b = [reparam.b_from_tilde(b, A) for b, A in zip(shadow._b, shifts)]
        self._u = [np.linalg.lstsq(self._T(k), b.T, rcond=None)[0].T
                   for k, b in enumerate(self._b)]
        self._state = dataclasses.replace(
            shadow._state, theta=theta.copy(), beta=beta.copy(),
            u=np.concatenate([u.ravel() for u in self._u]))
        self._factor = None
        self._cond_var_cache = None  # mapped from the shadow's (ShiftedFit._cond_var)
        self._reparam_shadow = shadow
