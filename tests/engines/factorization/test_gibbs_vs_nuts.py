"""The Gibbs sampler and NUTS on a hand-written NumPyro model of the same posterior agree on
every quantity a rotation of the factors leaves unchanged: coefficients, variance components,
the factors' variance component and artist share, and predictions.

Tolerances are Monte Carlo errors: a difference of posterior means must be within 4.5
standard errors (each ``sd / sqrt(ESS)``, ArviZ's bulk ESS) of both samplers combined.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import multilevel as ml
from _factor_data import FORMULA, simulate

pytestmark = pytest.mark.slow

K = 2


def _numpyro_draws(train, spec, held, seed):
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS

    d = spec.design
    users, items = d.factors.users, d.factors.items
    artist_of_item = items.level_groups()
    n_artists = len(items.group_levels)
    u_idx, i_idx = np.asarray(users.index), np.asarray(items.index)
    held_u = users.levels.get_indexer(held["user"])
    held_i = items.levels.get_indexer(held["item"])
    fs = spec.factors
    scale_tril = np.linalg.cholesky(fs.prior_wishart_scale)

    def half(prior):
        return dist.TruncatedDistribution(dist.StudentT(*prior.params), low=0.0)

    def factors(name, n, mean):
        chol = numpyro.sample(f"L_{name}", dist.WishartCholesky(fs.prior_df, scale_tril=scale_tril))
        z = numpyro.sample(f"z_{name}", dist.Normal(0, 1).expand([n, K]).to_event(2))
        x = jax.scipy.linalg.solve_triangular(chol.T, z.T, lower=False).T
        trace = jnp.trace(jnp.linalg.inv(chol @ chol.T))
        return mean + x, trace

    def model(y):
        b0 = numpyro.sample("b_Intercept", dist.StudentT(*spec.priors["b_Intercept"].params))
        sd_u = numpyro.sample("sd_user__Intercept", half(spec.priors["sd_user__Intercept"]))
        sd_i = numpyro.sample("sd_item__Intercept", half(spec.priors["sd_item__Intercept"]))
        sigma = numpyro.sample("sigma", half(spec.priors["sigma"]))
        a = sd_u * numpyro.sample("za", dist.Normal(0, 1).expand([users.n_levels]).to_event(1))
        b = sd_i * numpyro.sample("zb", dist.Normal(0, 1).expand([items.n_levels]).to_event(1))
        W, tr_w = factors("artist", n_artists, 0.0)
        V, tr_v = factors("item", items.n_levels, W[artist_of_item])
        M, _ = factors("user_mean", 1, 0.0)  # the users' common mean (no user group)
        U, _ = factors("user", users.n_levels, M[0])
        part = (U[u_idx] * V[i_idx]).sum(-1)
        numpyro.deterministic("sd_factors", jnp.std(part))
        numpyro.deterministic("share_artist__factors", tr_w / (tr_w + tr_v))
        mu_held = b0 + a[held_u] + b[held_i] + (U[held_u] * V[held_i]).sum(-1)
        numpyro.deterministic("held", mu_held)
        numpyro.sample("y", dist.Normal(b0 + a[u_idx] + b[i_idx] + part, sigma), obs=y)

    mcmc = MCMC(
        NUTS(model, target_accept_prob=0.9),
        num_warmup=500,
        num_samples=1000,
        num_chains=2,
        chain_method="sequential",
        progress_bar=False,
    )
    mcmc.run(jax.random.PRNGKey(seed), jnp.asarray(d.y))
    return {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}


def _agree(a: np.ndarray, b: np.ndarray, what: str) -> None:
    import arviz as az

    se = [x.std() / np.sqrt(float(az.ess(x))) for x in (a, b)]
    tolerance = 4.5 * np.hypot(*se)
    assert abs(a.mean() - b.mean()) < tolerance, (what, a.mean(), b.mean(), tolerance)


def test_gibbs_and_nuts_give_the_same_posterior():
    frame, _ = simulate(n_users=25, n_items=16, n_artists=4, per_user=8, k=K, seed=4)
    held = frame.iloc[8:200:16]  # one row of every other user, whose other rows are trained on
    train = frame.drop(held.index)
    assert held["item"].isin(train["item"]).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.fit(
            FORMULA.format(k=K), train, chains=2, draws=3000, warmup=500, seed=5, progress=False
        )
    nuts = _numpyro_draws(train, fit.spec, held, seed=6)
    for name in (
        "b_Intercept",
        "sd_user__Intercept",
        "sd_item__Intercept",
        "sigma",
        "sd_factors",
        "share_artist__factors",
    ):
        _agree(fit.posterior.draws[name], nuts[name], name)
    gibbs_held = fit.predict(held, kind="linear", summary=False)
    chains = fit.posterior.n_chains
    gibbs_held = gibbs_held.reshape(chains, -1, len(held))
    for j in range(len(held)):
        _agree(gibbs_held[:, :, j], nuts["held"][:, :, j], f"held-out row {j}")
