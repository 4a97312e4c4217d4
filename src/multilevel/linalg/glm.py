r"""The generalized linear model pieces that penalized iteratively reweighted least squares
needs, row by row: the mean, the score and the Fisher weight of each row's linear predictor.

For a row with linear predictor :math:`\eta`, expected response :math:`E y = m\,\mu(\eta)`
(:math:`m` the number of trials of a binomial row, else 1) and variance :math:`V`,

.. math:: s = \frac{\partial \log p(y \mid \eta)}{\partial \eta}
            = \frac{(y - E y)\, \partial E y / \partial \eta}{V}, \qquad
          w = \frac{(\partial E y / \partial \eta)^2}{V},

the score and the expected (Fisher) information, as R's ``glm`` and lme4's PIRLS use them
(for a canonical link :math:`w` is also the observed information).

Examples
--------
>>> import numpy as np
>>> from multilevel.spec.families import get_family
>>> rows = GLMRows.of(get_family("poisson"), np.array([0.0, 3.0]))
>>> s, w = rows.score_and_weight(np.log(np.array([1.0, 2.0])))
>>> s.tolist(), w.tolist()
([-1.0, 1.0], [1.0, 2.0])
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import special

from multilevel.families.catalogue import softplus
from multilevel.families.parts import log_binom

__all__ = ["GLMRows", "LINKS", "SUPPORTED_FAMILIES"]

#: Families whose group effects the Laplace engine integrates, with their links.
SUPPORTED_FAMILIES = {
    "bernoulli": ("logit", "probit", "cloglog", "cauchit"),
    "binomial": ("logit", "probit", "cloglog", "cauchit"),
    "poisson": ("log", "identity", "sqrt"),
    "negbinomial": ("log", "identity", "sqrt"),
}


def _logit(eta):
    mu = special.expit(eta)
    return mu, mu * (1.0 - mu)


def _probit(eta):
    return special.ndtr(eta), np.exp(-0.5 * eta * eta) / np.sqrt(2.0 * np.pi)


def _cloglog(eta):
    e = np.exp(np.minimum(eta, 700.0))
    return -np.expm1(-e), e * np.exp(-e)


def _cauchit(eta):
    return 0.5 + np.arctan(eta) / np.pi, 1.0 / (np.pi * (1.0 + eta * eta))


def _log(eta):
    mu = np.exp(np.minimum(eta, 700.0))
    return mu, mu


def _identity(eta):
    return eta, np.ones_like(eta)


def _sqrt(eta):
    return eta * eta, 2.0 * eta


#: link name -> function of ``eta`` giving ``(mu, d mu / d eta)``
LINKS = {
    "logit": _logit,
    "probit": _probit,
    "cloglog": _cloglog,
    "cauchit": _cauchit,
    "log": _log,
    "identity": _identity,
    "sqrt": _sqrt,
}

_TINY = 1e-300


@dataclass(frozen=True, eq=False)
class GLMRows:
    """A family, its link and the data of every row: the response, the trials (binomial) and
    the shape (negative binomial), with what PIRLS asks of them.

    Parameters
    ----------
    family : Family
    y : numpy.ndarray
        The response (successes for binomial).
    trials : numpy.ndarray or None
        Trials of each binomial row (1 for bernoulli).
    shape : float or None
        The negative binomial's shape :math:`\\phi` (``Var = mu + mu^2 / phi``).
    """

    family: object
    y: np.ndarray
    trials: np.ndarray | None = None
    shape: float | None = None

    @classmethod
    def of(cls, family, y, trials=None, shape=None) -> GLMRows:
        y = np.asarray(y, dtype=float)
        if family.name == "bernoulli":
            trials = np.ones_like(y)
        elif trials is not None:
            trials = np.asarray(trials, dtype=float)
        return cls(family, y, trials, shape)

    def with_shape(self, shape: float) -> GLMRows:
        """The same rows with another negative binomial shape."""
        return GLMRows(self.family, self.y, self.trials, float(shape))

    def _moments(self, eta):
        """``E y``, ``d E y / d eta`` and ``Var y`` of every row."""
        mu, dmu = LINKS[self.family.link](eta)
        name = self.family.name
        if name in ("bernoulli", "binomial"):
            mu = np.clip(mu, 1e-15, 1.0 - 1e-15)
            m = self.trials
            return m * mu, m * dmu, np.maximum(m * mu * (1.0 - mu), _TINY)
        mu = np.maximum(mu, _TINY)
        if name == "poisson":
            return mu, dmu, mu
        return mu, dmu, mu + mu * mu / self.shape  # negbinomial

    def mean(self, eta) -> np.ndarray:
        """The family's mean parameter ``mu`` (a probability for binomial rows)."""
        return LINKS[self.family.link](eta)[0]

    def score_and_weight(self, eta) -> tuple[np.ndarray, np.ndarray]:
        """Each row's score ``s`` and Fisher weight ``w`` at ``eta`` (module docstring)."""
        name, link = self.family.name, self.family.link
        if link == "logit" and name in ("bernoulli", "binomial"):  # canonical: fewer passes
            p = special.expit(eta)
            mp = p if name == "bernoulli" else self.trials * p
            return self.y - mp, mp * (1.0 - p)
        if link == "log" and name == "poisson":
            mu = np.exp(np.minimum(eta, 700.0))
            return self.y - mu, mu
        ey, dey, var = self._moments(eta)
        return (self.y - ey) * dey / var, dey * dey / var

    def log_density(self, eta) -> float:
        """``sum log p(y | eta)`` over the rows, with every constant (lme4's ``aic`` / -2)."""
        name, link = self.family.name, self.family.link
        if link == "logit" and name in ("bernoulli", "binomial"):  # canonical: the part that
            # depends on eta, plus the constant computed once
            m = 1.0 if name == "bernoulli" else self.trials
            return float(np.sum(self.y * eta - m * softplus(eta))) + self._constant
        if link == "log" and name == "poisson":
            mu = np.exp(np.minimum(eta, 700.0))
            return float(np.sum(self.y * eta - mu)) + self._constant
        return float(np.sum(self.log_density_rows(eta)))

    @functools.cached_property
    def _constant(self) -> float:
        """The part of the canonical-link log density that does not depend on ``eta``:
        ``sum log C(m, y)`` (binomial), ``-sum log y!`` (poisson)."""
        if self.family.name == "binomial":
            return float(np.sum(log_binom(self.trials, self.y)))
        if self.family.name == "poisson":
            return -float(np.sum(special.gammaln(self.y + 1.0)))
        return 0.0

    def log_density_rows(self, eta) -> np.ndarray:
        """``log p(y_i | eta_i)`` of every row."""
        aux = {} if self.shape is None else {"shape": self.shape}
        trials = self.trials if self.family.name == "binomial" else None
        return self.family.log_likelihood_eta(self.y, eta, aux, trials=trials)
