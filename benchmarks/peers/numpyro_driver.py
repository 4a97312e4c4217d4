"""NumPyro's NUTS kernel driven by our own compiled loop instead of ``numpyro.infer.MCMC``.

Why: with jax 0.10 / numpyro 0.22, ``MCMC.run`` re-traces and re-compiles its sampling loop
(``numpyro.util._fori_collect_loop``) on every call -- its static argument ``_body_fn`` is a fresh
``jax.jit`` wrapper each time and jax 0.10's jit wrappers do not compare equal -- so nothing is
reused across runs and compilation dominates a small model's fit (see
``benchmarks/FINDINGS_nuts.md``).

Here one function per chain -- random initialisation, NumPyro's ``init_kernel`` (step-size
search), ``num_warmup`` adaptive iterations and ``num_samples`` kept ones, each a ``lax.scan``
over NumPyro's NUTS ``sample_kernel`` -- is jitted once (``pmap`` over host devices for
``parallel``, ``vmap`` for ``vectorized``, a Python loop over chains for ``sequential``) and kept
in this object, with the data as arguments: a second ``run`` on data of the same shapes
compiles nothing.
"""

from __future__ import annotations

import time

import numpy as np


class NutsDriver:
    def __init__(
        self,
        model,
        model_args=(),
        model_kwargs=None,
        *,
        chains=4,
        draws=1000,
        warmup=1000,
        chain_method="parallel",
        target_accept=0.8,
        max_tree_depth=10,
        dense_mass=False,
        init_values=None,
        single_scan=False,
    ):
        import jax
        import jax.numpy as jnp
        from jax import lax
        from numpyro.infer.hmc import hmc
        from numpyro.infer.util import initialize_model

        model_kwargs = dict(model_kwargs or {})
        info = initialize_model(
            jax.random.PRNGKey(0),
            model,
            model_args=model_args,
            model_kwargs=model_kwargs,
            dynamic_args=True,
        )
        self.info = info
        init_kernel, sample_kernel = hmc(potential_fn_gen=info.potential_fn, algo="NUTS")
        z_template = info.param_info.z
        self.site_names = sorted(z_template)
        init_values = dict(init_values or {})
        # unconstrained init values of given sites (all real-valued sites here)
        dense = [tuple(sorted(z_template))] if dense_mass else []

        def one_chain(key, args, kwargs):
            k_init, k_run = jax.random.split(key)
            keys = jax.random.split(k_init, len(self.site_names))
            z0 = {}
            for k, name in zip(keys, self.site_names, strict=True):
                a = z_template[name]
                z0[name] = jax.random.uniform(k, jnp.shape(a), jnp.result_type(a), -2.0, 2.0)
                if name in init_values:
                    z0[name] = jnp.full(jnp.shape(a), init_values[name], jnp.result_type(a))
            state = init_kernel(
                z0,
                num_warmup=warmup,
                target_accept_prob=target_accept,
                max_tree_depth=max_tree_depth,
                dense_mass=dense,
                model_args=args,
                model_kwargs=kwargs,
                rng_key=k_run,
            )

            if single_scan:
                # one scan over warmup + draws: the NUTS kernel is compiled once, not twice
                def step(s, _):
                    s = sample_kernel(s, args, kwargs)
                    return s, (
                        s.z,
                        s.num_steps,
                        s.diverging,
                        s.potential_energy,
                        s.energy,
                        s.accept_prob,
                    )

                state, allout = lax.scan(step, state, None, length=warmup + draws)
                warm_steps = allout[1][:warmup]
                out = jax.tree_util.tree_map(lambda a: a[warmup:], allout)
                return out, warm_steps.sum(), state.adapt_state.step_size

            def warm(s, _):
                s = sample_kernel(s, args, kwargs)
                return s, s.num_steps

            state, warm_steps = lax.scan(warm, state, None, length=warmup)

            def keep(s, _):
                s = sample_kernel(s, args, kwargs)
                return s, (
                    s.z,
                    s.num_steps,
                    s.diverging,
                    s.potential_energy,
                    s.energy,
                    s.accept_prob,
                )

            _, out = lax.scan(keep, state, None, length=draws)
            return out, warm_steps.sum(), state.adapt_state.step_size

        if chain_method == "parallel":
            run = jax.pmap(one_chain, in_axes=(0, None, None))
        elif chain_method == "hybrid":
            # pmap over the host devices, vmap over the chains on each device
            n_dev = min(jax.local_device_count(), chains)
            assert chains % n_dev == 0, "hybrid needs chains divisible by the device count"
            inner = jax.pmap(jax.vmap(one_chain, in_axes=(0, None, None)), in_axes=(0, None, None))

            def run(keys, args, kwargs):
                out = inner(keys.reshape((n_dev, chains // n_dev) + keys.shape[1:]), args, kwargs)
                return jax.tree_util.tree_map(lambda a: a.reshape((chains,) + a.shape[2:]), out)
        elif chain_method == "vectorized":
            run = jax.jit(jax.vmap(one_chain, in_axes=(0, None, None)))
        elif chain_method == "sequential":
            single = jax.jit(one_chain)

            def run(keys, args, kwargs):
                outs = [single(k, args, kwargs) for k in keys]
                return jax.tree_util.tree_map(lambda *a: jnp.stack(a), *outs)
        else:
            raise ValueError(chain_method)
        self._run = run
        self._post = jax.jit(
            jax.vmap(
                lambda z, args, kwargs: info.postprocess_fn(*args, **kwargs)(z),
                in_axes=(0, None, None),
            )
        )
        self.chains, self.draws = chains, draws
        self.model_args, self.model_kwargs = model_args, model_kwargs

    def run(self, seed, model_args=None, model_kwargs=None):
        """Sample; returns (wall seconds, constrained draws (chains, draws, ...), stats)."""
        import jax

        args = self.model_args if model_args is None else model_args
        kwargs = self.model_kwargs if model_kwargs is None else model_kwargs
        start = time.perf_counter()
        keys = jax.random.split(jax.random.PRNGKey(seed), self.chains)
        (z, n_steps, div, pe, energy, acc), warm_steps, step_size = self._run(keys, args, kwargs)
        c, d = self.chains, self.draws
        flat = jax.tree_util.tree_map(lambda a: a.reshape((c * d,) + a.shape[2:]), z)
        post = self._post(flat, args, kwargs)
        post = {k: np.asarray(v).reshape((c, d) + v.shape[1:]) for k, v in post.items()}
        wall = time.perf_counter() - start
        stats = {
            "divergences": int(np.asarray(div).sum()),
            "leapfrog_steps": int(np.asarray(n_steps).sum()),
            "warmup_leapfrog_steps": int(np.asarray(warm_steps).sum()),
            "mean_tree_size": float(np.asarray(n_steps).mean()),
            "step_size": [float(s) for s in np.asarray(step_size)],
        }
        return wall, post, stats
