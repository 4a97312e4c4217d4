"""The engines and the registry that ``method="auto"`` walks.

A new engine is a new module with a class that follows :class:`~.protocol.Engine` (or
:class:`~.protocol.PointEstimator`) plus one entry in :data:`ENGINES` (or
:data:`POINT_ESTIMATORS`); engines are imported only when selected.
"""

from __future__ import annotations

import importlib

from multilevel.engines.protocol import Engine, PointEstimator, SamplerSettings, Support
from multilevel.errors import EngineError

__all__ = [
    "ENGINES",
    "METHODS",
    "POINT_ESTIMATORS",
    "POINT_METHODS",
    "Engine",
    "PointEstimator",
    "SamplerSettings",
    "Support",
    "select_engine",
    "select_estimator",
]

#: Sampling engines in the order ``method="auto"`` tries them (module, class). The last that
#: ``auto`` tries is the fallback for every model: its reason starts with why the one before it
#: declined. An engine with ``in_auto = False`` (Stan) is used only when asked for by name.
ENGINES = (
    ("multilevel.engines.factorization", "FactorizationEngine"),
    ("multilevel.engines.conjugate.adapter", "ConjugateEngine"),
    ("multilevel.engines.gaussian", "GaussianEngine"),
    ("multilevel.engines.inla", "InlaEngine"),
    ("multilevel.engines.nuts", "NutsEngine"),
    ("multilevel.engines.stan", "StanEngine"),
)
#: Point estimators (module, class), asked for by one of their ``methods``.
POINT_ESTIMATORS = (
    ("multilevel.engines.reml", "RemlEstimator"),
    ("multilevel.engines.laplace", "LaplaceEstimator"),
)


def _load(entries):
    return [getattr(importlib.import_module(module), name)() for module, name in entries]


#: Values of ``method`` that ask a point estimator (no priors, no draws), and all values:
#: ``"auto"``, then every engine's and point estimator's ``methods`` (written out, so that
#: reading them imports no engine; a test checks them against the registry).
POINT_METHODS = ("reml", "ml", "laplace")
METHODS = ("auto", "nuts", "conjugate", "exact", "inla", "gibbs", "stan", *POINT_METHODS)


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise EngineError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")


def _support(candidate, spec) -> Support:
    """``candidate.supports(spec)``, except that only engines with ``fits_factors`` fit a
    model with a ``factors()`` term, and only those with ``fits_statistics`` data on Dask
    (a spec with ``statistics`` and a design without rows)."""
    if getattr(spec, "statistics", None) is not None and not getattr(
        candidate, "fits_statistics", False
    ):
        return Support(
            False,
            f"the {candidate.name} engine reads every row, and the data are on Dask; the "
            "gaussian engine (method='exact', 'reml' or 'ml') fits them from their statistics",
        )
    if getattr(spec, "factors", None) is not None and not getattr(candidate, "fits_factors", False):
        return Support(
            False,
            f"the {candidate.name} engine does not fit factors(); method='gibbs' (the "
            "factorization engine) does",
        )
    return candidate.supports(spec)


def select_engine(spec, method: str = "auto") -> tuple[Engine, str]:
    """Pick the sampling engine for ``spec``.

    ``"auto"`` walks :data:`ENGINES` in order and takes the first that supports the spec:
    the exact conjugate engine for a Normal–Normal hierarchy (``y ~ 1 + (1 | g)``,
    ``y | se(s) ~ 1 + (1 | g)``, gaussian), the exact gaussian engine (group effects
    integrated out) for other gaussian models, the nested Laplace for large GLMMs (from
    :data:`multilevel.engines.inla.AUTO_ROWS` rows), NUTS otherwise. An engine may define
    ``auto_supports(spec)`` (see :class:`~.protocol.Engine`): ``auto`` then asks it instead
    of ``supports``, for a model the engine supports, and its reason for declining is the
    one shown. A method name asks for the engine that lists it.

    Returns
    -------
    (Engine, str)
        The engine and the reason, shown in the summary.

    Raises
    ------
    EngineError
        An unknown method, a point-estimate method, or an engine that cannot fit the spec
        (with the reason).

    Examples
    --------
    >>> import multilevel as ml
    >>> spec = ml.build_spec(ml.design("y | se(sigma) ~ 1 + (1 | school)",
    ...                                ml.datasets.load("eight_schools")), "gaussian")
    >>> engine, reason = select_engine(spec)
    >>> engine.name, reason.split(":")[0]
    ('conjugate', 'auto')
    """
    _check_method(method)
    engines = _load(ENGINES)
    if method == "auto":
        engines = [e for e in engines if getattr(e, "in_auto", True)]
        if getattr(spec, "factors", None) is not None:
            engines = [e for e in engines if getattr(e, "fits_factors", False)]
            support = engines[0].supports(spec)
            if not support:
                raise EngineError(f"no engine can fit this model: {support.reason}")
            return engines[0], f"auto: {support.reason}"
        if getattr(spec, "statistics", None) is not None:
            engines = [e for e in engines if getattr(e, "fits_statistics", False)]
        declined = None
        for k, engine in enumerate(engines):
            support = engine.supports(spec)
            auto_supports = getattr(engine, "auto_supports", None)
            if auto_supports is not None:
                if not support:
                    continue  # cannot fit it at all: the reason before stands
                support = auto_supports(spec)
            if support:
                label = engine.auto_label
                if k == len(engines) - 1 and declined is not None:
                    label = f"{declined}; "
                return engine, f"auto: {label}{support.reason}"
            declined = support.reason
        raise EngineError(f"no engine can fit this model: {declined}")
    return _requested(engines, spec, method, f"method {method!r} gives point estimates, not draws")


def select_estimator(spec, method: str) -> tuple[PointEstimator, str]:
    """The point estimator that lists ``method`` (``"reml"``, ``"ml"``), if it supports
    ``spec``.

    Raises
    ------
    EngineError
        No point estimator has this method, or it cannot fit the spec.
    """
    _check_method(method)
    return _requested(
        _load(POINT_ESTIMATORS), spec, method, f"no point estimator has method {method!r}"
    )


def _requested(candidates, spec, method: str, missing: str):
    """The candidate that lists ``method``, with its reason, if it supports ``spec``."""
    for candidate in candidates:
        if method in candidate.methods:
            support = _support(candidate, spec)
            if not support:
                raise EngineError(
                    f"the {candidate.name} engine cannot fit this model: {support.reason}"
                )
            return candidate, f"requested: {support.reason}"
    raise EngineError(missing)
