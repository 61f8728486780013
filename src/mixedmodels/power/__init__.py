"""Simulated data and power analysis for linear mixed models (simr's toolset).

* :func:`simulate_design`, :func:`extend_design`: study layouts (crossed
  subjects × items, subjects × sessions, between/within factors) and
  simr's ``extend``;
* :func:`make_lmer`, :func:`simulate_response`, :class:`LmmSpec`: a model
  given by its parameters (simr's ``makeLmer``) and responses drawn from it;
* :func:`power_sim`, :func:`power_curve`, :class:`PowerResult`: power by
  simulation and refitting (simr's ``powerSim`` and ``powerCurve``).
"""

from .curve import power_curve
from .design import extend_design, simulate_design
from .sim import PowerResult, clopper_pearson, power_sim
from .spec import LmmSpec, make_lmer, simulate_response, spec_from_model

__all__ = [
    "LmmSpec",
    "PowerResult",
    "clopper_pearson",
    "extend_design",
    "make_lmer",
    "power_curve",
    "power_sim",
    "simulate_design",
    "simulate_response",
    "spec_from_model",
]
