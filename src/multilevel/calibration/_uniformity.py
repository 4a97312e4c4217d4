r"""Tests of the uniformity of SBC ranks, and the bands the plots draw.

A rank is the number of the ``L`` posterior draws below the true value, so under a
calibrated model it is uniform on :math:`\{0, \dots, L\}` (Talts et al. 2018). Two tests:

- **ECDF** (Säilynoja, Bürkner & Vehtari 2022). The empirical CDF of the ``N`` ranks is read
  at ``K - 1`` cut points :math:`c_k` (:math:`K = \min(N, L + 1, 100)` equal parts of the
  rank range); under uniformity the count :math:`N F(c_k)` is
  :math:`\mathrm{Binomial}(N, p_k)` with :math:`p_k = (c_k + 1) / (L + 1)`. The statistic
  is the smallest two-sided binomial tail probability over the cut points,
  :math:`\gamma = \min_k 2 \min(P(X \le N F_k), P(X \ge N F_k))`; its null distribution is
  simulated (multinomial rank histograms) once per ``(N, L)``, exactly for discrete ranks.
  The p-value is the share of null statistics at or below the observed one; the
  simultaneous :math:`1 - \alpha` band is the pointwise binomial interval at the
  :math:`\alpha` quantile of the null statistics (their "simulation" method). Sensitive
  to shifts and to too wide or too narrow posteriors alike.
- **chi-square** on ``B`` bins of equal width in rank (:func:`bins`: about 5 expected
  ranks per bin, at most 20 bins), with the exact expected count of each bin.

:func:`describe` puts the departure in words: the larger in z-score of the shift of the mean
of the scaled ranks :math:`u = \mathrm{rank} / L` from 1/2 (SE :math:`\sqrt{1/(12N)}`) and of
their variance from 1/12 (SE :math:`\sqrt{1/(180N)}`).

Examples
--------
>>> import numpy as np
>>> ranks = np.random.default_rng(0).integers(0, 100, size=200)   # uniform on 0..99
>>> bool(ecdf_pvalue(ranks, 99) > 0.01), bool(chisq_pvalue(ranks, 99) > 0.01)
(True, True)
>>> shifted = np.minimum(ranks + 30, 99)                           # piles up at the top
>>> float(ecdf_pvalue(shifted, 99)) < 1e-3, describe(shifted, 99)
(True, 'ranks pile up at the high end: the posterior underestimates the parameter')
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = [
    "bins",
    "bin_probabilities",
    "chisq_pvalue",
    "ecdf_pvalue",
    "ecdf_band",
    "histogram_band",
    "describe",
]

#: Largest number of ECDF cut points + 1, and of null replicates, and the null's seed.
MAX_PARTS = 100
NULL_DRAWS = 20_000
_NULL_SEED = 20220211


def bins(n: int, L: int) -> int:
    """Number of histogram / chi-square bins for ``n`` ranks on ``0..L``."""
    return int(max(2, min(20, n // 5, L + 1)))


def _bin_of(ranks, L: int, B: int) -> np.ndarray:
    return (np.asarray(ranks, dtype=np.int64) * B) // (L + 1)


def bin_probabilities(L: int, B: int) -> np.ndarray:
    return np.bincount(_bin_of(np.arange(L + 1), L, B), minlength=B) / (L + 1)


def chisq_pvalue(ranks, L: int) -> float:
    """Pearson's chi-square test of uniform ranks on ``0..L``, on :func:`bins` bins."""
    from scipy import stats

    ranks = np.asarray(ranks)
    B = bins(ranks.size, L)
    expected = ranks.size * bin_probabilities(L, B)
    observed = np.bincount(_bin_of(ranks, L, B), minlength=B)
    stat = float(np.sum((observed - expected) ** 2 / expected))
    return float(stats.chi2.sf(stat, B - 1))


def _cuts(n: int, L: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut points ``c_k`` (ranks) and their null CDF ``p_k``."""
    parts = int(max(2, min(n, L + 1, MAX_PARTS)))
    k = np.arange(1, parts)
    cuts = np.unique(np.ceil(k * (L + 1) / parts).astype(np.int64) - 1)
    return cuts, (cuts + 1) / (L + 1)


@functools.lru_cache(maxsize=32)
def _tails(n: int, L: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(cuts, p, lower, upper)``: ``lower[k, c] = P(X <= c)``, ``upper[k, c] = P(X >= c)``
    for ``X ~ Binomial(n, p_k)``, ``c = 0..n``."""
    from scipy import stats

    cuts, p = _cuts(n, L)
    c = np.arange(n + 1)
    lower = stats.binom.cdf(c[None, :], n, p[:, None])
    upper = stats.binom.sf(c[None, :] - 1, n, p[:, None])
    return cuts, p, lower, upper


def _statistic(counts: np.ndarray, n: int, L: int) -> np.ndarray:
    """The ECDF statistic of ``(..., K-1)`` counts at the cut points."""
    _, _, lower, upper = _tails(n, L)
    k = np.arange(lower.shape[0])
    tail = np.minimum(lower[k, counts], upper[k, counts])
    return np.min(2.0 * tail, axis=-1)


@functools.lru_cache(maxsize=32)
def _null(n: int, L: int) -> np.ndarray:
    """Sorted ECDF statistics of :data:`NULL_DRAWS` uniform rank samples of size ``n``."""
    cuts, p = _cuts(n, L)
    widths = np.diff(np.concatenate([[0.0], p, [1.0]]))
    rng = np.random.default_rng(_NULL_SEED)
    out = []
    for start in range(0, NULL_DRAWS, 5_000):
        size = min(5_000, NULL_DRAWS - start)
        counts = np.cumsum(rng.multinomial(n, widths, size=size), axis=1)[:, :-1]
        out.append(_statistic(counts, n, L))
    return np.sort(np.concatenate(out))


def _counts(ranks, L: int) -> np.ndarray:
    cuts, _ = _cuts(np.size(ranks), L)
    return np.searchsorted(np.sort(np.asarray(ranks)), cuts, side="right")


def ecdf_pvalue(ranks, L: int) -> float:
    """p-value of the simultaneous ECDF test of uniform ranks on ``0..L``; its smallest
    value is ``1 / (NULL_DRAWS + 1)``."""
    ranks = np.asarray(ranks)
    n = ranks.size
    observed = _statistic(_counts(ranks, L), n, L)
    null = _null(n, L)
    below = np.searchsorted(null, observed * (1 + 1e-12), side="right")
    return float((1 + below) / (null.size + 1))


def ecdf_band(n: int, L: int, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(p, lower, upper)``: at the cut points' null CDF ``p``, the simultaneous ``level``
    band of the ECDF of ``n`` uniform ranks on ``0..L`` (as fractions)."""
    from scipy import stats

    _, p = _cuts(n, L)
    gamma = float(np.quantile(_null(n, L), 1.0 - level))
    lower = stats.binom.ppf(gamma / 2, n, p) / n
    upper = stats.binom.ppf(1 - gamma / 2, n, p) / n
    return p, lower, upper


def ecdf(ranks, L: int) -> tuple[np.ndarray, np.ndarray]:
    """``(p, F)``: the ECDF of the ranks at the cut points, with their null CDF ``p``."""
    ranks = np.asarray(ranks)
    _, p = _cuts(ranks.size, L)
    return p, _counts(ranks, L) / ranks.size


def histogram_band(n: int, L: int, level: float = 0.99) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise ``level`` binomial interval ``(lower, upper)`` of each bin's count."""
    from scipy import stats

    B = bins(n, L)
    q = bin_probabilities(L, B)
    tail = (1 - level) / 2
    return stats.binom.ppf(tail, n, q), stats.binom.ppf(1 - tail, n, q)


def describe(ranks, L: int) -> str:
    """The main departure from uniform ranks, in words."""
    u = np.asarray(ranks, dtype=float) / max(L, 1)
    n = u.size
    z_mean = (u.mean() - 0.5) / np.sqrt(1 / 12 / n)
    z_spread = (np.var(u) - 1 / 12) / np.sqrt(1 / 180 / n)
    if max(abs(z_mean), abs(z_spread)) < 2:
        return "no clear shift or spread"
    if abs(z_mean) >= abs(z_spread):
        if z_mean > 0:
            return "ranks pile up at the high end: the posterior underestimates the parameter"
        return "ranks pile up at the low end: the posterior overestimates the parameter"
    if z_spread > 0:
        return "ranks pile up at both ends: the posterior is too narrow (overconfident)"
    return "ranks pile up in the middle: the posterior is too wide (underconfident)"
