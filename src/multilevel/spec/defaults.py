r"""Data-scaled default priors (brms's, with proper priors on coefficients) and prior lookup.

Defaults
--------
:func:`default_priors` follows brms's ``get_prior`` (brms >= 2.13, ``def_scale_prior``) for
every class except ``b``, where brms's improper flat prior is replaced by an auto-scaled
normal (rstanarm's rule) so that every model has a proper posterior:

=============================  ================================================================
class                          default
=============================  ================================================================
``Intercept``                  ``student_t(3, location, scale)``
``sd``                         ``student_t(3, 0, scale)``, truncated at 0 (a half-t)
``sigma``                      ``student_t(3, 0, scale)``, truncated at 0
``b``, exact ``b_<coef>``      ``normal(0, 2.5 * sd_y / sd_x)`` with ``sd_x`` the coefficient's
                               column SD (``normal(0, 2.5 * sd_y)`` for the class ``b``)
``cor``                        ``lkj(1)`` (uniform over correlation matrices)
``nu`` (student_t)             ``gamma(2, 0.1)``, truncated at 1 (brms: ``real<lower=1> nu``)
``shape`` (negbinomial, gamma)  ``gamma(0.01, 0.01)``, truncated at 0
``phi`` (beta)                 ``gamma(0.01, 0.01)``, truncated at 0
``Intercept_<dpar>``           ``student_t(3, 0, 2.5)`` (intercept of a distributional formula)
``b_<dpar>``                   ``normal(0, 2.5)``
``sd_<dpar>``                  ``student_t(3, 0, 2.5)``, truncated at 0
=============================  ================================================================

where, as in brms, with :math:`g` the link of the mean (``log`` for lognormal, whose mean is
on the log scale):

- if :math:`g` is ``identity``, ``log``, ``inverse`` or ``sqrt``, let
  :math:`y^* = g(y)` after replacing zeros by ``0.1`` for the ``log`` and ``inverse`` links;
  then ``location = round(median(y*), 1)`` and ``scale = max(2.5, round(mad(y*), 1))``
  with R's ``mad`` (``1.4826 * median(|y* - median(y*)|)``);
- otherwise (``logit``, ``probit``, ... — bernoulli, binomial, beta) ``location = 0`` and
  ``scale = 2.5``.

``sd_y`` is the standard deviation (``ddof=1``) of :math:`y` for gaussian and student_t with the
identity link, of :math:`\log y` for lognormal with the identity link, and 1 otherwise (the
linear predictor is then on a log / logit / probit scale, where 2.5 is already a wide prior —
rstanarm's rule). A column with zero or undefined SD falls back to ``sd_x = 1``.

As in brms, the ``Intercept`` prior is meant for the intercept of **mean-centred** predictors
(``b_Intercept + mean(X) @ b``); an engine that does not centre the design should put this
prior on that centred intercept, not on ``b_Intercept`` itself.

On the sleepstudy data (``Reaction ~ Days + (Days | Subject)``) these are
``Intercept ~ student_t(3, 288.7, 59.3)``, ``sd ~ student_t(3, 0, 59.3)``,
``sigma ~ student_t(3, 0, 59.3)`` — brms's numbers — and ``b_Days ~ normal(0, 48.89)``.

Lookup
------
:func:`resolve_priors` gives every parameter one prior. For each parameter it takes, in
order, the first key present in the user's priors, then the first present in the defaults:

1. the exact name (``b_floor``, ``sd_county__floor``, ``sigma``);
2. the group-level class: ``sd_county`` (all SDs of group ``county``), ``cor_county``
   (the LKJ prior of that group's correlation matrix), ``sd_county__sigma`` (the SDs of
   group ``county`` in the formula of ``sigma``);
3. the class: ``b``, ``Intercept``, ``sd``, ``cor``, ``sigma``, ``nu``, ``shape``, ``phi``,
   and for a distributional formula ``b_sigma``, ``Intercept_sigma``, ``sd_sigma``.

So a user class (``"b"``) beats a default exact name (the scaled ``b_Days``). Correlations
take their prior only from ``cor_<group>`` or ``cor``: an LKJ prior is on a whole matrix.
Positive parameters (``sd``, ``sigma``, ``shape``, ``phi``) get their prior truncated at
0 and ``nu`` at 1, as a Stan ``real<lower=...>`` declaration does.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from multilevel import naming
from multilevel.errors import PriorError
from multilevel.families import AUXILIARIES, DATA_SCALE, REGISTRY
from multilevel.spec.families import Family, get_family, link
from multilevel.spec.priors import Prior, as_prior

__all__ = [
    "DataScales",
    "data_scales",
    "default_priors",
    "resolve_priors",
    "intercept_location_scale",
]

_TRANSFORMABLE = ("identity", "log", "inverse", "sqrt")
_R_MAD = 1.4826  # R's mad() constant


def _round1(x: float) -> float:
    return float(np.round(x, 1))


@dataclass(frozen=True)
class DataScales:
    """The summaries of the data that the default priors read (see the module docstring).

    Attributes
    ----------
    location, scale : float
        brms's location and scale of the response on the link scale (``Intercept``, ``sd``
        and ``sigma`` priors).
    sd_y : float
        The response's SD for the ``b`` priors (1 where the rule does not scale them).
    sd_x : tuple of float
        The SD of each population-level column (1 where zero or undefined).
    """

    location: float
    scale: float
    sd_y: float
    sd_x: tuple[float, ...] = ()


def link_scale_response(y, family: Family | str) -> np.ndarray | None:
    """The finite values of ``y*``, the response on the scale of brms's location and scale
    (zeros read as 0.1 for the log and inverse links), or None where that scale is not
    data-based (logit, probit, ... links)."""
    family = get_family(family)
    # the response on the scale of the linear predictor: lognormal's mu is on log y's
    scale_link = REGISTRY[family.name].response_link or family.link
    if scale_link not in _TRANSFORMABLE:
        return None
    y = _finite(np.asarray(y, dtype=float))
    if scale_link in ("log", "inverse"):
        y = np.where(y == 0, 0.1, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        y_link = link(scale_link, y)
    return _finite(y_link)


def location_scale(median: float, absolute_deviation_median: float) -> tuple[float, float]:
    """brms's location and scale from the median of ``y*`` and the median of ``|y* -
    median|`` (nan when there are no values).

    Examples
    --------
    >>> location_scale(2.5, 1.0)
    (2.5, 2.5)
    """
    location, scale = 0.0, 2.5
    mad = _round1(_R_MAD * absolute_deviation_median)
    if np.isfinite(mad):
        scale = max(scale, mad)
    if np.isfinite(median):
        location = _round1(median)
    return location, scale


def intercept_location_scale(y, family: Family | str) -> tuple[float, float]:
    """brms's data-based location and scale of the default Intercept, sd and sigma priors.

    Examples
    --------
    >>> intercept_location_scale([1.0, 2.0, 3.0, 10.0], "gaussian")
    (2.5, 2.5)
    >>> intercept_location_scale([0, 1, 1, 0], "bernoulli")
    (0.0, 2.5)
    """
    y_link = link_scale_response(y, family)
    if y_link is None or y_link.size == 0:
        return 0.0, 2.5
    median = np.median(y_link)
    deviation = np.subtract(y_link, median)  # one temporary, reused (10^7 rows: 80 MB each)
    np.abs(deviation, out=deviation)
    return location_scale(median, np.median(deviation, overwrite_input=True))


def sd_scale_response(y, family: Family) -> np.ndarray | None:
    """The finite values whose SD scales the ``b`` priors (``y``, or ``log y`` for
    lognormal), or None where the rule does not scale them (``sd_y = 1``)."""
    record = REGISTRY[family.name]
    if family.link != "identity" or not record.scale_b_prior:
        return None
    y = np.asarray(y, dtype=float)
    if record.response_link is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            y = link(record.response_link, y)
    return _finite(y)


def usable_sd(sd: float) -> float:
    """``sd`` where it is finite and positive, else 1 (the fallback of ``sd_y`` and
    ``sd_x``)."""
    return sd if np.isfinite(sd) and sd > 0 else 1.0


def _sd(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1)) if values.size > 1 else np.nan


def response_sd(y, family: Family) -> float:
    values = sd_scale_response(y, family)
    return 1.0 if values is None else usable_sd(_sd(values))


def data_scales(y, X, family: Family | str) -> DataScales:
    """The :class:`DataScales` of in-memory data (``X`` may be None)."""
    family = get_family(family)
    location, scale = intercept_location_scale(y, family)
    sd_x = () if X is None else tuple(usable_sd(_sd(_finite(column))) for column in X.T)
    return DataScales(location, scale, response_sd(y, family), sd_x)


def _finite(values: np.ndarray) -> np.ndarray:
    """``values`` less its non-finite entries: ``values`` itself (no copy) when all are finite."""
    finite = np.isfinite(values)
    return values if finite.all() else values[finite]


def default_priors(
    y,
    X=None,
    X_names: Sequence[str] = (),
    groups: Mapping[str, Sequence[str]] | None = None,
    family: Family | str = "gaussian",
    *,
    dpars: Sequence[str] = (),
    scales: DataScales | None = None,
) -> dict[str, Prior]:
    """brms-style default priors scaled to the data (see the module docstring).

    Parameters
    ----------
    y : array_like
        The response (already checked against the family).
    X : array_like, optional
        Population-level design matrix, shape ``(n, p)``.
    X_names : sequence of str
        Its column names; the column called ``Intercept`` gets no ``b`` prior of its own.
    groups : mapping, optional
        Grouping factor -> names of its varying coefficients. Adds ``sd`` (and ``cor`` when a
        group has two or more coefficients).
    family : Family or str
        The response family.
    dpars : sequence of str, optional
        Auxiliary parameters that have their own formula (e.g. ``("sigma",)``): adds the
        ``Intercept_<dpar>``, ``b_<dpar>`` and ``sd_<dpar>`` classes.
    scales : DataScales, optional
        The data's summaries when they are computed elsewhere (over the partitions of a
        Dask frame); ``y`` and ``X`` are then not read.

    Returns
    -------
    dict
        Priors keyed by class (``"Intercept"``, ``"b"``, ``"sd"``, ``"cor"``, ``"sigma"``,
        ...) and by exact name (``"b_Days"``) for the scaled coefficients. Priors are not yet
        truncated; :func:`resolve_priors` does that.

    Examples
    --------
    >>> pri = default_priors([1.0, 2.0, 3.0, 10.0], family="gaussian")
    >>> pri["Intercept"], pri["sigma"]
    (Prior('student_t(3, 2.5, 2.5)'), Prior('student_t(3, 0, 2.5)'))
    """
    family = get_family(family)
    names = list(X_names)
    if scales is None:
        if X is not None:
            X = np.asarray(X, dtype=float)
            if X.ndim != 2 or X.shape[1] != len(names):
                raise ValueError(
                    f"X has shape {X.shape} but {len(names)} column names were given: {names}"
                )
        elif names:
            raise ValueError("X_names given without X")
        scales = data_scales(y, X, family)
    location, scale, sd_y = scales.location, scales.scale, scales.sd_y
    out: dict[str, Prior] = {
        "Intercept": Prior("student_t", (3.0, location, scale)),
        "b": Prior("normal", (0.0, 2.5 * sd_y)),
    }
    for coef, sd_x in zip(names, scales.sd_x, strict=False):
        if coef != naming.INTERCEPT:
            out[naming.population(coef)] = Prior("normal", (0.0, 2.5 * sd_y / sd_x))
    groups = dict(groups or {})
    if groups:
        out["sd"] = Prior("student_t", (3.0, 0.0, scale))
        if any(len(coefs) >= 2 for coefs in groups.values()):
            out["cor"] = Prior("lkj", (1.0,))
    for aux in REGISTRY[family.name].aux:  # each with the default prior of its record
        dist, params = aux.prior
        out[aux.name] = Prior(dist, tuple(scale if p == DATA_SCALE else p for p in params))
    for dpar in dpars:
        if dpar not in family.aux_names:
            raise ValueError(f"the {family.name} family has no parameter {dpar!r}")
        out[f"{naming.INTERCEPT}_{dpar}"] = Prior("student_t", (3.0, 0.0, 2.5))
        out[f"b_{dpar}"] = Prior("normal", (0.0, 2.5))
        if groups:
            out[f"sd_{dpar}"] = Prior("student_t", (3.0, 0.0, 2.5))
    return out


# ---------------------------------------------------------------------------------------------
# lookup
# ---------------------------------------------------------------------------------------------


def _lower_bound(parsed: naming.ParameterName) -> float | None:
    if parsed.kind == "sd":
        return 0.0
    if parsed.kind == "family" and parsed.dpar in AUXILIARIES:
        return AUXILIARIES[parsed.dpar].lower
    return None


def _closest(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def resolve_priors(
    user: Mapping[str, Prior | str] | None,
    names: Sequence[str],
    classes: Mapping[str, str] | None = None,
    defaults: Mapping[str, Prior | str] | None = None,
    *,
    lower: Mapping[str, float] | None = None,
) -> dict[str, Prior]:
    """Give every parameter its prior: exact name, then group-level class, then class.

    Parameters
    ----------
    user : mapping or None
        The user's priors, keyed by exact name, group-level class or class; values are
        :class:`~multilevel.spec.priors.Prior` objects or Stan strings (``"normal(0, 5)"``).
    names : sequence of str
        Names of the parameters that take a prior (``b_``, ``sd_``, ``cor_`` and family
        parameters; not the ``r_`` deviations).
    classes : mapping, optional
        Name -> prior class. Default: :attr:`naming.ParameterName.prior_class` of each
        name. An ``sd`` name whose class is ``sd_<dpar>`` has the group key
        ``sd_<group>__<dpar>``.
    defaults : mapping, optional
        Fallback priors keyed the same way (e.g. :func:`default_priors`).
    lower : mapping, optional
        Name -> lower bound, overriding the built-in ones (0 for ``sd``, ``sigma``,
        ``shape``, ``phi``; 1 for ``nu``).

    Returns
    -------
    dict
        Name -> Prior, in the order of ``names``, truncated at the lower bound of positive
        parameters.

    Raises
    ------
    PriorError
        For a key that matches no parameter (the message lists the valid keys and the
        closest one), an invalid prior string, an ``lkj`` prior on anything but a
        correlation or another prior on a correlation, a prior with no mass above a lower
        bound, or a parameter left without a prior.

    Examples
    --------
    >>> names = ["b_Intercept", "b_floor", "sd_county__Intercept", "sigma"]
    >>> pri = resolve_priors({"b": "normal(0, 1)", "sd_county": "normal(0, 2)"}, names,
    ...                      defaults={"Intercept": "normal(0, 10)", "sigma": "exponential(1)"})
    >>> pri["b_floor"], pri["sd_county__Intercept"], pri["sigma"]
    (Prior('normal(0, 1)'), Prior('normal(0, 2) T[0, ]'), Prior('exponential(1) T[0, ]'))
    """
    user = dict(user or {})
    defaults = dict(defaults or {})
    classes = dict(classes or {})
    lower = dict(lower or {})
    names = list(names)

    candidates: dict[str, list[str]] = {}
    parsed: dict[str, naming.ParameterName] = {}
    cor_names: set[str] = set()
    for name in names:
        p = naming.parse(name)
        if p.kind == "r":
            raise ValueError(
                f"{name!r} is a group-level deviation; its prior comes from the sd and cor "
                "parameters of its group"
            )
        cls = classes.get(name, p.prior_class)
        group_key = None
        if p.kind == "sd":
            dpar = cls[3:] if cls.startswith("sd_") else None
            group_key = f"sd_{p.group}" + (f"__{dpar}" if dpar else "")
        elif p.kind == "cor":
            group_key = f"cor_{p.group}"
            cor_names.add(name)
        keys = [] if p.kind == "cor" else [name]
        keys += [k for k in (group_key, cls) if k is not None and k not in keys]
        candidates[name] = keys
        parsed[name] = p

    valid = {k for keys in candidates.values() for k in keys}
    cor_keys = {k for n in cor_names for k in candidates[n]}
    for key in user:
        if key in valid:
            continue
        if key in cor_names:
            p = parsed[key]
            raise PriorError(
                f"cannot set a prior on the single correlation {key!r}: an LKJ prior is on the "
                f"whole correlation matrix of group {p.group!r}; set it with "
                f"'cor_{p.group}' (or 'cor' for every group)"
            )
        raise PriorError(
            f"unknown prior target {key!r}{_closest(key, valid)}; valid targets: "
            + ", ".join(_ordered(valid, names))
        )

    def _prior(key: str, value, source: str) -> Prior:
        try:
            prior = as_prior(value)
        except PriorError as err:
            raise PriorError(f"{source} prior for {key!r}: {err}") from None
        is_lkj = prior.dist == "lkj"
        if key in cor_keys and not is_lkj:
            raise PriorError(
                f"{source} prior for {key!r} is {prior.to_stan()!r}, but correlations take an "
                "lkj(eta) prior, e.g. 'lkj(2)'"
            )
        if key not in cor_keys and is_lkj:
            raise PriorError(
                f"{source} prior for {key!r} is {prior.to_stan()!r}; an lkj prior applies only "
                "to correlations (cor, cor_<group>)"
            )
        return prior

    user_priors = {k: _prior(k, v, "the") for k, v in user.items()}
    out: dict[str, Prior] = {}
    for name in names:
        prior = None
        for table, source in ((user_priors, None), (defaults, "default")):
            key = next((k for k in candidates[name] if k in table), None)
            if key is not None:
                prior = table[key] if source is None else _prior(key, table[key], source)
                break
        if prior is None:
            raise PriorError(
                f"no prior for {name!r}: set one, e.g. priors={{{name!r}: 'normal(0, 1)'}}"
            )
        bound = lower.get(name, _lower_bound(parsed[name]))
        if bound is not None and (prior.lower is None or prior.lower < bound):
            try:
                prior = prior.truncated(bound)
            except PriorError as err:
                raise PriorError(
                    f"prior for {name!r}: {err} (the parameter must exceed {bound:g})"
                ) from None
        out[name] = prior
    return out


def _ordered(keys, names: Sequence[str]) -> list[str]:
    """Valid keys for messages: classes, then group-level classes, then names in order."""
    position = {n: i for i, n in enumerate(names)}
    return sorted(keys, key=lambda k: (k in position, k.count("__"), position.get(k, 0), k))
