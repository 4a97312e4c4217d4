"""Sampler diagnostics after every fit: R-hat, bulk and tail ESS, divergences, tree-depth
hits, E-BFMI. Each problem becomes one message with advice; :func:`warn_convergence` raises
them as a :class:`~multilevel.errors.ConvergenceWarning`.

Thresholds (Vehtari et al. 2021; Stan's defaults): R-hat above 1.01, bulk or tail ESS
below 100 per chain, any divergent transition, any transition that hit the maximum tree
depth, E-BFMI below 0.3 in a chain.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from multilevel.errors import ConvergenceWarning

__all__ = [
    "convergence_messages",
    "divergence_location",
    "warn_convergence",
    "ebfmi",
    "RHAT_MAX",
    "EBFMI_MIN",
]

RHAT_MAX = 1.01
ESS_PER_CHAIN_MIN = 100
EBFMI_MIN = 0.3


def ebfmi(energy: np.ndarray) -> np.ndarray:
    """Energy Bayesian fraction of missing information per chain, ``energy (chains, draws)``.

    Examples
    --------
    >>> e = np.random.default_rng(0).normal(size=(2, 1000))
    >>> ebfmi(e).round(1).tolist()
    [2.0, 2.0]
    """
    energy = np.asarray(energy, dtype=float)
    finite = np.isfinite(energy).all(axis=1)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        num = np.sum(np.diff(energy, axis=1) ** 2, axis=1)
        den = np.sum((energy - energy.mean(axis=1, keepdims=True)) ** 2, axis=1)
        return np.where(finite, num / den, np.nan)  # NaN: a chain with a non-finite energy


def _worst(series: pd.Series, largest: bool, k: int = 3, spec: str = ".3g") -> str:
    """The ``k`` worst of ``series`` (only the values passed: those past the threshold)."""
    s = series.dropna()
    s = s.sort_values(ascending=not largest).head(k)
    return ", ".join(f"{name} ({value:{spec}})" for name, value in s.items())


#: |z| of the divergent draws' mean rank (against uniform ranks) needed to name a parameter
DIVERGENCE_Z = 3.0


def divergence_location(
    diverging: np.ndarray, draws: Mapping[str, np.ndarray]
) -> tuple[str, float, float] | None:
    r"""Which parameter the divergent transitions concentrate in the tail of.

    Each draw of each scalar parameter gets its rank among all draws, scaled to (0, 1); under
    no concentration the divergent draws' mean rank is that of ``k`` uniform ranks, mean 1/2
    and SD :math:`1/\sqrt{12k}`. The parameter whose mean rank is furthest from 1/2 in those
    units is named when beyond :data:`DIVERGENCE_Z`. (The draws are the states NUTS moved to
    from a divergent trajectory, as Stan reports them: near where the trajectory began.)

    Returns
    -------
    (name, mean rank, z) or None
        None without divergences or without a parameter beyond the threshold.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> sd = rng.lognormal(size=(2, 500))
    >>> divergent = sd < 0.3  # divergences where the SD is small
    >>> name, rank, z = divergence_location(divergent, {"sd_g__Intercept": sd})
    >>> name, rank < 0.2
    ('sd_g__Intercept', True)
    """
    diverging = np.asarray(diverging, dtype=bool).ravel()
    k = int(diverging.sum())
    if k == 0 or k == diverging.size:
        return None
    best = None
    for name, values in draws.items():
        values = np.asarray(values, dtype=float).ravel()
        if values.shape != diverging.shape or not np.all(np.isfinite(values)):
            continue
        ranks = (np.argsort(np.argsort(values, kind="stable"), kind="stable") + 0.5) / values.size
        mean = float(ranks[diverging].mean())
        z = (mean - 0.5) * np.sqrt(12.0 * k)
        if best is None or abs(z) > abs(best[2]):
            best = (name, mean, float(z))
    return best if best is not None and abs(best[2]) >= DIVERGENCE_Z else None


def _divergence_advice(location, group_terms: Mapping[str, str]) -> str:
    """Where the divergences are and what to try there."""
    if location is None:
        return (
            "Increase target_accept (e.g. 0.95 or 0.99), or use more informative priors on "
            "the sd and family parameters."
        )
    name, rank, _ = location
    side = "small" if rank < 0.5 else "large"
    where = (
        f"They concentrate where {name} is {side} (their mean rank among its draws is {rank:.2f})"
    )
    term = group_terms.get(name)
    if name.startswith("sd_") and side == "small":
        return (
            f"{where}: the funnel of the {term or 'its'} group effects as that SD shrinks. "
            f"Try target_accept=0.95 or 0.99, or a prior on {name} that keeps it away from 0 "
            "if the data allow (e.g. gamma(2, 2/s) for an SD of order s)."
        )
    return (
        f"{where}: its {'long right tail' if side == 'large' else 'left tail'}. Try "
        f"target_accept=0.95 or 0.99, or a more informative prior on {name} (e.g. "
        "normal(0, s) on a plausible scale s instead of a wide uniform)."
    )


def convergence_messages(
    summary: pd.DataFrame,
    sample_stats: Mapping[str, np.ndarray],
    *,
    max_tree_depth: int | None = None,
    draws: Mapping[str, np.ndarray] | None = None,
    group_terms: Mapping[str, str] | None = None,
) -> list[str]:
    """The problems the diagnostics reveal, each with what to do (empty list: no problem).

    Parameters
    ----------
    summary : pandas.DataFrame
        With columns ``r_hat``, ``ess_bulk``, ``ess_tail`` (from ``Fit.summary()``).
    sample_stats : mapping
        ``diverging``, ``tree_depth``, ``energy`` arrays of shape ``(chains, draws)``.
    max_tree_depth : int, optional
        The sampler's maximum tree depth.
    draws : mapping, optional
        Scalar parameters' ``(chains, draws)`` draws (SDs, family parameters) in which to
        locate divergences (:func:`divergence_location`).
    group_terms : mapping, optional
        SD name -> its group term as written (``"(1 | g)"``), for the advice.
    """
    messages = []
    diverging = np.asarray(sample_stats.get("diverging", np.zeros((1, 1), bool)))
    chains, n_draws = diverging.shape
    total = chains * n_draws
    n_div = int(diverging.sum())
    if n_div:
        messages.append(
            f"{n_div} of {total} transitions after warmup were divergent: the posterior has "
            "regions the sampler cannot explore, so estimates may be biased. "
            + _divergence_advice(divergence_location(diverging, draws or {}), group_terms or {})
        )
    if max_tree_depth is not None and "tree_depth" in sample_stats:
        hits = int((np.asarray(sample_stats["tree_depth"]) >= max_tree_depth).sum())
        if hits:
            messages.append(
                f"{hits} of {total} transitions hit the maximum tree depth ({max_tree_depth}): "
                "sampling is inefficient, not necessarily wrong. Increase max_tree_depth, or "
                "rescale predictors (scale()) and reparameterise."
            )
    if "energy" in sample_stats and n_draws > 2:
        values = ebfmi(sample_stats["energy"])
        broken = np.flatnonzero(np.isnan(values))
        if broken.size:
            messages.append(
                f"non-finite energy in chain(s) {', '.join(str(c) for c in broken)}: the log "
                "density overflowed at some draw (extreme parameter values). Use more "
                "informative priors or rescale predictors (scale())."
            )
        low = np.flatnonzero(values < EBFMI_MIN)
        if low.size:
            messages.append(
                f"E-BFMI below {EBFMI_MIN} in chain(s) {', '.join(str(c) for c in low)} "
                f"({', '.join(f'{v:.2f}' for v in values[low])}): the sampler explores the "
                "energy distribution poorly, typically because of heavy tails or funnels. "
                "Use more informative priors or reparameterise."
            )
    if "r_hat" in summary and chains > 1:
        bad = summary["r_hat"] > RHAT_MAX
        if bad.any():
            messages.append(
                f"R-hat above {RHAT_MAX} for {int(bad.sum())} parameter(s), worst "
                f"{_worst(summary['r_hat'][bad], True, spec='.4f')}: the chains have not "
                "mixed. Run more warmup and draws, and check the model for non-identified "
                "parameters."
            )
    limit = ESS_PER_CHAIN_MIN * chains
    for column, kind in (("ess_bulk", "bulk"), ("ess_tail", "tail")):
        if column in summary:
            bad = summary[column] < limit
            if bad.any():
                messages.append(
                    f"{kind} effective sample size below {limit} ({ESS_PER_CHAIN_MIN} per chain) "
                    f"for {int(bad.sum())} parameter(s), lowest "
                    f"{_worst(summary[column][bad], False)}: {'means and SDs' if kind == 'bulk' else 'the quantiles and intervals'} "  # noqa: E501
                    "are unreliable. Run more draws."
                )
    return messages


def warn_convergence(messages: list[str], *, stacklevel: int = 3) -> None:
    """Raise one :class:`ConvergenceWarning` listing every message (nothing if none)."""
    if messages:
        text = "sampler diagnostics found problems:\n- " + "\n- ".join(messages)
        warnings.warn(text, ConvergenceWarning, stacklevel=stacklevel)
