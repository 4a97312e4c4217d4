"""The boundary between the pipeline and the engines: what an engine says about a spec
(:class:`Support`), how it is asked to sample (:class:`SamplerSettings`, one frozen and
validated object), and the two protocols: :class:`Engine` (returns a
:class:`~multilevel.posterior.Posterior`) and :class:`PointEstimator` (returns an
:class:`~multilevel.posterior.Estimate`). The registry that ``method="auto"`` walks is in
:mod:`multilevel.engines`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

import numpy as np

from multilevel.errors import EngineError
from multilevel.seeds import resolve_seed

if TYPE_CHECKING:  # pragma: no cover
    from multilevel.posterior import Estimate, Posterior
    from multilevel.spec.model import ModelSpec

__all__ = ["Engine", "PointEstimator", "SamplerSettings", "Support"]


@dataclass(frozen=True)
class Support:
    """Whether an engine can fit a spec, and why (or why not).

    Examples
    --------
    >>> s = Support(False, "distributional formulas are not supported")
    >>> bool(s), s.reason
    (False, 'distributional formulas are not supported')
    """

    ok: bool
    reason: str

    def __bool__(self) -> bool:
        return self.ok


def _positive_int(value, name: str) -> int:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1:
        return int(value)
    raise EngineError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class SamplerSettings:
    """How a sampling engine is asked to sample; validated once, read by every engine.

    Parameters
    ----------
    chains, draws, warmup : int
        Chains, draws kept per chain, warmup iterations per chain (positive).
    seed : int or None
        The fit's seed; None draws a fresh one. Stored resolved
        (:func:`multilevel.seeds.resolve_seed`), so the settings say which seed was used.
    progress : bool
        Show progress.
    target_accept : float
        Target acceptance probability of NUTS's step-size adaptation, in (0, 1).
    max_tree_depth : int
        Maximum NUTS tree depth.
    dense_mass : bool
        Adapt a dense mass matrix instead of a diagonal one.
    log_likelihood : bool
        Compute the pointwise log-likelihood (engines skip it when very large).
    warm_start : bool
        Let NUTS start from lme4's point estimate and parameterise each block's effects by
        their data (:mod:`multilevel.engines._warm_start`); False: Stan's uniform start and
        non-centred effects.

    Raises
    ------
    EngineError
        A setting outside its range.

    Examples
    --------
    >>> s = SamplerSettings(chains=2, draws=100, seed=3)
    >>> s.chains, s.seed, s.warmup
    (2, 3, 1000)
    """

    chains: int = 4
    draws: int = 1000
    warmup: int = 1000
    seed: int | None = None
    progress: bool = True
    target_accept: float = 0.8
    max_tree_depth: int = 10
    dense_mass: bool = False
    log_likelihood: bool = True
    warm_start: bool = True

    def __post_init__(self):
        for name in ("chains", "draws", "warmup", "max_tree_depth"):
            object.__setattr__(self, name, _positive_int(getattr(self, name), name))
        accept = self.target_accept
        if isinstance(accept, bool) or not isinstance(accept, (int, float)) or not 0 < accept < 1:
            raise EngineError(f"target_accept must lie in (0, 1), got {accept!r}")
        object.__setattr__(self, "target_accept", float(accept))
        object.__setattr__(self, "seed", resolve_seed(self.seed))
        for name in ("progress", "dense_mass", "log_likelihood", "warm_start"):
            object.__setattr__(self, name, bool(getattr(self, name)))


@runtime_checkable
class Engine(Protocol):
    """A sampling engine: says what it supports, and fits a spec to a Posterior.

    ``methods`` are the values of ``fit(method=...)`` that ask for it by name;
    ``auto_label`` starts the reason when ``method="auto"`` picks it. Optionally,
    ``auto_supports(spec) -> Support``: whether ``method="auto"`` should pick it for a spec it
    supports (the nested Laplace only for large models); without it ``auto`` asks
    ``supports``. Two optional flags widen what the registry offers it: ``fits_factors``
    (models with a ``factors()`` term) and ``fits_statistics`` (data on Dask: a spec whose
    ``statistics`` replace the design's rows, :mod:`multilevel.distributed`); engines
    without them are never given such specs. Point estimators take the same flags. An engine
    with ``in_auto = False`` (Stan: a reference, and a compile) is used only when its method
    is asked for.
    """

    name: str
    methods: ClassVar[tuple[str, ...]]

    def supports(self, spec: ModelSpec) -> Support:  # pragma: no cover - protocol
        ...

    def fit(
        self, spec: ModelSpec, settings: SamplerSettings, *, reason: str
    ) -> Posterior:  # pragma: no cover - protocol
        ...


@runtime_checkable
class PointEstimator(Protocol):
    """A point estimator (REML/ML, Laplace): says what it supports, and estimates."""

    name: str
    methods: ClassVar[tuple[str, ...]]

    def supports(self, spec: ModelSpec) -> Support:  # pragma: no cover - protocol
        ...

    def estimate(self, spec: ModelSpec, *, method: str) -> Estimate:  # pragma: no cover
        ...
