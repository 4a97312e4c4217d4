"""Gamma-gamma chain: gamma measurements with known shape, per-group rate.

y_ij ~ Gamma(k_ij, lambda_i) (shape, rate) with k known; lambda_i ~ Gamma(alpha, beta). With
K_i = sum_j k_ij and S_i = sum_j y_ij, lambda_i | data ~ Gamma(alpha + K_i, beta + S_i). The
group mean S_i / n_i given the hyperparameters only is a scaled beta-prime variable:
S_i ~ beta * BetaPrime(K_i, alpha). A group's mean measurement is k / lambda_i.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from multilevel.engines.conjugate.gamma_mixing import GammaMixingChain
from multilevel.spec.conjugate import GroupStats

__all__ = ["GammaGammaChain"]


class GammaGammaChain(GammaMixingChain):
    a_stat = "shape_total"
    b_stat = "total"
    own_estimate_label = "total shape / sum of measurements"

    new_group_sizes = (("n", "shape"), {})

    def empty_group(self, sizes):
        n = np.atleast_1d(sizes["n"])
        return GroupStats({"shape_total": n * sizes["shape"], "total": np.ones(1), "n": n})

    def observation_defaults(self, stats_):
        return {"shape": stats_["shape_total"] / stats_["n"]}

    def _constant(self, stats_):
        k, s = stats_["shape_total"], stats_["total"]
        return (k - 1) * np.log(s) - gammaln(k)

    def summary(self, stats_):
        return stats_["total"] / stats_["n"]

    def summary_dist(self, theta, stats_):
        from scipy import stats  # (slow to import: only when used)

        beta, alpha = self.columns(theta)
        k, n = stats_["shape_total"][None, :], stats_["n"][None, :]
        return stats.betaprime(k, alpha, scale=beta / n)

    def log_marginal(self, theta, stats_):
        # density of the group mean S/n rather than of S: subtract log(1/n)
        return super().log_marginal(theta, stats_) + np.log(stats_["n"])[None, :]

    def log_marginal_total(self, theta):
        return super().log_marginal_total(theta) + float(np.sum(np.log(self.stats["n"])))

    def observation_dist(self, theta, stats_, new):
        from scipy import stats  # (slow to import: only when used)

        beta, alpha = self.columns(theta)
        k, s = stats_["shape_total"][None, :], stats_["total"][None, :]
        return stats.betaprime(np.asarray(new["shape"])[None, :], alpha + k, scale=beta + s)
