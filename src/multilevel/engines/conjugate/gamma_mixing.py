"""Chains whose group rates have a Gamma(alpha, beta) mixing distribution.

Both the Poisson chain (counts y_i with exposure E_i) and the gamma chain (measurements with
known shape) have a likelihood in the group rate lambda_i of the form
lambda^a_i exp(-lambda b_i), so

    lambda_i | data ~ Gamma(alpha + a_i, beta + b_i)        (shape, rate)
    log m_i = alpha log beta - lgamma(alpha) + lgamma(alpha + a_i)
              - (alpha + a_i) log(beta + b_i) + c_i
            = log_rising(alpha, a_i) - alpha log1p(b_i / beta) - a_i log(beta + b_i) + c_i,

the second form being the one computed: it stays accurate as alpha, beta -> infinity (no
between-group variation), where the first cancels terms of size 1e19 at 10^7 groups.

Summed over groups, the terms in ``a`` need only its histogram and the terms in ``log(beta +
b)`` are computed once per distinct ``beta`` of the grid (``beta`` is the first grid axis).
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, gammaln

from multilevel.engines.conjugate._dists import Gamma
from multilevel.engines.conjugate._moments import between_variance, grouped_sums, row_chunks
from multilevel.engines.conjugate.base import Chain

__all__ = ["GammaMixingChain"]


def _log_rising(alpha, a):
    """log Gamma(alpha + a) - log Gamma(alpha), accurate for huge alpha (0 where a = 0).

    Written as gammaln(a) - betaln(alpha, a): the difference of two gammaln values near
    1e12 loses every digit when summed over millions of groups.
    """
    a = np.broadcast_to(a, np.broadcast_shapes(np.shape(alpha), np.shape(a)))
    safe = np.where(a > 0, a, 1.0)
    return np.where(a > 0, gammaln(safe) - betaln(alpha, safe), 0.0)


class GammaMixingChain(Chain):
    """Shared math; subclasses name the statistics ``a`` (shape gain) and ``b`` (rate gain)."""

    hyper_names = ("beta", "alpha")
    display_order = ("alpha", "beta")
    costly_axes = 1
    positive = (True, True)
    boundary_directions = {"alpha, beta -> infinity (no between-group variation)": (1.0, 1.0)}
    parameter = "rate"
    a_stat = ""
    b_stat = ""

    def __init__(self, stats_):
        super().__init__(stats_)
        a, b = self._ab(stats_)
        self._hist_a = grouped_sums(a)[:2]
        self._b_values, self._b_counts, (self._a_per_b,) = grouped_sums(b, a)
        self._const = float(np.sum(self._constant(stats_)))

    def _ab(self, stats_):
        return stats_[self.a_stat], stats_[self.b_stat]

    def _constant(self, stats_):
        raise NotImplementedError

    def _initial(self):
        a, b = self._ab(self.stats)
        mean = a.sum() / b.sum()
        _, between = between_variance(a / b, b, mean / b)
        shape = float(np.clip(mean**2 / between, 1e-2, 1e6))
        return np.array([shape / mean, shape])

    def default_priors(self):
        rate, shape = self.initial()
        return {
            "alpha": f"lognormal({np.log(shape):.3g}, 2.5)",
            "beta": f"lognormal({np.log(rate):.3g}, 2.5)",
        }

    def log_marginal_total(self, theta):
        theta = np.atleast_2d(theta)
        beta, alpha = theta[:, 0], theta[:, 1]
        distinct, where = np.unique(beta, return_inverse=True)
        sum_log1p, sum_a_log = np.empty(len(distinct)), np.empty(len(distinct))
        for rows in row_chunks(len(distinct), len(self._b_values)):
            b = self._b_values[None, :]
            ratio = b / distinct[rows, None]
            sum_log1p[rows] = np.log1p(ratio) @ self._b_counts
            sum_a_log[rows] = np.log(distinct[rows, None] + b) @ self._a_per_b
        values, counts = self._hist_a
        rising = _log_rising(alpha[:, None], values[None, :]) @ counts
        return rising - alpha * sum_log1p[where] - sum_a_log[where] + self._const

    def log_marginal(self, theta, stats_):
        beta, alpha = self.columns(theta)
        a, b = (x[None, :] for x in self._ab(stats_))
        return (
            _log_rising(alpha, a)
            - alpha * np.log1p(b / beta)
            - a * np.log(beta + b)
            + self._constant(stats_)[None, :]
        )

    def prior_dist(self, theta):
        beta, alpha = self.columns(theta)
        return Gamma(alpha, beta)

    def posterior_dist(self, theta, stats_):
        beta, alpha = self.columns(theta)
        a, b = (x[None, :] for x in self._ab(stats_))
        return Gamma(alpha + a, beta + b)

    def posterior_moments(self, theta, stats_):
        beta, alpha = self.columns(theta)
        a, b = (x[None, :] for x in self._ab(stats_))
        shape, rate = alpha + a, beta + b
        return shape / rate, shape / rate**2

    def moment_matched(self, mean, var):
        return Gamma(mean**2 / var, mean / var)

    def shrinkage(self, theta, stats_):
        beta, _ = self.columns(theta)
        return beta / (beta + self._ab(stats_)[1][None, :])

    def own_estimate(self, stats_):
        a, b = self._ab(stats_)
        return a / b
