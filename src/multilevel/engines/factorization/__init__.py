"""The factorization engine (``method="gibbs"``): models with a ``factors(user, item, k)``
term, by blocked Gibbs sampling with exact conditionals (:mod:`._gibbs`).

Gaussian responses with identity link (with a formula for ``sigma``: group-specific noise,
:mod:`._noise`) and bernoulli ones with probit link (a latent gaussian per row); implicit
counts (``implicit = TRUE``, poisson with identity link) by hierarchical Poisson
factorization (:mod:`._implicit`, variational); population-
level terms with normal, Student-t, Cauchy or flat priors; group terms with one coefficient
per level (``(1 | user)``, ``(0 + x | g)``); any prior on the standard deviations and
``sigma``. Each chain runs its sweeps on numpy arrays that grow with the rows and levels,
never with users x items.

Draws of every level's effects and factors are kept for every ``thin``-th iteration, ``thin``
the smallest that keeps them within :data:`LEVEL_DRAW_BYTES` (recorded in the settings and
the reason); the scalar parameters are kept at the same iterations.
"""

from __future__ import annotations

import math
import time

import numpy as np

from multilevel.engines.protocol import SamplerSettings, Support
from multilevel.errors import EngineError
from multilevel.posterior import Posterior

__all__ = ["FactorizationEngine", "factorization_support", "LEVEL_DRAW_BYTES"]

#: Memory for the kept draws of every level's effects and factors (float32).
LEVEL_DRAW_BYTES = 1 << 29
#: The pointwise log-likelihood is kept when it has at most this many values.
LOG_LIKELIHOOD_VALUES = 20_000_000
_COEFFICIENT_PRIORS = ("normal", "student_t", "cauchy", "flat")


def factorization_support(spec) -> Support:
    """Whether the Gibbs sampler fits ``spec``, and why (not)."""
    if getattr(spec, "factors", None) is None:
        return Support(False, "the model has no factors() term")
    if spec.design.factors.term.implicit:
        from multilevel.engines.factorization._implicit import implicit_support

        return Support(*implicit_support(spec))
    family = spec.family
    if (family.name, family.link) not in (("gaussian", "identity"), ("bernoulli", "probit")):
        return Support(
            False,
            f"factor models of the {family} family are not implemented yet; the Gibbs sampler "
            "fits gaussian ratings (identity link) and bernoulli ones with probit link",
        )
    if spec.dpars and family.name != "gaussian":
        return Support(False, "a formula for sigma needs the gaussian family")
    if set(spec.dpars) - {"sigma"}:
        return Support(False, "only sigma may have its own formula with factors()")
    for block in spec.design.dpars["sigma"].blocks if spec.dpars else ():
        if block.q != 1 or block.multiple_membership:
            return Support(
                False,
                f"the sigma formula's group term {block.source or block.name} has {block.q} "
                "coefficients; with factors() the group terms have one coefficient each",
            )
    d = spec.design
    if d.weights is not None or d.se is not None:
        return Support(False, "weights() and se() are not implemented for factor models yet")
    for block in d.blocks:
        if block.q != 1 or block.multiple_membership:
            return Support(
                False,
                f"the group term {block.source or block.name} has {block.q} coefficients"
                f"{' and multiple membership' if block.multiple_membership else ''}; with "
                "factors() the group terms have one coefficient each, e.g. (1 | user)",
            )
    for name in spec.b_names:
        prior = spec.priors.get(name)
        if prior is not None and (prior.dist not in _COEFFICIENT_PRIORS or prior.lower is not None):
            return Support(
                False,
                f"the prior {prior.to_stan()} of {name}: with factors() the coefficients take "
                "normal, student_t, cauchy or flat priors",
            )
    term = spec.design.factors.term
    grouped = [
        f"{c} by {g}" for c, g in ((term.user, term.user_group), (term.item, term.item_group)) if g
    ]
    sets = f"{term.user} and {term.item}" + (f" ({', '.join(grouped)})" if grouped else "")
    model = "gaussian" if family.name == "gaussian" else "probit (latent gaussian)"
    return Support(
        True,
        f"{model} factor model, k = {spec.factors.k} factors of {sets}: blocked Gibbs "
        "sampling with exact conditionals",
    )


def _thinning(problem, chains: int, draws: int) -> int:
    per_draw = 4 * (sum(problem.block_levels) + problem.k * sum(s.n_levels for s in problem.sets))
    return max(1, math.ceil(per_draw * chains * draws / LEVEL_DRAW_BYTES))


class FactorizationEngine:
    """Blocked Gibbs sampling of gaussian models with a ``factors()`` term."""

    name = "factorization"
    methods = ("gibbs",)
    auto_label = ""
    fits_factors = True

    def supports(self, spec) -> Support:
        """Gaussian factor models (module docstring)."""
        return factorization_support(spec)

    def fit(self, spec, settings: SamplerSettings, *, reason: str = "") -> Posterior:
        """Run ``settings.chains`` chains of ``warmup + draws`` sweeps each.

        Chains run one after another (docs/decisions.md: threads were no faster, and
        worker processes would re-run a user's script or fork a multi-threaded process).

        Returns
        -------
        Posterior
            Draws under brms names, ``r_block<i>`` effects, ``factors_<set>`` factors
            ``(chains, kept, levels, k)`` and ``factors_<set>_cov`` covariances, for every
            ``thin``-th iteration after warmup.

        Raises
        ------
        EngineError
            A model the engine does not fit.
        """
        from multilevel.engines._progress import sampling_progress, tick
        from multilevel.engines.factorization._draws import DrawStore
        from multilevel.engines.factorization._gibbs import initial_state, sweep
        from multilevel.engines.factorization._problem import problem_of
        from multilevel.linalg.threads import blas_threads

        support = self.supports(spec)
        if not support:
            raise EngineError(f"the factorization engine cannot fit this model: {support.reason}")
        if spec.design.factors.term.implicit:
            from multilevel.engines.factorization._implicit import fit_implicit

            return fit_implicit(spec, settings, reason or support.reason)
        start = time.perf_counter()
        problem = problem_of(spec)
        prepared = time.perf_counter() - start
        chains, draws, warmup = settings.chains, settings.draws, settings.warmup
        thin = _thinning(problem, chains, draws)
        kept = math.ceil(draws / thin)
        keep_loglik = settings.log_likelihood and chains * kept * problem.n <= LOG_LIKELIHOOD_VALUES
        store = DrawStore(problem, chains, kept, log_likelihood=keep_loglik)
        rngs = np.random.default_rng(settings.seed).spawn(chains)
        t0 = time.perf_counter()
        label = f"Gibbs, {chains} chain{'s' if chains > 1 else ''}"
        with (
            blas_threads(),
            sampling_progress(settings.progress, label, warmup, draws, chains, compiles=False),
        ):
            for c, rng in enumerate(rngs):
                state = initial_state(problem, rng)
                for it in range(warmup + draws):
                    sweep(problem, state, rng)
                    after = it - warmup
                    if after >= 0 and after % thin == 0:
                        store.keep(c, after // thin, state)
                    tick(1, it)
        sampled = time.perf_counter() - t0
        note = f"; every {thin}th draw kept (memory)" if thin > 1 else ""
        return Posterior(
            draws=store.draws(),
            sample_stats={"log_likelihood_sum": store.log_likelihood_sum},
            engine=self.name,
            reason=f"{reason or support.reason}{note}",
            timings={"prepare": prepared, "warmup_and_sampling": sampled},
            log_likelihood=store.log_likelihood,
            settings={
                "seed": settings.seed,
                "chains": chains,
                "draws": draws,
                "warmup": warmup,
                "thin": thin,
                "sampler": "blocked Gibbs (exact conditionals)",
            },
        )
