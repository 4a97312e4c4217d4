"""Backend-free prior distributions written in Stan syntax.

A :class:`Prior` is a distribution name, its parameters and an optional lower bound. It
parses from and prints to Stan syntax (``"normal(0, 5)"``) and evaluates its log density
with scipy, so the exact engines need no probabilistic-programming backend. As in Stan, a
prior placed on a positive parameter is truncated at zero: ``"normal(0, 1)"`` on a standard
deviation is a half-normal.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace

import numpy as np

from multilevel.errors import PriorError
from multilevel.spec._prior_densities import log_density, log_survival

__all__ = ["Prior", "parse_prior", "as_prior", "support_key", "DISTRIBUTIONS", "POSITIVE_DISTS"]


def _stats():
    """scipy.stats, imported when a prior is first drawn from or summarised: it takes half
    a second (densities need only scipy.special: :mod:`._prior_densities`)."""
    from scipy import stats

    return stats


def _scipy_normal(mu, sigma):
    return _stats().norm(mu, sigma)


def _scipy_student_t(nu, mu, sigma):
    return _stats().t(nu, mu, sigma)


def _scipy_cauchy(mu, sigma):
    return _stats().cauchy(mu, sigma)


def _scipy_exponential(rate):
    return _stats().expon(scale=1.0 / rate)


def _scipy_gamma(shape, rate):
    return _stats().gamma(shape, scale=1.0 / rate)


def _scipy_inv_gamma(shape, scale):
    return _stats().invgamma(shape, scale=scale)


def _scipy_lognormal(mu, sigma):
    return _stats().lognorm(sigma, scale=np.exp(mu))


def _scipy_uniform(lower, upper):
    return _stats().uniform(lower, upper - lower)


def _scipy_beta(a, b):
    return _stats().beta(a, b)


def _scipy_logistic(mu, sigma):
    return _stats().logistic(mu, sigma)


# name -> (parameter names, scipy factory or None, which parameters must be positive)
DISTRIBUTIONS: dict[str, tuple[tuple[str, ...], object, tuple[str, ...]]] = {
    "normal": (("mu", "sigma"), _scipy_normal, ("sigma",)),
    "student_t": (("nu", "mu", "sigma"), _scipy_student_t, ("nu", "sigma")),
    "cauchy": (("mu", "sigma"), _scipy_cauchy, ("sigma",)),
    "logistic": (("mu", "sigma"), _scipy_logistic, ("sigma",)),
    "exponential": (("rate",), _scipy_exponential, ("rate",)),
    "gamma": (("shape", "rate"), _scipy_gamma, ("shape", "rate")),
    "inv_gamma": (("shape", "scale"), _scipy_inv_gamma, ("shape", "scale")),
    "lognormal": (("mu", "sigma"), _scipy_lognormal, ("sigma",)),
    "uniform": (("lower", "upper"), _scipy_uniform, ()),
    "beta": (("a", "b"), _scipy_beta, ("a", "b")),
    "flat": ((), None, ()),
    "lkj": (("eta",), None, ("eta",)),
}
#: Distributions whose support is the positive reals.
POSITIVE_DISTS = ("exponential", "gamma", "inv_gamma", "lognormal")
_ALIASES = {"lkj_corr_cholesky": "lkj", "lkj_corr": "lkj", "student": "student_t"}
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z_0-9]*)\s*(?:\((.*)\))?\s*$")
_TRUNCATION = re.compile(rf"\s*T\[\s*({_NUMBER})\s*,\s*\]\s*$")


@dataclass(frozen=True)
class Prior:
    """A prior distribution in Stan's parameterisation.

    Parameters
    ----------
    dist : str
        Distribution name, one of :data:`DISTRIBUTIONS` (``normal``, ``student_t``,
        ``cauchy``, ``exponential``, ``gamma``, ``uniform``, ...).
    params : tuple of float
        The distribution's parameters in Stan's order.
    lower : float, optional
        Truncation point; the density is renormalised above it.

    Examples
    --------
    >>> p = Prior("normal", (0.0, 1.0)).truncated(0.0)
    >>> p
    Prior('normal(0, 1) T[0, ]')
    >>> round(float(p.logpdf(0.0)), 4)  # half-normal density at 0 is 2 * phi(0)
    -0.2258
    """

    dist: str
    params: tuple[float, ...] = ()
    lower: float | None = None

    def __post_init__(self):
        if self.dist not in DISTRIBUTIONS:
            raise PriorError(
                f"unknown prior distribution {self.dist!r}; valid names: "
                + ", ".join(sorted(DISTRIBUTIONS))
            )
        names, _, positive = DISTRIBUTIONS[self.dist]
        if len(self.params) != len(names):
            raise PriorError(
                f"prior {self.dist!r} takes {len(names)} parameter(s) "
                f"({', '.join(names) or 'none'}), got {len(self.params)}: {self.to_stan()!r}"
            )
        for name, value in zip(names, self.params, strict=True):
            if not np.isfinite(value):
                raise PriorError(f"prior {self.to_stan()!r}: parameter {name} must be finite")
            if name in positive and value <= 0:
                raise PriorError(
                    f"prior {self.to_stan()!r}: parameter {name} must be positive, got {value:g}"
                )
        if self.dist == "uniform" and self.params[0] >= self.params[1]:
            raise PriorError(f"prior {self.to_stan()!r}: lower bound must be below upper bound")

    def __repr__(self) -> str:
        return f"Prior({self.to_stan()!r})"

    def to_stan(self) -> str:
        """The prior in Stan syntax, e.g. ``"normal(0, 5) T[0, ]"``."""
        args = ", ".join(f"{p:g}" for p in self.params)
        text = f"{self.dist}({args})"
        return text if self.lower is None else f"{text} T[{self.lower:g}, ]"

    def truncated(self, lower: float) -> Prior:
        """This prior truncated below at ``lower`` (how Stan treats ``real<lower=0>``)."""
        if self.dist == "uniform" and self.params[0] >= lower:
            return self
        bounded_above = self.dist in ("uniform", "beta")  # the others reach +inf
        if bounded_above and self._frozen().sf(lower) <= 0:
            raise PriorError(
                f"prior {self.to_stan()!r} puts no mass above {lower:g}, "
                "so it cannot be used for a positive parameter"
            )
        return replace(self, lower=float(lower))

    def _frozen(self):
        return _frozen(self.dist, self.params)

    def logpdf(self, x):
        """Log density at ``x`` (``-inf`` outside the support or below the truncation)."""
        x = np.asarray(x, dtype=float)
        if self.dist == "flat":
            out = np.zeros_like(x)
        elif self.dist == "lkj":
            raise PriorError("an lkj prior applies to correlation matrices, not to a scalar")
        else:
            out = log_density(self.dist, self.params, x)
        if self.lower is not None:
            norm = 0.0 if self.dist == "flat" else log_survival(self.dist, self.params, self.lower)
            out = np.where(x < self.lower, -np.inf, out - norm)
        return out

    def rvs(self, size, rng: np.random.Generator):
        """Draws from the (truncated) prior by inverse CDF."""
        frozen = self._frozen()
        if frozen is None:
            raise PriorError(f"cannot draw from the improper prior {self.to_stan()!r}")
        lo = 0.0 if self.lower is None else frozen.cdf(self.lower)
        return frozen.ppf(lo + (1.0 - lo) * rng.uniform(size=size))

    def support_scale(self) -> tuple[float, float]:
        """A (centre, scale) pair describing where the prior puts its mass."""
        if self.dist == "flat":
            return 0.0, np.inf
        if self.dist == "uniform":
            a, b = self.params
            return (a + b) / 2, (b - a) / 4
        frozen = self._frozen()
        med = (
            frozen.median()
            if self.lower is None
            else frozen.ppf(frozen.cdf(self.lower) + frozen.sf(self.lower) / 2)
        )
        q25, q75 = frozen.ppf([0.25, 0.75])
        return float(med), float(max(q75 - q25, 1e-12))


@functools.lru_cache(maxsize=256)
def _frozen(dist: str, params: tuple[float, ...]):
    """The scipy distribution of a prior (cached: freezing a scipy distribution is slow)."""
    factory = DISTRIBUTIONS[dist][1]
    return None if factory is None else factory(*params)


def parse_prior(text: str) -> Prior:
    """Parse a Stan-syntax prior such as ``"student_t(3, 0, 2.5)"``.

    Raises
    ------
    PriorError
        If the string is not ``name(number, ...)`` or names an unknown distribution.

    A lower truncation written as :meth:`Prior.to_stan` writes it (``"normal(0, 1) T[0, ]"``,
    as ``default_priors`` shows it) reads back.

    Examples
    --------
    >>> parse_prior("cauchy(0, 5)")
    Prior('cauchy(0, 5)')
    >>> parse_prior("student_t(3, 0, 2.5) T[0, ]")
    Prior('student_t(3, 0, 2.5) T[0, ]')
    """
    if not isinstance(text, str):
        raise PriorError(f"a prior must be a string like 'normal(0, 5)', got {text!r}")
    truncation = _TRUNCATION.search(text)
    if truncation is not None:
        return parse_prior(text[: truncation.start()]).truncated(float(truncation.group(1)))
    if "T[" in text:
        raise PriorError(
            f"cannot read prior {text!r}: only a lower truncation such as 'normal(0, 1) T[0, ]' "
            "is supported"
        )
    match = _CALL.match(text)
    if match is None:
        raise PriorError(f"cannot read prior {text!r}: expected e.g. 'normal(0, 5)'")
    name = _ALIASES.get(match.group(1), match.group(1))
    if name not in DISTRIBUTIONS:
        raise PriorError(
            f"unknown prior distribution {match.group(1)!r} in {text!r}; valid names: "
            + ", ".join(sorted(DISTRIBUTIONS))
        )
    body = (match.group(2) or "").strip()
    args = [a.strip() for a in body.split(",")] if body else []
    for arg in args:
        if not re.fullmatch(_NUMBER, arg):
            raise PriorError(f"prior {text!r}: argument {arg!r} is not a number")
    return Prior(name, tuple(float(a) for a in args))


def as_prior(value) -> Prior:
    """Accept a :class:`Prior` or a Stan-syntax string."""
    return value if isinstance(value, Prior) else parse_prior(value)


def support_key(prior: Prior) -> tuple:
    """A hashable description of the support of a parameter with this prior: ``("real",)``,
    ``("positive",)``, ``("above", low)``, ``("interval", low, high)`` or ``("unit",)``.

    Examples
    --------
    >>> support_key(parse_prior("normal(0, 1)").truncated(0.0))
    ('positive',)
    """
    low = prior.lower
    d = prior.dist
    if d == "uniform":
        a, b = prior.params
        return ("interval", float(max(a, low) if low is not None else a), float(b))
    if d == "beta":
        return ("unit",)
    if d in POSITIVE_DISTS:
        return ("positive",) if low is None or low <= 0 else ("above", float(low))
    if low is None:
        return ("real",)
    return ("positive",) if low == 0 else ("above", float(low))
