"""Simulation-based calibration (SBC) of a model on your own design.

:func:`sbc` draws parameters from the priors, data from the model on the rows of your data,
fits each data set and checks that the ranks of the true values among the posterior draws are
uniform (Talts et al. 2018; Modrák et al. 2023; Säilynoja, Bürkner & Vehtari 2022 for the
ECDF test and bands). :func:`simulate` gives the simulated data sets themselves (a prior
predictive check).

Modules: :mod:`.sbc` (the run), :mod:`.prior_predictive` (:func:`simulate`), :mod:`.result`
(:class:`SBCResult`), :mod:`.plots`, and the private steps ``_simulate`` (the generative
model), ``_lkj`` (LKJ draws), ``_priors`` (frozen priors), ``_seeds``, ``_run`` (serial and
parallel runs), ``_ranks`` (thinning and ranks), ``_uniformity`` (tests and bands).

Examples
--------
>>> from multilevel.calibration import SBCResult, sbc, simulate
>>> callable(sbc), callable(simulate), SBCResult.__name__
(True, True, 'SBCResult')
"""

from __future__ import annotations

from multilevel.calibration.prior_predictive import SimulatedData, simulate
from multilevel.calibration.result import SBCResult
from multilevel.calibration.sbc import sbc

__all__ = ["sbc", "SBCResult", "simulate", "SimulatedData"]
