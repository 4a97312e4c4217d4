"""Log densities and log survival functions of the priors, in closed form with
scipy.special: what :meth:`Prior.logpdf <multilevel.spec.priors.Prior.logpdf>` evaluates
hundreds of times in an exact fit, without importing scipy.stats (half a second of a
command-line run; docs/decisions.md). The tests compare every one with scipy.stats.

>>> import numpy as np
>>> round(float(log_density("normal", (0.0, 1.0), np.array(0.0))), 6)  # -log(sqrt(2 pi))
-0.918939
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["log_density", "log_survival"]

_LOG_2PI = float(np.log(2 * np.pi))


def _positive(x, values):
    """``values`` where ``x > 0``, else ``-inf`` (without warnings from the other side)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, values, -np.inf)


def log_density(dist: str, params: tuple[float, ...], x: np.ndarray) -> np.ndarray:
    """The log density of ``dist(*params)`` (Stan's parameterisation) at ``x``."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if dist == "normal":
            mu, sigma = params
            z = (x - mu) / sigma
            return -0.5 * z * z - np.log(sigma) - 0.5 * _LOG_2PI
        if dist == "student_t":
            nu, mu, sigma = params
            z = (x - mu) / sigma
            const = (
                special.gammaln((nu + 1) / 2)
                - special.gammaln(nu / 2)
                - 0.5 * np.log(nu * np.pi)
                - np.log(sigma)
            )
            return const - (nu + 1) / 2 * np.log1p(z * z / nu)
        if dist == "cauchy":
            mu, sigma = params
            z = (x - mu) / sigma
            return -np.log(np.pi * sigma) - np.log1p(z * z)
        if dist == "logistic":
            mu, sigma = params
            z = np.abs((x - mu) / sigma)
            return -z - 2 * np.log1p(np.exp(-z)) - np.log(sigma)
        if dist == "exponential":
            (rate,) = params
            return np.where(x >= 0, np.log(rate) - rate * x, -np.inf)
        if dist == "gamma":
            shape, rate = params
            inside = shape * np.log(rate) - special.gammaln(shape) - rate * x
            inside = inside + special.xlogy(shape - 1, x)
            return np.where(x >= 0, inside, -np.inf)
        if dist == "inv_gamma":
            shape, scale = params
            inside = shape * np.log(scale) - special.gammaln(shape)
            return _positive(x, inside - (shape + 1) * np.log(x) - scale / x)
        if dist == "lognormal":
            mu, sigma = params
            z = (np.log(x) - mu) / sigma
            return _positive(x, -0.5 * z * z - np.log(sigma * x) - 0.5 * _LOG_2PI)
        if dist == "uniform":
            lower, upper = params
            return np.where((x >= lower) & (x <= upper), -np.log(upper - lower), -np.inf)
        if dist == "beta":
            a, b = params
            inside = special.xlogy(a - 1, x) + special.xlog1py(b - 1, -x) - special.betaln(a, b)
            return np.where((x >= 0) & (x <= 1), inside, -np.inf)
    raise KeyError(dist)


def log_survival(dist: str, params: tuple[float, ...], at: float) -> float:
    """``log P(X > at)`` for ``X ~ dist(*params)``: the normalising constant of a prior
    truncated below at ``at``."""
    with np.errstate(divide="ignore"):
        if dist == "normal":
            mu, sigma = params
            return float(special.log_ndtr(-(at - mu) / sigma))
        if dist == "student_t":
            nu, mu, sigma = params
            return float(np.log(special.stdtr(nu, -(at - mu) / sigma)))
        if dist == "cauchy":
            mu, sigma = params
            return float(np.log(0.5 - np.arctan((at - mu) / sigma) / np.pi))
        if dist == "logistic":
            mu, sigma = params
            return float(-np.logaddexp(0.0, (at - mu) / sigma))
        if at <= 0 and dist in ("exponential", "gamma", "inv_gamma", "lognormal"):
            return 0.0
        if dist == "exponential":
            (rate,) = params
            return float(-rate * at)
        if dist == "gamma":
            shape, rate = params
            return float(np.log(special.gammaincc(shape, rate * at)))
        if dist == "inv_gamma":
            shape, scale = params
            return float(np.log(special.gammainc(shape, scale / at)))
        if dist == "lognormal":
            mu, sigma = params
            return float(special.log_ndtr(-(np.log(at) - mu) / sigma))
        if dist == "uniform":
            lower, upper = params
            return float(np.log((upper - np.clip(at, lower, upper)) / (upper - lower)))
        if dist == "beta":
            a, b = params
            return float(np.log(special.betaincc(a, b, np.clip(at, 0.0, 1.0))))
    raise KeyError(dist)
