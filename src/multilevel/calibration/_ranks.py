"""Ranks of true values among posterior draws, after thinning.

The rank of a parameter's true value is the number of the ``L`` kept posterior draws below
it (Talts et al. 2018, algorithm 2). Autocorrelated draws make ranks non-uniform even for a
calibrated model, so the draws of each chain are thinned by a step that leaves them roughly
independent: each simulation suggests ``round(chains * draws / min ESS_bulk)`` over the
ranked parameters, and one step is used for the whole run (the median of the suggestions, or
the user's ``thin``), so every rank has the same ``L``: with ``m`` chains of ``n`` draws,
``L = m * ceil(n / thin)``.

Examples
--------
>>> import numpy as np
>>> draws = np.arange(12.0).reshape(2, 6, 1)          # 2 chains x 6 draws x 1 parameter
>>> ranks(draws < 4.5, thin=2)                       # kept: 0, 2, 4, 6, 8, 10
(array([3]), 6)
"""

from __future__ import annotations

import numpy as np

__all__ = ["ranks", "suggested_thin", "run_thin"]


def ranks(below: np.ndarray, thin: int) -> tuple[np.ndarray, int]:
    """``(rank per parameter, L)`` from ``below`` ``(chains, n, P)``, whether each posterior
    draw lies below the true value, thinned by ``thin`` within each chain (a simulation keeps
    these booleans, not its draws, until the run's step is known)."""
    kept = below[:, ::thin].reshape(-1, below.shape[-1])
    return np.sum(kept, axis=0), kept.shape[0]


def suggested_thin(ess_bulk: np.ndarray, total: int) -> int:
    """The thinning step that leaves about ``min(ess_bulk)`` of ``total`` draws (1 when
    the ESS is unknown or exceeds the draws)."""
    ess = np.asarray(ess_bulk, dtype=float)
    ess = ess[np.isfinite(ess)]
    if ess.size == 0 or ess.min() <= 0:
        return 1
    return int(max(1, np.floor(total / ess.min() + 0.5)))


def run_thin(suggested) -> int:
    """One step for a run: the median of the simulations' suggestions, rounded up."""
    values = np.asarray(list(suggested), dtype=float)
    return int(np.ceil(np.median(values))) if values.size else 1
