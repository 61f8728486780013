"""Generalized linear mixed models (lme4's ``glmer``).

The same pipeline as ``lmer`` (formula, frame, cross-products, blocked
Cholesky), with the conditional modes found by penalized iteratively
reweighted least squares:

* ``response.py``: the response forms (0/1, factor, ``cbind``, proportions with weights);
* ``pwls.py``: one penalized weighted least-squares solve at given weights;
* ``pwls_arrow.py``: that solve in O(levels) for one scalar term or two nested ones;
* ``pirls.py``: PIRLS with step-halving, Laplace and adaptive Gauss–Hermite deviances;
* ``optim.py``: the Newton stage on finite-difference derivatives;
* ``model.py``: ``glmer``, the deviance objectives and lme4's two stages;
* ``fitted.py``: what is read off the fitted model (criteria, SEs, residuals, printing).
"""

from .model import GeneralizedLinearMixedModel, GlmerControl, glmer

__all__ = ["GeneralizedLinearMixedModel", "GlmerControl", "glmer"]
