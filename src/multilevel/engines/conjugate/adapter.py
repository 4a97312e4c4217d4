"""The exact conjugate engine behind ``multilevel.fit``: a formula model that *is* a
classical Normal–Normal hierarchy is fitted by :mod:`multilevel.engines.conjugate`.

``y ~ 1 + (1 | g)`` (gaussian, identity link) is the Normal–Normal chain with unknown noise
SD, and ``y | se(s) ~ 1 + (1 | g)`` the one with known standard errors: the group means
integrate out in closed form, the hyperparameters (``b_Intercept`` = mu,
``sd_g__Intercept`` = tau, ``sigma``) by adaptive quadrature with the spec's priors. The
draws handed back are independent: a hyperparameter draw from the quadrature grid, then
each group's mean from its exact conditional posterior given it.

Other families with normal group effects on a link scale (logit, log) are not conjugate,
and the beta–binomial and gamma–Poisson chains of :func:`multilevel.fit_conjugate` are
different models from brms's, so they are not substituted for them.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from multilevel.engines.protocol import SamplerSettings, Support
from multilevel.errors import EngineError
from multilevel.posterior import Posterior

__all__ = ["ConjugateEngine"]

_MAX_LOG_LIK_VALUES = 50_000_000


class ConjugateEngine:
    """Exact inference for ``y ~ 1 + (1 | g)`` and ``y | se(s) ~ 1 + (1 | g)`` (gaussian)."""

    name = "conjugate"
    methods = ("conjugate",)
    auto_label = ""

    def supports(self, spec) -> Support:
        """Whether ``spec`` is a Normal–Normal hierarchy, and why (not)."""
        d = spec.design
        family = spec.family
        if family.name != "gaussian" or family.link != "identity":
            return Support(False, f"the {family} family is not conjugate to normal group effects")
        if spec.dpars:
            return Support(False, "a family parameter has its own formula")
        if tuple(d.X_names) != ("Intercept",) or np.any(d.offset != 0):
            return Support(False, "the model has population-level predictors or an offset")
        if len(d.blocks) != 1:
            return Support(False, f"the model has {len(d.blocks)} group terms, not one")
        block = d.blocks[0]
        if block.q != 1 or block.coef_names != ("Intercept",) or block.multiple_membership:
            return Support(False, "the group term is not a single varying intercept")
        if d.weights is not None:
            return Support(False, "the model has weights()")
        for name in (spec.b_names[0], *spec.covariance[0].sd_names, *spec.aux_names):
            if spec.priors[name].dist == "flat":
                return Support(False, f"{name} has a flat prior (quadrature needs a proper one)")
        chain = "known standard errors" if spec.known_sigma else "unknown noise SD"
        return Support(
            True,
            f"y ~ 1 + (1 | {block.name}) with a gaussian family is the Normal-Normal chain "
            f"with {chain}: group means integrate out exactly and the hyperparameters by "
            "adaptive quadrature (independent draws, no MCMC)",
        )

    def _conjugate_spec(self, spec):
        from multilevel.spec.conjugate import build_conjugate_spec

        d = spec.design
        block = d.blocks[0]
        sd_name = spec.covariance[0].sd_names[0]
        frame = {"y": np.asarray(d.y, float), "g": np.asarray(block.index[:, 0])}
        priors = {"mu": spec.priors[spec.b_names[0]], "tau": spec.priors[sd_name]}
        columns = {"y": "y"}
        if spec.known_sigma:
            frame["se"] = np.asarray(d.se, float)
            columns["se"] = "se"
        else:
            priors["sigma"] = spec.priors["sigma"]
        return build_conjugate_spec(
            pd.DataFrame(frame), likelihood="normal", group="g", priors=priors, **columns
        )

    def fit(self, spec, settings: SamplerSettings, *, reason: str = "") -> Posterior:
        """Exact posterior draws of ``spec`` (``settings.warmup`` and the NUTS settings are
        not needed).

        Returns
        -------
        Posterior
            ``chains * draws`` independent draws laid out as ``(chains, draws)``.
        """
        from multilevel.engines.conjugate.engine import fit_spec
        from multilevel.engines.conjugate.quadrature import hyper_draws

        chains, draws, seed = settings.chains, settings.draws, settings.seed
        support = self.supports(spec)
        if not support:
            raise EngineError(f"the conjugate engine cannot fit this model: {support.reason}")
        start = time.perf_counter()
        cspec = self._conjugate_spec(spec)
        result = fit_spec(cspec)
        fitted = time.perf_counter() - start

        rng = np.random.default_rng(seed)
        total = chains * draws
        theta = hyper_draws(result.hyper, total, rng)
        named = dict(zip(result.chain.hyper_names, theta.T, strict=True))
        means = result.chain.posterior_dist(theta, cspec.stats).rvs(
            size=(total, len(cspec.labels)), random_state=rng
        )
        r = means - named["mu"][:, None]
        levels = spec.design.blocks[0].n_levels
        if r.shape[1] != levels:  # pragma: no cover - defensive
            raise AssertionError("conjugate groups do not match the design's levels")

        def shaped(values):
            return np.asarray(values).reshape((chains, draws) + np.shape(values)[1:])

        block = spec.covariance[0]
        out = {spec.b_names[0]: shaped(named["mu"]), block.sd_names[0]: shaped(named["tau"])}
        if not spec.known_sigma:
            out["sigma"] = shaped(named["sigma"])
        out[block.key] = shaped(r[:, :, None])
        timings = {"quadrature": fitted, "draws": time.perf_counter() - start - fitted}

        loglik = None
        d = spec.design
        if total * d.n <= _MAX_LOG_LIK_VALUES:
            index = d.blocks[0].index[:, 0]
            mean = named["mu"][:, None] + r[:, index]
            if spec.known_sigma:
                sigma = np.asarray(d.se, float)[None, :]
            else:
                sigma = named["sigma"][:, None]
            z = (np.asarray(d.y, float)[None, :] - mean) / sigma
            loglik = shaped(-0.5 * z**2 - np.log(sigma) - 0.5 * np.log(2 * np.pi))
        return Posterior(
            draws=out,
            sample_stats={},
            engine=self.name,
            reason=reason or support.reason,
            timings=timings,
            log_likelihood=loglik,
            settings={
                "seed": seed,
                "chains": chains,
                "draws": draws,
                "grid_points": len(result.hyper.weights),
                "hyperparameter_reason": result.reason,
            },
        )
