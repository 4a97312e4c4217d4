r"""Hierarchical Poisson factorization by coordinate-ascent variational inference.

The model of Gopalan, Hofman & Blei (2015, "Scalable Recommendation with Hierarchical
Poisson Factorization", UAI), for users :math:`u`, items :math:`i` and :math:`k` factors:

.. math::

    \xi_u \sim \mathrm{Gamma}(a', a'/b'), \qquad
    \theta_{uk} \mid \xi_u \sim \mathrm{Gamma}(a, \xi_u), \\
    \eta_i \sim \mathrm{Gamma}(c', c'/d'), \qquad
    \beta_{ik} \mid \eta_i \sim \mathrm{Gamma}(c, \eta_i), \\
    y_{ui} \sim \mathrm{Poisson}(\theta_u^\top \beta_i) \quad \text{for every pair } (u, i),

Gammas in (shape, rate); the pairs absent from the data are zeros. The mean-field family is
:math:`q(\theta_{uk}) = \mathrm{Gamma}(\gamma^{shp}_{uk}, \gamma^{rte}_{uk})`,
:math:`q(\beta_{ik}) = \mathrm{Gamma}(\lambda^{shp}_{ik}, \lambda^{rte}_{ik})`,
:math:`q(\xi_u) = \mathrm{Gamma}(\kappa^{shp}_u, \kappa^{rte}_u)`,
:math:`q(\eta_i) = \mathrm{Gamma}(\tau^{shp}_i, \tau^{rte}_i)` and a multinomial
:math:`\phi_{ui}` over the factors for each non-zero. One iteration (the paper's Figure 5):

.. math::

    \phi_{uik} &\propto \exp\{\psi(\gamma^{shp}_{uk}) - \log\gamma^{rte}_{uk}
        + \psi(\lambda^{shp}_{ik}) - \log\lambda^{rte}_{ik}\}, \\
    \gamma^{shp}_{uk} &= a + \textstyle\sum_i y_{ui}\phi_{uik}, \\
    \gamma^{rte}_{uk} &= \kappa^{shp}_u/\kappa^{rte}_u
        + \textstyle\sum_i \lambda^{shp}_{ik}/\lambda^{rte}_{ik}, \\
    \kappa^{rte}_u &= a'/b' + \textstyle\sum_k \gamma^{shp}_{uk}/\gamma^{rte}_{uk},

and symmetrically for the items, with :math:`\kappa^{shp}_u = a' + k a` and
:math:`\tau^{shp}_i = c' + k c` fixed. The sums over :math:`i` of :math:`y_{ui}\phi_{uik}`
run over the non-zeros only (vectorised, in chunks: memory ``O(chunk k)``); the sums over all
items of :math:`E[\beta_{ik}]` are column sums. Pure numpy and scipy: no formula, no spec.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, gammaln

__all__ = ["PoissonFactors", "poisson_factorization"]

#: The paper's hyperparameters ``(a, a', b', c, c', d')``.
DEFAULT_PRIOR = (0.3, 0.3, 1.0, 0.3, 0.3, 1.0)

#: Relative size of the random perturbation of the initial shapes and rates.
_INIT_JITTER = 0.1


@dataclass(frozen=True, eq=False)
class PoissonFactors:
    """The variational posterior of a hierarchical Poisson factorization.

    Parameters
    ----------
    user_shape, user_rate : numpy.ndarray
        float ``(n_users, k)``: :math:`q(\\theta_{uk}) = \\mathrm{Gamma}(shape, rate)`.
    item_shape, item_rate : numpy.ndarray
        float ``(n_items, k)``: :math:`q(\\beta_{ik})`.
    activity_shape, activity_rate : numpy.ndarray
        float ``(n_users,)``: :math:`q(\\xi_u)`, the users' activities.
    popularity_shape, popularity_rate : numpy.ndarray
        float ``(n_items,)``: :math:`q(\\eta_i)`, the items' popularities.
    elbo : numpy.ndarray
        float ``(iterations + 1,)``: the evidence lower bound (up to the constant
        :math:`-\\sum \\log y_{ui}!`) at the start and after each iteration; ``elbo[-1]``
        belongs to the parameters returned.
    iterations : int
        CAVI iterations run.
    converged : bool
        Whether the relative change of the ELBO fell below ``tol``.
    """

    user_shape: np.ndarray
    user_rate: np.ndarray
    item_shape: np.ndarray
    item_rate: np.ndarray
    activity_shape: np.ndarray
    activity_rate: np.ndarray
    popularity_shape: np.ndarray
    popularity_rate: np.ndarray
    elbo: np.ndarray
    iterations: int
    converged: bool

    def user_mean(self) -> np.ndarray:
        """float ``(n_users, k)``: :math:`E_q[\\theta]`."""
        return self.user_shape / self.user_rate

    def item_mean(self) -> np.ndarray:
        """float ``(n_items, k)``: :math:`E_q[\\beta]`."""
        return self.item_shape / self.item_rate

    def draws(self, n: int, rng=None) -> tuple[np.ndarray, np.ndarray]:
        """``n`` independent draws of the factors from :math:`q`.

        Parameters
        ----------
        n : int
            Number of draws.
        rng : numpy.random.Generator or int or None
            Random generator, or a seed for one.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            float32 ``(n, n_users, k)`` draws of :math:`\\theta` and ``(n, n_items, k)`` of
            :math:`\\beta`.
        """
        rng = np.random.default_rng(rng)
        size = (int(n),)
        theta = rng.gamma(self.user_shape, 1.0 / self.user_rate, size + self.user_shape.shape)
        beta = rng.gamma(self.item_shape, 1.0 / self.item_rate, size + self.item_shape.shape)
        return theta.astype(np.float32), beta.astype(np.float32)


@dataclass(eq=False)
class _State:
    """The variational parameters, updated in place."""

    user_shape: np.ndarray
    user_rate: np.ndarray
    item_shape: np.ndarray
    item_rate: np.ndarray
    activity_shape: np.ndarray
    activity_rate: np.ndarray
    popularity_shape: np.ndarray
    popularity_rate: np.ndarray


def poisson_factorization(
    user,
    item,
    count,
    n_users: int,
    n_items: int,
    k: int,
    *,
    seed=None,
    max_iter: int = 200,
    tol: float = 1e-5,
    prior=DEFAULT_PRIOR,
    chunk: int = 1 << 20,
) -> PoissonFactors:
    r"""Fit hierarchical Poisson factorization by CAVI over the non-zero counts.

    Each iteration computes :math:`\phi` for every non-zero (optimal for the current
    parameters), then updates the users' :math:`\gamma, \kappa` and the items'
    :math:`\lambda, \tau` in turn; every step maximises the ELBO over its block, so the ELBO
    never decreases. The ELBO is exact for the model: the expected log-likelihood of the
    non-zeros through :math:`\phi`, minus :math:`\sum_{u,i} E[\theta_u]^\top E[\beta_i]
    = \sum_k (\sum_u E[\theta_{uk}])(\sum_i E[\beta_{ik}])` over all pairs, minus the KL
    divergence of each Gamma factor from its (conditional) prior.

    Parameters
    ----------
    user, item : array_like
        int ``(nnz,)``: the user and item of each non-zero, ``0 <= user < n_users``,
        ``0 <= item < n_items``. A pair listed twice counts as the sum of its counts.
    count : array_like
        ``(nnz,)``: non-negative integer counts (zeros are allowed and skipped).
    n_users, n_items : int
        Numbers of users and items; the pairs not listed are zeros.
    k : int
        Number of factors, ``k >= 1``.
    seed : int or numpy.random.Generator or None
        Randomness of the initialisation (the prior with a small random perturbation).
    max_iter : int
        Most iterations.
    tol : float
        Stop when ``|elbo[t] - elbo[t-1]| <= tol * |elbo[t-1]|``.
    prior : tuple of float
        ``(a, a', b', c, c', d')``; the paper's ``(0.3, 0.3, 1, 0.3, 0.3, 1)`` by default.
    chunk : int
        Non-zeros processed at a time: about ``3 * 8 * chunk * k`` bytes of temporaries. The
        non-zeros are kept sorted by user with each chunk's order by item, about 20 bytes per
        non-zero (5e7 non-zeros with ``k = 10`` fit in about 1.5 GB besides the inputs).

    Returns
    -------
    PoissonFactors
        The variational parameters, the ELBO trace and whether it converged.

    Examples
    --------
    >>> user = np.array([0, 0, 1, 2, 2, 3])
    >>> item = np.array([0, 1, 1, 2, 3, 3])
    >>> fit = poisson_factorization(user, item, [3, 1, 2, 4, 2, 1], 4, 4, k=2, seed=0)
    >>> fit.user_mean().shape, fit.item_mean().shape, bool(np.all(np.diff(fit.elbo) >= 0))
    ((4, 2), (4, 2), True)
    >>> theta, beta = fit.draws(5, np.random.default_rng(1))
    >>> theta.shape, beta.dtype
    ((5, 4, 2), dtype('float32'))
    """
    n_users, n_items, k = (
        _positive_int(n_users, "n_users"),
        _positive_int(n_items, "n_items"),
        _positive_int(k, "k"),
    )
    max_iter = _nonnegative_int(max_iter, "max_iter")
    chunk = _positive_int(chunk, "chunk")
    tol = float(tol)
    if not (np.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite non-negative number, got {tol}")
    prior = _check_prior(prior)
    user, item, count = _check_data(user, item, count, n_users, n_items)

    user_count = np.bincount(user, count, minlength=n_users)
    item_count = np.bincount(item, count, minlength=n_items)
    chunks = _chunks(user, item, count, chunk)
    del user, item, count
    state = _initial_state(n_users, n_items, k, prior, np.random.default_rng(seed))
    elbo = []
    converged = False
    iterations = 0
    while True:
        user_log, item_log = _expected_logs(state)
        user_stat, item_stat, loglik = _nonzero_pass(
            user_log, item_log, chunks, user_count, item_count
        )
        elbo.append(loglik + _elbo_rest(state, user_log, item_log, prior))
        if len(elbo) > 1 and abs(elbo[-1] - elbo[-2]) <= tol * abs(elbo[-2]):
            converged = True
            break
        if iterations == max_iter:
            break
        _update(state, user_stat, item_stat, prior)
        iterations += 1
    return PoissonFactors(
        **vars(state), elbo=np.asarray(elbo), iterations=iterations, converged=converged
    )


def _initial_state(n_users, n_items, k, prior, rng) -> _State:
    """The prior's shapes and rates, perturbed by a relative ``U(0, 0.1)``; the activities'
    and popularities' rates are then their updates given the factors."""
    a, a1, b1, c, c1, d1 = prior

    def jitter(value, shape):
        return value * (1.0 + _INIT_JITTER * rng.random(shape))

    user_shape, user_rate = jitter(a, (n_users, k)), jitter(b1, (n_users, k))
    item_shape, item_rate = jitter(c, (n_items, k)), jitter(d1, (n_items, k))
    return _State(
        user_shape,
        user_rate,
        item_shape,
        item_rate,
        np.full(n_users, a1 + k * a),
        a1 / b1 + (user_shape / user_rate).sum(1),
        np.full(n_items, c1 + k * c),
        c1 / d1 + (item_shape / item_rate).sum(1),
    )


def _expected_logs(state: _State) -> tuple[np.ndarray, np.ndarray]:
    """:math:`E_q[\\log\\theta]` and :math:`E_q[\\log\\beta]`."""
    return (
        digamma(state.user_shape) - np.log(state.user_rate),
        digamma(state.item_shape) - np.log(state.item_rate),
    )


@dataclass(frozen=True, eq=False)
class _Chunk:
    """A run of non-zeros (sorted by user) and the layout of its segment sums."""

    user: np.ndarray  # (m,) views into the user-sorted data
    item: np.ndarray
    count: np.ndarray
    user_starts: np.ndarray  # where each user's run starts
    user_ids: np.ndarray  # (unique within the chunk)
    item_order: np.ndarray  # int32 positions sorted by item
    item_starts: np.ndarray
    item_ids: np.ndarray

    @classmethod
    def of(cls, user, item, count) -> _Chunk:
        user_starts = _run_starts(user)
        item_order = np.argsort(item, kind="stable")
        item_order = item_order.astype(np.int32) if item.size < 2**31 else item_order
        sorted_item = item[item_order]
        item_starts = _run_starts(sorted_item)
        return cls(
            user,
            item,
            count,
            user_starts,
            user[user_starts],
            item_order,
            item_starts,
            sorted_item[item_starts],
        )


def _run_starts(sorted_index: np.ndarray) -> np.ndarray:
    """Positions where a sorted index changes value (the first included)."""
    starts = np.flatnonzero(np.r_[True, sorted_index[1:] != sorted_index[:-1]])
    return starts.astype(np.int32) if sorted_index.size < 2**31 else starts


def _chunks(user, item, count, chunk: int) -> list[_Chunk]:
    """The non-zeros sorted by user (if they are not already), cut into chunks."""
    if np.any(user[1:] < user[:-1]):
        order = np.argsort(user, kind="stable")
        user, item, count = user[order], item[order], count[order]
        del order
    return [
        _Chunk.of(user[s : s + chunk], item[s : s + chunk], count[s : s + chunk])
        for s in range(0, count.size, chunk)
    ]


def _nonzero_pass(user_log, item_log, chunks, user_count, item_count):
    """The sums over the non-zeros given the optimal :math:`\\phi`.

    Returns ``sum_i y phi`` per user and factor ``(n_users, k)``, ``sum_u y phi`` per item
    ``(n_items, k)``, and the likelihood term ``sum y log sum_k exp(Elog theta + Elog beta)``
    (which equals ``sum_k y phi_k (Elog theta_k + Elog beta_k - log phi_k)`` at the optimum).
    ``user_count`` and ``item_count`` are the total counts of each user and item.
    """
    n_users, k = user_log.shape
    n_items = item_log.shape[0]
    # exp of the expected logs, each row scaled by its maximum (added back to the log-sum):
    # phi is then a product of two gathered rows, no exp per non-zero
    user_max, item_max = user_log.max(1), item_log.max(1)
    user_exp = np.exp(user_log - user_max[:, None]).T.copy()  # (k, n_users): rows contiguous
    item_exp = np.exp(item_log - item_max[:, None]).T.copy()
    user_stat = np.zeros((k, n_users))
    item_stat = np.zeros((k, n_items))
    loglik = float(user_count @ user_max + item_count @ item_max)
    for c in chunks:
        w = np.take(user_exp, c.user, axis=1)
        w *= np.take(item_exp, c.item, axis=1)  # (k, m): unnormalised phi
        total = w.sum(0)
        log_total = np.log(total, out=np.full_like(total, -np.inf), where=total > 0)
        small = total < 1e-250
        if small.any():  # factors that disagree wildly: normalise in log space instead
            u, i = c.user[small], c.item[small]
            logit = user_log[u] + item_log[i] - (user_max[u] + item_max[i])[:, None]
            top = logit.max(1)
            w[:, small] = np.exp(logit - top[:, None]).T
            total[small] = w[:, small].sum(0)
            log_total[small] = top + np.log(total[small])
        loglik += float(c.count @ log_total)
        w *= c.count / total  # y phi
        # segment sums (ids unique within a chunk, so fancy-index += is exact)
        user_stat[:, c.user_ids] += np.add.reduceat(w, c.user_starts, axis=1)
        w = np.take(w, c.item_order, axis=1)
        item_stat[:, c.item_ids] += np.add.reduceat(w, c.item_starts, axis=1)
    return user_stat.T, item_stat.T, loglik


def _gamma_entropy(shape, rate):
    return shape - np.log(rate) + gammaln(shape) + (1.0 - shape) * digamma(shape)


def _side_terms(shape, rate, log_factor, top_shape, top_rate, a, a1, b1):
    """Prior minus entropy terms of one side: factors ``Gamma(a, xi)`` under a shared
    ``xi ~ Gamma(a', a'/b')`` per row."""
    mean_top = top_shape / top_rate
    log_top = digamma(top_shape) - np.log(top_rate)
    mean = shape / rate
    k = shape.shape[1]
    factor_prior = (
        k * a * log_top.sum()
        - shape.size * gammaln(a)
        + (a - 1.0) * log_factor.sum()
        - (mean_top @ mean.sum(1))
    )
    top_prior = top_shape.size * (a1 * np.log(a1 / b1) - gammaln(a1)) + (
        (a1 - 1.0) * log_top.sum() - (a1 / b1) * mean_top.sum()
    )
    entropy = _gamma_entropy(shape, rate).sum() + _gamma_entropy(top_shape, top_rate).sum()
    return factor_prior + top_prior + entropy


def _elbo_rest(state: _State, user_log, item_log, prior) -> float:
    """The ELBO but for the non-zeros' term: the all-pairs Poisson mean and the Gamma terms."""
    a, a1, b1, c, c1, d1 = prior
    user_mean = state.user_shape / state.user_rate
    item_mean = state.item_shape / state.item_rate
    mean_term = user_mean.sum(0) @ item_mean.sum(0)
    users = _side_terms(
        state.user_shape,
        state.user_rate,
        user_log,
        state.activity_shape,
        state.activity_rate,
        a,
        a1,
        b1,
    )
    items = _side_terms(
        state.item_shape,
        state.item_rate,
        item_log,
        state.popularity_shape,
        state.popularity_rate,
        c,
        c1,
        d1,
    )
    return float(users + items - mean_term)


def _update(state: _State, user_stat, item_stat, prior) -> None:
    """One round of the users' then the items' updates given the non-zeros' sums."""
    a, a1, b1, c, c1, d1 = prior
    state.user_shape = a + user_stat
    item_total = (state.item_shape / state.item_rate).sum(0)
    state.user_rate = (state.activity_shape / state.activity_rate)[:, None] + item_total
    state.activity_rate = a1 / b1 + (state.user_shape / state.user_rate).sum(1)
    state.item_shape = c + item_stat
    user_total = (state.user_shape / state.user_rate).sum(0)
    state.item_rate = (state.popularity_shape / state.popularity_rate)[:, None] + user_total
    state.popularity_rate = c1 / d1 + (state.item_shape / state.item_rate).sum(1)


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _nonnegative_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def _check_prior(prior) -> tuple[float, ...]:
    values = np.asarray(prior, dtype=float)
    if values.shape != (6,) or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(
            f"prior must be six positive numbers (a, a', b', c, c', d'), got {prior!r}"
        )
    return tuple(float(v) for v in values)


def _check_index(values, n: int, name: str, size: int) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 1 or values.size != size:
        raise ValueError(f"{name} must be one-dimensional with one entry per count ({size})")
    if values.dtype.kind not in "iu":
        if values.size and (
            values.dtype.kind not in "f"
            or not np.all(np.isfinite(values))
            or np.any(values != np.round(values))
        ):
            raise ValueError(f"{name} indices must be integers")
    if values.size and (values.min() < 0 or values.max() >= n):
        raise ValueError(f"{name} index out of range: must lie in [0, {n})")
    return values.astype(np.int32 if n < 2**31 else np.int64, copy=False)


def _check_data(user, item, count, n_users, n_items):
    count = np.asarray(count)
    if count.ndim != 1:
        raise ValueError("count must be one-dimensional")
    if count.dtype.kind not in "iuf" and count.size:
        raise ValueError("counts must be numbers")
    count = count.astype(np.float64, copy=False)
    if not np.all(np.isfinite(count)):
        raise ValueError("counts must be finite")
    if np.any(count < 0):
        raise ValueError("counts must be non-negative")
    if np.any(count != np.round(count)):
        raise ValueError("counts must be integers")
    user = _check_index(user, n_users, "user", count.size)
    item = _check_index(item, n_items, "item", count.size)
    keep = count > 0
    if not keep.all():
        user, item, count = user[keep], item[keep], count[keep]
    return user, item, count
