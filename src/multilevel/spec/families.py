r"""Response families: a likelihood plus a link for each of its parameters (brms's ``family``).

A :class:`Family` is plain frozen data — names, not functions — so it can be compared,
hashed, pickled and printed. Its methods evaluate the inverse link, the log likelihood and
random draws with numpy/scipy; the NUTS engine has its own JAX version of the same formulas.

Parameterisations (brms's, ``vignette("brms_families")``), with :math:`\mu` the mean parameter
on the response scale, :math:`\mu = g^{-1}(\eta)`:

==============  ======================  ===========================================================
family          links of ``mu``         density
==============  ======================  ===========================================================
gaussian        identity, log, inverse  :math:`N(y \mid \mu, \sigma)`
student_t       identity, log, inverse  :math:`t_\nu(y \mid \mu, \sigma)` (location, scale)
bernoulli       logit, probit, cauchit,  :math:`\mu^y (1-\mu)^{1-y}`
                cloglog
binomial        same as bernoulli       :math:`\binom{n}{y} \mu^y (1-\mu)^{n-y}`, ``n = trials``
poisson         log, identity, sqrt     :math:`\mu^y e^{-\mu} / y!`
negbinomial     log, identity, sqrt     :math:`\binom{y+\phi-1}{y} (\frac{\mu}{\mu+\phi})^y
                                        (\frac{\phi}{\mu+\phi})^\phi` with ``shape`` :math:`\phi`:
                                        :math:`E = \mu`, :math:`Var = \mu + \mu^2/\phi`
gamma           log, identity, inverse  :math:`\mathrm{Gamma}(y \mid \alpha, \alpha/\mu)` (shape,
                                        rate) with ``shape`` :math:`\alpha`: :math:`E = \mu`
lognormal       identity, inverse       :math:`\log y \sim N(\mu, \sigma)`: ``mu`` is the mean of
                                        :math:`\log y` (so the identity link is on the log scale)
beta            logit, probit, cauchit,  :math:`\mathrm{Beta}(y \mid \mu\phi, (1-\mu)\phi)`:
                cloglog                 mean :math:`\mu`, precision ``phi``
==============  ======================  ===========================================================

Auxiliary parameters and the links brms uses when they get their own formula:
``sigma`` (positive, log), ``nu`` (:math:`\nu > 1`, link ``logm1``: :math:`\log(\nu - 1)`),
``shape`` (positive, log), ``phi`` (positive, log). brms declares ``real<lower=1> nu``, so
``nu`` is bounded below by 1, not 0.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import special

from multilevel.errors import DataError, EngineError
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
    """

    name: str
    support: str
    lower: float | None
    upper: float | None
    link: str


#: Every auxiliary parameter a family here can have.
AUXILIARIES: dict[str, Auxiliary] = {
    "sigma": Auxiliary("sigma", "positive", 0.0, None, "log"),
    "nu": Auxiliary("nu", "greater than 1", 1.0, None, "logm1"),
    "shape": Auxiliary("shape", "positive", 0.0, None, "log"),
    "phi": Auxiliary("phi", "positive", 0.0, None, "log"),
}

_BINARY_LINKS = ("logit", "probit", "cauchit", "cloglog")

# name -> (valid mean links (first is the default), auxiliary names, response support)
_SPECS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "gaussian": (("identity", "log", "inverse"), ("sigma",), "real"),
    "student_t": (("identity", "log", "inverse"), ("nu", "sigma"), "real"),
    "bernoulli": (_BINARY_LINKS, (), "binary"),
    "binomial": (_BINARY_LINKS, (), "bounded count"),
    "poisson": (("log", "identity", "sqrt"), (), "count"),
    "negbinomial": (("log", "identity", "sqrt"), ("shape",), "count"),
    "gamma": (("log", "identity", "inverse"), ("shape",), "positive"),
    "lognormal": (("identity", "inverse"), ("sigma",), "positive"),
    "beta": (_BINARY_LINKS, ("phi",), "unit interval"),
}


def _finite(mu):
    return np.isfinite(mu)


def _probability(mu):
    return (mu >= 0) & (mu <= 1)


def _non_negative(mu):
    return np.isfinite(mu) & (mu >= 0)


def _positive(mu):
    return np.isfinite(mu) & (mu > 0)


def _open_unit(mu):
    return (mu > 0) & (mu < 1)


# where the mean parameter must lie for the density to be defined
_MEAN_OK = {
    "gaussian": _finite,
    "student_t": _finite,
    "bernoulli": _probability,
    "binomial": _probability,
    "poisson": _non_negative,
    "negbinomial": _non_negative,
    "gamma": _positive,
    "lognormal": _finite,
    "beta": _open_unit,
}


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
        return self.name == "binomial"

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
            bad = (y != np.floor(y)) | (y < 0) | (y > n)
            if bad.any():
                raise DataError(
                    f"{what} must be an integer between 0 and the number of trials; "
                    f"{_rows(bad, y, index, n)}"
                )
            return
        if trials is not None:
            raise DataError(f"trials() applies to the binomial family only, not to {self.name}")
        if self.response == "binary":
            bad, rule = (y != 0) & (y != 1), "0 or 1"
        elif self.response == "count":
            bad, rule = (y != np.floor(y)) | (y < 0), "a non-negative integer"
        elif self.response == "positive":
            bad, rule = y <= 0, "positive"
        elif self.response == "unit interval":
            bad, rule = (y <= 0) | (y >= 1), "strictly between 0 and 1"
        else:
            return
        if bad.any():
            raise DataError(f"{what} must be {rule}; {_rows(bad, y, index)}")

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
        y = np.asarray(y, dtype=float)
        mu = np.asarray(mu, dtype=float)
        a = self._aux_values(aux)
        ok = _MEAN_OK[self.name](mu)
        for aux_name, value in a.items():
            ok = ok & (value > AUXILIARIES[aux_name].lower) & np.isfinite(value)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            safe_mu = np.where(ok, mu, _SAFE_MU[self.response])
            safe = {k: np.where(ok, v, AUXILIARIES[k].lower + 1.0) for k, v in a.items()}
            out = _LOGPDF[self.name](y, safe_mu, safe, trials)
        return np.where(ok, out, -np.inf)

    def log_likelihood_eta(self, y, eta, aux: Mapping[str, object] | None = None, *, trials=None):
        """Like :meth:`log_likelihood` but from the linear predictor ``eta``.

        With the logit link the bernoulli and binomial densities are evaluated without
        forming ``mu``, so they stay finite for any finite ``eta``.
        """
        if self.link == "logit" and self.name in ("bernoulli", "binomial"):
            y = np.asarray(y, dtype=float)
            eta = np.asarray(eta, dtype=float)
            self._aux_values(aux)
            n = 1.0 if self.name == "bernoulli" else np.asarray(trials, dtype=float)
            if self.name == "binomial" and trials is None:
                raise ValueError("the binomial family needs trials")
            # y*log(p) + (n-y)*log(1-p) = y*eta - n*log(1 + exp(eta))
            out = y * eta - n * np.logaddexp(0.0, eta)
            return out + (_log_binom(n, y) if self.name == "binomial" else 0.0)
        return self.log_likelihood(y, self.inverse_link(eta), aux, trials=trials)

    def mean(self, mu, aux: Mapping[str, object] | None = None, *, trials=None):
        """Expected response :math:`E[y]` given ``mu`` (``trials * mu`` for binomial,
        :math:`\\exp(\\mu + \\sigma^2/2)` for lognormal, ``mu`` otherwise)."""
        mu = np.asarray(mu, dtype=float)
        if self.name == "binomial":
            return np.asarray(trials, dtype=float) * mu
        if self.name == "lognormal":
            return np.exp(mu + self._aux_values(aux)["sigma"] ** 2 / 2)
        return mu

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
            if trials is None:
                raise ValueError("the binomial family needs trials")
            shape = np.broadcast_shapes(shape, np.shape(trials))
        mu = np.broadcast_to(mu, shape)
        name = self.name
        if name == "gaussian":
            return rng.normal(mu, a["sigma"], size=shape)
        if name == "student_t":
            return mu + a["sigma"] * rng.standard_t(np.broadcast_to(a["nu"], shape), size=shape)
        if name == "bernoulli":
            return rng.binomial(1, mu, size=shape)
        if name == "binomial":
            return rng.binomial(np.asarray(trials).astype(np.int64), mu, size=shape)
        if name == "poisson":
            return rng.poisson(mu, size=shape)
        if name == "negbinomial":
            rate = rng.gamma(a["shape"], mu / a["shape"], size=shape)
            return rng.poisson(rate)
        if name == "gamma":
            return rng.gamma(a["shape"], mu / a["shape"], size=shape)
        if name == "lognormal":
            return np.exp(rng.normal(mu, a["sigma"], size=shape))
        if name == "beta":
            return rng.beta(mu * a["phi"], (1 - mu) * a["phi"], size=shape)
        raise AssertionError(name)  # pragma: no cover

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


_SAFE_MU = {
    "real": 0.0,
    "binary": 0.5,
    "bounded count": 0.5,
    "count": 1.0,
    "positive": 1.0,
    "unit interval": 0.5,
}


def _log_binom(n, y):
    return special.gammaln(n + 1) - special.gammaln(y + 1) - special.gammaln(n - y + 1)


def _gaussian(y, mu, a, trials):
    s = a["sigma"]
    return -0.5 * ((y - mu) / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi)


def _student_t(y, mu, a, trials):
    nu, s = a["nu"], a["sigma"]
    z = (y - mu) / s
    return (
        special.gammaln((nu + 1) / 2)
        - special.gammaln(nu / 2)
        - 0.5 * np.log(nu * np.pi)
        - np.log(s)
        - (nu + 1) / 2 * np.log1p(z**2 / nu)
    )


def _bernoulli(y, mu, a, trials):
    return special.xlogy(y, mu) + special.xlog1py(1 - y, -mu)


def _binomial(y, mu, a, trials):
    if trials is None:
        raise ValueError("the binomial family needs trials")
    n = np.asarray(trials, dtype=float)
    return _log_binom(n, y) + special.xlogy(y, mu) + special.xlog1py(n - y, -mu)


def _poisson(y, mu, a, trials):
    return special.xlogy(y, mu) - mu - special.gammaln(y + 1)


def _negbinomial(y, mu, a, trials):
    phi = a["shape"]
    return (
        special.gammaln(y + phi)
        - special.gammaln(phi)
        - special.gammaln(y + 1)
        + phi * (np.log(phi) - np.log(phi + mu))
        + special.xlogy(y, mu)
        - y * np.log(phi + mu)
    )


def _gamma(y, mu, a, trials):
    alpha = a["shape"]
    rate = alpha / mu
    return alpha * np.log(rate) - special.gammaln(alpha) + (alpha - 1) * np.log(y) - rate * y


def _lognormal(y, mu, a, trials):
    s = a["sigma"]
    ly = np.log(y)
    return -0.5 * ((ly - mu) / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi) - ly


def _beta(y, mu, a, trials):
    phi = a["phi"]
    p, q = mu * phi, (1 - mu) * phi
    return special.xlogy(p - 1, y) + special.xlog1py(q - 1, -y) - special.betaln(p, q)


_LOGPDF = {
    "gaussian": _gaussian,
    "student_t": _student_t,
    "bernoulli": _bernoulli,
    "binomial": _binomial,
    "poisson": _poisson,
    "negbinomial": _negbinomial,
    "gamma": _gamma,
    "lognormal": _lognormal,
    "beta": _beta,
}


def _make(name: str, link_name: str | None = None) -> Family:
    links, aux, response = _SPECS[name]
    return Family(
        name=name,
        link=links[0] if link_name is None else link_name,
        aux=tuple(AUXILIARIES[a] for a in aux),
        response=response,
        valid_links=links,
    )


#: Every family by name, each with its default link.
FAMILIES: dict[str, Family] = {name: _make(name) for name in _SPECS}


def _closest(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


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
            f"unknown family {name!r}{_closest(key, [*FAMILIES, *ALIASES])}; valid families: "
            + ", ".join(FAMILIES)
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
