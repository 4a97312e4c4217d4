r"""Implicit counts, ``count ~ 0 + factors(user, item, k, implicit = TRUE)`` with
``poisson(link = "identity")``: hierarchical Poisson factorization (Gopalan, Hofman & Blei
2015) by coordinate-ascent variational inference over the non-zero counts only
(:func:`multilevel.linalg.poisson_factorization.poisson_factorization`).

The rate of every user-item pair is :math:`\theta_u \cdot \beta_i` with non-negative gamma
factors, shrunk by each user's activity and each item's popularity; pairs absent from the
data are zero counts. The fit is the mean-field variational posterior (gamma factors), an
approximation the reason and the settings state; its "draws" are independent draws from it.
"""

from __future__ import annotations

import time

import numpy as np

from multilevel.naming import factor_key
from multilevel.posterior import Posterior

__all__ = ["implicit_support", "fit_implicit", "MAX_ITERATIONS"]

#: CAVI iterations at most; it stops earlier when the evidence lower bound changes by less
#: than 1e-5 of itself.
MAX_ITERATIONS = 500


def implicit_support(spec) -> tuple[bool, str]:
    """Whether ``spec`` is the hierarchical Poisson factorization model, and why (not)."""
    family, d = spec.family, spec.design
    if family.name != "poisson" or family.link != "identity":
        return False, (
            "implicit = TRUE is hierarchical Poisson factorization: the rate of each pair is "
            "u · v with non-negative factors, so the family is poisson(link = 'identity'), "
            f"not {family}"
        )
    if d.X.shape[1] or d.blocks or np.any(d.offset != 0):
        return False, (
            "hierarchical Poisson factorization has the factors only: write "
            f"'{d.response} ~ 0 + factors(...)' (no intercept, predictors, group terms or "
            "offsets; the users' activity and the items' popularity are in the model)"
        )
    if spec.dpars or d.weights is not None:
        return False, "implicit counts take no distributional formulas or weights()"
    if d.factors.users.group is not None or d.factors.items.group is not None:
        return False, "user_group and item_group are not implemented for implicit counts yet"
    return True, (
        f"implicit counts, k = {spec.factors.k}: hierarchical Poisson factorization by "
        "mean-field variational inference (CAVI over the non-zero counts)"
    )


def fit_implicit(spec, settings, reason: str) -> Posterior:
    """Fit by CAVI; draw ``chains x draws`` independent draws from the variational
    posterior."""
    from multilevel.linalg.poisson_factorization import poisson_factorization

    d = spec.design
    users, items = d.factors.users, d.factors.items
    start = time.perf_counter()
    fitted = poisson_factorization(
        np.asarray(users.index),
        np.asarray(items.index),
        np.asarray(d.y),
        users.n_levels,
        items.n_levels,
        spec.factors.k,
        seed=settings.seed,
        max_iter=MAX_ITERATIONS,
    )
    seconds = time.perf_counter() - start
    chains, draws = settings.chains, settings.draws
    theta, beta = fitted.draws(chains * draws, np.random.default_rng(settings.seed))
    shape = (chains, draws)
    part = np.empty(chains * draws)
    for s in range(chains * draws):  # the SD of the rate over the non-zero rows
        part[s] = np.std(np.einsum("nk,nk->n", theta[s][users.index], beta[s][items.index]))
    state = (
        f"converged after {fitted.iterations} iterations"
        if fitted.converged
        else f"stopped after {fitted.iterations} iterations without converging"
    )
    return Posterior(
        draws={
            "sd_factors": part.reshape(shape),
            factor_key(users.name): theta.reshape(shape + theta.shape[1:]),
            factor_key(items.name): beta.reshape(shape + beta.shape[1:]),
        },
        sample_stats={},
        engine="factorization",
        reason=f"{reason}; {state}; draws are independent draws from the variational posterior",
        timings={"variational_inference": seconds},
        settings={
            "seed": settings.seed,
            "chains": chains,
            "draws": draws,
            "inference": "variational (CAVI, mean-field gamma)",
            "iterations": fitted.iterations,
            "converged": fitted.converged,
            "elbo": float(fitted.elbo[-1]),
        },
    )
