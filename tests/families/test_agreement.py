"""The pieces of each family's record agree: links invert, NumPy and JAX give the same log
density at random parameter values, draws lie in the response's support and average to the
expectation, default priors respect the auxiliary parameters' supports."""

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from multilevel.design import design
from multilevel.engines._numpyro_model import LINKS as JAX_LINKS
from multilevel.engines._numpyro_model import _observation, make_model, prior_distribution
from multilevel.families import DATA_SCALE, REGISTRY
from multilevel.spec.defaults import default_priors, intercept_location_scale, resolve_priors
from multilevel.spec.families import get_family, inverse_link, link
from multilevel.spec.model import build_spec

CASES = [(name, lnk) for name, record in REGISTRY.items() for lnk in record.links]
IDS = [f"{name}-{lnk}" for name, lnk in CASES]


def _parameters(name: str, lnk: str, seed: int = 0, n: int = 40):
    """Random eta, mu (inside the mean's support), auxiliaries and trials for one family."""
    record = REGISTRY[name]
    rng = np.random.default_rng(seed)
    # moderate values: no draw of a beta or a binomial rounds onto the edge of its support
    eta = rng.choice([-1.0, 1.0], size=8 * n) * rng.uniform(0.2, 0.8, size=8 * n)
    mu = inverse_link(lnk, eta)
    keep = np.flatnonzero(record.mean_support.contains(mu))[:n]
    assert keep.size == n
    eta, mu = eta[keep], mu[keep]
    aux = {}
    for a in record.aux:
        low = 0.0 if a.lower is None else a.lower
        value = low + np.exp(rng.normal(1.8, 0.25, size=n))
        aux[a.name] = value if a.upper is None else np.minimum(value, (low + a.upper) / 2)
    trials = rng.integers(1, 20, size=n).astype(float) if record.needs_trials else None
    return eta, mu, aux, trials, rng


@pytest.mark.parametrize("lnk", sorted({lnk for r in REGISTRY.values() for lnk in r.links}))
def test_links_invert_and_jax_agrees_with_numpy(lnk):
    eta = np.array([-1.4, -0.6, 0.3, 0.9, 1.5])
    mu = inverse_link(lnk, eta)
    if lnk != "sqrt":  # sqrt's inverse is not injective on negative eta
        np.testing.assert_allclose(link(lnk, mu), eta, rtol=1e-9, atol=1e-12)
    with jax.enable_x64(True):
        np.testing.assert_allclose(np.asarray(JAX_LINKS[lnk](jnp.asarray(eta))), mu, rtol=1e-12)


@pytest.mark.parametrize(("name", "lnk"), CASES, ids=IDS)
def test_numpy_density_equals_jax_likelihood(name, lnk):
    record = REGISTRY[name]
    fam = get_family(name, link=lnk)
    eta, mu, aux, trials, rng = _parameters(name, lnk)
    y = fam.rvs(mu, aux, trials=trials, seed=rng)
    expected = fam.log_likelihood(y, mu, aux, trials=trials)
    assert np.all(np.isfinite(expected))
    np.testing.assert_allclose(
        fam.log_likelihood_eta(y, eta, aux, trials=trials), expected, rtol=1e-9, atol=1e-9
    )
    with jax.enable_x64(True):
        j_aux = {k: jnp.asarray(v) for k, v in aux.items()}
        j_trials = None if trials is None else jnp.asarray(trials)
        j_y = jnp.asarray(y, dtype=float)
        at_mu = record.likelihood(jnp.asarray(mu), j_aux, j_trials).log_prob(j_y)
        # the observation site of the NumPyro model, from the linear predictor
        site = _observation(record, lnk, jnp.asarray(eta), j_aux, None, j_trials).log_prob(j_y)
    # JAX's betaln (negbinomial) is good to about 1e-6: a wrong parameterisation is far off
    np.testing.assert_allclose(np.asarray(at_mu), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(site), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", [n for n, r in REGISTRY.items() if "se" in r.additions])
def test_a_known_standard_error_is_sigma_at_the_observation_site(name):
    record = REGISTRY[name]
    eta, mu, aux, _, rng = _parameters(name, "identity")
    se = aux.pop("sigma")
    y = get_family(name).rvs(mu, {**aux, "sigma": se}, seed=rng)
    expected = get_family(name).log_likelihood(y, mu, {**aux, "sigma": se})
    with jax.enable_x64(True):
        j_aux = {k: jnp.asarray(v) for k, v in aux.items()}
        site = _observation(record, "identity", jnp.asarray(eta), j_aux, jnp.asarray(se), None)
        np.testing.assert_allclose(np.asarray(site.log_prob(jnp.asarray(y))), expected, rtol=1e-5)


@pytest.mark.parametrize(("name", "lnk"), CASES, ids=IDS)
def test_draws_lie_in_the_response_support(name, lnk):
    fam = get_family(name, link=lnk)
    _, mu, aux, trials, rng = _parameters(name, lnk, seed=1)
    draws = fam.rvs(np.stack([mu] * 50), aux, trials=trials, seed=rng)
    assert draws.shape == (50, mu.size)
    for row in draws:
        fam.check_response(row, trials)
    # a discrete family's draws are whole numbers; a continuous one's are not
    assert fam.discrete == bool(np.all(draws == np.round(draws)))


@pytest.mark.parametrize("name", list(REGISTRY))
def test_draws_average_to_the_expectation(name):
    fam = get_family(name)
    _, mu, aux, trials, rng = _parameters(name, fam.link, seed=2, n=4)
    mu, aux = mu[:1], {k: v[:1] for k, v in aux.items()}
    trials = None if trials is None else trials[:1]
    draws = fam.rvs(np.repeat(mu, 100_000), aux, trials=trials, seed=rng)
    mean = fam.mean(mu, aux, trials=trials)
    assert abs(draws.mean() - mean[0]) < 6 * draws.std() / np.sqrt(draws.size)


@pytest.mark.parametrize("name", [n for n, r in REGISTRY.items() if r.aux])
def test_auxiliaries_outside_their_support_give_minus_infinity(name):
    fam = get_family(name)
    _, mu, aux, trials, _ = _parameters(name, fam.link, n=3)
    for a in REGISTRY[name].aux:
        bad = dict(aux, **{a.name: np.full(3, a.lower if a.lower is not None else a.upper)})
        y = np.full(3, fam._record.response.inside)
        assert np.all(fam.log_likelihood(y, mu, bad, trials=trials) == -np.inf)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_default_priors_of_the_auxiliaries_are_the_records(name):
    record = REGISTRY[name]
    y = np.array([0.2, 1.0, 0.6, 0.9]) if name != "binomial" else np.array([0.0, 1.0, 3.0, 2.0])
    priors = default_priors(y, family=name)
    _, scale = intercept_location_scale(y, name)
    resolved = resolve_priors(None, list(record.aux_names), defaults=priors)
    for a in record.aux:
        dist, params = a.prior
        prior = priors[a.name]
        assert prior.dist == dist
        assert prior.params == tuple(scale if p == DATA_SCALE else p for p in params)
        assert resolved[a.name].lower == a.lower
        assert prior_distribution(resolved[a.name]) is not None  # NUTS can use it


def test_the_nuts_model_is_shared_only_by_the_same_family_and_link():
    def model(family, link, y):
        data = pd.DataFrame({"y": y, "g": list("aabbcc")})
        spec = build_spec(design("y ~ 1 + (1 | g)", data, family=family), get_family(family, link))
        return make_model(spec).model

    y, other = [0, 1, 1, 0, 1, 0], [1, 1, 0, 0, 0, 1]
    keys = [
        ("bernoulli", "logit"),
        ("bernoulli", "probit"),
        ("poisson", "log"),
        ("poisson", "sqrt"),
    ]
    models = [model(family, lnk, y) for family, lnk in keys]
    assert len({id(m) for m in models}) == len(keys)
    assert all(
        model(family, lnk, other) is m for (family, lnk), m in zip(keys, models, strict=True)
    )
