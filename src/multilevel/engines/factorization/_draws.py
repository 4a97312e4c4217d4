"""The kept draws of a Gibbs fit, written in place as the chains run (:class:`DrawStore`)."""

from __future__ import annotations

import numpy as np
from scipy import special

from multilevel.naming import factor_cov_key, factor_key

__all__ = ["DrawStore"]


class DrawStore:
    """Preallocated ``(chains, kept, ...)`` arrays under the posterior's keys."""

    def __init__(self, problem, chains: int, kept: int, *, log_likelihood: bool):
        self._problem = problem
        names = problem.names
        shape = (chains, kept)
        scalar_names = (
            *names.b,
            *names.sd,
            *(("sigma",) if names.sigma else ()),
            *names.noise_b,
            *names.noise_sd,
            *names.factor_sd,
            *names.reported,
        )
        self._scalars = {name: np.empty(shape) for name in scalar_names}
        self._levels = {
            key: np.empty(shape + (n, 1), dtype=np.float32)
            for key, n in zip(names.effects, problem.block_levels, strict=True)
        }
        if problem.noise is not None:
            for key, n in zip(names.noise_effects, problem.noise.block_levels, strict=True):
                self._levels[key] = np.empty(shape + (n, 1), dtype=np.float32)
        k = problem.k
        for s in problem.sets:
            self._levels[factor_key(s.name)] = np.empty(shape + (s.n_levels, k), np.float32)
            self._levels[factor_cov_key(s.name)] = np.empty(shape + (k, k))
        self.log_likelihood = (
            np.empty(shape + (problem.n,), dtype=np.float32) if log_likelihood else None
        )
        #: the sampler statistic: the data's log-likelihood at each kept sweep
        self.log_likelihood_sum = np.empty(shape)

    def keep(self, chain: int, draw: int, state) -> None:
        """Write the state's values as draw ``draw`` of chain ``chain``."""
        problem = self._problem
        names = problem.names
        at = (chain, draw)
        beta = state.beta
        b = beta.copy()
        if b.size:
            b[0] -= problem.centre @ beta
        for name, value in zip(names.b, b, strict=True):
            self._scalars[name][at] = value
        for sd_name, key, sd, effects in zip(
            names.sd, names.effects, state.sd, state.effects, strict=True
        ):
            self._scalars[sd_name][at] = sd
            self._levels[key][at] = effects[:, None]
        noise = state.noise
        if problem.binary:
            pass
        elif noise is None:
            self._scalars["sigma"][at] = state.sigma
        else:
            for name, value in zip(names.noise_b, noise.beta, strict=True):
                self._scalars[name][at] = value
            for sd_name, key, sd, effects in zip(
                names.noise_sd, names.noise_effects, noise.sd, noise.effects, strict=True
            ):
                self._scalars[sd_name][at] = sd
                self._levels[key][at] = effects[:, None]
        traces = []
        for s, name, factors, precision in zip(
            problem.sets, names.factor_sd, state.factors, state.precision, strict=True
        ):
            cov = np.linalg.inv(precision)
            traces.append(np.trace(cov))
            self._scalars[name][at] = np.sqrt(traces[-1] / problem.k)
            self._levels[factor_key(s.name)][at] = factors
            self._levels[factor_cov_key(s.name)][at] = cov
        self._scalars["sd_factors"][at] = np.std(state.factor_part)
        for name, g, child in names.shares:
            self._scalars[name][at] = traces[g] / (traces[g] + traces[child])
        if problem.binary:
            eta = state.latent - state.residual
            pointwise = special.log_ndtr(np.where(problem.y > 0.5, eta, -eta))
        else:
            log_sigma = np.log(state.sigma) if noise is None else noise.eta
            z = state.residual * np.exp(-log_sigma)
            pointwise = -0.5 * z * z - log_sigma - 0.5 * np.log(2 * np.pi)
        self.log_likelihood_sum[at] = float(np.sum(pointwise))
        if self.log_likelihood is not None:
            self.log_likelihood[at] = pointwise

    def draws(self) -> dict[str, np.ndarray]:
        """Every array by key: scalars first, then the levels'."""
        return {**self._scalars, **self._levels}
