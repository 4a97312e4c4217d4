"""Fit a :class:`~multilevel.spec.conjugate.ConjugateSpec` exactly.

The group parameters are integrated out analytically; the hyperparameters are

- ``"bayes"``: integrated by adaptive-grid quadrature against their prior;
- ``"eb"``: set to the maximum of the marginal likelihood (empirical Bayes);
- fixed: set to the user's values (then no group informs another).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from multilevel.engines.conjugate.base import Chain
from multilevel.engines.conjugate.binomial import BetaBinomialChain
from multilevel.engines.conjugate.gamma import GammaGammaChain
from multilevel.engines.conjugate.normal import NormalKnownChain, NormalUnknownChain
from multilevel.engines.conjugate.poisson import GammaPoissonChain
from multilevel.engines.conjugate.quadrature import (
    HyperPosterior,
    find_mode,
    grid_posterior,
    hessian,
    point_posterior,
    to_theta,
    to_z,
)
from multilevel.errors import DataWarning
from multilevel.spec.conjugate import ConjugateSpec, GroupStats
from multilevel.spec.priors import Prior, parse_prior

__all__ = ["CHAINS", "ConjugateResult", "fit_spec", "fit_stats"]

BOUNDARY_DISTANCE = 25.0  # how far (in log units) to look for a supremum at the boundary

CHAINS: dict[str, type[Chain]] = {
    "normal_known": NormalKnownChain,
    "normal": NormalUnknownChain,
    "binomial": BetaBinomialChain,
    "poisson": GammaPoissonChain,
    "gamma": GammaGammaChain,
}
DESCRIPTIONS = {
    "normal_known": "normal-normal with known standard errors",
    "normal": "normal-normal with unknown noise SD",
    "binomial": "beta-binomial",
    "poisson": "gamma-Poisson",
    "gamma": "gamma-gamma (known shape)",
}


@dataclass(frozen=True)
class ConjugateResult:
    """What the engine hands to the results layer."""

    chain: Chain
    priors: dict[str, Prior]
    hyper: HyperPosterior
    reason: str
    seconds: float


def resolve_priors(chain: Chain, user: dict[str, Prior]) -> dict[str, Prior]:
    """User priors completed by the chain's data-scaled defaults (positive ones truncated)."""
    out = {}
    for name, text in chain.default_priors().items():
        prior = user.get(name) or parse_prior(text)
        positive = chain.positive[chain.hyper_names.index(name)]
        out[name] = prior.truncated(0.0) if positive and prior.lower is None else prior
    return out


def log_posterior(chain: Chain, priors: dict[str, Prior] | None):
    """log p(z | data) up to a constant, z the unconstrained hyperparameters (K, d)."""
    positive = np.asarray(chain.positive)

    def density(z):
        z = np.atleast_2d(z)
        theta = to_theta(z, positive)
        with np.errstate(all="ignore"):
            value = chain.log_marginal_total(theta)
            if priors is not None:
                for j, name in enumerate(chain.hyper_names):
                    value = (
                        value + priors[name].logpdf(theta[:, j]) + (z[:, j] if positive[j] else 0)
                    )
        return np.where(np.isnan(value), -np.inf, value)

    return density


def _empirical_bayes(chain: Chain) -> HyperPosterior:
    """Maximum marginal likelihood; a supremum approached at the edge of the parameter space
    (no between-group variation) is detected along the chain's boundary directions."""
    positive = np.asarray(chain.positive)
    density = log_posterior(chain, None)
    scalar = lambda z: float(density(z)[0])  # noqa: E731
    mode, best = find_mode(scalar, to_z(chain.initial(), positive))
    at_bound = []
    for label, direction in chain.boundary_directions.items():
        far = mode + BOUNDARY_DISTANCE * np.asarray(direction, float)
        if scalar(far) >= best - 1e-9:
            polished, value = find_mode(scalar, far, bound=1.0)
            if value >= best - 1e-9:
                mode, best = polished, max(value, best)
                at_bound.append(label)
    covariance = None
    if not at_bound:
        info = -hessian(scalar, mode)
        if np.all(np.isfinite(info)):
            try:
                covariance = np.linalg.inv(info)
            except np.linalg.LinAlgError:
                covariance = None
    if at_bound:
        warnings.warn(
            "the marginal likelihood is largest at the edge of the parameter space: "
            + "; ".join(at_bound)
            + ". The estimate sits on that boundary (complete pooling).",
            DataWarning,
            stacklevel=4,
        )
    return point_posterior("eb", to_theta(mode, positive), positive, covariance, at_bound)


def fit_stats(chain: Chain, priors: dict[str, Prior], hyper) -> HyperPosterior:
    """The hyperparameter posterior for the chain's statistics under a treatment."""
    if isinstance(hyper, dict):
        return point_posterior("fixed", [hyper[n] for n in chain.hyper_names], chain.positive)
    if hyper == "eb":
        return _empirical_bayes(chain)
    positive = np.asarray(chain.positive)
    density = log_posterior(chain, priors)
    z0 = to_z(chain.initial(), positive)
    mode, _ = find_mode(lambda z: float(density(z)[0]), z0, polish=False)
    return grid_posterior(density, mode, positive=positive, costly=chain.costly_axes)


def fit_spec(spec: ConjugateSpec, stats: GroupStats | None = None) -> ConjugateResult:
    """Fit the spec (or the same model on other ``stats``, e.g. with a group left out)."""
    start = time.perf_counter()
    chain = CHAINS[spec.chain](spec.stats if stats is None else stats)
    priors = resolve_priors(chain, spec.priors)
    hyper = fit_stats(chain, priors, spec.hyper)
    if hyper.kind == "bayes":
        how = f"hyperparameters integrated by quadrature on {len(hyper.weights)} grid points"
    elif hyper.kind == "eb":
        how = "hyperparameters at their maximum marginal likelihood (empirical Bayes)"
    else:
        how = "hyperparameters fixed by the user, so groups do not inform each other"
    reason = f"exact conjugate engine: {DESCRIPTIONS[spec.chain]}; {how}"
    return ConjugateResult(chain, priors, hyper, reason, time.perf_counter() - start)
