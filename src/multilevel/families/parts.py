"""Pieces several family records share: supports, auxiliary parameters, link sets.

A record may use these or define its own beside it in :mod:`multilevel.families.catalogue`.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from multilevel.families.record import DATA_SCALE, Auxiliary, Support

__all__ = [
    "REAL",
    "BINARY",
    "BOUNDED_COUNT",
    "COUNT",
    "POSITIVE",
    "UNIT_INTERVAL",
    "FINITE_MEAN",
    "PROBABILITY_MEAN",
    "NON_NEGATIVE_MEAN",
    "POSITIVE_MEAN",
    "OPEN_UNIT_MEAN",
    "SIGMA",
    "NU",
    "SHAPE",
    "PHI",
    "BINARY_LINKS",
    "EPS",
    "log_binom",
]


def _integer(y):
    return y == np.floor(y)


# -- responses (every value is finite already) ------------------------------------------------

REAL = Support("real", None, None, 0.0)
BINARY = Support("binary", "0 or 1", lambda y: (y == 0) | (y == 1), 1.0, discrete=True)
#: y <= trials is checked beside this, where the trials are known
BOUNDED_COUNT = Support(
    "bounded count",
    "an integer between 0 and the number of trials",
    lambda y: _integer(y) & (y >= 0),
    1.0,
    discrete=True,
)
COUNT = Support(
    "count", "a non-negative integer", lambda y: _integer(y) & (y >= 0), 1.0, discrete=True
)
POSITIVE = Support("positive", "positive", lambda y: y > 0, 1.0)
UNIT_INTERVAL = Support(
    "unit interval", "strictly between 0 and 1", lambda y: (y > 0) & (y < 1), 0.5
)

# -- means ------------------------------------------------------------------------------------

FINITE_MEAN = Support("real", "finite", np.isfinite, 0.0)
PROBABILITY_MEAN = Support("probability", "between 0 and 1", lambda mu: (mu >= 0) & (mu <= 1), 0.5)
NON_NEGATIVE_MEAN = Support(
    "non-negative", "non-negative", lambda mu: np.isfinite(mu) & (mu >= 0), 1.0
)
POSITIVE_MEAN = Support("positive", "positive", lambda mu: np.isfinite(mu) & (mu > 0), 1.0)
OPEN_UNIT_MEAN = Support(
    "open unit interval", "strictly between 0 and 1", lambda mu: (mu > 0) & (mu < 1), 0.5
)

# -- auxiliary parameters (brms's links and default priors) -----------------------------------

SIGMA = Auxiliary("sigma", "positive", 0.0, None, "log", ("student_t", (3.0, 0.0, DATA_SCALE)))
#: brms declares ``real<lower=1> nu``
NU = Auxiliary("nu", "greater than 1", 1.0, None, "logm1", ("gamma", (2.0, 0.1)))
SHAPE = Auxiliary("shape", "positive", 0.0, None, "log", ("gamma", (0.01, 0.01)))
PHI = Auxiliary("phi", "positive", 0.0, None, "log", ("gamma", (0.01, 0.01)))

#: Links of a probability.
BINARY_LINKS = ("logit", "probit", "cauchit", "cloglog")

#: Probabilities are kept in ``[EPS, 1 - EPS]`` by the JAX likelihoods (single precision).
EPS = 1e-7


def log_binom(n, y):
    """:math:`\\log \\binom{n}{y}` (NumPy)."""
    return special.gammaln(n + 1) - special.gammaln(y + 1) - special.gammaln(n - y + 1)
