r"""Group-specific noise in the Gibbs sampler: ``sigma ~ 1 + (1 | user)``.

The residual SD of row :math:`n` is :math:`\sigma_n = \exp(\eta_n)` with :math:`\eta = X_\sigma
b_\sigma + \sum_b z\, r_{\sigma, b}` (brms's log link). Given the residuals :math:`e` the rows
are independent and

.. math::

    \log p(e_n \mid \eta_n) = -\eta_n - e_n^2 e^{-2 \eta_n} / 2 ,

whose Fisher information about :math:`\eta_n` is 2 whatever :math:`e_n`. So the effects of one
level have information :math:`I_l = 2 \sum z^2 + sd^{-2}`, and a random-walk Metropolis step of
scale :math:`1.7 / \sqrt{I_l}` per level (every level at once, each accepted on its own; the
levels are independent given the rest) moves them well with no tuning. The coefficients take
one joint random-walk step with covariance :math:`(2.4^2 / p)(2 X^\top X + \text{prior})^{-1}`;
each block's SD is slice-sampled like the mean's, and the common level of an intercept block
moves to the intercept as in :mod:`._gibbs`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["NoiseModel", "noise_of", "initial_noise", "update_noise", "NoiseState"]


@dataclass(frozen=True, eq=False)
class NoiseModel:
    """The ``sigma`` formula's arrays, priors and fixed proposal scales."""

    X: np.ndarray
    offset: np.ndarray
    b_priors: tuple
    block_index: tuple[np.ndarray, ...]
    block_z: tuple[np.ndarray, ...]
    block_levels: tuple[int, ...]
    sd_priors: tuple
    information: tuple[np.ndarray, ...]  # 2 * sum z^2 per level
    shiftable: tuple[bool, ...]  # an intercept block in a formula with an intercept
    coefficient_step: np.ndarray  # Cholesky factor of the coefficients' proposal covariance


@dataclass
class NoiseState:
    """The noise model's current values; ``eta`` is log sigma per row."""

    beta: np.ndarray
    effects: list[np.ndarray]
    sd: np.ndarray
    eta: np.ndarray


def noise_of(spec) -> NoiseModel:
    """The :class:`NoiseModel` of ``spec.dpars["sigma"]``."""
    part = spec.design.dpars["sigma"]
    dspec = spec.dpars["sigma"]
    X = np.asarray(part.X, dtype=float)
    index = tuple(np.asarray(b.index[:, 0], dtype=np.int64) for b in part.blocks)
    z = tuple(np.asarray(b.Z[:, 0], dtype=float) for b in part.blocks)
    levels = tuple(b.n_levels for b in part.blocks)
    b_priors = tuple(spec.priors[n] for n in dspec.b_names)
    prior_precision = np.array([1.0 / max(p.support_scale()[1], 1e-3) ** 2 for p in b_priors])
    p = X.shape[1]
    if p:
        covariance = np.linalg.inv(2.0 * X.T @ X + np.diag(prior_precision))
        step = np.linalg.cholesky(covariance * 2.4**2 / p)
    else:
        step = np.zeros((0, 0))
    return NoiseModel(
        X=X,
        offset=np.asarray(part.offset, dtype=float),
        b_priors=b_priors,
        block_index=index,
        block_z=z,
        block_levels=levels,
        sd_priors=tuple(spec.priors[c.sd_names[0]] for c in dspec.covariance),
        information=tuple(
            2.0 * np.bincount(i, w * w, n) for i, w, n in zip(index, z, levels, strict=True)
        ),
        coefficient_step=step,
        shiftable=tuple(bool(part.intercept and np.all(w == 1.0)) for w in z),
    )


def initial_noise(noise: NoiseModel, residual: np.ndarray) -> NoiseState:
    """Log SD of the residuals as the intercept (if any), no group effects."""
    beta = np.zeros(noise.X.shape[1])
    if beta.size:
        log_sd = np.log(max(float(np.std(residual)), 1e-3))
        beta = np.linalg.lstsq(noise.X, np.full(residual.size, log_sd) - noise.offset, rcond=None)[
            0
        ]
    eta = noise.offset + noise.X @ beta
    return NoiseState(
        beta=beta,
        effects=[np.zeros(n) for n in noise.block_levels],
        sd=np.full(len(noise.block_levels), 0.3),
        eta=eta,
    )


def _row_loglik(eta: np.ndarray, squares: np.ndarray) -> np.ndarray:
    return -eta - 0.5 * squares * np.exp(-2.0 * eta)


def _shift(noise: NoiseModel, state: NoiseState, b: int, rng, slice_) -> None:
    """Move ``c`` from block ``b``'s effects to the intercept (the likelihood unchanged), ``c``
    slice-sampled from its conditional: the effects' normal prior times the intercept's."""
    effects, sd, prior = state.effects[b], state.sd[b], noise.b_priors[0]
    start = state.beta[0]

    def logp(c: float) -> float:
        deviation = effects - c
        return float(prior.logpdf(start + c)) - float(deviation @ deviation) / (2.0 * sd**2)

    c = slice_(logp, 0.0, rng, 2.5 * sd / np.sqrt(effects.size))
    state.effects[b] = effects - c
    state.beta[0] = start + c


def update_noise(
    noise: NoiseModel, state: NoiseState, residual: np.ndarray, rng: np.random.Generator, slice_
) -> None:
    """One Metropolis-within-Gibbs pass over the noise model given the residuals (module
    docstring); ``slice_(logp, x0, rng, width)`` samples a scalar."""
    from multilevel.engines.factorization._gibbs import log_scale_target

    squares = residual * residual
    if state.beta.size:
        proposal = state.beta + noise.coefficient_step @ rng.standard_normal(state.beta.size)
        shift = noise.X @ (proposal - state.beta)
        ratio = float(
            np.sum(_row_loglik(state.eta + shift, squares) - _row_loglik(state.eta, squares))
        )
        ratio += sum(
            float(p.logpdf(new) - p.logpdf(old))
            for p, new, old in zip(noise.b_priors, proposal, state.beta, strict=True)
        )
        if np.log(rng.uniform()) < ratio:
            state.beta = proposal
            state.eta = state.eta + shift
    for b, (index, z, n_levels) in enumerate(
        zip(noise.block_index, noise.block_z, noise.block_levels, strict=True)
    ):
        effects, sd = state.effects[b], state.sd[b]
        step = 1.7 / np.sqrt(noise.information[b] + 1.0 / sd**2)
        delta = step * rng.standard_normal(n_levels)
        shifted = state.eta + z * delta[index]
        change = np.bincount(
            index, _row_loglik(shifted, squares) - _row_loglik(state.eta, squares), n_levels
        )
        proposal = effects + delta
        change += (effects**2 - proposal**2) / (2.0 * sd**2)
        accept = np.log(rng.uniform(size=n_levels)) < change
        state.effects[b] = np.where(accept, proposal, effects)
        state.eta = np.where(accept[index], shifted, state.eta)
        if noise.shiftable[b]:
            _shift(noise, state, b, rng, slice_)
        count, total = float(n_levels), float(state.effects[b] @ state.effects[b])
        logp = log_scale_target(noise.sd_priors[b], count, total)
        state.sd[b] = np.exp(slice_(logp, np.log(sd), rng, 2.5 / np.sqrt(count + 1.0)))
