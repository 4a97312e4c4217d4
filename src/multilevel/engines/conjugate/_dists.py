"""Light continuous distributions for the conjugate posteriors.

They broadcast like scipy's frozen distributions and offer the methods the mixture code
uses (mean, var, cdf, pdf, ppf, rvs), but call scipy.special directly: scipy.stats' argument
checking dominated the time of mixture quantiles over thousands of grid points.
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["Normal", "Beta", "Gamma"]


class Normal:
    def __init__(self, mean, sd):
        self.loc, self.scale = np.asarray(mean, float), np.asarray(sd, float)

    def mean(self):
        return self.loc

    def var(self):
        return self.scale**2

    def cdf(self, x):
        return special.ndtr((x - self.loc) / self.scale)

    def logpdf(self, x):
        z = (x - self.loc) / self.scale
        return -0.5 * z**2 - np.log(self.scale) - 0.5 * np.log(2 * np.pi)

    def pdf(self, x):
        return np.exp(self.logpdf(x))

    def ppf(self, q):
        return self.loc + self.scale * special.ndtri(q)

    def rvs(self, size, random_state):
        return random_state.normal(self.loc, self.scale, size=size)


class Beta:
    def __init__(self, a, b):
        self.a, self.b = np.asarray(a, float), np.asarray(b, float)

    def mean(self):
        return self.a / (self.a + self.b)

    def var(self):
        total = self.a + self.b
        return self.a * self.b / (total**2 * (total + 1))

    def cdf(self, x):
        return special.betainc(self.a, self.b, np.clip(x, 0.0, 1.0))

    def logpdf(self, x):
        x = np.clip(x, 0.0, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            log = special.xlogy(self.a - 1, x) + special.xlog1py(self.b - 1, -x)
            return log - special.betaln(self.a, self.b)

    def pdf(self, x):
        return np.exp(self.logpdf(x))

    def ppf(self, q):
        return special.betaincinv(self.a, self.b, q)

    def rvs(self, size, random_state):
        return random_state.beta(self.a, self.b, size=size)


class Gamma:
    """Gamma with shape and rate."""

    def __init__(self, shape, rate):
        self.shape, self.rate = np.asarray(shape, float), np.asarray(rate, float)

    def mean(self):
        return self.shape / self.rate

    def var(self):
        return self.shape / self.rate**2

    def cdf(self, x):
        return special.gammainc(self.shape, np.maximum(x, 0.0) * self.rate)

    def logpdf(self, x):
        x = np.maximum(x, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (
                special.xlogy(self.shape, self.rate)
                + special.xlogy(self.shape - 1, x)
                - self.rate * x
                - special.gammaln(self.shape)
            )

    def pdf(self, x):
        return np.exp(self.logpdf(x))

    def ppf(self, q):
        return special.gammaincinv(self.shape, q) / self.rate

    def rvs(self, size, random_state):
        return random_state.gamma(self.shape, 1.0 / self.rate, size=size)
