r"""Response families: a likelihood plus a link for each of its parameters (brms's ``family``).

A :class:`Family` is plain frozen data — names, not functions — so it can be compared,
hashed, pickled and printed: a family's record (:mod:`multilevel.families`) and the link
chosen for its mean. Its methods evaluate the inverse link, the log likelihood and random
draws with numpy/scipy through that record, whose JAX likelihood the NUTS engine uses.
The parameterisations are those of brms (:mod:`multilevel.families.catalogue` lists them),
with :math:`\mu` the mean parameter on the response scale, :math:`\mu = g^{-1}(\eta)`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import special

from multilevel.errors import DataError, EngineError
from multilevel.families import AUXILIARIES, REGISTRY, Auxiliary, FamilyRecord, takes
from multilevel.family_names import ALIASES, read_family

__all__ = [
    "Auxiliary",
    "Family",
    "FAMILIES",
    "LINKS",
    "AUXILIARIES",
    "get_family",
    "link",
    "inverse_link",
]


# ---------------------------------------------------------------------------------------------
# Links
# ---------------------------------------------------------------------------------------------


def _logit(mu):
    return special.logit(mu)


def _probit(mu):
    return special.ndtri(mu)


def _probit_inv(eta):
    return special.ndtr(eta)


def _cauchit(mu):
    return np.tan(np.pi * (mu - 0.5))


def _cauchit_inv(eta):
    return 0.5 + np.arctan(eta) / np.pi


def _cloglog(mu):
    return np.log(-np.log1p(-mu))


def _cloglog_inv(eta):
    return -np.expm1(-np.exp(eta))


def _inverse(mu):
    return 1.0 / mu


def _logm1(mu):
    return np.log(mu - 1.0)


def _logm1_inv(eta):
    return np.exp(eta) + 1.0


#: name -> (link g, inverse link g^-1), both numpy ufunc-like.
LINKS: dict[str, tuple[object, object]] = {
    "identity": (lambda mu: mu, lambda eta: eta),
    "log": (np.log, np.exp),
    "logit": (_logit, special.expit),
    "probit": (_probit, _probit_inv),
    "cauchit": (_cauchit, _cauchit_inv),
    "cloglog": (_cloglog, _cloglog_inv),
    "inverse": (_inverse, _inverse),
    "sqrt": (np.sqrt, np.square),
    "logm1": (_logm1, _logm1_inv),
}


def link(name: str, mu):
    """Apply the link ``name`` to ``mu`` (response scale -> linear predictor).

    Examples
    --------
    >>> float(link("logit", 0.5))
    0.0
    """
    return LINKS[name][0](np.asarray(mu, dtype=float))


def inverse_link(name: str, eta):
    """Apply the inverse link ``name`` to ``eta`` (linear predictor -> response scale).

    Examples
    --------
    >>> float(inverse_link("log", 0.0))
    1.0
    """
    return LINKS[name][1](np.asarray(eta, dtype=float))


# ---------------------------------------------------------------------------------------------
# Families
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    r"""A response distribution and the link of each of its parameters.

    Build one with :func:`get_family`; the fields are plain names.

    Attributes
    ----------
    name : str
        One of :data:`FAMILIES`.
    link : str
        Link of the mean ``mu``: :math:`\eta = g(\mu)`.
    aux : tuple of Auxiliary
        The family's auxiliary parameters in brms's order (``nu, sigma`` for student_t).
    response : str
        The support of the response in words: ``"real"``, ``"binary"``, ``"bounded count"``,
        ``"count"``, ``"positive"`` or ``"unit interval"``.
    valid_links : tuple of str
        Links the family accepts for ``mu`` (the first is the default).

    Examples
    --------
    >>> fam = get_family("bernoulli", link="probit")
    >>> str(fam), fam.links
    ("bernoulli(link='probit')", {'mu': 'probit'})
    >>> get_family("student_t").dpars
    ('mu', 'nu', 'sigma')
    """

    name: str
    link: str
    aux: tuple[Auxiliary, ...] = ()
    response: str = "real"
    valid_links: tuple[str, ...] = field(default=(), repr=False)

    def __str__(self) -> str:
        return f"{self.name}(link={self.link!r})"

    # -- descriptions -----------------------------------------------------------------------

    @property
    def aux_names(self) -> tuple[str, ...]:
        """Names of the auxiliary parameters, e.g. ``('nu', 'sigma')``."""
        return tuple(a.name for a in self.aux)

    @property
    def dpars(self) -> tuple[str, ...]:
        """All distributional parameters: ``'mu'`` then the auxiliaries."""
        return ("mu", *self.aux_names)

    @property
    def links(self) -> dict[str, str]:
        """Link of every distributional parameter, ``{'mu': ..., 'sigma': 'log', ...}``."""
        return {"mu": self.link, **{a.name: a.link for a in self.aux}}

    @property
    def needs_trials(self) -> bool:
        """Whether the response needs a number of trials (binomial)."""
        return self._record.needs_trials

    @property
    def discrete(self) -> bool:
        """Whether the response takes integer values (0/1, counts)."""
        return self._record.response.discrete

    @property
    def mean_support(self) -> str:
        """The support of the mean parameter in words (``"probability"``, ``"positive"``)."""
        return self._record.mean_support.name

    @property
    def response_transform(self) -> str | None:
        """The link that puts the response on the scale of the mean parameter before its
        own link (``"log"`` for lognormal, whose mean parameter is that of ``log y``)."""
        return self._record.response_link

    @property
    def _record(self) -> FamilyRecord:
        """The family's record in the registry: its densities, draws and supports."""
        return REGISTRY[self.name]

    # -- links ------------------------------------------------------------------------------

    def link_function(self, mu, dpar: str = "mu"):
        """Apply the link of ``dpar`` (default the mean) to ``mu``."""
        return link(self._link_of(dpar), mu)

    def inverse_link(self, eta, dpar: str = "mu"):
        """Apply the inverse link of ``dpar`` (default the mean) to a linear predictor.

        Examples
        --------
        >>> float(get_family("poisson").inverse_link(0.0))
        1.0
        """
        return inverse_link(self._link_of(dpar), eta)

    def _link_of(self, dpar: str) -> str:
        links = self.links
        if dpar not in links:
            raise ValueError(
                f"the {self.name} family has no parameter {dpar!r}; it has {', '.join(links)}"
            )
        return links[dpar]

    # -- data -------------------------------------------------------------------------------

    def check_response(self, y, trials=None, *, name: str = "y", index=None) -> None:
        """Check that every response value lies in the family's support.

        Parameters
        ----------
        y : array_like
            The response, one value per row.
        trials : array_like, optional
            Number of trials per row (binomial only; required there).
        name : str, optional
            The response's name, for messages.
        index : sequence, optional
            Row labels to report (e.g. a pandas index); default 0-based positions.

        Raises
        ------
        DataError
            Naming the response, the family's support and up to five offending rows.

        Examples
        --------
        >>> get_family("bernoulli").check_response([0, 1, 2], name="switch")
        Traceback (most recent call last):
        ...
        multilevel.errors.DataError: response 'switch' of the bernoulli family must be 0 or 1; row 2 has 2
        """  # noqa: E501
        y = _as_1d(y, name, "response")
        what = f"response {name!r} of the {self.name} family"
        bad = ~np.isfinite(y)
        if bad.any():
            raise DataError(f"{what} must be finite; {_rows(bad, y, index)}")
        if self.needs_trials:
            if trials is None:
                raise DataError(
                    f"{what} needs the number of trials: write '{name} | trials(n) ~ ...' "
                    "(or use the bernoulli family for 0/1 data)"
                )
            n = np.broadcast_to(_as_1d(trials, "trials", "number of trials"), y.shape)
            bad = ~np.isfinite(n) | (n != np.floor(n)) | (n < 1)
            if bad.any():
                raise DataError(
                    f"the number of trials of {what} must be a positive integer; "
                    f"{_rows(bad, n, index)}"
                )
        elif trials is not None:
            raise DataError(
                f"trials() applies to the {', '.join(takes('trials'))} family only, "
                f"not to {self.name}"
            )
        else:
            n = None
        support = self._record.response
        if support.contains is None:
            return
        bad = ~support.contains(y)
        if n is not None:
            bad |= y > n
        if bad.any():
            raise DataError(f"{what} must be {support.rule}; {_rows(bad, y, index, n)}")

    # -- densities --------------------------------------------------------------------------

    def log_likelihood(self, y, mu, aux: Mapping[str, object] | None = None, *, trials=None):
        """Pointwise log density of ``y`` given the mean ``mu`` and the auxiliaries.

        Parameters
        ----------
        y : array_like
            Responses (broadcast against ``mu``, e.g. ``(n,)`` against ``(draws, n)``),
            assumed to have passed :meth:`check_response`.
        mu : array_like
            Mean parameter on the response scale, ``family.inverse_link(eta)`` (for lognormal
            the mean of ``log y``).
        aux : mapping, optional
            Values of the auxiliary parameters, e.g. ``{"sigma": 2.0}``; arrays broadcast.
        trials : array_like, optional
            Number of trials (binomial).

        Returns
        -------
        ndarray
            The log density; ``-inf`` where ``mu`` or an auxiliary is outside its support.

        Examples
        --------
        >>> round(float(get_family("gaussian").log_likelihood(0.0, 0.0, {"sigma": 1.0})), 6)
        -0.918939
        """
        record = self._record
        y = np.asarray(y, dtype=float)
        mu = np.asarray(mu, dtype=float)
        a = self._aux_values(aux)
        self._need_trials(trials)
        ok = record.mean_support.contains(mu)
        for par in record.aux:
            ok = ok & par.contains(a[par.name])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            safe_mu = np.where(ok, mu, record.mean_support.inside)
            safe = {p.name: np.where(ok, a[p.name], p.inside) for p in record.aux}
            out = record.log_density(y, safe_mu, safe, trials)
        return np.where(ok, out, -np.inf)

    def log_likelihood_eta(self, y, eta, aux: Mapping[str, object] | None = None, *, trials=None):
        """Like :meth:`log_likelihood` but from the linear predictor ``eta``.

        Where the record has a density on the link's scale (the bernoulli and binomial
        families with the logit link) it is evaluated without forming ``mu``, so it stays
        finite for any finite ``eta``.
        """
        on_link_scale = self._record.log_density_eta.get(self.link)
        if on_link_scale is not None:
            y = np.asarray(y, dtype=float)
            eta = np.asarray(eta, dtype=float)
            a = self._aux_values(aux)
            self._need_trials(trials)
            return on_link_scale(y, eta, a, trials)
        return self.log_likelihood(y, self.inverse_link(eta), aux, trials=trials)

    def mean(self, mu, aux: Mapping[str, object] | None = None, *, trials=None):
        """Expected response :math:`E[y]` given ``mu`` (``trials * mu`` for binomial,
        :math:`\\exp(\\mu + \\sigma^2/2)` for lognormal, ``mu`` otherwise)."""
        mu = np.asarray(mu, dtype=float)
        expectation = self._record.expectation
        return mu if expectation is None else expectation(mu, self._aux_values(aux), trials)

    def rvs(self, mu, aux: Mapping[str, object] | None = None, *, trials=None, seed=None):
        """Draw responses given ``mu`` and the auxiliaries (posterior predictive draws).

        Examples
        --------
        >>> get_family("poisson").rvs([1.0, 2.0], seed=0).shape
        (2,)
        """
        rng = np.random.default_rng(seed)
        mu = np.asarray(mu, dtype=float)
        a = self._aux_values(aux)
        shape = np.broadcast_shapes(mu.shape, *(np.shape(v) for v in a.values()))
        if self.needs_trials:
            self._need_trials(trials)
            shape = np.broadcast_shapes(shape, np.shape(trials))
        mu = np.broadcast_to(mu, shape)
        return self._record.draw(rng, mu, a, trials, shape)

    def _need_trials(self, trials) -> None:
        if trials is None and self.needs_trials:
            raise ValueError(f"the {self.name} family needs trials")

    def _aux_values(self, aux) -> dict[str, np.ndarray]:
        aux = {} if aux is None else dict(aux)
        missing = [n for n in self.aux_names if n not in aux]
        extra = [n for n in aux if n not in self.aux_names]
        if missing or extra:
            raise ValueError(
                f"the {self.name} family takes auxiliary parameters "
                f"({', '.join(self.aux_names) or 'none'}); "
                + (f"missing {', '.join(missing)}" if missing else f"unexpected {', '.join(extra)}")
            )
        return {n: np.asarray(aux[n], dtype=float) for n in self.aux_names}


def _make(record: FamilyRecord) -> Family:
    return Family(
        name=record.name,
        link=record.default_link,
        aux=record.aux,
        response=record.response.name,
        valid_links=record.links,
    )


#: Every family by name, each with its default link.
FAMILIES: dict[str, Family] = {name: _make(record) for name, record in REGISTRY.items()}


def _closest(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _closest_family(word: str) -> str:
    """A suggestion from the list of families the message prints: the closest name, else the
    family of the closest alias (``neg_binomail`` -> ``negbinomial``)."""
    close = _closest(word, FAMILIES)
    if close:
        return close
    alias = difflib.get_close_matches(word, list(ALIASES), n=1, cutoff=0.6)
    return f" (did you mean {ALIASES[alias[0]]!r}?)" if alias else ""


def get_family(family, link: str | None = None) -> Family:
    """Look up a family by name, optionally with a non-default link for its mean.

    Parameters
    ----------
    family : str, Family or tuple
        ``"gaussian"``, ``"bernoulli(link='probit')"``, ``"bernoulli(probit)"``, a
        :class:`Family`, or a ``(name, link)`` pair. Names are case-insensitive and accept
        the aliases ``normal``, ``student``, ``Gamma``, ``Beta``, ``negative_binomial``,
        ``neg_binomial_2``.
    link : str, optional
        Link of the mean; overrides the family's default (or the Family's own link).

    Raises
    ------
    EngineError
        For an unknown family or a link the family does not accept; the message lists the
        valid names and the closest match.

    Examples
    --------
    >>> get_family("Bernoulli(link = 'probit')").link
    'probit'
    >>> get_family("poisson").link
    'log'
    """
    if isinstance(family, Family):
        return family if link is None or link == family.link else _with_link(family, link)
    if isinstance(family, tuple) and len(family) == 2:
        name, text_link = family
        key = str(name).lower()
        key = ALIASES.get(key, key)
    elif isinstance(family, str):
        read = read_family(family)
        if read is None:
            raise EngineError(
                f"cannot read family {family!r}: expected a name such as 'gaussian' or "
                "'bernoulli(link=\"probit\")'"
            )
        (key, text_link), name = read, family.split("(")[0].strip()
    else:
        raise EngineError(f"a family must be a name such as 'gaussian', got {family!r}")
    if key not in FAMILIES:
        raise EngineError(
            f"unknown family {name!r}{_closest_family(key)}; valid families: " + ", ".join(FAMILIES)
        )
    if text_link is not None and link is not None and text_link != link:
        raise EngineError(f"family {family!r} names link {text_link!r} but link={link!r}")
    return _with_link(FAMILIES[key], link or text_link)


def _with_link(family: Family, link_name: str | None) -> Family:
    if link_name is None:
        return family
    if link_name not in family.valid_links:
        raise EngineError(
            f"the {family.name} family has no link {link_name!r}"
            f"{_closest(link_name, family.valid_links)}; valid links: "
            + ", ".join(family.valid_links)
        )
    return replace(family, link=link_name)


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def _as_1d(values, name: str, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype == bool:
        arr = arr.astype(float)
    if arr.dtype.kind not in "iuf":
        strings = arr.dtype.kind in "USO" and any(isinstance(v, str) for v in arr.ravel())
        try:
            if strings:
                raise TypeError
            arr = arr.astype(float)
        except (TypeError, ValueError):
            raise DataError(
                f"{what} {name!r} must be numeric, got values of type {arr.dtype}"
            ) from None
    arr = arr.astype(float, copy=False)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise DataError(f"{what} {name!r} must be one value per row, got shape {arr.shape}")
    return arr


def _rows(bad: np.ndarray, values: np.ndarray, index=None, trials=None, limit: int = 5) -> str:
    where = np.flatnonzero(bad)
    labels = list(index) if index is not None else None
    parts = []
    for i in where[:limit]:
        label = labels[i] if labels is not None else i
        value = f"{values[i]:g}"
        if trials is not None:
            value += f" (of {trials[i]:g} trials)"
        parts.append(f"row {label} has {value}")
    more = f" and {len(where) - limit} more rows" if len(where) > limit else ""
    return ", ".join(parts) + more
