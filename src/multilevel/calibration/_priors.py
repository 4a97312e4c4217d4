"""The priors of a calibration run: the simulating ones, frozen from the user's data, and
the fitting ones (the same, or changed by ``fit_priors``).

Default priors are scaled to the data (:mod:`multilevel.spec.defaults`): refitting each
simulated data set through :func:`multilevel.fit` with the same ``priors`` argument would
rescale them to each simulated response, and the model fitted would no longer be the model
simulated. So the priors are resolved once, on the user's data, and every simulated data set
is fitted with exactly those :class:`~multilevel.spec.priors.Prior` objects, by replacing the
response of the spec (:func:`fitting_spec`), which also keeps brms's convention that the
default intercept prior is on the intercept of mean-centred predictors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType

from multilevel import naming
from multilevel.errors import EngineError, PriorError
from multilevel.spec.defaults import resolve_priors
from multilevel.spec.model import ModelSpec

__all__ = ["check_simulable", "fitting_spec"]


def check_simulable(spec: ModelSpec) -> None:
    """Refuse a spec whose data cannot be simulated from its priors.

    Raises
    ------
    PriorError
        An improper (``flat``) prior: nothing can be drawn from it.
    EngineError
        A ``factors()`` term, or data on Dask (simulation needs the rows).
    """
    if spec.statistics is not None:
        raise EngineError(
            "simulation-based calibration simulates the response row by row, and these data "
            "are on Dask: load a sample into memory (e.g. ddf.head(n) or ddf.compute())"
        )
    if spec.factors is not None:
        raise EngineError(
            "simulation-based calibration does not simulate factors() terms yet; calibrate "
            "the model without the factors() term"
        )
    for name, prior in spec.priors.items():
        if prior.dist == "flat":
            raise PriorError(
                f"cannot simulate from the improper prior {prior.to_stan()!r} of {name!r}: "
                f"simulation-based calibration draws every parameter from its prior; give it "
                f"a proper one, e.g. priors={{{name!r}: 'normal(0, 10)'}}"
            )


def _as_defaults(spec: ModelSpec) -> dict:
    """The spec's priors keyed so that :func:`resolve_priors` finds each again: by exact
    name, and each correlation by its group's key (an LKJ prior is on a whole block)."""
    out: dict = {}
    for name, prior in spec.priors.items():
        parsed = naming.parse(name)
        out[f"cor_{parsed.group}" if parsed.kind == "cor" else name] = prior
    return out


def fitting_spec(spec: ModelSpec, fit_priors: Mapping | None) -> ModelSpec:
    """The spec that every simulated data set is fitted with: ``spec``'s resolved priors,
    some replaced by ``fit_priors`` (keys and values as :func:`multilevel.fit`'s
    ``priors``). An ``Intercept`` or ``b_Intercept`` key puts the intercept's prior on the
    intercept as written, as in :func:`multilevel.spec.model.build_spec`.

    Raises
    ------
    PriorError
        An unknown target or an invalid prior in ``fit_priors``.
    """
    if not fit_priors:
        return spec
    if not isinstance(fit_priors, Mapping):
        raise PriorError(
            f"fit_priors must be a mapping like {{'sd': 'normal(0, 1)'}}, got "
            f"{type(fit_priors).__name__}"
        )
    resolved = resolve_priors(fit_priors, list(spec.parameter_names), defaults=_as_defaults(spec))
    centred = spec.centred_intercept_prior and not (
        {"Intercept", naming.population("Intercept")} & set(fit_priors)
    )
    return replace(spec, priors=MappingProxyType(resolved), centred_intercept_prior=centred)
