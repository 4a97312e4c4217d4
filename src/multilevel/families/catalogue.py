r"""The families: one :class:`~multilevel.families.record.FamilyRecord` each, in :data:`RECORDS`.

To add a family, write its functions and record here and append it to :data:`RECORDS`
(``tests/families/`` then checks that it has every piece and that they agree).

Parameterisations (brms's, ``vignette("brms_families")``), with :math:`\mu` the mean parameter
on the response scale, :math:`\mu = g^{-1}(\eta)`:

==============  ======================  ===========================================================
family          links of ``mu``         density
==============  ======================  ===========================================================
gaussian        identity, log, inverse  :math:`N(y \mid \mu, \sigma)`
student_t       identity, log, inverse  :math:`t_\nu(y \mid \mu, \sigma)` (location, scale)
bernoulli       logit, probit, cauchit,  :math:`\mu^y (1-\mu)^{1-y}`
                cloglog
binomial        same as bernoulli       :math:`\binom{n}{y} \mu^y (1-\mu)^{n-y}`, ``n = trials``
poisson         log, identity, sqrt     :math:`\mu^y e^{-\mu} / y!`
negbinomial     log, identity, sqrt     :math:`\binom{y+\phi-1}{y} (\frac{\mu}{\mu+\phi})^y
                                        (\frac{\phi}{\mu+\phi})^\phi` with ``shape`` :math:`\phi`:
                                        :math:`E = \mu`, :math:`Var = \mu + \mu^2/\phi`
gamma           log, identity, inverse  :math:`\mathrm{Gamma}(y \mid \alpha, \alpha/\mu)` (shape,
                                        rate) with ``shape`` :math:`\alpha`: :math:`E = \mu`
lognormal       identity, inverse       :math:`\log y \sim N(\mu, \sigma)`: ``mu`` is the mean of
                                        :math:`\log y` (so the identity link is on the log scale)
beta            logit, probit, cauchit,  :math:`\mathrm{Beta}(y \mid \mu\phi, (1-\mu)\phi)`:
                cloglog                 mean :math:`\mu`, precision ``phi``
==============  ======================  ===========================================================

Auxiliary parameters and the links brms uses when they get their own formula:
``sigma`` (positive, log), ``nu`` (:math:`\nu > 1`, link ``logm1``: :math:`\log(\nu - 1)`),
``shape`` (positive, log), ``phi`` (positive, log). brms declares ``real<lower=1> nu``, so
``nu`` is bounded below by 1, not 0.

Examples
--------
>>> [record.name for record in RECORDS][:3]
['gaussian', 'student_t', 'bernoulli']
"""

from __future__ import annotations

import numpy as np
from scipy import special

from multilevel.families.parts import (
    BINARY,
    BINARY_LINKS,
    BOUNDED_COUNT,
    COUNT,
    EPS,
    FINITE_MEAN,
    NON_NEGATIVE_MEAN,
    NU,
    OPEN_UNIT_MEAN,
    PHI,
    POSITIVE,
    POSITIVE_MEAN,
    PROBABILITY_MEAN,
    REAL,
    SHAPE,
    SIGMA,
    UNIT_INTERVAL,
    log_binom,
)
from multilevel.families.record import FamilyRecord

__all__ = ["RECORDS", "softplus"]

_LOG_2PI = np.log(2 * np.pi)


# -- gaussian ---------------------------------------------------------------------------------


def _gaussian_density(y, mu, a, trials):
    s = a["sigma"]
    return -0.5 * ((y - mu) / s) ** 2 - np.log(s) - 0.5 * _LOG_2PI


def _gaussian_draw(rng, mu, a, trials, shape):
    return rng.normal(mu, a["sigma"], size=shape)


def _gaussian_likelihood(mu, a, trials):
    from numpyro import distributions as dist

    return dist.Normal(mu, a["sigma"])


GAUSSIAN = FamilyRecord(
    name="gaussian",
    aliases=("normal",),
    links=("identity", "log", "inverse"),
    aux=(SIGMA,),
    response=REAL,
    mean_support=FINITE_MEAN,
    log_density=_gaussian_density,
    draw=_gaussian_draw,
    likelihood=_gaussian_likelihood,
    additions=("se",),
    scale_b_prior=True,
)


# -- student_t --------------------------------------------------------------------------------


def _student_t_density(y, mu, a, trials):
    nu, s = a["nu"], a["sigma"]
    z = (y - mu) / s
    return (
        special.gammaln((nu + 1) / 2)
        - special.gammaln(nu / 2)
        - 0.5 * np.log(nu * np.pi)
        - np.log(s)
        - (nu + 1) / 2 * np.log1p(z**2 / nu)
    )


def _student_t_draw(rng, mu, a, trials, shape):
    return mu + a["sigma"] * rng.standard_t(np.broadcast_to(a["nu"], shape), size=shape)


def _student_t_likelihood(mu, a, trials):
    from numpyro import distributions as dist

    return dist.StudentT(a["nu"], mu, a["sigma"])


STUDENT_T = FamilyRecord(
    name="student_t",
    aliases=("student", "studentt", "t"),
    links=("identity", "log", "inverse"),
    aux=(NU, SIGMA),
    response=REAL,
    mean_support=FINITE_MEAN,
    log_density=_student_t_density,
    draw=_student_t_draw,
    likelihood=_student_t_likelihood,
    additions=("se",),
    scale_b_prior=True,
)


# -- bernoulli --------------------------------------------------------------------------------


def softplus(eta):
    """``log(1 + exp(eta))``, finite for any finite ``eta`` (as ``np.logaddexp(0, eta)``, in a
    fifth of its time: the Laplace engine evaluates it millions of times)."""
    eta = np.asarray(eta, dtype=float)
    return np.log1p(np.exp(-np.abs(eta))) + np.maximum(eta, 0.0)


def _bernoulli_density(y, mu, a, trials):
    return special.xlogy(y, mu) + special.xlog1py(1 - y, -mu)


def _bernoulli_logit_density(y, eta, a, trials):
    # y*log(p) + (1-y)*log(1-p) = y*eta - log(1 + exp(eta)): finite for any finite eta
    return y * eta - softplus(eta)


def _bernoulli_draw(rng, mu, a, trials, shape):
    return rng.binomial(1, mu, size=shape)


def _bernoulli_likelihood(mu, a, trials):
    import jax.numpy as jnp
    from numpyro import distributions as dist

    return dist.Bernoulli(probs=jnp.clip(mu, EPS, 1 - EPS))


def _bernoulli_logit_likelihood(eta, a, trials):
    from numpyro import distributions as dist

    return dist.BernoulliLogits(eta)


BERNOULLI = FamilyRecord(
    name="bernoulli",
    links=BINARY_LINKS,
    aux=(),
    response=BINARY,
    mean_support=PROBABILITY_MEAN,
    log_density=_bernoulli_density,
    draw=_bernoulli_draw,
    likelihood=_bernoulli_likelihood,
    log_density_eta={"logit": _bernoulli_logit_density},
    likelihood_eta={"logit": _bernoulli_logit_likelihood},
)


# -- binomial ---------------------------------------------------------------------------------


def _binomial_density(y, mu, a, trials):
    n = np.asarray(trials, dtype=float)
    return log_binom(n, y) + special.xlogy(y, mu) + special.xlog1py(n - y, -mu)


def _binomial_logit_density(y, eta, a, trials):
    n = np.asarray(trials, dtype=float)
    # y*log(p) + (n-y)*log(1-p) = y*eta - n*log(1 + exp(eta))
    return y * eta - n * softplus(eta) + log_binom(n, y)


def _binomial_draw(rng, mu, a, trials, shape):
    return rng.binomial(np.asarray(trials).astype(np.int64), mu, size=shape)


def _binomial_mean(mu, a, trials):
    return np.asarray(trials, dtype=float) * mu


def _binomial_likelihood(mu, a, trials):
    import jax.numpy as jnp
    from numpyro import distributions as dist

    return dist.Binomial(total_count=trials, probs=jnp.clip(mu, EPS, 1 - EPS))


def _binomial_logit_likelihood(eta, a, trials):
    from numpyro import distributions as dist

    return dist.BinomialLogits(eta, total_count=trials)


BINOMIAL = FamilyRecord(
    name="binomial",
    links=BINARY_LINKS,
    aux=(),
    response=BOUNDED_COUNT,
    mean_support=PROBABILITY_MEAN,
    log_density=_binomial_density,
    draw=_binomial_draw,
    likelihood=_binomial_likelihood,
    additions=("trials",),
    log_density_eta={"logit": _binomial_logit_density},
    likelihood_eta={"logit": _binomial_logit_likelihood},
    expectation=_binomial_mean,
)


# -- poisson ----------------------------------------------------------------------------------


def _poisson_density(y, mu, a, trials):
    return special.xlogy(y, mu) - mu - special.gammaln(y + 1)


def _poisson_draw(rng, mu, a, trials, shape):
    return rng.poisson(mu, size=shape)


def _poisson_likelihood(mu, a, trials):
    from numpyro import distributions as dist

    return dist.Poisson(mu)


POISSON = FamilyRecord(
    name="poisson",
    links=("log", "identity", "sqrt"),
    aux=(),
    response=COUNT,
    mean_support=NON_NEGATIVE_MEAN,
    log_density=_poisson_density,
    draw=_poisson_draw,
    likelihood=_poisson_likelihood,
)


# -- negbinomial ------------------------------------------------------------------------------


def _negbinomial_density(y, mu, a, trials):
    phi = a["shape"]
    return (
        special.gammaln(y + phi)
        - special.gammaln(phi)
        - special.gammaln(y + 1)
        + phi * (np.log(phi) - np.log(phi + mu))
        + special.xlogy(y, mu)
        - y * np.log(phi + mu)
    )


def _negbinomial_draw(rng, mu, a, trials, shape):
    rate = rng.gamma(a["shape"], mu / a["shape"], size=shape)  # gamma-Poisson mixture
    return rng.poisson(rate)


def _negbinomial_likelihood(mu, a, trials):
    from numpyro import distributions as dist

    return dist.NegativeBinomial2(mu, a["shape"])


NEGBINOMIAL = FamilyRecord(
    name="negbinomial",
    aliases=("negative_binomial", "neg_binomial_2", "neg_binomial", "nbinom"),
    links=("log", "identity", "sqrt"),
    aux=(SHAPE,),
    response=COUNT,
    mean_support=NON_NEGATIVE_MEAN,
    log_density=_negbinomial_density,
    draw=_negbinomial_draw,
    likelihood=_negbinomial_likelihood,
)


# -- gamma ------------------------------------------------------------------------------------


def _gamma_density(y, mu, a, trials):
    alpha = a["shape"]
    rate = alpha / mu
    return alpha * np.log(rate) - special.gammaln(alpha) + (alpha - 1) * np.log(y) - rate * y


def _gamma_draw(rng, mu, a, trials, shape):
    return rng.gamma(a["shape"], mu / a["shape"], size=shape)


def _gamma_likelihood(mu, a, trials):
    from numpyro import distributions as dist

    return dist.Gamma(a["shape"], a["shape"] / mu)


GAMMA = FamilyRecord(
    name="gamma",
    links=("log", "identity", "inverse"),
    aux=(SHAPE,),
    response=POSITIVE,
    mean_support=POSITIVE_MEAN,
    log_density=_gamma_density,
    draw=_gamma_draw,
    likelihood=_gamma_likelihood,
)


# -- lognormal --------------------------------------------------------------------------------


def _lognormal_density(y, mu, a, trials):
    s = a["sigma"]
    ly = np.log(y)
    return -0.5 * ((ly - mu) / s) ** 2 - np.log(s) - 0.5 * _LOG_2PI - ly


def _lognormal_draw(rng, mu, a, trials, shape):
    return np.exp(rng.normal(mu, a["sigma"], size=shape))


def _lognormal_mean(mu, a, trials):
    return np.exp(mu + a["sigma"] ** 2 / 2)


def _lognormal_likelihood(mu, a, trials):
    from numpyro import distributions as dist

    return dist.LogNormal(mu, a["sigma"])


LOGNORMAL = FamilyRecord(
    name="lognormal",
    links=("identity", "inverse"),
    aux=(SIGMA,),
    response=POSITIVE,
    mean_support=FINITE_MEAN,
    log_density=_lognormal_density,
    draw=_lognormal_draw,
    likelihood=_lognormal_likelihood,
    expectation=_lognormal_mean,
    response_link="log",
    scale_b_prior=True,
)


# -- beta -------------------------------------------------------------------------------------


def _beta_density(y, mu, a, trials):
    phi = a["phi"]
    p, q = mu * phi, (1 - mu) * phi
    return special.xlogy(p - 1, y) + special.xlog1py(q - 1, -y) - special.betaln(p, q)


def _beta_draw(rng, mu, a, trials, shape):
    return rng.beta(mu * a["phi"], (1 - mu) * a["phi"], size=shape)


def _beta_likelihood(mu, a, trials):
    import jax.numpy as jnp
    from numpyro import distributions as dist

    mu = jnp.clip(mu, EPS, 1 - EPS)
    return dist.Beta(mu * a["phi"], (1 - mu) * a["phi"])


def _beta_logit_likelihood(eta, a, trials):
    import jax
    import jax.numpy as jnp
    from numpyro import distributions as dist

    # 1 - mu as sigmoid(-eta): exact in single precision where mu rounds to 1
    phi = a["phi"]
    return dist.Beta(
        jnp.clip(jax.nn.sigmoid(eta), EPS) * phi, jnp.clip(jax.nn.sigmoid(-eta), EPS) * phi
    )


BETA = FamilyRecord(
    name="beta",
    links=BINARY_LINKS,
    aux=(PHI,),
    response=UNIT_INTERVAL,
    mean_support=OPEN_UNIT_MEAN,
    log_density=_beta_density,
    draw=_beta_draw,
    likelihood=_beta_likelihood,
    likelihood_eta={"logit": _beta_logit_likelihood},
)


#: Every family, in the order messages list them.
RECORDS: tuple[FamilyRecord, ...] = (
    GAUSSIAN,
    STUDENT_T,
    BERNOULLI,
    BINOMIAL,
    POISSON,
    NEGBINOMIAL,
    GAMMA,
    LOGNORMAL,
    BETA,
)
