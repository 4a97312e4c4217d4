"""Hand-written NumPyro models of ``y ~ x + (x | g)`` (gaussian) with the benchmark's priors.

Variants (all the same posterior up to parameterisation):

- ``param``: ``"noncentred"`` (z ~ N(0, 1), r = z L^T diag(sd), what multilevel's engine does)
  or ``"centred"`` (r_j ~ MVN(0, diag(sd) L L^T diag(sd)));
- ``priors``: ``"plain"`` (NumPyro distributions with their own supports: half-t as a folded
  Student t) or ``"factor"`` (``ImproperUniform`` site + ``numpyro.factor`` with the prior's
  log density, what multilevel's engine does);
- ``deterministic``: record ``r`` (levels x 2) and ``b_Intercept`` as deterministic sites
  (multilevel's engine does) instead of computing them from the draws afterwards;
- ``correlated``: LKJ-Cholesky correlation (``(x | g)``) or independent (``(x || g)``).

The data (``x``, ``g``, ``y``) are arguments of the model, so one compiled sampler serves
every run of one MCMC object (``jit_model_args=True``) -- the "warm" time.
"""

from __future__ import annotations

import time

import numpy as np


def make_model(
    pri: dict,
    n_levels: int,
    *,
    param="noncentred",
    priors="plain",
    deterministic=False,
    correlated=True,
):
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.distributions import constraints

    nu_i, loc_i, sc_i = pri["intercept"]
    sc_b = pri["b"]
    (nu_sd0, sc_sd0), (nu_sd1, sc_sd1) = pri["sd"]
    nu_s, sc_s = pri["sigma"]
    eta_lkj = pri["lkj"] if pri["lkj"] is not None else 1.0
    J = n_levels

    def half_t(name, nu, sc):
        if priors == "plain":
            return numpyro.sample(name, dist.FoldedDistribution(dist.StudentT(nu, 0.0, sc)))
        v = numpyro.sample(name, dist.ImproperUniform(constraints.positive, (), ()))
        numpyro.factor(name + "__prior", dist.StudentT(nu, 0.0, sc).log_prob(v))
        return v

    def real(name, d):
        if priors == "plain":
            return numpyro.sample(name, d)
        v = numpyro.sample(name, dist.ImproperUniform(constraints.real, (), ()))
        numpyro.factor(name + "__prior", d.log_prob(v))
        return v

    def model(x, xbar, g, y=None):
        alpha_c = real("Intercept_c", dist.StudentT(nu_i, loc_i, sc_i))
        b = real("b", dist.Normal(0.0, sc_b))
        sd = jnp.stack([half_t("sd0", nu_sd0, sc_sd0), half_t("sd1", nu_sd1, sc_sd1)])
        if correlated:
            L = numpyro.sample("L", dist.LKJCholesky(2, eta_lkj))
        if param == "noncentred":
            z = numpyro.sample("z", dist.Normal(0.0, 1.0).expand([J, 2]).to_event(2))
            r = (z @ L.T) * sd if correlated else z * sd
        else:
            if correlated:
                r = numpyro.sample(
                    "r",
                    dist.MultivariateNormal(jnp.zeros(2), scale_tril=sd[:, None] * L)
                    .expand([J])
                    .to_event(1),
                )
            else:
                r = numpyro.sample("r", dist.Normal(0.0, sd).expand([J, 2]).to_event(2))
        if deterministic:
            if param == "noncentred":
                r = numpyro.deterministic("r", r)
            numpyro.deterministic("b_Intercept", alpha_c - b * xbar)
        eta = alpha_c + b * (x - xbar) + r[g, 0] + r[g, 1] * x
        sigma = half_t("sigma", nu_s, sc_s)
        numpyro.sample("y", dist.Normal(eta, sigma), obs=y)

    return model


def to_common(s: dict, xbar: float, correlated: bool, param: str):
    """Constrained draws of ``make_model``'s sites -> (scalars, group deviations)."""
    sd = np.stack([s["sd0"], s["sd1"]], -1)
    if param == "noncentred":
        z = np.asarray(s["z"])
        r = (np.einsum("cdjk,cdlk->cdjl", z, s["L"]) if correlated else z) * sd[:, :, None, :]
    else:
        r = np.asarray(s["r"])
    scalars = {
        "b_Intercept": s["Intercept_c"] - s["b"] * xbar,
        "b_x": s["b"],
        "sd_Intercept": s["sd0"],
        "sd_x": s["sd1"],
        "sigma": s["sigma"],
    }
    if correlated:
        scalars["cor"] = s["L"][:, :, 1, 0]
    return scalars, {"r_Intercept": r[..., 0], "r_x": r[..., 1]}


class HandWritten:
    """One MCMC object per (model, variant); ``run`` is cold the first time, warm after."""

    def __init__(
        self,
        pri: dict,
        y,
        x,
        g,
        n_levels,
        *,
        chains=4,
        draws=1000,
        warmup=1000,
        chain_method="parallel",
        dense_mass=False,
        target_accept=0.8,
        dtype="float32",
        **variant,
    ):
        from numpyro.infer import MCMC, NUTS

        self.variant = dict(variant)
        self.correlated = variant.get("correlated", True)
        self.param = variant.get("param", "noncentred")
        self.dtype = dtype
        model = make_model(pri, n_levels, **variant)
        kernel = NUTS(model, target_accept_prob=target_accept, dense_mass=dense_mass)
        self.mcmc = MCMC(
            kernel,
            num_warmup=warmup,
            num_samples=draws,
            num_chains=chains,
            chain_method=chain_method,
            progress_bar=False,
            jit_model_args=True,
        )
        self.y, self.x, self.g = y, x, g
        self.xbar = float(np.mean(x))

    def run(self, seed: int):
        import jax
        import jax.numpy as jnp

        dt = jnp.float64 if self.dtype == "float64" else jnp.float32
        start = time.perf_counter()
        self.mcmc.run(
            jax.random.PRNGKey(seed),
            jnp.asarray(self.x, dt),
            jnp.asarray(self.xbar, dt),
            jnp.asarray(self.g),
            y=jnp.asarray(self.y, dt),
            extra_fields=("diverging", "num_steps"),
        )
        s = self.mcmc.get_samples(group_by_chain=True)
        jax.block_until_ready(s)
        wall = time.perf_counter() - start
        s = {k: np.asarray(v, dtype=float) for k, v in s.items()}
        ex = self.mcmc.get_extra_fields(group_by_chain=True)
        scalars, groups = to_common(s, self.xbar, self.correlated, self.param)
        stats = {
            "divergences": int(np.asarray(ex["diverging"]).sum()),
            "leapfrog_steps": int(np.asarray(ex["num_steps"]).sum()),
            "mean_tree_size": float(np.asarray(ex["num_steps"]).mean()),
        }
        return wall, scalars, groups, stats
