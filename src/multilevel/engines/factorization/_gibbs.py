r"""One blocked Gibbs sweep through a gaussian factor model, every conditional exact.

With :math:`\tau = \sigma^{-2}` and the residual :math:`e = y - \mathrm{offset} - X\beta -
\sum_b z\, r_b - f` kept current (``f`` is the factor part :math:`u_{i(n)} \cdot v_{j(n)}`):

1. users' factors given everything else: per user the gaussian regression of
   :func:`multilevel.linalg.segments.segment_gram` on the factors of the items it rated,
   prior :math:`N(m_i, \Lambda_u^{-1})`; then the items' given the users' (BPMF);
2. a group's (artist's) factors given its members': :math:`P_a = \Lambda_w + n_a \Lambda_v`,
   :math:`b_a = \Lambda_v \sum_{j \in a} v_j`;
3. each precision: :math:`\mathrm{Wishart}(\nu_0 + L, (W_0^{-1} + \sum_l (x_l - m_l)(x_l -
   m_l)^\top)^{-1})`;
4. the population coefficients given the rest, with normal priors, or Student-t ones written as
   scale mixtures of normals (an exact Gamma step for each mixing weight);
5. each block's group effects (one coefficient per level), independent across levels; then,
   for a block of intercepts in a model with an intercept, a move of their common level
   (``r - c`` and the intercept ``+ c``, the likelihood unchanged) with ``c`` from its exact
   conditional (Liu & Sabatti 2000's group move), which keeps the intercept from mixing
   as slowly as the centred effects would let it;
0. for a bernoulli response with probit link (Albert & Chib 1993), the latent gaussian of
   each row from its normal distribution truncated to the side its response says; the rest
   is the gaussian model of the latent values with :math:`\sigma = 1`;
6. the standard deviations and :math:`\sigma` by slice sampling (Neal 2003) of their log
   given their sufficient statistics, under any prior density; with a formula for
   ``sigma`` (group-specific noise) each row has its own :math:`\tau_n`, updated by the
   Metropolis steps of :mod:`._noise`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from multilevel.engines.factorization._noise import NoiseState, initial_noise, update_noise
from multilevel.engines.factorization._problem import Problem
from multilevel.linalg.segments import gaussian_draws, row_products, segment_gram

__all__ = ["State", "initial_state", "sweep", "slice_sample", "log_scale_target"]


@dataclass
class State:
    """A chain's current values (mutated by :func:`sweep`)."""

    beta: np.ndarray
    mixing: np.ndarray
    effects: list[np.ndarray]
    sd: np.ndarray
    sigma: float
    factors: list[np.ndarray]
    precision: list[np.ndarray]
    factor_part: np.ndarray
    residual: np.ndarray
    noise: NoiseState | None = None
    latent: np.ndarray | None = None  # probit: the latent gaussian of each row

    def row_precision(self) -> np.ndarray | None:
        """``tau`` per row with a sigma formula, else None (``1 / sigma^2`` for all)."""
        return None if self.noise is None else np.exp(-2.0 * self.noise.eta)


def _factor_part(problem: Problem, factors: list[np.ndarray]) -> np.ndarray:
    users = problem.sets[0]
    return row_products(factors[0], users.index, factors[1], users.other_index)


def initial_state(problem: Problem, rng: np.random.Generator) -> State:
    """Least-squares coefficients, no group effects, small random factors (so chains start
    apart), the prior's precisions."""
    latent = (2.0 * problem.y - 1.0) * 0.5 if problem.binary else None
    target = (problem.y if latent is None else latent) - problem.offset
    p = problem.X.shape[1]
    beta = np.linalg.lstsq(problem.X, target, rcond=None)[0] if p else np.zeros(0)
    sd_y = float(np.std(target)) or 1.0
    scale2 = problem.wishart_scale_inverse[0, 0] / problem.wishart_df
    factors = [
        rng.normal(0.0, 0.5 * np.sqrt(scale2), (s.n_levels, problem.k)) for s in problem.sets
    ]
    precision = [np.eye(problem.k) / scale2 for _ in problem.sets]
    f = _factor_part(problem, factors)
    residual = target - problem.X @ beta - f
    noise = None if problem.noise is None else initial_noise(problem.noise, residual)
    return State(
        latent=latent,
        noise=noise,
        beta=beta,
        mixing=np.ones(p),
        effects=[np.zeros(n) for n in problem.block_levels],
        sd=np.full(len(problem.block_levels), 0.5 * sd_y),
        sigma=1.0 if problem.binary else float(np.std(residual)) or sd_y,
        factors=factors,
        precision=precision,
        factor_part=f,
        residual=residual,
    )


def slice_sample(logp, x0: float, rng: np.random.Generator, width: float = 1.0) -> float:
    """One slice-sampling update of a scalar with log density ``logp`` (stepping out, then
    shrinking; Neal 2003, section 4)."""
    level = logp(x0) - rng.exponential()
    lo = x0 - width * rng.uniform()
    hi = lo + width
    left = int(32 * rng.uniform())
    right = 31 - left
    while left > 0 and logp(lo) > level:
        lo -= width
        left -= 1
    while right > 0 and logp(hi) > level:
        hi += width
        right -= 1
    while True:
        x = rng.uniform(lo, hi)
        if logp(x) > level:
            return x
        if x < x0:
            lo = x
        else:
            hi = x


def log_scale_target(prior, count: float, squares: float):
    """Log density of ``log s`` for a scale ``s`` with ``count`` gaussian values of sum of
    squares ``squares`` (``prior`` on ``s``; the Jacobian included)."""

    def logp(x: float) -> float:
        if x > 30 or x < -30:
            return -np.inf
        s = np.exp(x)
        return float(prior.logpdf(s)) + x - count * x - squares / (2.0 * s * s)

    return logp


def _prior_means(problem: Problem, state: State, i: int) -> np.ndarray | None:
    parent = problem.sets[i].parent
    if parent is None:
        return None
    return state.factors[parent][problem.sets[i].parent_index]


def _update_side(problem: Problem, state: State, i: int, rng: np.random.Generator) -> None:
    fs = problem.sets[i]
    weights = state.row_precision()
    target = state.residual + state.factor_part
    gram, linear = segment_gram(fs.rows, state.factors[1 - i], weights, target)
    if weights is None:
        tau = 1.0 / state.sigma**2
        gram *= tau
        linear *= tau
    lam = state.precision[i]
    precision = gram + lam
    means = _prior_means(problem, state, i)
    if means is not None:
        linear += means @ lam
    state.factors[i] = gaussian_draws(precision, linear, rng)
    state.factor_part = _factor_part(problem, state.factors)
    state.residual = target - state.factor_part


def _update_group(problem: Problem, state: State, g: int, rng: np.random.Generator) -> None:
    child = problem.sets[g].child
    members = state.factors[child]
    parent_index = problem.sets[child].parent_index
    n_levels = problem.sets[g].n_levels
    counts = np.bincount(parent_index, minlength=n_levels).astype(float)
    sums = np.zeros((n_levels, problem.k))
    np.add.at(sums, parent_index, members)
    lam_child = state.precision[child]
    precision = state.precision[g] + counts[:, None, None] * lam_child
    state.factors[g] = gaussian_draws(precision, sums @ lam_child, rng)


def _update_precision(problem: Problem, state: State, i: int, rng: np.random.Generator) -> None:
    deviations = state.factors[i]
    means = _prior_means(problem, state, i)
    if means is not None:
        deviations = deviations - means
    scatter = problem.wishart_scale_inverse + deviations.T @ deviations
    scale = np.linalg.inv(scatter)
    df = problem.wishart_df + deviations.shape[0]
    state.precision[i] = stats.wishart(df=df, scale=(scale + scale.T) / 2).rvs(random_state=rng)


def _update_beta(problem: Problem, state: State, rng: np.random.Generator) -> None:
    if not state.beta.size:
        return
    X = problem.X
    target = state.residual + X @ state.beta
    pri = problem.priors
    prior_precision = np.where(np.isfinite(pri.scale), state.mixing / pri.scale**2, 0.0)
    weights = state.row_precision()
    if weights is None:
        tau = 1.0 / state.sigma**2
        precision = tau * problem.XtX + np.diag(prior_precision)
        linear = tau * (X.T @ target) + prior_precision * pri.mean
    else:
        precision = X.T @ (weights[:, None] * X) + np.diag(prior_precision)
        linear = X.T @ (weights * target) + prior_precision * pri.mean
    state.beta = gaussian_draws(precision[None], linear[None], rng)[0]
    state.residual = target - X @ state.beta
    t = np.isfinite(pri.nu)
    if t.any():
        z2 = ((state.beta[t] - pri.mean[t]) / pri.scale[t]) ** 2
        nu = pri.nu[t]
        state.mixing[t] = rng.gamma((nu + 1.0) / 2.0, 2.0 / (nu + z2))


def _update_effects(problem: Problem, state: State, rng: np.random.Generator) -> None:
    weights = state.row_precision()
    tau = 1.0 / state.sigma**2 if weights is None else weights
    for b, (index, z, n_levels) in enumerate(
        zip(problem.block_index, problem.block_z, problem.block_levels, strict=True)
    ):
        target = state.residual + z * state.effects[b][index]
        tz = tau * z
        precision = np.bincount(index, tz * z, n_levels) + 1.0 / state.sd[b] ** 2
        mean = np.bincount(index, tz * target, n_levels) / precision
        effects = mean + rng.standard_normal(n_levels) / np.sqrt(precision)
        state.effects[b] = effects
        state.residual = target - z * effects[index]
        if problem.intercept and problem.block_intercept[b]:
            _shift(problem, state, b, rng)
            effects = state.effects[b]
        count, squares = float(n_levels), float(effects @ effects)
        logp = log_scale_target(problem.sd_priors[b], count, squares)
        state.sd[b] = np.exp(
            slice_sample(logp, np.log(state.sd[b]), rng, 2.5 / np.sqrt(count + 1.0))
        )


def _shift(problem: Problem, state: State, b: int, rng: np.random.Generator) -> None:
    """Move ``c`` from block ``b``'s intercepts to the population intercept: the density of
    ``c`` given everything else is gaussian (the effects' normal prior times the intercept's
    normal prior given its mixing weight)."""
    effects, sd = state.effects[b], state.sd[b]
    pri = problem.priors
    precision = effects.size / sd**2
    linear = effects.sum() / sd**2
    if np.isfinite(pri.scale[0]):
        prior_precision = state.mixing[0] / pri.scale[0] ** 2
        precision += prior_precision
        linear += prior_precision * (pri.mean[0] - state.beta[0])
    c = linear / precision + rng.standard_normal() / np.sqrt(precision)
    state.effects[b] = effects - c
    state.beta[0] += c


def _update_latent(problem: Problem, state: State, rng: np.random.Generator) -> None:
    """Albert & Chib's step: latent ~ N(eta, 1) truncated to > 0 where y = 1, < 0 where 0."""
    eta = state.latent - state.residual
    positive = problem.y > 0.5
    lower = np.where(positive, -eta, -np.inf)
    upper = np.where(positive, np.inf, -eta)
    state.latent = eta + stats.truncnorm.rvs(lower, upper, random_state=rng)
    state.residual = state.latent - eta


def _update_sigma(problem: Problem, state: State, rng: np.random.Generator) -> None:
    if problem.binary:
        return  # sigma = 1 identifies the probit scale
    if state.noise is not None:
        update_noise(problem.noise, state.noise, state.residual, rng, slice_sample)
        return
    n = float(problem.n)
    logp = log_scale_target(problem.sigma_prior, n, float(state.residual @ state.residual))
    state.sigma = float(np.exp(slice_sample(logp, np.log(state.sigma), rng, 2.5 / np.sqrt(n))))


def sweep(problem: Problem, state: State, rng: np.random.Generator) -> None:
    """One Gibbs sweep (module docstring), in place."""
    if problem.binary:
        _update_latent(problem, state, rng)
    _update_side(problem, state, 0, rng)
    _update_side(problem, state, 1, rng)
    for g in range(2, len(problem.sets)):
        _update_group(problem, state, g, rng)
    for i in range(len(problem.sets)):
        _update_precision(problem, state, i, rng)
    _update_beta(problem, state, rng)
    _update_effects(problem, state, rng)
    _update_sigma(problem, state, rng)
