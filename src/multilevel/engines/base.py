"""The engine protocol, the :class:`Posterior` every engine returns, and engine selection."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from multilevel.errors import EngineError

if TYPE_CHECKING:  # pragma: no cover
    from multilevel.spec.model import ModelSpec

__all__ = ["Support", "Engine", "Posterior", "select_engine", "METHODS"]

#: Values of ``method`` accepted by :func:`select_engine`.
METHODS = ("auto", "nuts", "conjugate", "exact", "reml", "ml")


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


@runtime_checkable
class Engine(Protocol):
    """An inference engine: says what it supports, and fits a spec to a :class:`Posterior`."""

    name: str

    def supports(self, spec: ModelSpec) -> Support:  # pragma: no cover - protocol
        ...

    def fit(
        self,
        spec: ModelSpec,
        *,
        chains: int,
        draws: int,
        warmup: int,
        seed: int | None,
        progress: bool,
    ) -> Posterior:  # pragma: no cover - protocol
        ...


def select_engine(spec: ModelSpec, method: str = "auto") -> tuple[Engine, str]:
    """Pick the engine for ``spec``.

    ``"auto"`` takes the exact conjugate engine when the model is a Normal–Normal hierarchy
    (``y ~ 1 + (1 | g)``, ``y | se(s) ~ 1 + (1 | g)``, gaussian), the exact gaussian engine
    (group effects integrated out) for other gaussian models it supports, and NUTS
    otherwise; ``"nuts"``, ``"conjugate"`` and ``"exact"`` ask for one engine (``"reml"``
    and ``"ml"`` are point estimates of the exact gaussian engine).

    Returns
    -------
    (Engine, str)
        The engine and the reason, shown in the summary.

    Raises
    ------
    EngineError
        An unknown method, or an engine that cannot fit the spec (with the reason).

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.fit import _spec
    >>> spec = _spec("y | se(sigma) ~ 1 + (1 | school)", ml.datasets.load("eight_schools"),
    ...              "gaussian", None)
    >>> engine, reason = select_engine(spec)
    >>> engine.name, reason.split(":")[0]
    ('conjugate', 'auto')
    """
    if method not in METHODS:
        raise EngineError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")
    from multilevel.engines.conjugate.adapter import ConjugateEngine
    from multilevel.engines.gaussian import GaussianEngine
    from multilevel.engines.nuts import NutsEngine

    gaussian = GaussianEngine()
    engines = {
        "conjugate": ConjugateEngine(),
        "exact": gaussian,
        "reml": gaussian,
        "ml": gaussian,
        "nuts": NutsEngine(),
    }
    if method == "auto":
        conjugate = engines["conjugate"].supports(spec)
        if conjugate:
            return engines["conjugate"], f"auto: {conjugate.reason}"
        exact = gaussian.supports(spec)
        if exact:
            return gaussian, f"auto: exact, {exact.reason}"
        nuts = engines["nuts"].supports(spec)
        if not nuts:
            raise EngineError(f"no engine can fit this model: {nuts.reason}")
        return engines["nuts"], f"auto: {exact.reason}; {nuts.reason}"
    engine = engines[method]
    support = engine.supports(spec)
    if not support:
        raise EngineError(f"the {engine.name} engine cannot fit this model: {support.reason}")
    return engine, f"requested: {support.reason}"
