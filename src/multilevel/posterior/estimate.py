"""What a point estimator returns: :class:`Estimate` (REML or ML estimates, as lme4 reports
them)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Estimate"]


@dataclass(frozen=True, eq=False)
class Estimate:
    """Point estimates of a Gaussian multilevel model (REML or ML).

    Attributes
    ----------
    method : str
        ``"reml"`` or ``"ml"``.
    estimates : dict
        brms name -> estimate (``b_*``, ``sd_*``, ``cor_*``, ``sigma``).
    std_errors : dict
        brms name -> standard error (``b_*``: lme4's ``vcov``, conditional on
        :math:`\\theta`; NaN for variance components, as lme4 reports none).
    group_effects : tuple of numpy.ndarray
        Per design block, the ``(levels, q)`` conditional modes (lme4's ``ranef``).
    theta : numpy.ndarray
        lme4's relative covariance parameters (block order of the design).
    loglik : float
        The maximised log-likelihood (restricted for REML), as lme4's ``logLik``.
    vcov : numpy.ndarray
        Covariance matrix of the population coefficients.
    converged : bool
    message : str
    evaluations : int
    timings : dict
    reason : str
    """

    method: str
    estimates: dict
    std_errors: dict
    group_effects: tuple
    theta: np.ndarray
    loglik: float
    vcov: np.ndarray
    converged: bool
    message: str
    evaluations: int
    timings: dict = field(default_factory=dict)
    reason: str = ""
