"""Beta-binomial chain: successes s_i of n_i trials, p_i ~ Beta(alpha, beta).

Math
----
p_i | s_i, n_i, alpha, beta ~ Beta(alpha + s_i, beta + n_i - s_i), and the marginal
likelihood of a group is the beta-binomial pmf

    log m_i = log C(n_i, s_i) + betaln(alpha + s_i, beta + n_i - s_i) - betaln(alpha, beta).

Its sum over groups only needs the histograms of s, n - s and n, so a grid evaluation costs
(number of distinct counts) x (grid points), not groups x grid points.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, gammaln

from multilevel.engines.conjugate._dists import Beta
from multilevel.engines.conjugate._moments import between_variance, grouped_sums
from multilevel.engines.conjugate.base import Chain
from multilevel.spec.conjugate import GroupStats

__all__ = ["BetaBinomialChain"]


class BetaBinomialChain(Chain):
    hyper_names = ("alpha", "beta")
    positive = (True, True)
    boundary_directions = {"alpha, beta -> infinity (no between-group variation)": (1.0, 1.0)}
    parameter = "p"
    own_estimate_label = "successes / trials"
    discrete_summary = True
    discrete_observation = True

    def __init__(self, stats_):
        super().__init__(stats_)
        s, n = stats_["successes"], stats_["trials"]
        self._hist_s = grouped_sums(s)[:2]
        self._hist_f = grouped_sums(n - s)[:2]
        self._hist_n = grouped_sums(n)[:2]
        # sum of log C(n_i, s_i), from the histograms
        self._const = float(
            gammaln(self._hist_n[0] + 1) @ self._hist_n[1]
            - gammaln(self._hist_s[0] + 1) @ self._hist_s[1]
            - gammaln(self._hist_f[0] + 1) @ self._hist_f[1]
        )

    def _initial(self):
        s, n = self.stats["successes"], self.stats["trials"]
        total = s.sum() / n.sum()
        m = float(np.clip(total, 0.5 / n.sum(), 1 - 0.5 / n.sum()))
        _, between = between_variance(s / n, n, m * (1 - m) / n)
        conc = float(np.clip(m * (1 - m) / between - 1, 0.5, 1e6))
        return np.array([m * conc, (1 - m) * conc])

    def default_priors(self):
        a, b = self.initial()
        return {
            "alpha": f"lognormal({np.log(a):.3g}, 2.5)",
            "beta": f"lognormal({np.log(b):.3g}, 2.5)",
        }

    def log_marginal_total(self, theta):
        a, b = self.columns(theta)
        (s, cs), (f, cf), (n, cn) = self._hist_s, self._hist_f, self._hist_n
        total = (
            gammaln(a + s[None, :]) @ cs
            + gammaln(b + f[None, :]) @ cf
            - gammaln(a + b + n[None, :]) @ cn
        )
        return total - len(self.stats) * betaln(a, b)[:, 0] + self._const

    def log_marginal(self, theta, stats_):
        from scipy import stats  # (slow to import: only when used)

        a, b = self.columns(theta)
        s, n = stats_["successes"][None, :], stats_["trials"][None, :]
        return stats.betabinom.logpmf(s, n, a, b)

    def prior_dist(self, theta):
        a, b = self.columns(theta)
        return Beta(a, b)

    def posterior_dist(self, theta, stats_):
        a, b = self.columns(theta)
        s, n = stats_["successes"][None, :], stats_["trials"][None, :]
        return Beta(a + s, b + n - s)

    def posterior_moments(self, theta, stats_):
        a, b = self.columns(theta)
        s, n = stats_["successes"][None, :], stats_["trials"][None, :]
        total = a + b + n
        mean = (a + s) / total
        return mean, mean * (1 - mean) / (total + 1)

    def summary(self, stats_):
        return stats_["successes"]

    def summary_dist(self, theta, stats_):
        from scipy import stats  # (slow to import: only when used)

        a, b = self.columns(theta)
        return stats.betabinom(stats_["trials"][None, :], a, b)

    def observation_dist(self, theta, stats_, new):
        from scipy import stats  # (slow to import: only when used)

        a, b = self.columns(theta)
        s, n = stats_["successes"][None, :], stats_["trials"][None, :]
        return stats.betabinom(np.asarray(new["trials"])[None, :], a + s, b + n - s)

    size_stat = "trials"
    new_group_sizes = (("trials",), {})

    def empty_group(self, sizes):
        return GroupStats({"successes": np.zeros(1), "trials": np.atleast_1d(sizes["trials"])})

    def observation_defaults(self, stats_):
        return {"trials": np.ones(len(stats_))}

    def moment_matched(self, mean, var):
        conc = np.maximum(mean * (1 - mean) / var - 1, 1e-12)
        return Beta(mean * conc, (1 - mean) * conc)

    def shrinkage(self, theta, stats_):
        a, b = self.columns(theta)
        return (a + b) / (a + b + stats_["trials"][None, :])

    def own_estimate(self, stats_):
        return stats_["successes"] / stats_["trials"]
