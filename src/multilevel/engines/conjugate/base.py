"""The protocol every conjugate chain implements.

A chain is the pair (mixing distribution F1(theta) of the group parameters, likelihood F2 of
the observations). Given per-group sufficient statistics it knows, in closed form, for any
hyperparameter value theta:

- the log marginal likelihood of each group's data, and its sum over all groups (computed
  from compressed statistics so that millions of groups cost little);
- the conjugate posterior of each group's parameter;
- the distribution of a group's summary statistic (the predictive of a whole group);
- the predictive of one new observation in a known group.

Distributions are returned as frozen scipy distributions broadcasting over a leading axis of
hyperparameter points (K, 1) and a trailing axis of groups (1, G).
"""

from __future__ import annotations

import numpy as np

from multilevel.spec.conjugate import GroupStats

__all__ = ["Chain", "GroupStats"]


class Chain:
    """Base class of the conjugate chains; see the module docstring."""

    #: hyperparameter names, in the order used for the quadrature grid (costly ones first)
    hyper_names: tuple[str, ...] = ()
    #: how many leading hyperparameters are costly to vary (sums over many groups)
    costly_axes: int = 0
    #: which hyperparameters are positive (log-transformed on the grid)
    positive: tuple[bool, ...] = ()
    #: the statistic reported as a group's size (observations, trials, exposure)
    size_stat: str = "n"
    #: name of the group-level parameter, e.g. "theta" or "p"
    parameter: str = "theta"
    #: what the no-pooling estimate of a group is, in words
    own_estimate_label: str = ""
    #: whether the group summary statistic is a count (discrete predictive)
    discrete_summary: bool = False
    discrete_observation: bool = False
    #: directions in z (grid order) along which "no between-group variation" is approached
    boundary_directions: dict[str, tuple[float, ...]] = {}

    def __init__(self, stats: GroupStats):
        self.stats = stats
        self._start = None

    # --- hyperparameters --------------------------------------------------------------
    def default_priors(self) -> dict[str, str]:
        raise NotImplementedError

    def initial(self) -> np.ndarray:
        """A rough hyperparameter value (method of moments) to start the search from."""
        if self._start is None:
            self._start = np.asarray(self._initial(), float)
        return self._start

    def _initial(self) -> np.ndarray:
        raise NotImplementedError

    # --- marginal likelihood ----------------------------------------------------------
    def log_marginal_total(self, theta: np.ndarray) -> np.ndarray:
        """Sum over groups of the log marginal likelihood; theta has shape (K, d)."""
        raise NotImplementedError

    def log_marginal(self, theta: np.ndarray, stats: GroupStats) -> np.ndarray:
        """Per-group log marginal likelihood, shape (K, G)."""
        raise NotImplementedError

    # --- distributions ----------------------------------------------------------------
    def prior_dist(self, theta: np.ndarray):
        """F1(theta): the distribution of a new group's parameter, broadcast (K, 1)."""
        raise NotImplementedError

    def posterior_dist(self, theta: np.ndarray, stats: GroupStats):
        """Conjugate posterior of each group's parameter, broadcast (K, G)."""
        raise NotImplementedError

    def summary_dist(self, theta: np.ndarray, stats: GroupStats):
        """Distribution of each group's summary statistic given theta only, (K, G)."""
        raise NotImplementedError

    def summary(self, stats: GroupStats) -> np.ndarray:
        """The observed summary statistic whose density :meth:`summary_dist` gives."""
        raise NotImplementedError

    def observation_dist(self, theta: np.ndarray, stats: GroupStats, new: dict):
        """One new observation of each group (size given by ``new``), (K, G)."""
        raise NotImplementedError

    def posterior_moments(self, theta: np.ndarray, stats: GroupStats):
        """Mean and variance of :meth:`posterior_dist`, (K, G) each, in closed form."""
        dist = self.posterior_dist(theta, stats)
        return np.asarray(dist.mean(), float), np.asarray(dist.var(), float)

    #: size arguments of new_group() and their defaults (None: required)
    new_group_sizes: tuple[tuple[str, ...], dict[str, float]] = ((), {})

    def empty_group(self, sizes: dict[str, np.ndarray]) -> GroupStats:
        """Statistics of a group of the given size with no data yet (for its predictive)."""
        raise NotImplementedError

    def observation_defaults(self, stats: GroupStats) -> dict[str, np.ndarray]:
        """Size arguments of one new observation per group, with their defaults."""
        return {}

    def moment_matched(self, mean: np.ndarray, var: np.ndarray):
        """A single distribution of the posterior family with this mean and variance."""
        raise NotImplementedError

    def shrinkage(self, theta: np.ndarray, stats: GroupStats) -> np.ndarray:
        """Weight on the population mean in the group's posterior mean, (K, G)."""
        raise NotImplementedError

    def own_estimate(self, stats: GroupStats) -> np.ndarray:
        """The group's own (no pooling) estimate of its parameter."""
        raise NotImplementedError

    def population_mean(self, theta: np.ndarray) -> np.ndarray:
        """Mean of F1(theta), shape (K,)."""
        return np.asarray(self.prior_dist(theta).mean()).reshape(-1)

    # --- helpers ----------------------------------------------------------------------
    def columns(self, theta: np.ndarray) -> list[np.ndarray]:
        """Hyperparameter columns of theta (K, d) as (K, 1) arrays for broadcasting."""
        theta = np.atleast_2d(theta)
        return [theta[:, [j]] for j in range(theta.shape[1])]
