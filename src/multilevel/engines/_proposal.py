r"""The independence proposal of the exact engine: a multivariate t with a defensive part.

The collapsed posterior (population coefficients, SDs, correlations, σ; unconstrained) is
nearly Gaussian in its bulk, but an SD that the data cannot tell from zero has a long left
tail in ``log sd``: the likelihood flattens as the SD shrinks, so the density there falls
only like :math:`e^{\log sd}`, and the correlations involving that SD spread out to their
prior (a funnel). A multivariate t fitted at the mode misses that tail, and an independence
sampler sticks wherever the target outweighs the proposal. So the proposal is the mixture

.. math:: q(x) = (1 - \alpha)\, t_5(x \mid m, S) + \alpha \prod_j q_j(x_j)

whose defensive product (Hesterberg 1995, "Weighted average importance sampling and
defensive mixture distributions") has tails as heavy as the target's in every coordinate:

- a log SD: the log of a half-Cauchy at the fitted centre, density
  :math:`\operatorname{sech}(x - m_j)/\pi` — tails :math:`e^{-|x - m_j|}`, the rate of an SD
  whose posterior density stays positive at zero;
- a correlation coordinate (``tanh`` of a partial correlation): uniform partial correlation,
  density :math:`\operatorname{sech}^2(x)/2` — the LKJ(1) prior's tails;
- anything else: a univariate t with 5 degrees of freedom and 1.5 times the fitted marginal
  scale.

So the importance weights :math:`p/q` stay bounded in those tails, and the chains do not stick.
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["OTHER", "SCALE", "CORRELATION", "Proposal"]

OTHER, SCALE, CORRELATION = 0, 1, 2  # kinds of unconstrained coordinates
_NU = 5.0  # degrees of freedom of the t parts
_DEFENSIVE = 0.3  # weight of the defensive product while the proposal is refined
_WEIGHTS = (0.05, 0.1, 0.2, 0.3)  # weights it may keep afterwards (see choose_weight)
_WIDER = 1.5  # the defensive t's scale, relative to the fitted marginal SDs


class Proposal:
    """The mixture :math:`(1 - \\alpha) t_5(m, S) + \\alpha \\prod_j q_j` (see module doc).

    Parameters
    ----------
    centre : ndarray, shape (dim,)
    factor : ndarray, shape (dim, dim)
        Lower Cholesky factor of the t part's scale matrix ``S``.
    kinds : ndarray of int, shape (dim,)
        ``OTHER``, ``SCALE`` (a log SD) or ``CORRELATION`` for each coordinate.
    defensive : float
        The weight :math:`\\alpha` of the defensive product.

    Examples
    --------
    >>> import numpy as np
    >>> q = Proposal(np.zeros(2), np.eye(2), np.array([OTHER, SCALE]))
    >>> x = q.sample(np.random.default_rng(0), 5)
    >>> q.log_density(x).shape
    (5,)
    """

    def __init__(self, centre, factor, kinds, defensive: float = _DEFENSIVE):
        self.centre = np.asarray(centre, dtype=float)
        self.factor = np.asarray(factor, dtype=float)
        self.kinds = np.asarray(kinds)
        self.defensive = float(defensive)
        self.scales = _WIDER * np.sqrt(np.sum(self.factor**2, axis=1))

    def refit(self, x, weights) -> Proposal:
        """The proposal with the weighted mean and covariance of ``x`` (importance weights
        summing to one)."""
        centre = weights @ x
        spread = (x - centre).T @ ((x - centre) * weights[:, None])
        factor = np.linalg.cholesky(spread + 1e-10 * np.eye(len(centre)))
        return Proposal(centre, factor, self.kinds, self.defensive)

    def choose_weight(self, x, log_p, log_q) -> Proposal:
        """This proposal with the defensive weight in ``_WEIGHTS`` that minimizes the
        importance estimate of :math:`\\int p^2 / q` (the chi-square divergence plus one,
        which sets both the importance sampling efficiency and how long an independence
        chain sticks), from draws ``x`` of a proposal with log density ``log_q`` and the
        target's log density ``log_p`` there. A well-fitted t part keeps little weight on
        the defensive product; a posterior with a long tail keeps more."""
        log_w = np.where(np.isfinite(log_p), log_p - log_q, -np.inf)
        log_w -= special.logsumexp(log_w)
        log_t, log_product = self._log_parts(x)
        scores = [
            special.logsumexp(log_w + log_p - self._mix(log_t, log_product, a)) for a in _WEIGHTS
        ]
        best = _WEIGHTS[int(np.nanargmin(scores))] if np.any(np.isfinite(scores)) else _DEFENSIVE
        return Proposal(self.centre, self.factor, self.kinds, best)

    def sample(self, rng, size: int) -> np.ndarray:
        dim = self.centre.size
        z = rng.standard_normal((size, dim)) / np.sqrt(rng.chisquare(_NU, size) / _NU)[:, None]
        x = self.centre + z @ self.factor.T
        defensive = np.flatnonzero(rng.uniform(size=size) < self.defensive)
        u = rng.uniform(size=(defensive.size, dim))
        for j, kind in enumerate(self.kinds):
            if kind == SCALE:  # log |Cauchy|
                values = self.centre[j] + np.log(np.tan(0.5 * np.pi * u[:, j]))
            elif kind == CORRELATION:
                values = np.arctanh(2.0 * u[:, j] - 1.0)
            else:
                values = self.centre[j] + self.scales[j] * special.stdtrit(_NU, u[:, j])
            x[defensive, j] = values
        return x

    def log_density(self, x) -> np.ndarray:
        """Normalized log density at the rows of ``x``."""
        return self._mix(*self._log_parts(x), self.defensive)

    @staticmethod
    def _mix(log_t, log_product, defensive):
        return np.logaddexp(np.log1p(-defensive) + log_t, np.log(defensive) + log_product)

    def _log_parts(self, x):
        """Log densities of the t part and of the defensive product at the rows of ``x``."""
        dim = self.centre.size
        solved = np.linalg.solve(self.factor, (x - self.centre).T).T
        log_t = (
            _log_t_constant(_NU, dim)
            - np.sum(np.log(np.diag(self.factor)))
            - 0.5 * (_NU + dim) * np.log1p(np.sum(solved**2, axis=1) / _NU)
        )
        log_product = np.zeros(len(x))
        for j, kind in enumerate(self.kinds):
            v = x[:, j] - self.centre[j] if kind != CORRELATION else x[:, j]
            if kind == SCALE:
                log_product += -np.log(np.pi) - _log_cosh(v)
            elif kind == CORRELATION:
                log_product += -np.log(2.0) - 2.0 * _log_cosh(v)
            else:
                s = self.scales[j]
                log_t1 = -0.5 * (_NU + 1) * np.log1p((v / s) ** 2 / _NU)
                log_product += _log_t_constant(_NU, 1) - np.log(s) + log_t1
        return log_t, log_product


def _log_t_constant(nu: float, dim: int) -> float:
    return float(
        special.gammaln(0.5 * (nu + dim))
        - special.gammaln(0.5 * nu)
        - 0.5 * dim * np.log(nu * np.pi)
    )


def _log_cosh(v):
    """``log(cosh(v))`` without overflow."""
    a = np.abs(v)
    return a + np.log1p(np.exp(-2.0 * a)) - np.log(2.0)
