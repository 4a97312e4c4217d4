r"""The NumPyro model of a :class:`~multilevel.spec.model.ModelSpec` (shared by NUTS and VI).

Model
-----
With :math:`\eta_i = \mathrm{offset}_i + x_i^\top b + \sum_{\text{blocks}} \sum_k w_{ik}\,
z_i^\top r_{\mathrm{index}_{ik}}` and :math:`\mu_i = g^{-1}(\eta_i)`:

- population coefficients ``b``: the intercept is sampled for the mean-centred predictors
  (:math:`\alpha_c = b_0 + \bar x^\top b`, a shear with unit Jacobian, so the posterior is the
  same) but a user's intercept prior is evaluated on ``b_Intercept`` itself, the intercept as
  written (the data-scaled default prior on :math:`\alpha_c`, as brms does);
- each parameter with a prior is an unconstrained site mapped to its support (real, above the
  prior's lower bound, or the interval of a uniform prior) plus a ``factor`` with the prior's
  log density; the normalising constant of a truncated prior is constant and left out;
- block of ``q`` coefficients on ``L`` levels (non-centred): :math:`z \sim N(0, 1)^{L \times q}`,
  :math:`r = z\,(\mathrm{diag}(sd)\,\Omega_L)^\top` with :math:`\Omega_L \sim
  \mathrm{LKJCholesky}(q, \eta)` for a correlated block, :math:`\Omega_L = I` otherwise;
- group effects enter by indexing rows into ``r`` (never a one-hot matrix);
- the likelihood is the family's, with ``sigma = se`` for ``y | se(s)`` and each row's log
  density multiplied by its ``weights()``.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.scipy import special as jsp
from numpyro.distributions import constraints

from multilevel.errors import EngineError
from multilevel.spec.defaults import intercept_location_scale
from multilevel.spec.model import ModelSpec
from multilevel.spec.priors import Prior

__all__ = ["NumpyroModel", "make_model", "prior_distribution", "FAMILIES", "LINKS"]

_EPS = 1e-7

#: Inverse links in JAX.
LINKS = {
    "identity": lambda eta: eta,
    "log": jnp.exp,
    "logit": jax.nn.sigmoid,
    "probit": jsp.ndtr,
    "cauchit": lambda eta: 0.5 + jnp.arctan(eta) / jnp.pi,
    "cloglog": lambda eta: -jnp.expm1(-jnp.exp(eta)),
    "inverse": lambda eta: 1.0 / eta,
    "sqrt": jnp.square,
}

#: Families the NumPyro model implements.
FAMILIES = (
    "gaussian",
    "student_t",
    "bernoulli",
    "binomial",
    "poisson",
    "negbinomial",
    "gamma",
    "lognormal",
    "beta",
)


def prior_distribution(prior: Prior):
    """The NumPyro distribution of a prior, without its truncation (None for ``flat``).

    Examples
    --------
    >>> from multilevel.spec.priors import parse_prior
    >>> type(prior_distribution(parse_prior("student_t(3, 0, 2.5)"))).__name__
    'StudentT'
    """
    p = prior.params
    d = prior.dist
    if d == "normal":
        return dist.Normal(p[0], p[1])
    if d == "student_t":
        return dist.StudentT(p[0], p[1], p[2])
    if d == "cauchy":
        return dist.Cauchy(p[0], p[1])
    if d == "logistic":
        return dist.Logistic(p[0], p[1])
    if d == "exponential":
        return dist.Exponential(p[0])
    if d == "gamma":
        return dist.Gamma(p[0], p[1])
    if d == "inv_gamma":
        return dist.InverseGamma(p[0], p[1])
    if d == "lognormal":
        return dist.LogNormal(p[0], p[1])
    if d == "uniform":
        return dist.Uniform(p[0], p[1])
    if d == "beta":
        return dist.Beta(p[0], p[1])
    if d == "flat":
        return None
    raise EngineError(f"the prior {prior.to_stan()!r} cannot be used on a scalar parameter")


def _support(prior: Prior):
    """The support of a parameter with this prior, as a NumPyro constraint."""
    low = prior.lower
    d = prior.dist
    if d == "uniform":
        a, b = prior.params
        return constraints.interval(max(a, low) if low is not None else a, b)
    if d == "beta":
        return constraints.unit_interval
    if d in ("exponential", "gamma", "inv_gamma", "lognormal"):
        return constraints.positive if low is None or low <= 0 else constraints.greater_than(low)
    if low is None:
        return constraints.real
    return constraints.positive if low == 0 else constraints.greater_than(low)


def _scalar(name: str, prior: Prior):
    """A scalar parameter on its prior's support, with the prior's log density added."""
    value = numpyro.sample(name, dist.ImproperUniform(_support(prior), (), ()))
    base = prior_distribution(prior)
    if base is not None:
        numpyro.factor(f"{name}__prior", base.log_prob(value))
    return value


def _likelihood(family, mu, aux, se, trials):
    """The family's observation distribution given the mean ``mu`` on the response scale."""
    name = family.name
    sigma = se if se is not None else aux.get("sigma")
    if name == "gaussian":
        return dist.Normal(mu, sigma)
    if name == "student_t":
        return dist.StudentT(aux["nu"], mu, sigma)
    if name == "lognormal":
        return dist.LogNormal(mu, sigma)
    if name == "bernoulli":
        return dist.Bernoulli(probs=jnp.clip(mu, _EPS, 1 - _EPS))
    if name == "binomial":
        return dist.Binomial(total_count=trials, probs=jnp.clip(mu, _EPS, 1 - _EPS))
    if name == "poisson":
        return dist.Poisson(mu)
    if name == "negbinomial":
        return dist.NegativeBinomial2(mu, aux["shape"])
    if name == "gamma":
        return dist.Gamma(aux["shape"], aux["shape"] / mu)
    if name == "beta":
        mu = jnp.clip(mu, _EPS, 1 - _EPS)
        return dist.Beta(mu * aux["phi"], (1 - mu) * aux["phi"])
    raise EngineError(f"the NUTS engine does not implement the {name} family")  # pragma: no cover


def _observation(family, eta, aux, se, trials):
    """Observation distribution from the linear predictor (logit links stay on that scale)."""
    if family.link == "logit" and family.name == "bernoulli":
        return dist.BernoulliLogits(eta)
    if family.link == "logit" and family.name == "binomial":
        return dist.BinomialLogits(eta, total_count=trials)
    if family.link == "log" and family.name == "poisson":
        return dist.Poisson(jnp.exp(eta))
    if family.link == "logit" and family.name == "beta":
        # 1 - mu as sigmoid(-eta): exact in single precision where mu rounds to 1
        phi = aux["phi"]
        return dist.Beta(
            jnp.clip(jax.nn.sigmoid(eta), _EPS) * phi, jnp.clip(jax.nn.sigmoid(-eta), _EPS) * phi
        )
    return _likelihood(family, LINKS[family.link](eta), aux, se, trials)


@dataclass(frozen=True, eq=False)
class NumpyroModel:
    """A NumPyro model function plus what is needed to read its draws.

    Attributes
    ----------
    model : callable
        ``model(y=None)``: the NumPyro model (``y=None`` samples the response).
    y : numpy.ndarray
        The observed response.
    init_values : dict
        Starting values for some sites (the centred intercept at the data's location).
    """

    model: object
    y: np.ndarray
    init_values: dict


def make_model(spec: ModelSpec) -> NumpyroModel:
    """Build the NumPyro model of ``spec`` (see the module docstring for the mathematics).

    Sites: ``Intercept_c`` (centred intercept), ``b_<coef>``, ``sd_...``, ``L_block<i>``,
    ``z_block<i>``, family parameters by name, and the observed ``y``; deterministic
    ``b_Intercept`` and ``r_block<i>`` (``(levels, q)`` deviations).

    Raises
    ------
    EngineError
        A family or prior the model does not implement.
    """
    d = spec.design
    family = spec.family
    if family.name not in FAMILIES:
        raise EngineError(f"the NUTS engine does not implement the {family.name} family")
    X = np.asarray(d.X, dtype=float)
    has_intercept = bool(d.intercept) and X.shape[1] > 0
    slopes = list(range(1, X.shape[1])) if has_intercept else list(range(X.shape[1]))
    Xs = X[:, slopes]
    x_mean = Xs.mean(axis=0) if has_intercept else np.zeros(len(slopes))
    Xc = jnp.asarray(Xs - x_mean if has_intercept else Xs)
    x_mean_j = jnp.asarray(x_mean)
    offset = jnp.asarray(d.offset, dtype=float)
    use_offset = bool(np.any(d.offset != 0))
    se = None if d.se is None else jnp.asarray(d.se, dtype=float)
    trials = None if d.trials is None else jnp.asarray(d.trials, dtype=float)
    weights = None if d.weights is None else jnp.asarray(d.weights, dtype=float)

    blocks = []
    for i, block in enumerate(d.blocks):
        w = np.asarray(block.weights, dtype=float)
        blocks.append(
            dict(
                i=i,
                q=block.q,
                levels=block.n_levels,
                index=jnp.asarray(block.index, dtype=jnp.int32),
                weights=None if np.all(w == 1.0) else jnp.asarray(w),
                Z=jnp.asarray(block.Z, dtype=float),
                sd_names=spec.sd_names[i],
                lkj=spec.cor_prior(i),
            )
        )

    b_names = spec.b_names
    slope_names = [b_names[j] for j in slopes]
    priors = spec.priors
    intercept_prior = priors[b_names[0]] if has_intercept else None
    intercept_base = None
    if intercept_prior is not None:
        intercept_base = prior_distribution(intercept_prior)
        if intercept_prior.lower is not None or intercept_prior.dist in (
            "uniform",
            "exponential",
            "gamma",
            "inv_gamma",
            "lognormal",
            "beta",
        ):
            raise EngineError(
                f"a bounded prior on {b_names[0]!r} ({intercept_prior.to_stan()}) is not "
                "supported by the NUTS engine; use an unbounded one such as normal()"
            )
    y_obs = np.asarray(d.y, dtype=float)
    centred_prior = spec.centred_intercept_prior

    def model(y=None):
        eta = offset if use_offset else 0.0
        if slopes:
            b = jnp.stack([_scalar(n, priors[n]) for n in slope_names])
            eta = eta + Xc @ b
        if has_intercept:
            alpha_c = numpyro.sample("Intercept_c", dist.ImproperUniform(constraints.real, (), ()))
            b0 = alpha_c - (x_mean_j @ b if slopes else 0.0)
            numpyro.deterministic(b_names[0], b0)
            if intercept_base is not None:
                at = alpha_c if centred_prior else b0
                numpyro.factor(f"{b_names[0]}__prior", intercept_base.log_prob(at))
            eta = eta + alpha_c
        for blk in blocks:
            i = blk["i"]
            sd = jnp.stack([_scalar(n, priors[n]) for n in blk["sd_names"]])
            z = numpyro.sample(
                f"z_block{i}", dist.Normal(0.0, 1.0).expand([blk["levels"], blk["q"]]).to_event(2)
            )
            if blk["lkj"] is not None:
                L = numpyro.sample(f"L_block{i}", dist.LKJCholesky(blk["q"], blk["lkj"].params[0]))
                r = (z @ L.T) * sd
            else:
                r = z * sd
            r = numpyro.deterministic(f"r_block{i}", r)
            index, Z, w = blk["index"], blk["Z"], blk["weights"]
            for k in range(index.shape[1]):
                term = (
                    jnp.sum(Z * r[index[:, k]], axis=1)
                    if blk["q"] > 1
                    else Z[:, 0] * r[index[:, k], 0]
                )
                eta = eta + (term if w is None else w[:, k] * term)
        aux = {name: _scalar(name, priors[name]) for name in spec.aux_names}
        eta = jnp.broadcast_to(eta, (y_obs.shape[0],))
        obs = _observation(family, eta, aux, se, trials)
        if weights is None:
            numpyro.sample("y", obs, obs=y)
        else:
            with numpyro.handlers.scale(scale=weights):
                numpyro.sample("y", obs, obs=y)

    init = {}
    if has_intercept:
        location, _ = intercept_location_scale(y_obs, family)
        init["Intercept_c"] = float(location)
    return NumpyroModel(model=model, y=y_obs, init_values=init)
