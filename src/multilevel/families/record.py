"""What a family's record holds: :class:`Support`, :class:`Auxiliary` and :class:`FamilyRecord`.

Plain frozen types with a few small helpers: the records themselves are in
:mod:`multilevel.families.catalogue`, the lookups in :mod:`multilevel.families`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Support", "Auxiliary", "FamilyRecord", "DATA_SCALE", "FAMILY_ADDITIONS"]

#: Stands for brms's data-based scale in a default prior's parameters (``student_t(3, 0, scale)``).
DATA_SCALE = "scale"

#: Addition terms only some families take (those whose record lists them); ``weights()``
#: applies to every family and is listed by none.
FAMILY_ADDITIONS = ("trials", "se")


@dataclass(frozen=True)
class Support:
    """Where the values of a response or of a mean parameter may lie.

    Attributes
    ----------
    name : str
        The support in words: ``"real"``, ``"binary"``, ``"count"``, ... (a response's is
        :attr:`multilevel.spec.families.Family.response`).
    rule : str or None
        What a value must be, for messages (``"a non-negative integer"``); None where any
        finite value is fine.
    contains : callable or None
        ``contains(values) -> bool array``: which values lie in the support; None where every
        finite value does. A response that needs trials is also checked against them.
    inside : float
        A value inside the support. A mean's stands in for a mean outside it while the
        density is evaluated (no warnings where the result is ``-inf`` anyway).
    discrete : bool
        Whether the values are integers (counts, 0/1): plots show their frequencies.
    """

    name: str
    rule: str | None
    contains: Callable | None
    inside: float
    discrete: bool = False


@dataclass(frozen=True)
class Auxiliary:
    """An auxiliary (distributional) parameter of a family.

    Attributes
    ----------
    name : str
        ``sigma``, ``nu``, ``shape`` or ``phi``.
    support : str
        ``"positive"``, ``"greater than 1"`` or ``"unit interval"`` (in words, for messages).
    lower, upper : float or None
        Bounds of the support; a prior on the parameter is truncated at ``lower``.
    link : str
        The link used when the parameter gets its own formula (brms's ``link_<dpar>``).
    prior : tuple
        Its default prior as ``(distribution, parameters)``; a parameter equal to
        :data:`DATA_SCALE` is brms's data-based scale. Not part of equality or the repr.
    """

    name: str
    support: str
    lower: float | None
    upper: float | None
    link: str
    prior: tuple[str, tuple[float | str, ...]] = field(compare=False, repr=False)

    def contains(self, value):
        """Which values lie in the support: finite, above ``lower``, below ``upper``."""
        ok = np.isfinite(value)
        if self.lower is not None:
            ok = (value > self.lower) & ok
        if self.upper is not None:
            ok = ok & (value < self.upper)
        return ok

    @property
    def inside(self) -> float:
        """A value inside the support (stands in for one outside it)."""
        if self.lower is not None and self.upper is not None:
            return (self.lower + self.upper) / 2
        if self.lower is not None:
            return self.lower + 1.0
        return 0.0 if self.upper is None else self.upper - 1.0


@dataclass(frozen=True, eq=False)
class FamilyRecord:
    r"""Everything about one response family, in one place.

    The NumPy functions take arrays that broadcast (``mu`` of shape ``(draws, n)`` against
    ``y`` of shape ``(n,)``) and a mapping ``aux`` of auxiliary values by name; ``trials``
    is None except for a family that takes ``trials()``. The JAX functions import JAX and
    NumPyro when called, so importing a record costs neither.

    Attributes
    ----------
    name : str
        brms's name (``"negbinomial"``).
    links : tuple of str
        Links the mean ``mu`` accepts; the first is the default.
    aux : tuple of Auxiliary
        Auxiliary parameters in brms's order (``nu, sigma`` for student_t).
    response : Support
        Support of the response.
    mean_support : Support
        Where ``mu`` must lie for the density to be defined (``contains`` is required).
    log_density : callable
        ``log_density(y, mu, aux, trials) -> ndarray``: the pointwise log density (NumPy),
        given ``mu`` and ``aux`` inside their supports.
    draw : callable
        ``draw(rng, mu, aux, trials, shape) -> ndarray``: random responses (NumPy), ``mu``
        already broadcast to ``shape``.
    likelihood : callable
        ``likelihood(mu, aux, trials)``: the NumPyro distribution of the observation site.
    aliases : tuple of str
        Other lower-case names that read as this family (``"normal"``).
    additions : tuple of str
        The addition terms of :data:`FAMILY_ADDITIONS` it takes (``("trials",)``); a family
        that takes ``trials()`` needs it.
    log_density_eta : mapping
        Link name -> ``f(y, eta, aux, trials)``: the log density from the linear predictor
        where that is more stable than through ``mu`` (logit links).
    likelihood_eta : mapping
        Link name -> ``f(eta, aux, trials)``: the observation distribution from the linear
        predictor, likewise.
    expectation : callable or None
        ``expectation(mu, aux, trials)``: :math:`E[y]`; None where it is ``mu``.
    response_link : str or None
        The transform that puts the response on the scale of ``mu`` for the default priors
        (``"log"`` for lognormal, whose ``mu`` is the mean of ``log y``); None for none.
    scale_b_prior : bool
        Whether, with the identity link, the default ``b`` prior scales with the SD of the
        response on the scale of ``mu`` (rstanarm's rule for continuous families).
    """

    name: str
    links: tuple[str, ...]
    aux: tuple[Auxiliary, ...]
    response: Support
    mean_support: Support
    log_density: Callable
    draw: Callable
    likelihood: Callable
    aliases: tuple[str, ...] = ()
    additions: tuple[str, ...] = ()
    log_density_eta: Mapping[str, Callable] = field(default_factory=dict)
    likelihood_eta: Mapping[str, Callable] = field(default_factory=dict)
    expectation: Callable | None = None
    response_link: str | None = None
    scale_b_prior: bool = False

    @property
    def default_link(self) -> str:
        """The link of ``mu`` unless one is asked for."""
        return self.links[0]

    @property
    def aux_names(self) -> tuple[str, ...]:
        """Names of the auxiliary parameters."""
        return tuple(a.name for a in self.aux)

    @property
    def needs_trials(self) -> bool:
        """Whether the response needs a number of trials (``y | trials(n)``)."""
        return "trials" in self.additions
