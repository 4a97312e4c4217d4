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
        ``init(kwargs) -> dict`` of unconstrained starting values for some sites (traced);
        the other sites start uniformly in ``(-2, 2)``, as Stan.
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
        from numpyro.infer.hmc import hmc
        from numpyro.infer.util import initialize_model

        info = initialize_model(
            jax.random.PRNGKey(0), model, model_kwargs=dict(kwargs), dynamic_args=True
        )
        init_kernel, sample_kernel = hmc(potential_fn_gen=info.potential_fn, algo="NUTS")
        template = info.param_info.z
        names = sorted(template)
        dense = [tuple(names)] if dense_mass else []

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
                    z0[name] = jnp.broadcast_to(jnp.asarray(given[name], dtype), jnp.shape(a))
            state = init_kernel(
                z0,
                num_warmup=warmup,
                target_accept_prob=target_accept,
                max_tree_depth=max_tree_depth,
                dense_mass=dense,
                model_kwargs=kwargs,
                rng_key=k_run,
            )

            def warm(s, _):
                return sample_kernel(s, model_kwargs=kwargs), None

            state, _ = lax.scan(warm, state, None, length=warmup)

            def keep(s, _):
                s = sample_kernel(s, model_kwargs=kwargs)
                return s, (
                    s.z,
                    s.num_steps,
                    s.diverging,
                    s.potential_energy,
                    s.energy,
                    s.accept_prob,
                )

            _, out = lax.scan(keep, state, None, length=draws)
            return out

        if jax.local_device_count() >= chains > 1:
            self.chain_method = "parallel"
            self._run = jax.pmap(one_chain, in_axes=(0, None))
        else:
            self.chain_method = "vectorized"
            self._run = jax.jit(jax.vmap(one_chain, in_axes=(0, None)))
        self._constrain = jax.jit(
            jax.vmap(lambda z, kwargs: info.postprocess_fn(**kwargs)(z), in_axes=(0, None))
        )
        self.chains, self.draws = chains, draws

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
