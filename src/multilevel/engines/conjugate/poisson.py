"""Gamma-Poisson chain: counts with exposure, group rates lambda_i ~ Gamma(alpha, beta).

y_ij ~ Poisson(lambda_i E_ij); the group total y_i ~ Poisson(lambda_i E_i) is sufficient, so
lambda_i | data ~ Gamma(alpha + y_i, beta + E_i) and, given the hyperparameters only, y_i is
negative binomial with size alpha and success probability beta / (beta + E_i).
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from multilevel.engines.conjugate.gamma_mixing import GammaMixingChain
from multilevel.spec.conjugate import GroupStats

__all__ = ["GammaPoissonChain"]


class GammaPoissonChain(GammaMixingChain):
    a_stat = "counts"
    b_stat = "exposure"
    own_estimate_label = "counts / exposure"
    discrete_summary = True
    discrete_observation = True

    size_stat = "exposure"
    new_group_sizes = (("exposure",), {})

    def empty_group(self, sizes):
        return GroupStats({"counts": np.zeros(1), "exposure": np.atleast_1d(sizes["exposure"])})

    def observation_defaults(self, stats_):
        return {"exposure": np.ones(len(stats_))}

    def _constant(self, stats_):
        y, e = stats_["counts"], stats_["exposure"]
        return y * np.log(e) - gammaln(y + 1)

    def summary(self, stats_):
        return stats_["counts"]

    def summary_dist(self, theta, stats_):
        from scipy import stats  # (slow to import: only when used)

        beta, alpha = self.columns(theta)
        e = stats_["exposure"][None, :]
        return stats.nbinom(alpha, beta / (beta + e))

    def observation_dist(self, theta, stats_, new):
        from scipy import stats  # (slow to import: only when used)

        beta, alpha = self.columns(theta)
        y, e = stats_["counts"][None, :], stats_["exposure"][None, :]
        rate = beta + e
        return stats.nbinom(alpha + y, rate / (rate + np.asarray(new["exposure"])[None, :]))
