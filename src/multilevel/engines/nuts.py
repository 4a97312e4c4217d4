"""The NUTS engine: NumPyro's No-U-Turn sampler on the model of
:mod:`multilevel.engines._numpyro_model`.

Chains run in parallel on separate JAX devices when the process has enough of them (see
``numpyro.set_host_device_count``, which must be called before JAX starts), and vectorized
on one device otherwise.

Compiled samplers are reused: the data enter the model as arguments and the compiled
sampler of each (model structure, shapes, settings) is kept (:mod:`._driver`), so a second
fit of a model of the same shape (new data, new priors' parameters) skips JAX's compilation.
"""

from __future__ import annotations

import time

import numpy as np

from multilevel.engines.protocol import SamplerSettings, Support
from multilevel.errors import EngineError
from multilevel.posterior import Posterior

__all__ = ["NutsEngine"]

_MAX_LOG_LIK_VALUES = 50_000_000  # chains * draws * n above which log_likelihood is skipped


def _start(kwargs) -> dict:
    """The warm start's sites where it has one (:func:`~._numpyro_model.with_warm_start`),
    else the centred intercept at the response's location (the rest uniformly)."""
    data = kwargs["data"]
    return data.get("start") or {"Intercept_c": (data["location"], 0.0)}


class NutsEngine:
    """NumPyro NUTS with LKJ-Cholesky correlations, started from lme4's point estimate and
    with each block's group effects parameterised by the data's information about them
    (:mod:`multilevel.engines._warm_start`; Stan's start and non-centred effects where no
    estimate can be had, or with ``warm_start=False``); reads ``target_accept``,
    ``max_tree_depth``, ``dense_mass``, ``log_likelihood`` and ``warm_start`` from the
    :class:`~multilevel.engines.protocol.SamplerSettings`."""

    name = "nuts"
    methods = ("nuts",)
    auto_label = ""

    def supports(self, spec) -> Support:
        """NUTS fits every family and block structure of a :class:`ModelSpec`."""
        from multilevel.engines._numpyro_model import FAMILIES

        if spec.family.name not in FAMILIES:
            return Support(False, f"the {spec.family.name} family is not implemented")
        n_blocks = len(spec.design.blocks)
        return Support(
            True,
            f"{spec.family.name} family, {n_blocks} group block(s): NUTS (NumPyro)",
        )

    def fit(self, spec, settings: SamplerSettings, *, reason: str = "") -> Posterior:
        """Sample the posterior of ``spec``.

        Returns
        -------
        Posterior
            Draws under brms names, ``r_block<i>`` deviations, sampler statistics, timings.

        Raises
        ------
        EngineError
            A model the engine cannot fit.
        """
        chains, draws, warmup = settings.chains, settings.draws, settings.warmup
        seed, progress = settings.seed, settings.progress
        support = self.supports(spec)
        if not support:
            raise EngineError(f"the NUTS engine cannot fit this model: {support.reason}")

        import jax

        from multilevel.engines._compile_cache import enable
        from multilevel.engines._driver import driver_for
        from multilevel.engines._numpyro_model import make_model
        from multilevel.engines._progress import sampling_progress

        enable()
        warm = None
        start = time.perf_counter()
        if settings.warm_start:
            from multilevel.engines._warm_start import warm_start

            warm = warm_start(spec)
        warm_time = time.perf_counter() - start
        if warm is not None:
            from multilevel.engines._numpyro_model import with_warm_start

            built = with_warm_start(make_model(spec, warm.rotate), spec, warm)
        else:
            built = make_model(spec)
        shapes = jax.tree_util.tree_map(lambda a: (a.shape, str(a.dtype)), built.kwargs)
        key = (
            built.structure,
            str(shapes),
            chains,
            draws,
            warmup,
            settings.target_accept,
            settings.max_tree_depth,
            settings.dense_mass,
        )
        with sampling_progress(progress, f"NUTS, {chains} chains", warmup, draws, chains) as phases:
            driver = driver_for(
                key,
                built.model,
                built.kwargs,
                chains=chains,
                draws=draws,
                warmup=warmup,
                target_accept=settings.target_accept,
                max_tree_depth=settings.max_tree_depth,
                dense_mass=settings.dense_mass,
                init=_start,
            )
            samples, stats = driver.run(seed, built.kwargs)
        chain_method = driver.chain_method

        out = {}
        for part in (spec, *spec.dpars.values()):
            for name in part.b_names:
                out[name] = np.asarray(samples[name])
            for block in part.covariance:
                site = "" if block.dpar is None else f"{block.dpar}_"  # the model's site names
                site += f"block{block.index}"
                for name in block.sd_names:
                    out[name] = np.asarray(samples[name])
                if block.correlated:
                    out.update(block.named_correlations(np.asarray(samples[f"L_{site}"])))
                out[block.key] = np.asarray(samples[f"r_{site}"])
        for name in spec.aux_names:
            out[name] = np.asarray(samples[name])

        timings = phases.timings()
        if settings.warm_start:
            timings["warm_start"] = warm_time

        loglik = None
        n = spec.design.n
        if settings.log_likelihood and chains * draws * n <= _MAX_LOG_LIK_VALUES:
            start = time.perf_counter()
            flat = jax.tree_util.tree_map(
                lambda a: a.reshape((chains * draws,) + a.shape[2:]), samples
            )
            ll = driver.log_likelihood(flat, built.kwargs)
            loglik = np.asarray(ll).reshape(chains, draws, n)
            timings["log_likelihood"] = time.perf_counter() - start

        return Posterior(
            draws=out,
            sample_stats=stats,
            engine=self.name,
            reason=reason or support.reason,
            timings=timings,
            log_likelihood=loglik,
            settings={
                "seed": seed,
                "chains": chains,
                "draws": draws,
                "warmup": warmup,
                "target_accept": settings.target_accept,
                "max_tree_depth": settings.max_tree_depth,
                "dense_mass": settings.dense_mass,
                "chain_method": chain_method,
                "warm_start": warm.source if warm is not None else "none",
                "parameterisation": warm.describe(spec) if warm is not None else {},
            },
        )
