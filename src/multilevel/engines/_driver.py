"""NumPyro's NUTS kernel run by our own compiled loop instead of ``numpyro.infer.MCMC``.

Why (measured in ``benchmarks/nuts_vs_peers.py``; see docs/decisions.md): with jax 0.10 and
numpyro 0.22, ``MCMC.run`` re-traces and re-compiles its sampling loop on every call (its
static ``_body_fn`` argument is a fresh ``jax.jit`` wrapper each time, and jit wrappers do not
compare equal), so a second fit of the same model compiled everything again, and compilation
dominated small fits.

Here one function per chain -- initialisation, NumPyro's ``init_kernel`` (step-size search),
``warmup`` adaptive iterations and ``draws`` kept ones, each a ``lax.scan`` over NumPyro's
NUTS ``sample_kernel`` -- is compiled once (``pmap`` over devices when there are enough,
``vmap`` otherwise) and kept, with the data as arguments: a second fit on data of the same
shapes compiles nothing.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

__all__ = ["NutsDriver", "driver_for"]

_DRIVERS: OrderedDict = OrderedDict()
_CACHE_SIZE = 8
_STATE = "unconstrained"  # the one site of the sampler's state


def potential(model, kwargs):
    """NumPyro's potential-energy and postprocessing generators (taking the model's keyword
    arguments) and a template of the unconstrained parameters (zeros; shapes and dtypes).

    This is :func:`numpyro.infer.util.initialize_model` without running the model: the
    latent sites and their supports are read from an abstract trace (``jax.make_jaxpr``, so
    no operation is executed or compiled -- NumPyro's trace runs the model op by op,
    compiling each operation once per process: ~180 compilations and seconds per model),
    and the potential is NumPyro's ``potential_energy`` on the unconstrained values. Models
    with discrete latent sites use ``initialize_model`` itself; any other error in the model
    is raised as it is.
    """
    import jax
    import jax.numpy as jnp
    from numpyro.distributions import biject_to
    from numpyro.handlers import seed, substitute, trace
    from numpyro.infer.initialization import init_to_uniform
    from numpyro.infer.util import constrain_fn, initialize_model, potential_energy

    sites = {}

    def record(kwargs):
        traced = trace(
            substitute(seed(model, jax.random.PRNGKey(0)), substitute_fn=init_to_uniform)
        ).get_trace(**kwargs)
        for name, site in traced.items():
            if site["type"] != "sample" or site["is_observed"]:
                continue
            if site["fn"].is_discrete:
                raise _DiscreteSite(name)
            value = site["value"]
            sites[name] = (site["fn"].support, jnp.shape(value), jnp.result_type(value))
        return jnp.zeros(())

    try:
        jax.make_jaxpr(record)(dict(kwargs))
    except _DiscreteSite:
        info = initialize_model(
            jax.random.PRNGKey(0), model, model_kwargs=dict(kwargs), dynamic_args=True
        )
        return info.potential_fn, info.postprocess_fn, info.param_info.z
    template = {
        name: jnp.zeros(biject_to(support).inverse_shape(shape), dtype)
        for name, (support, shape, dtype) in sites.items()
    }

    def potential_fn(**kw):
        return lambda params: potential_energy(model, (), kw, params)

    def postprocess_fn(**kw):
        return lambda params: constrain_fn(model, (), kw, params, return_deterministic=True)

    return potential_fn, postprocess_fn, template


class _DiscreteSite(Exception):
    """A discrete latent site, which NumPyro's ``initialize_model`` handles."""


def _kept(state) -> tuple:
    """What is kept of each draw, in the order :meth:`NutsDriver.run` unpacks it."""
    return (
        state.z,
        state.num_steps,
        state.diverging,
        state.potential_energy,
        state.energy,
        state.accept_prob,
    )


class NutsDriver:
    """Compiled NUTS for one model function and one set of settings.

    Parameters
    ----------
    model : callable
        A NumPyro model taking keyword arguments only.
    kwargs : dict
        Example keyword arguments (for shapes; later runs may pass other values).
    chains, draws, warmup : int
    target_accept, max_tree_depth, dense_mass
        NUTS settings.
    init : callable, optional
        ``init(kwargs) -> dict``: site -> ``(centre, spread)`` of some sites' unconstrained
        starting values (traced): a chain starts at ``centre + U(-2, 2) * spread``; the other
        sites start uniformly in ``(-2, 2)``, as Stan.
    """

    def __init__(
        self,
        model,
        kwargs,
        *,
        chains: int,
        draws: int,
        warmup: int,
        target_accept: float = 0.8,
        max_tree_depth: int = 10,
        dense_mass: bool = False,
        init=None,
    ):
        import jax
        import jax.numpy as jnp
        from jax import lax
        from jax.flatten_util import ravel_pytree
        from numpyro.infer.hmc import hmc

        from multilevel.engines._progress import tick

        every = max(1, (warmup + draws) // 100)
        site_potential, site_postprocess, template = potential(model, kwargs)
        unravel = ravel_pytree(template)[1]

        # The sampler's state is one site holding every unconstrained value, ravelled in
        # the sites' sorted order, rather than a dict of sites: NumPyro's leapfrog and U-turn
        # checks then run one operation per step instead of one per site (plus the
        # ravelling between them). It is still a dict, of one site, so NumPyro's random
        # streams and arithmetic are those of the dict of sites: the same draws.
        def potential_fn(**kw):
            potential = site_potential(**kw)
            return lambda state: potential(unravel(state[_STATE]))

        def postprocess_fn(**kw):
            postprocess = site_postprocess(**kw)
            return lambda state: postprocess(unravel(state[_STATE]))

        init_kernel, sample_kernel = hmc(potential_fn_gen=potential_fn, algo="NUTS")
        names = sorted(template)

        def one_chain(key, kwargs):
            k_init, k_run = jax.random.split(key)
            keys = jax.random.split(k_init, len(names))
            given = init(kwargs) if init is not None else {}
            z0 = {}
            for k, name in zip(keys, names, strict=True):
                a = template[name]
                dtype = jnp.result_type(a)
                z0[name] = jax.random.uniform(k, jnp.shape(a), dtype, -2.0, 2.0)
                if name in given:
                    centre, spread = given[name]
                    z0[name] = jnp.broadcast_to(
                        jnp.asarray(centre, dtype) + z0[name] * jnp.asarray(spread, dtype),
                        jnp.shape(a),
                    )
            state = init_kernel(
                {_STATE: ravel_pytree(z0)[0]},
                num_warmup=warmup,
                target_accept_prob=target_accept,
                max_tree_depth=max_tree_depth,
                dense_mass=[(_STATE,)] if dense_mass else [],
                model_kwargs=kwargs,
                rng_key=k_run,
            )
            # One scan over warmup + draws (NumPyro's kernel adapts while its counter is below
            # ``warmup``), so the kernel is compiled once; kept draws go to preallocated
            # buffers (warmup iterations write slot 0, later overwritten).
            buffers = jax.tree_util.tree_map(
                lambda a: jnp.zeros((draws,) + jnp.shape(a), jnp.result_type(a)), _kept(state)
            )

            def step(carry, t):
                s, buffers = carry
                s = sample_kernel(s, model_kwargs=kwargs)
                slot = jnp.maximum(t - warmup, 0)
                buffers = jax.tree_util.tree_map(
                    lambda b, v: lax.dynamic_update_index_in_dim(b, v, slot, 0), buffers, _kept(s)
                )
                lax.cond(
                    (t + 1) % every == 0,
                    lambda: jax.debug.callback(report, t),
                    lambda: None,
                )
                return (s, buffers), None

            (_, out), _ = lax.scan(step, (state, buffers), jnp.arange(warmup + draws))
            return out

        def report(t):  # a vectorized loop reports for all its chains at once
            tick(every * (chains if self.chain_method == "vectorized" else 1), t)

        if jax.default_backend() == "cpu" and chains > 1:
            # One compiled chain run from several threads: XLA releases the GIL, so chains
            # use the cores, and tracing/compiling one chain is ~3x cheaper than a vmapped
            # one (NUTS's nested while loops are costly to batch).
            self.chain_method = "threads"
            self._run = self._threaded(jax.jit(one_chain), chains)
        elif jax.local_device_count() >= chains > 1:
            self.chain_method = "parallel"
            self._run = jax.pmap(one_chain, in_axes=(0, None))
        else:
            self.chain_method = "vectorized"
            self._run = jax.jit(jax.vmap(one_chain, in_axes=(0, None)))
        self._constrain = jax.jit(
            jax.vmap(lambda z, kwargs: postprocess_fn(**kwargs)(z), in_axes=(0, None))
        )
        self.chains, self.draws = chains, draws
        self._model = model
        self._log_lik = None

    @staticmethod
    def _threaded(one_chain, chains: int):
        """``run(keys, kwargs)`` running ``one_chain`` per key on a pool of threads, stacked."""
        import os
        from concurrent.futures import ThreadPoolExecutor

        import jax
        import jax.numpy as jnp

        compiled = None

        def run(keys, kwargs):
            nonlocal compiled
            if compiled is None:  # compile once, before the threads start
                compiled = one_chain.lower(keys[0], kwargs).compile()
            workers = min(chains, os.cpu_count() or 1)
            with ThreadPoolExecutor(max_workers=workers) as pool:
                outs = list(pool.map(lambda k: compiled(k, kwargs), keys))
            return jax.tree_util.tree_map(lambda *a: jnp.stack(a), *outs)

        return run

    def log_likelihood(self, samples, kwargs, site: str = "y"):
        """Pointwise log-likelihood ``(chains * draws, n)`` of ``site`` at flattened constrained
        draws, by a function compiled once per driver (NumPyro's ``log_likelihood`` traces
        anew on every call)."""
        import jax
        from numpyro.infer.util import log_likelihood

        if self._log_lik is None:
            model = self._model
            self._log_lik = jax.jit(lambda s, kw: log_likelihood(model, s, **kw)[site])
        return self._log_lik(samples, kwargs)

    def run(self, seed: int, kwargs) -> tuple[dict, dict]:
        """Sample: constrained draws ``(chains, draws, ...)`` (with deterministic sites) and
        sampler statistics named as ArviZ does."""
        import jax

        keys = jax.random.split(jax.random.PRNGKey(seed), self.chains)
        z, n_steps, diverging, potential, energy, accept = self._run(keys, kwargs)
        c, d = self.chains, self.draws
        flat = jax.tree_util.tree_map(lambda a: a.reshape((c * d,) + a.shape[2:]), z)
        draws = self._constrain(flat, kwargs)
        draws = {k: np.asarray(v).reshape((c, d) + v.shape[1:]) for k, v in draws.items()}
        n_steps = np.asarray(n_steps)
        stats = {
            "diverging": np.asarray(diverging, dtype=bool),
            "n_steps": n_steps,
            "tree_depth": np.floor(np.log2(np.maximum(n_steps, 1))).astype(int) + 1,
            "energy": np.asarray(energy),
            "acceptance_rate": np.asarray(accept),
            "lp": -np.asarray(potential),
        }
        return draws, stats


def driver_for(key, model, kwargs, **settings) -> NutsDriver:
    """The cached driver for ``key`` (model structure, shapes, settings), made if needed."""
    driver = _DRIVERS.get(key)
    if driver is None:
        driver = _DRIVERS[key] = NutsDriver(model, kwargs, **settings)
        while len(_DRIVERS) > _CACHE_SIZE:
            _DRIVERS.popitem(last=False)
    else:
        _DRIVERS.move_to_end(key)
    return driver
