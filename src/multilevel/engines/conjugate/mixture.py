"""Summaries of per-group mixtures over hyperparameter points.

Every exact answer of a conjugate chain has the form sum_k w_k F(. | theta_k, group): a
finite mixture with one component per hyperparameter point. Its mean and variance are
closed-form (law of total variance); its quantiles are found by bisection on the mixture CDF
(on integers for counts).
"""

from __future__ import annotations

import numpy as np

__all__ = ["mixture_moments", "mixture_quantiles", "mixture_cdf"]


def mixture_moments(dist, weights, *, moments=None):
    """Mean and variance of each group's mixture.

    ``dist`` broadcasts to (K, G); ``weights`` is (K, 1) or, per group, (K, G). The
    components' ``moments`` (means, variances) may be given instead of ``dist``.
    """
    if moments is None:
        moments = np.asarray(dist.mean(), float), np.asarray(dist.var(), float)
    means, variances = moments
    mean = np.sum(weights * means, axis=0)
    second = np.sum(weights * (variances + means**2), axis=0)
    with np.errstate(invalid="ignore"):  # heavy-tailed components: infinite variance
        var = np.where(np.isfinite(second), np.maximum(second - mean**2, 0.0), np.inf)
    return mean, var


def mixture_cdf(dist, weights, x):
    """Mixture CDF at x (one value per group)."""
    return np.sum(weights * np.asarray(dist.cdf(np.asarray(x)[None, :]), float), axis=0)


def _bracket(dist, p):
    """Bounds on the p-quantile of every component, per group: Cantelli's inequality on
    the components' moments, or the components' own quantiles where moments are infinite."""
    with np.errstate(invalid="ignore"):
        mean = np.asarray(dist.mean(), float)
        sd = np.sqrt(np.asarray(dist.var(), float))
        lo = np.min(mean - np.sqrt((1 - p) / p) * sd, axis=0)
        hi = np.max(mean + np.sqrt(p / (1 - p)) * sd, axis=0)
    heavy = ~(np.isfinite(lo) & np.isfinite(hi))
    if np.any(heavy):
        comp = np.asarray(dist.ppf(p), float)
        lo = np.where(heavy, np.min(comp, axis=0), lo)
        hi = np.where(heavy, np.max(comp, axis=0), hi)
    return lo, hi


TABLE_ELEMENTS = 4_000_000


def _count_quantiles(dist, weights, probs, top, n_groups):
    """Quantiles of a count mixture from its CDF tabulated on 0..top (support >= 0).

    Groups are processed in chunks so the (support, points, groups) table stays small.
    """
    support = np.arange(int(top) + 1, dtype=float)[:, None, None]
    weights = np.broadcast_to(weights, (weights.shape[0], n_groups))
    step = max(1, TABLE_ELEMENTS // (len(support) * weights.shape[0]))
    out = np.empty((len(probs), n_groups))
    for start in range(0, n_groups, step):
        cols = slice(start, min(start + step, n_groups))
        pmf = np.asarray(_columns(dist, cols).pmf(support), float)  # (X, K, g)
        cdf = np.cumsum(np.sum(weights[None, :, cols] * pmf, axis=1), axis=0)
        for i, p in enumerate(probs):
            out[i, cols] = np.argmax(cdf >= p - 1e-12, axis=0)
    return out


def _columns(dist, cols):
    """The same distribution restricted to the groups ``cols`` (scipy or _dists)."""

    def cut(a):
        a = np.asarray(a)
        return a[..., cols] if a.ndim == 2 and a.shape[-1] > 1 else a

    if hasattr(dist, "dist"):  # a scipy frozen distribution
        return dist.dist(*[cut(a) for a in dist.args], **{k: cut(v) for k, v in dist.kwds.items()})
    clone = object.__new__(type(dist))
    clone.__dict__.update({k: cut(v) for k, v in vars(dist).items()})
    return clone


def _newton_quantile(dist, weights, p, lo, hi, start, iterations, tol=1e-11):
    """Safeguarded Newton on the mixture CDF, per group: a Newton step, or bisection if it
    leaves the bracket; a group stops when its CDF is within ``tol`` of p."""
    x = np.clip(start, lo, hi) if start is not None else 0.5 * (lo + hi)
    active = np.ones(len(x), bool)
    for _ in range(iterations):
        idx = np.flatnonzero(active)
        if len(idx) == 0:
            break
        part = _columns(dist, idx) if len(idx) < len(x) else dist
        w = weights if weights.shape[1] == 1 else weights[:, idx]
        xi = x[idx]
        gap = np.sum(w * np.asarray(part.cdf(xi[None, :]), float), axis=0) - p
        lo[idx] = np.where(gap < 0, xi, lo[idx])
        hi[idx] = np.where(gap < 0, hi[idx], xi)
        done = (np.abs(gap) < tol) | (hi[idx] - lo[idx] <= 1e-12 * np.abs(xi) + 1e-300)
        density = np.sum(w * np.asarray(part.pdf(xi[None, :]), float), axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = xi - gap / density
        inside = np.isfinite(step) & (step > lo[idx]) & (step < hi[idx])
        x[idx] = np.where(done, xi, np.where(inside, step, 0.5 * (lo[idx] + hi[idx])))
        active[idx[done]] = False
    return x


def mixture_quantiles(dist, weights, probs, *, discrete=False, iterations=100, start=None):
    """Quantiles of each group's mixture, shape (len(probs), G).

    Brackets come from Cantelli's inequality on the components' moments. Continuous
    mixtures use safeguarded Newton from ``start`` (e.g. a moment-matched quantile, one
    row per probability); counts are tabulated when their range is small and bisected on
    integers otherwise.
    """
    probs = np.atleast_1d(probs)
    shape = np.broadcast_shapes(np.shape(dist.mean()), np.shape(weights))
    if discrete:
        hi_all = np.max([_bracket(dist, p)[1] for p in probs], axis=0)
        top = np.ceil(np.max(hi_all)) + 1
        if top * shape[0] <= TABLE_ELEMENTS:
            return _count_quantiles(dist, weights, probs, top, shape[1])
    out = []
    for i, p in enumerate(probs):
        lo, hi = _bracket(dist, p)
        if discrete:
            lo, hi = np.maximum(np.floor(lo) - 1, -1), np.ceil(hi) + 1
            while np.any(active := hi - lo > 1):
                mid = np.floor(0.5 * (lo + hi))
                below = mixture_cdf(dist, weights, mid) < p
                lo = np.where(active & below, mid, lo)
                hi = np.where(active & ~below, mid, hi)
            out.append(hi)
            continue
        first = None if start is None else np.asarray(start)[i]
        out.append(_newton_quantile(dist, weights, p, lo, hi, first, iterations))
    return np.array(out)
