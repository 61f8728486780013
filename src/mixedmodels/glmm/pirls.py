"""PIRLS: conditional modes of a GLMM and lme4's deviance approximations.

For parameters θ (and β, unless it is estimated inside PIRLS as in lme4's
nAGQ = 0 stage) the conditional mode ũ minimises the penalized deviance

    pdev(u) = Σ dᵢ(yᵢ, μᵢ) + ‖u‖²,   μ = g⁻¹(X β + Z Λ_θ u + offset),

found by penalized iteratively re-weighted least squares: working weights
Wᵢ = wᵢ (dμ/dη)² / V(μᵢ), working response zᵢ = ηᵢ − oᵢ + (yᵢ − μᵢ)/(dμ/dη),
one :class:`~mixedmodels.glmm.pwls.PWLS` solve per iteration and step-halving
(up to 10 halvings) when pdev does not decrease.

At the mode (lme4's ``Laplace`` and ``glmerAGQ``):

* Laplace:  dev(θ, β) = log|L|² + ‖ũ‖² + aic(y, m, μ, w),
  with aic the family's −2 log-likelihood (R's ``family$aic``);
* adaptive Gauss–Hermite (one scalar term, nAGQ > 1), per level j with
  devcⱼ(u) = uⱼ² + Σ_{i∈j} dᵢ, sdⱼ = 1/Lⱼⱼ and GH nodes z_k, weights w_k
  for the standard normal density φ:

      dev = Σ_j devcⱼ(ũ) + log|L|² − 2 Σ_j log mⱼ,
      mⱼ = Σ_k w_k exp(−½(devcⱼ(ũ + z_k sdⱼ) − devcⱼ(ũ))) / φ(z_k) / √(2π)

  (lme4's scale: the saturated constant of the deviance residuals is left out).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from ..errors import PirlsError
from ..family import Family
from .pwls import PWLS, Products, PWLSFailure

__all__ = ["PIRLS", "PirlsError", "PirlsState", "gh_rule", "separated_rows"]

_MAX_HALVINGS = 10
_sum = np.add.reduce  # ndarray.sum without its Python-level wrapper (the same summation)


@dataclass
class PirlsState:
    """The conditional mode at one (θ, β): ũ, β, η, μ and the pieces of the deviance."""

    theta: np.ndarray
    u: np.ndarray
    beta: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    logdet: float
    devres: np.ndarray
    iterations: int
    solve_weights: np.ndarray | None = None
    """Working weights of the last PWLS solve (lme4's PIRLS: one iteration behind ũ)."""

    @property
    def ussq(self) -> float:
        return float(self.u @ self.u)


def separated_rows(family: Family, X: np.ndarray, y: np.ndarray, w: np.ndarray,
                   offset: np.ndarray, iterations: int = 30) -> np.ndarray:
    """Rows whose outcome the fixed effects alone predict perfectly (binomial).

    Runs logistic IRLS of y on X (no random effects) without a step limit: under
    complete or quasi-complete separation some |ηᵢ| grow without bound while
    μᵢ → yᵢ. Returns the indices of rows with |η| > 15 and |y − μ| < 10⁻⁶
    (empty when the GLM converges with moderate η, or for other families).
    """
    if family.family != "binomial" or X.shape[1] == 0:
        return np.zeros(0, np.intp)
    mu = (w * y + 0.5) / (w + 1.0)
    eta = np.log(mu / (1.0 - mu))
    with np.errstate(all="ignore"):
        for _ in range(iterations):
            mu = 1.0 / (1.0 + np.exp(-eta))
            W = np.maximum(w * mu * (1.0 - mu), 1e-300)
            z = eta - offset + (y - mu) / np.maximum(mu * (1.0 - mu), 1e-300)
            sw = np.sqrt(W)
            if not (np.all(np.isfinite(sw)) and np.all(np.isfinite(z))):
                break
            beta = np.linalg.lstsq(X * sw[:, None], z * sw, rcond=None)[0]
            eta = X @ beta + offset
        mu = 1.0 / (1.0 + np.exp(-eta))
    return np.flatnonzero((np.abs(eta) > 15.0) & (np.abs(y - mu) < 1e-6))


@functools.cache
def gh_rule(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Hermite nodes and weights for the standard normal density (weights sum to 1).

    Cached: one rule serves every evaluation of a fit (the arrays are read-only).
    """
    z, w = np.polynomial.hermite_e.hermegauss(k)
    w = w / math.sqrt(2.0 * math.pi)
    z = np.where(np.abs(z) < 1e-14, 0.0, z)
    z.flags.writeable = False
    w.flags.writeable = False
    return z, w


class PIRLS:
    """Conditional modes and the Laplace/AGQ deviance for one GLMM design.

    ``joint`` solver estimates (u, β) together (nAGQ = 0); ``uonly`` holds β
    in the offset (nAGQ ≥ 1). The last mode is kept as the next start.
    """

    def __init__(
        self,
        family: Family,
        y: np.ndarray,
        prior_weights: np.ndarray,
        trials: np.ndarray,
        offset: np.ndarray,
        X: np.ndarray,
        joint: PWLS,
        uonly: PWLS,
        tol: float = 1e-11,
        maxit: int = 100,
    ):
        self.family = family
        self.y = y
        self.pw = prior_weights
        self.trials = trials
        self.offset = offset
        self.X = X
        self.joint = joint
        self.uonly = uonly
        self.tol = tol
        self.maxit = maxit
        self.q = joint.q
        self.u = np.zeros(self.q)
        self.beta = np.zeros(X.shape[1])
        self.last: PirlsState | None = None
        self._devfun = family.deviance_function(y, prior_weights)
        self._aic_const = family.aic_constant(y, trials, prior_weights)
        self._last_weights: np.ndarray | None = None
        self._first_eta: np.ndarray | None = None
        self._first: tuple[np.ndarray, Products] | None = None

    # -- pieces ---------------------------------------------------------------
    def _devres(self, mu: np.ndarray) -> np.ndarray:
        return self._devfun(mu)

    def aic(self, state: PirlsState) -> float:
        """The family's aic at the mode (−2 log p(y | ũ) in R's convention)."""
        dev = float(_sum(state.devres))
        if self._aic_const is not None:
            return dev + self._aic_const
        return self.family.aic(self.y, self.trials, state.mu, self.pw, dev)

    def laplace(self, state: PirlsState) -> float:
        """lme4's Laplace deviance: log|L|² + ‖ũ‖² + aic."""
        return state.logdet + state.ussq + self.aic(state)

    def initial_beta(self) -> np.ndarray:
        """β of the GLM without random effects, from R's ``mustart`` (a few IRLS steps)."""
        fam, y, w = self.family, self.y, self.pw
        if fam.family == "binomial":
            mu = (w * y + 0.5) / (w + 1.0)
        elif fam.family == "poisson":
            mu = y + 0.1
        else:
            mu = np.where(y > 0, y, np.mean(y))
        with np.errstate(divide="ignore", invalid="ignore"):
            eta = fam.linkfun(mu)
        beta = np.zeros(self.X.shape[1])
        for it in range(3):
            me = fam.mu_eta(eta)
            W = w * me * me / fam.variance(mu)
            z = eta - self.offset + (y - mu) / me
            sw = np.sqrt(W)
            if not (np.all(np.isfinite(sw)) and np.all(np.isfinite(z))):
                if it == 0:
                    raise PirlsError(
                        f"cannot find valid starting values for the {fam.family} family with "
                        f"the {fam.link.name} link: the response gives non-finite working "
                        "values on the link scale; check the response and the offset"
                    )
                break  # keep the last valid β
            new = np.linalg.lstsq(self.X * sw[:, None], z * sw, rcond=None)[0]
            eta_new = self.X @ new + self.offset
            mu_new = fam.linkinv(eta_new)
            # as R's glm.fit: halve the step back towards the last β while the
            # fitted values leave the family's (or the link's) valid range
            for _ in range(20):
                if fam.valideta(eta_new) and fam.validmu(mu_new):
                    break
                new = 0.5 * (beta + new)
                eta_new = self.X @ new + self.offset
                mu_new = fam.linkinv(eta_new)
            else:
                break
            beta, eta, mu = new, eta_new, mu_new
        return beta

    # -- the iteration ----------------------------------------------------------
    def solve(self, theta: np.ndarray, beta: np.ndarray | None = None,
              u0: np.ndarray | None = None, beta0: np.ndarray | None = None,
              tol: float | None = None) -> PirlsState:
        """Conditional mode at θ (β fixed when given, else estimated jointly);
        ``tol`` overrides the convergence tolerance on the step."""
        tol = self.tol if tol is None else tol
        fam = self.family
        joint = beta is None
        solver = self.joint if joint else self.uonly
        u = (self.u if u0 is None else u0).copy()
        b = (self.beta if beta0 is None else beta0).copy() if joint else np.asarray(beta, float)
        base = self.offset if joint else self.offset + self.X @ b
        zb = solver.zb(theta, u)
        eta = base + zb + (self.X @ b if joint else 0.0)
        mu = fam.linkinv(eta)
        devres = self._devres(mu)
        pdev = float(devres.sum() + u @ u)
        if not np.isfinite(pdev):
            u[:] = 0.0
            eta = base + (self.X @ b if joint else 0.0)
            mu = fam.linkinv(eta)
            devres = self._devres(mu)
            pdev = float(devres.sum())
        logdet = np.nan
        iterations = 0
        for it in range(1, self.maxit + 1):
            iterations = it
            u_new, b_new, logdet = self._pwls_step(solver, theta, eta, mu, base)
            if not joint:
                b_new = b
            step = max(float(np.max(np.abs(u_new - u), initial=0.0)),
                       float(np.max(np.abs(b_new - b), initial=0.0)) if joint else 0.0)
            # stop on a negligible step: the weights of this iteration (hence
            # log|L|²) were taken at the current point, within `tol` of the mode,
            # which is returned with them
            if step < tol:
                break
            eta_new, mu_new, dev_new, pdev_new = self._evaluate(solver, theta, base, u_new, b_new,
                                                                joint)
            halvings = 0
            while not (pdev_new <= pdev * (1 + 1e-13) + 1e-13) and halvings < _MAX_HALVINGS:
                u_new = 0.5 * (u + u_new)
                b_new = 0.5 * (b + b_new) if joint else b
                eta_new, mu_new, dev_new, pdev_new = self._evaluate(
                    solver, theta, base, u_new, b_new, joint
                )
                halvings += 1
            if not (pdev_new <= pdev * (1 + 1e-10) + 1e-10):
                raise PirlsError(
                    "PIRLS step-halvings failed to reduce the penalized deviance "
                    f"({pdev:.6g} -> {pdev_new:.6g}): the model may be too complex for the data "
                    "or the fixed effects separate the outcomes; simplify the model or rescale "
                    "predictors"
                )
            # η (hence the weights, devres and log|L|²) no longer moves and pdev
            # has settled: converged, even if (u, β) still drift along a direction
            # the data do not identify (a random intercept confounded with a
            # fixed one under large weights, as gaussian(log) with large μ)
            settled = (float(np.max(np.abs(eta_new - eta), initial=0.0)) < tol
                       and abs(pdev_new - pdev) <= 1e-10 * (1.0 + abs(pdev)))
            u, b, eta, mu, devres, pdev = u_new, b_new, eta_new, mu_new, dev_new, pdev_new
            if settled:
                break
        else:
            raise PirlsError(f"PIRLS did not converge in {self.maxit} iterations")
        if not fam.validmu(mu):
            raise PirlsError(
                f"fitted means outside the {fam.family} family's range at the conditional modes "
                "(e.g. probabilities of exactly 0 or 1): the outcomes may be completely "
                "separated by the predictors"
            )
        self.u = u
        if joint:
            self.beta = b
        state = PirlsState(np.asarray(theta, float).copy(), u, b.copy(), eta, mu, logdet,
                           devres, iterations)
        self.last = state
        return state

    def solve_lme4(self, theta: np.ndarray, beta: np.ndarray | None, eta0: np.ndarray,
                   tol: float = 1e-7, maxit: int = 100) -> PirlsState:
        """lme4's PIRLS (``pwrssUpdate``) at θ (and β, else over (u, β) jointly)
        from the fixed start η₀.

        Each iteration takes the working weights and response at the current
        μ (the first at μ = g⁻¹(η₀)), solves, moves μ, and stops when the
        penalized deviance changes by less than ``tol`` relative; step-halving
        as lme4. log|L|² is that of the last solve, i.e. at the weights one
        iteration before the returned ũ. lme4's deviance functions (stage 1:
        η₀ the mode at the starting θ; stage 2: η₀ the linear predictor at the
        stage-1 optimum) are this function of (θ, β): deterministic, because
        every evaluation starts from η₀, and within the PIRLS tolerance of the
        Laplace approximation at the exact mode.
        """
        joint = beta is None
        solver = self.joint if joint else self.uonly
        b = np.zeros(self.X.shape[1]) if joint else np.asarray(beta, float)
        base = self.offset if joint else self.offset + self.X @ b
        eta = mu = eta0  # the first step reads η₀ only; both are replaced after it
        u = np.zeros(solver.q)
        oldpdev = np.finfo(float).max
        for it in range(1, maxit + 1):
            if it == 1:
                u_new, b_new, logdet = self._first_step(theta, eta0, None if joint else b)
            else:
                u_new, b_new, logdet = self._pwls_step(solver, theta, eta, mu, base)
            if not joint:
                b_new = b
            eta_n, mu_n, dev_n, pdev = self._evaluate(solver, theta, base, u_new, b_new, joint)
            if abs((oldpdev - pdev) / pdev) < tol:
                return PirlsState(np.asarray(theta, float).copy(), u_new, b_new.copy(), eta_n,
                                  mu_n, logdet, dev_n, it, self._last_weights)
            halvings = 0
            while pdev > oldpdev and halvings < _MAX_HALVINGS:
                u_new = 0.5 * (u + u_new)
                b_new = 0.5 * (b + b_new) if joint else b
                eta_n, mu_n, dev_n, pdev = self._evaluate(solver, theta, base, u_new, b_new,
                                                          joint)
                halvings += 1
            if pdev - oldpdev > tol:
                raise PirlsError("PIRLS step-halving failed to reduce the penalized deviance")
            u, b, eta, mu, oldpdev = u_new, b_new, eta_n, mu_n, pdev
        raise PirlsError(f"PIRLS did not converge in {maxit} iterations")

    def _first_step(self, theta: np.ndarray, eta0: np.ndarray, beta: np.ndarray | None
                    ) -> tuple[np.ndarray, np.ndarray, float]:
        """The first PWLS solve of :meth:`solve_lme4` from η₀ (β given: u only).

        Its weights W₀ and working response depend on η₀ alone (z = c − Xβ with
        c = η₀ − o + (y − μ₀)/(dμ/dη)), so the cross-products of (W₀, c) are
        computed once per η₀ and every evaluation at another θ (or β) reuses them:
        the joint system's as they are, the u-only system's through [X c](−β, 1).
        """
        if self._first_eta is not eta0:
            mu0 = self.family.linkinv(eta0)
            W, c = self._working(eta0, mu0, self.offset)
            self._first = (W, self.joint.products(W, c))
            self._first_eta = eta0
        W, prod = self._first
        self._last_weights = W
        solver = self.joint if beta is None else self.uonly
        if beta is not None:
            prod = self.joint.without_x(prod, beta)
        try:
            return solver.solve(theta, W, W, products=prod)
        except PWLSFailure as exc:
            raise PirlsError(f"PIRLS: {exc}") from exc

    def _working(self, eta: np.ndarray, mu: np.ndarray, base: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Working weights W = w (dμ/dη)²/V(μ) and response z = η − base + (y − μ)/(dμ/dη)."""
        fam = self.family
        me = fam.mu_eta(eta)
        W = self.pw * me * me / fam.variance(mu)
        z = eta - base + (self.y - mu) / me
        if not math.isfinite(float(_sum(W)) + float(_sum(z))):
            raise PirlsError(
                "PIRLS produced non-finite working weights: fitted values reached the edge "
                f"of the {fam.family} family's range (complete separation or extreme "
                "linear predictors)"
            )
        return W, z

    def _pwls_step(self, solver: PWLS, theta: np.ndarray, eta: np.ndarray, mu: np.ndarray,
                   base: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """One PIRLS solve at the working weights W = w (dμ/dη)²/V(μ) and response
        z = η − base + (y − μ)/(dμ/dη) of the current point: (u, β, log|L|²)."""
        W, z = self._working(eta, mu, base)
        self._last_weights = W
        try:
            return solver.solve(theta, W, z)
        except PWLSFailure as exc:
            raise PirlsError(f"PIRLS: {exc}") from exc

    def _evaluate(self, solver: PWLS, theta: np.ndarray, base: np.ndarray, u: np.ndarray,
                  b: np.ndarray, joint: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        eta = base + solver.zb(theta, u)
        if joint:
            eta = eta + self.X @ b
        mu = self.family.linkinv(eta)
        dev = self._devres(mu)
        return eta, mu, dev, float(_sum(dev) + u @ u)

    # -- adaptive Gauss–Hermite ---------------------------------------------------
    def agq(self, state: PirlsState, codes: np.ndarray, z1: np.ndarray, theta1: float,
            nAGQ: int) -> float:
        """lme4's AGQ deviance at a mode (one scalar term; see the module docstring).

        sdⱼ = 1/Lⱼⱼ and log|L|² come from the same factor: that of the last PWLS
        solve when the state records its weights (lme4's ``glmerAGQ`` after
        ``pwrssUpdate``), else the weights at the mode."""
        nl = self.q
        W = state.solve_weights if state.solve_weights is not None \
            else self.working_weights(state)
        w_lev = np.bincount(codes, weights=W * z1 * z1, minlength=nl)
        sd = 1.0 / np.sqrt(theta1 * theta1 * w_lev + 1.0)
        u0 = state.u
        devc0 = u0 * u0 + np.bincount(codes, weights=state.devres, minlength=nl)
        nodes, weights = gh_rule(nAGQ)
        mult = np.zeros(nl)
        sqrt2pi = math.sqrt(2.0 * math.pi)
        for zk, wk in zip(nodes, weights):
            if zk == 0.0:
                mult += wk
                continue
            du = zk * sd
            eta = state.eta + theta1 * z1 * du[codes]
            mu = self.family.linkinv(eta)
            devc = (u0 + du) ** 2 + np.bincount(codes, weights=self._devres(mu), minlength=nl)
            ldnorm = -0.5 * zk * zk - 0.5 * math.log(2.0 * math.pi)
            mult += np.exp(-0.5 * (devc - devc0) - ldnorm) * wk / sqrt2pi
        return float(devc0.sum() + state.logdet - 2.0 * np.sum(np.log(mult)))

    def working_weights(self, state: PirlsState) -> np.ndarray:
        me = self.family.mu_eta(state.eta)
        return self.pw * me * me / self.family.variance(state.mu)
