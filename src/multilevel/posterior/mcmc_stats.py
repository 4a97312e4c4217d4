"""Posterior summary statistics of many parameters at once: ArviZ's numbers, vectorized.

:func:`summary_statistics` returns exactly what ``arviz.summary(kind="all")`` reports (mean,
sd, mcse_mean, mcse_sd, ess_bulk, ess_tail, r_hat: rank-normalised split R-hat and ESS of
Vehtari et al. 2021, Geyer's initial positive and monotone sequences), but for all parameters
in one pass of array operations, with the 5%, 50% and 95% quantiles it needs anyway. ArviZ
computes them one scalar parameter at a time in Python (1.2 s for radon's 176 parameters;
hours for 10^5 group effects); see docs/decisions.md. The tests compare the two on random and
autocorrelated draws.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import fft as sfft
from scipy import special
from scipy.fft import next_fast_len

__all__ = ["summary_statistics", "average_ranks", "COLUMNS"]

#: The statistics of :func:`summary_statistics`, in order.
COLUMNS = (
    "mean",
    "sd",
    "q5",
    "q50",
    "q95",
    "mcse_mean",
    "mcse_sd",
    "ess_bulk",
    "ess_tail",
    "r_hat",
)
_CHUNK_VALUES = 2_000_000  # draws x parameters handled at once (per thread)


def summary_statistics(draws: np.ndarray) -> dict[str, np.ndarray]:
    """ArviZ's summary statistics of every parameter.

    Parameters
    ----------
    draws : numpy.ndarray
        ``(chains, draws, parameters)``.

    Returns
    -------
    dict of numpy.ndarray
        ``mean, sd, q5, q50, q95, mcse_mean, mcse_sd, ess_bulk, ess_tail, r_hat``, one value
        per parameter (quantiles of type 7, as numpy's default; the rest NaN where ArviZ gives
        NaN: a parameter with a NaN draw, fewer than 4 draws, R-hat with one chain).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> out = summary_statistics(rng.normal(size=(4, 500, 3)))
    >>> bool(np.all(out["ess_bulk"] > 1000)), bool(np.all(np.abs(out["r_hat"] - 1) < 0.01))
    (True, True)
    """
    draws = np.asarray(draws, dtype=float)
    if draws.ndim != 3:
        raise ValueError(f"draws must be (chains, draws, parameters), got shape {draws.shape}")
    chains, n, p = draws.shape
    out = {c: np.full(p, np.nan) for c in COLUMNS}
    step = max(1, _CHUNK_VALUES // max(chains * n, 1))

    def one(start: int) -> None:
        # parameters first: every operation below runs along contiguous draws
        part = np.ascontiguousarray(np.moveaxis(draws[:, :, start : start + step], 2, 0))
        for name, values in _chunk(part).items():
            out[name][start : start + step] = values

    starts = range(0, p, step)
    if len(starts) == 1:
        one(0)
    else:  # numpy's sorts and FFTs release the GIL: chunks run on every core
        with ThreadPoolExecutor(max_workers=min(len(starts), os.cpu_count() or 1)) as pool:
            list(pool.map(one, starts))
    return out


def _chunk(x: np.ndarray) -> dict[str, np.ndarray]:
    """Statistics of ``x`` ``(parameters, chains, draws)``."""
    p, chains, n = x.shape
    size = chains * n
    flat = x.reshape(p, size)
    mean = flat.mean(axis=1)
    sd = flat.std(axis=1, ddof=1) if size > 1 else np.full(p, np.nan)
    q5, q50, q95 = np.quantile(flat, [0.05, 0.5, 0.95], axis=1)  # ArviZ's type 7 quantiles
    out = {"mean": mean, "sd": sd, "q5": q5, "q50": q50, "q95": q95}
    nan = np.full(p, np.nan)
    if n < 4:
        return dict(out, mcse_mean=nan, mcse_sd=nan, ess_bulk=nan, ess_tail=nan, r_hat=nan)

    split = _split(x)
    z_split = _z_scale(split)
    ess_tail = np.minimum(
        _ess(_split(x <= q5[:, None, None])), _ess(_split(x <= q95[:, None, None]))
    )
    if chains >= 2:
        folded = np.abs(x - np.median(flat, axis=1)[:, None, None])
        r_hat = np.maximum(_rhat(z_split), _rhat(_z_scale(_split(folded))))
    else:
        r_hat = nan
    ess_mean = _ess(split)
    squares = (x - mean[:, None, None]) ** 2
    mcse_mean = np.sqrt(squares.sum(axis=(1, 2)) / (size - 1) / ess_mean)
    evar = squares.mean(axis=(1, 2))
    varvar = ((squares**2).mean(axis=(1, 2)) - evar**2) / _ess(_split(squares))
    with np.errstate(invalid="ignore", divide="ignore"):
        mcse_sd = np.sqrt(varvar / evar / 4)
    out.update(
        mcse_mean=mcse_mean,
        mcse_sd=mcse_sd,
        ess_bulk=_ess(z_split),
        ess_tail=ess_tail,
        r_hat=r_hat,
    )
    invalid = np.isnan(flat).any(axis=1)
    for name in ("mcse_mean", "mcse_sd", "ess_bulk", "ess_tail", "r_hat"):
        out[name] = np.where(invalid, np.nan, out[name])
    return out


def _split(x: np.ndarray) -> np.ndarray:
    """Each chain's first and last halves as separate chains (the middle draw of an odd
    number dropped)."""
    half = x.shape[2] // 2
    return np.concatenate([x[:, :, :half], x[:, :, x.shape[2] - half :]], axis=1).astype(float)


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1 of ``values`` (1-D), ties sharing their average rank:
    ``scipy.stats.rankdata(values)`` without importing scipy.stats (half a second).

    Examples
    --------
    >>> average_ranks(np.array([3.0, 1.0, 3.0, 2.0]))
    array([3.5, 1. , 3.5, 2. ])
    """
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    counts = np.diff(np.r_[starts, ordered.size])
    ranks = np.empty(ordered.size)
    ranks[order] = np.repeat(starts + (counts + 1) / 2, counts)
    return ranks


def _z_scale(x: np.ndarray) -> np.ndarray:
    """Rank-normalise each parameter over all chains and draws (Blom's offset 3/8)."""
    p, m, n = x.shape
    size = m * n
    flat = x.reshape(p, size)
    order = np.argsort(flat, axis=1)
    # without ties the z-scores are a fixed table put in each parameter's rank order
    table = special.ndtri((np.arange(1.0, size + 1) - 0.375) / (size + 0.25))
    z = np.empty_like(flat)
    np.put_along_axis(z, order, table[None, :], axis=1)
    ordered = np.take_along_axis(flat, order, axis=1)
    tied = (np.diff(ordered, axis=1) == 0).any(axis=1)
    for row in np.flatnonzero(tied):  # average ranks of ties, as ArviZ (scipy's rankdata)
        ranks = average_ranks(flat[row])
        z[row] = special.ndtri((ranks - 0.375) / (size + 0.25))
    return z.reshape(p, m, n)


def _rhat(x: np.ndarray) -> np.ndarray:
    n = x.shape[2]
    between = n * np.var(x.mean(axis=2), axis=1, ddof=1)
    within = np.mean(np.var(x, axis=2, ddof=1), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt((between / within + n - 1) / n)


def _ess(x: np.ndarray) -> np.ndarray:
    """ArviZ's ``_ess`` of each parameter of ``x`` ``(parameters, chains, draws)``."""
    p, m, n = x.shape
    x = np.asarray(x, dtype=float)
    constant = (x.max(axis=(1, 2)) - x.min(axis=(1, 2))) < np.finfo(float).resolution
    centred = x - x.mean(axis=2, keepdims=True)
    length = next_fast_len(2 * n)
    spectrum = sfft.rfft(centred, n=length, axis=2, workers=-1)
    power = (spectrum * np.conjugate(spectrum)).real
    acov = sfft.irfft(power, n=length, axis=2, workers=-1)[:, :, :n] / n
    mean_acov = acov.mean(axis=1).T  # (n, p)
    mean_var = mean_acov[0] * n / (n - 1.0)
    var_plus = mean_var * (n - 1.0) / n
    if m > 1:
        var_plus = var_plus + np.var(x.mean(axis=2), axis=1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = 1.0 - (mean_var - mean_acov) / var_plus
    rho[0] = 1.0

    # Geyer's initial positive sequence over pairs P_j = rho[2j] + rho[2j+1]
    k_cap = max(0, (n - 3) // 2)  # iterations t = 1, 3, ... with t < n - 3
    pairs = rho[0 : 2 * k_cap + 2 : 2] + rho[1 : 2 * k_cap + 2 : 2]  # (k_cap + 1, p)
    nonpositive = ~(pairs > 0)
    first = np.where(nonpositive.any(axis=0), nonpositive.argmax(axis=0), k_cap + 1)
    k = np.minimum(k_cap, first)  # pairs 0 .. k-1 are kept
    cols = np.arange(p)
    last_even = rho[2 * k, cols]
    last_pair = pairs[k, cols]
    kept_last = np.where((last_pair >= 0) | (last_even > 0), last_even, 0.0)
    kept_last = np.where(k == 0, 1.0, kept_last)
    # Geyer's initial monotone sequence: running minimum of the kept pairs
    monotone = np.minimum.accumulate(pairs, axis=0)
    keep = np.arange(pairs.shape[0])[:, None] < k[None, :]
    tau = -1.0 + 2.0 * np.where(keep, monotone, 0.0).sum(axis=0) + kept_last
    total = m * n
    tau = np.maximum(tau, 1.0 / np.log10(total))
    ess = total / tau
    used = np.arange(rho.shape[0])[:, None] <= 2 * k[None, :] + 1
    ess = np.where(np.isnan(np.where(used, rho, 0.0)).any(axis=0), np.nan, ess)
    return np.where(constant, float(total), ess)
