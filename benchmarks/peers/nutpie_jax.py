"""nutpie's sampler (Rust) on a NumPyro model's log density (JAX), without PyMC.

``NutpieJax(model, model_args, model_kwargs).run(seed)``: the NumPyro model's potential energy
on the flat unconstrained vector (``numpyro.infer.util.initialize_model`` +
``jax.flatten_util.ravel_pytree``), jitted with its gradient, handed to
``nutpie.compiled_pyfunc.from_pyfunc``; nutpie calls it through Python for every gradient.
Draws come back as the flat vector and are mapped to the constrained sites afterwards, in one
vectorised call (not once per draw).
"""

from __future__ import annotations

import time

import numpy as np


class NutpieJax:
    def __init__(
        self,
        model,
        model_args=(),
        model_kwargs=None,
        *,
        chains=4,
        draws=1000,
        warmup=1000,
        cores=None,
        dtype="float64",
        nutpie_kwargs=None,
    ):
        import jax
        import jax.numpy as jnp
        import nutpie
        from jax.flatten_util import ravel_pytree
        from numpyro.infer.util import initialize_model

        t0 = time.perf_counter()
        model_kwargs = model_kwargs or {}
        info = initialize_model(
            jax.random.PRNGKey(0),
            model,
            model_args=model_args,
            model_kwargs=model_kwargs,
            dynamic_args=True,
        )
        z0 = info.param_info.z
        flat0, unravel = ravel_pytree(z0)
        self.unravel = unravel
        self.ndim = int(flat0.shape[0])
        pe_maker = info.potential_fn  # (args, kwargs) -> potential_fn
        postprocess_maker = info.postprocess_fn
        dt = jnp.float64 if dtype == "float64" else jnp.float32

        pot = pe_maker(*model_args, **model_kwargs)

        @jax.jit
        def logp_grad(x):
            v, g = jax.value_and_grad(lambda x: -pot(unravel(x)))(x.astype(flat0.dtype))
            return v, g

        self._post = jax.jit(
            jax.vmap(lambda x: postprocess_maker(*model_args, **model_kwargs)(unravel(x)))
        )
        x_test = np.asarray(flat0, dtype=np.float64)
        logp_grad(x_test)[1].block_until_ready()  # compile now (cold time)

        def make_logp_fn():
            def logp(x):
                v, g = logp_grad(x)
                return float(v), np.asarray(g, dtype=np.float64)

            return logp

        def make_expand_fn(seed1, seed2, chain):
            def expand(x):
                return {"x": np.asarray(x, dtype=np.float64).copy()}

            return expand

        def init_point(seed):
            rng = np.random.default_rng(seed)
            return rng.uniform(-2, 2, size=self.ndim)

        self.compiled = nutpie.compiled_pyfunc.from_pyfunc(
            self.ndim,
            make_logp_fn,
            make_expand_fn,
            [np.dtype("float64")],
            [(self.ndim,)],
            ["x"],
            make_initial_point_fn=init_point,
        )
        self.kw = dict(
            draws=draws, tune=warmup, chains=chains, progress_bar=False, **(nutpie_kwargs or {})
        )
        if cores:
            self.kw["cores"] = cores
        self.setup_s = time.perf_counter() - t0
        self.dtype = dt

    def run(self, seed):
        import jax
        import nutpie

        start = time.perf_counter()
        trace = nutpie.sample(self.compiled, seed=seed, **self.kw)
        x = np.asarray(trace.posterior["x"].values)  # (chains, draws, ndim)
        c, d, n = x.shape
        post = self._post(x.reshape(c * d, n))
        post = {k: np.asarray(v).reshape((c, d) + v.shape[1:]) for k, v in post.items()}
        jax.block_until_ready(post)
        wall = time.perf_counter() - start
        st = trace.sample_stats
        stats = {
            "divergences": int(st["diverging"].values.sum()),
            "leapfrog_steps": int(st["n_steps"].values.sum()),
            "mean_tree_size": float(st["n_steps"].values.mean()),
        }
        return wall, post, stats
