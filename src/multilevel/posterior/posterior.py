"""What a sampling engine returns: :class:`Posterior`, the draws and sampler statistics, the
same for every engine."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

__all__ = ["Posterior"]


@dataclass(frozen=True, eq=False)
class Posterior:
    """Posterior draws and sampler statistics, the same for every engine.

    Parameters
    ----------
    draws : Mapping of str to numpy.ndarray
        ``(chains, draws, ...)`` arrays. Scalar parameters under their brms names
        (``b_Intercept``, ``sd_county__floor``, ``cor_Subject__Intercept__Days``, ``sigma``);
        the group-level deviations of block ``i`` of ``spec.design.blocks`` under
        ``"r_block<i>"`` with shape ``(chains, draws, levels, q)``.
    sample_stats : Mapping of str to numpy.ndarray
        ``(chains, draws)`` arrays named as ArviZ does: ``diverging``, ``tree_depth``,
        ``n_steps``, ``energy``, ``acceptance_rate``, ``step_size``, ``lp``.
    engine : str
        The engine's name.
    reason : str
        Why this engine was chosen.
    timings : Mapping of str to float
        Seconds: ``warmup_and_sampling``, ``log_likelihood``, ...
    log_likelihood : numpy.ndarray or None
        ``(chains, draws, n)`` pointwise log-likelihood (unweighted), when computed.
    settings : Mapping of str to object
        The engine's settings (``max_tree_depth``, ``target_accept``, ...).
    """

    draws: Mapping[str, np.ndarray]
    sample_stats: Mapping[str, np.ndarray]
    engine: str
    reason: str = ""
    timings: Mapping[str, float] = field(default_factory=dict)
    log_likelihood: np.ndarray | None = None
    settings: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self):
        for name in ("draws", "sample_stats", "timings", "settings"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    @property
    def n_chains(self) -> int:
        """Number of chains."""
        return next(iter(self.draws.values())).shape[0]

    @property
    def n_draws(self) -> int:
        """Draws per chain."""
        return next(iter(self.draws.values())).shape[1]
