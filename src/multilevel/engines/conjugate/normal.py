"""Normal-normal chains: group means theta_i ~ Normal(mu, tau).

Known noise (meta-analysis, eight schools): each group is summarised by its precision-weighted
mean ybar_i with known variance v_i = 1 / sum_j se_ij^-2, and

    theta_i | data ~ Normal(s2 (mu / tau^2 + ybar_i / v_i), s2),  s2 = 1 / (1/tau^2 + 1/v_i)
    ybar_i | mu, tau ~ Normal(mu, tau^2 + v_i).

Unknown common noise SD sigma: each group is (n_i, ybar_i, SS_i), v_i = sigma^2 / n_i, and
the raw data of a group contribute the extra factor
(2 pi sigma^2)^(-(n_i - 1)/2) n_i^(-1/2) exp(-SS_i / (2 sigma^2)).

Summed over groups, the likelihood is Gaussian in mu with sums that depend on the variance
parameters only; they are computed once per distinct (tau, sigma) of the grid (the first grid
axes) over the distinct values of v, so that many groups cost little.
"""

from __future__ import annotations

import numpy as np

from multilevel.engines.conjugate._dists import Normal
from multilevel.engines.conjugate._moments import (
    between_variance,
    grouped_sums,
    robust_scale,
    row_chunks,
)
from multilevel.engines.conjugate.base import Chain
from multilevel.spec.conjugate import GroupStats

__all__ = ["NormalKnownChain", "NormalUnknownChain"]

_LOG_2PI = float(np.log(2 * np.pi))


class _NormalChain(Chain):
    parameter = "theta"
    own_estimate_label = "group mean"

    def _mu_tau(self, theta):
        cols = self.columns(theta)
        return cols[-1], cols[0]

    def _variance(self, theta, stats_):
        """Sampling variance of each group's mean, shape (K, G)."""
        raise NotImplementedError

    def _gaussian_total(self, theta, variance_of):
        """Sum over groups of log N(ybar | mu, tau^2 + v), grouped by the variance key."""
        theta = np.atleast_2d(theta)
        var_params = theta[:, :-1]
        mu = theta[:, -1]
        distinct, where = np.unique(var_params, axis=0, return_inverse=True)
        where = where.reshape(-1)
        counts, s1, s2 = self._key_counts, self._key_sum, self._key_sum2
        sums = np.empty((4, len(distinct)))
        for rows in row_chunks(len(distinct), len(counts)):
            w = 1.0 / variance_of(distinct[rows])  # (rows, U): 1 / total variance per key
            sums[:, rows] = [w @ counts, w @ s1, w @ s2, np.log(w) @ counts]
        a, b, c, logdet = sums[:, where]
        n = counts.sum()
        return 0.5 * logdet - 0.5 * n * _LOG_2PI - 0.5 * (c - 2 * mu * b + mu**2 * a)

    def prior_dist(self, theta):
        mu, tau = self._mu_tau(theta)
        return Normal(mu, tau)

    def posterior_moments(self, theta, stats_):
        mu, tau = self._mu_tau(theta)
        v = self._variance(theta, stats_)
        s2 = 1.0 / (1.0 / tau**2 + 1.0 / v)
        return s2 * (mu / tau**2 + stats_["ybar"][None, :] / v), s2

    def posterior_dist(self, theta, stats_):
        mean, var = self.posterior_moments(theta, stats_)
        return Normal(mean, np.sqrt(var))

    def summary(self, stats_):
        return stats_["ybar"]

    def summary_dist(self, theta, stats_):
        mu, tau = self._mu_tau(theta)
        return Normal(mu, np.sqrt(tau**2 + self._variance(theta, stats_)))

    def moment_matched(self, mean, var):
        return Normal(mean, np.sqrt(var))

    def shrinkage(self, theta, stats_):
        _, tau = self._mu_tau(theta)
        v = self._variance(theta, stats_)
        return v / (v + tau**2)

    def own_estimate(self, stats_):
        return stats_["ybar"]


class NormalKnownChain(_NormalChain):
    """Normal observations with known standard errors; hyperparameters mu, tau."""

    hyper_names = ("tau", "mu")
    display_order = ("mu", "tau")
    costly_axes = 1
    positive = (True, False)
    boundary_directions = {"tau -> 0 (no between-group variation)": (-1.0, 0.0)}

    def __init__(self, stats_):
        super().__init__(stats_)
        keys, self._key_counts, (self._key_sum, self._key_sum2) = grouped_sums(
            stats_["v"], stats_["ybar"], stats_["ybar"] ** 2
        )
        self._keys = np.asarray(keys, dtype=float)

    new_group_sizes = (("se", "n"), {"n": 1.0})

    def empty_group(self, sizes):
        n = np.atleast_1d(sizes["n"])
        return GroupStats({"ybar": np.zeros(1), "v": np.atleast_1d(sizes["se"]) ** 2 / n, "n": n})

    def observation_defaults(self, stats_):
        return {"se": np.sqrt(stats_["v"] * stats_["n"])}

    def _variance(self, theta, stats_):
        return np.broadcast_to(stats_["v"][None, :], (np.atleast_2d(theta).shape[0], len(stats_)))

    def _initial(self):
        y, v = self.stats["ybar"], self.stats["v"]
        mu, between = between_variance(y, 1.0 / v, v)
        return np.array([np.sqrt(between), mu])

    def default_priors(self):
        y = self.stats["ybar"]
        scale = robust_scale(y)
        return {
            "mu": f"student_t(3, {np.median(y):.3g}, {2.5 * scale:.3g})",
            "tau": f"student_t(3, 0, {2.5 * scale:.3g})",
        }

    def log_marginal_total(self, theta):
        return self._gaussian_total(theta, lambda d: d[:, [0]] ** 2 + self._keys[None, :])

    def log_marginal(self, theta, stats_):
        return self.summary_dist(theta, stats_).logpdf(stats_["ybar"][None, :])

    def observation_dist(self, theta, stats_, new):
        mean, var = self.posterior_moments(theta, stats_)
        se = np.asarray(new["se"])[None, :]
        return Normal(mean, np.sqrt(var + se**2))


class NormalUnknownChain(_NormalChain):
    """Normal observations with an unknown common noise SD; hyperparameters mu, tau, sigma."""

    hyper_names = ("tau", "sigma", "mu")
    display_order = ("mu", "tau", "sigma")
    costly_axes = 2
    positive = (True, True, False)
    boundary_directions = {"tau -> 0 (no between-group variation)": (-1.0, 0.0, 0.0)}

    def __init__(self, stats_):
        super().__init__(stats_)
        keys, self._key_counts, (self._key_sum, self._key_sum2) = grouped_sums(
            stats_["n"], stats_["ybar"], stats_["ybar"] ** 2
        )
        self._keys = np.asarray(keys, dtype=float)
        n, ss = stats_["n"], stats_["ss"]
        self._dof = float(np.sum(n - 1))
        self._ss = float(np.sum(ss))
        self._half_log_n = 0.5 * float(np.sum(np.log(n)))

    new_group_sizes = (("n",), {})

    def empty_group(self, sizes):
        n = np.atleast_1d(sizes["n"])
        return GroupStats({"ybar": np.zeros(1), "n": n, "ss": np.zeros(1)})

    def _variance(self, theta, stats_):
        sigma = self.columns(theta)[1]
        return sigma**2 / stats_["n"][None, :]

    def _initial(self):
        y, n = self.stats["ybar"], self.stats["n"]
        if self._dof > 0 and self._ss > 0:
            sigma2 = self._ss / self._dof
        else:
            sigma2 = 0.5 * robust_scale(y) ** 2
        mu, between = between_variance(y, n / (n + 1.0), sigma2 / n)
        return np.array([np.sqrt(between), np.sqrt(sigma2), mu])

    def default_priors(self):
        y = self.stats["ybar"]
        tau0, sigma0, _ = self.initial()
        scale = max(robust_scale(y), sigma0)
        return {
            "mu": f"student_t(3, {np.median(y):.3g}, {2.5 * scale:.3g})",
            "tau": f"student_t(3, 0, {2.5 * scale:.3g})",
            "sigma": f"student_t(3, 0, {2.5 * scale:.3g})",
        }

    def log_marginal_total(self, theta):
        theta = np.atleast_2d(theta)
        sigma = theta[:, 1]
        means = self._gaussian_total(
            theta, lambda d: d[:, [0]] ** 2 + d[:, [1]] ** 2 / self._keys[None, :]
        )
        within = -0.5 * self._dof * (_LOG_2PI + 2 * np.log(sigma)) - self._ss / (2 * sigma**2)
        return means + within - self._half_log_n

    def log_marginal(self, theta, stats_):
        sigma = self.columns(theta)[1]
        n, ss = stats_["n"][None, :], stats_["ss"][None, :]
        means = self.summary_dist(theta, stats_).logpdf(stats_["ybar"][None, :])
        within = -0.5 * (n - 1) * (_LOG_2PI + 2 * np.log(sigma)) - ss / (2 * sigma**2)
        return means + within - 0.5 * np.log(n)

    def observation_dist(self, theta, stats_, new):
        sigma = self.columns(theta)[1]
        mean, var = self.posterior_moments(theta, stats_)
        return Normal(mean, np.sqrt(var + sigma**2))
