"""What engines return and the results read: :class:`Posterior` (draws and sampler
statistics), :class:`Estimate` (point estimates) and the MCMC statistics of
:mod:`.mcmc_stats`. Imports neither the engines nor the results."""

from multilevel.posterior.estimate import Estimate
from multilevel.posterior.posterior import Posterior

__all__ = ["Estimate", "Posterior"]
