"""Parameter names, built in one place and in brms's spelling.

Every name a user sees in a summary, passes as a prior target or finds in an ArviZ
``InferenceData`` comes from the builders in this module; :func:`parse` is their inverse.

Conventions (brms 2.x, ``variables(fit)``)
-----------------------------------------

=========================================  ==============================================
population-level (fixed) effect            ``b_Intercept``, ``b_Days``, ``b_x:z``
... of a distributional parameter          ``b_sigma_Intercept``, ``b_sigma_Days``
standard deviation of a group effect       ``sd_Subject__Intercept``, ``sd_Subject__Days``
... of a distributional parameter          ``sd_Subject__sigma_Intercept``
correlation of two group effects           ``cor_Subject__Intercept__Days``
... involving a distributional parameter   ``cor_Subject__Intercept__sigma_Intercept``
group-level deviation (lme4 ``ranef``)     ``r_Subject[308,Intercept]``
... of a distributional parameter          ``r_Subject__sigma[308,Intercept]``
family (auxiliary) parameter               ``sigma``, ``nu``, ``phi``, ``shape``
=========================================  ==============================================

The mean parameter ``mu`` never appears as a prefix (``dpar=None`` and ``dpar="mu"`` are the
same). A grouping factor that is an interaction keeps its colon (``sd_a:b__Intercept``), as in
brms; its level names are whatever the design stage makes them (brms joins them with ``_``).

Coefficient and group names are cleaned as brms's internal ``rename()`` does before they
enter a parameter name (:func:`clean`): spaces, parentheses, brackets, commas, quotes and
``?`` are dropped and ``+ - * / ^ =`` become ``P M MU D E EQ`` — so ``log(x)`` gives
``b_logx`` and ``I(x^2)`` gives ``b_IxE2``. Use :func:`clean_all` on the full list of
coefficient names to catch two names that clean to the same string. As in brms, names may
not contain a double underscore ``__`` (it separates the parts of ``sd_``/``cor_`` names) and
here they may also not end with ``_``; both raise :class:`~multilevel.errors.FormulaError`.
Level names are kept verbatim (they may even contain commas); only ``r_`` names carry them.

Prior classes (the keys :func:`multilevel.spec.defaults.resolve_priors` accepts besides exact
names) follow brms's ``class`` / ``dpar`` / ``group`` columns of ``get_prior``:
``Intercept``, ``b``, ``sd``, ``cor`` and each family parameter by name; for a distributional
parameter ``Intercept_sigma``, ``b_sigma``, ``sd_sigma`` (brms's Stan names); per group
``sd_<group>`` (``sd_<group>__<dpar>`` for a distributional parameter) and ``cor_<group>``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from multilevel.errors import FormulaError, PriorError

__all__ = [
    "INTERCEPT",
    "DPARS",
    "ParameterName",
    "clean",
    "clean_all",
    "population",
    "sd",
    "cor",
    "group_effect",
    "family_parameter",
    "parse",
]

INTERCEPT = "Intercept"

#: Distributional (auxiliary) parameters recognised as name prefixes and as bare family
#: parameters by :func:`parse`. ``mu`` is not among them: the mean is never a prefix.
DPARS: tuple[str, ...] = ("sigma", "nu", "phi", "shape")

# brms:::rename() defaults, in order.
_RENAME = (
    (" ", ""),
    ("(", ""),
    (")", ""),
    ("[", ""),
    ("]", ""),
    (",", ""),
    ('"', ""),
    ("'", ""),
    ("?", ""),
    ("+", "P"),
    ("-", "M"),
    ("*", "MU"),
    ("/", "D"),
    ("^", "E"),
    ("=", "EQ"),
)
_DPAR = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_R_NAME = re.compile(r"^r_(?P<head>[^\[]+)\[(?P<level>.*),(?P<coef>[^,\[\]]+)\]$", re.DOTALL)


def clean(name: str) -> str:
    """A coefficient or group name as brms writes it inside parameter names.

    Applies brms's ``rename()``: drops spaces, ``( ) [ ] , " ' ?`` and replaces
    ``+ - * / ^ =`` with ``P M MU D E EQ``. Idempotent.

    Raises
    ------
    FormulaError
        If the cleaned name is empty, contains ``__`` or ends with ``_``.

    Examples
    --------
    >>> clean("log(x)"), clean("I(x^2)"), clean("x:z"), clean("my var")
    ('logx', 'IxE2', 'x:z', 'myvar')
    """
    if not isinstance(name, str):
        raise TypeError(f"a name must be a string, got {name!r}")
    return _clean(name)


@functools.lru_cache(maxsize=4096)
def _clean(name: str) -> str:
    """:func:`clean` of a string, remembered (every fit names its parameters anew)."""
    out = name
    for old, new in _RENAME:
        out = out.replace(old, new)
    if not out:
        raise FormulaError(f"the name {name!r} is empty once cleaned for use in parameter names")
    if "__" in out:
        raise FormulaError(
            f"the name {name!r} contains a double underscore '__', which separates the parts "
            "of parameter names (sd_<group>__<coef>); rename the column"
        )
    if out.endswith("_"):
        raise FormulaError(
            f"the name {name!r} ends with '_', which makes parameter names ambiguous; "
            "rename the column"
        )
    return out


def clean_all(names: Iterable[str]) -> list[str]:
    """Clean every name and check that no two clean to the same string.

    Raises
    ------
    FormulaError
        If two different names collide once cleaned (e.g. ``"x y"`` and ``"xy"``).

    Examples
    --------
    >>> clean_all(["Intercept", "log(x)", "x:z"])
    ['Intercept', 'logx', 'x:z']
    """
    names = list(names)
    out = [clean(n) for n in names]
    seen: dict[str, str] = {}
    for raw, cleaned in zip(names, out, strict=True):
        if cleaned in seen and seen[cleaned] != raw:
            raise FormulaError(
                f"the names {seen[cleaned]!r} and {raw!r} both become {cleaned!r} in parameter "
                "names; rename one of them"
            )
        seen[cleaned] = raw
    return out


def _dpar(dpar: str | None) -> str | None:
    if dpar is None or dpar == "mu":
        return None
    if not isinstance(dpar, str) or not _DPAR.fullmatch(dpar):
        raise ValueError(f"invalid distributional parameter name {dpar!r}")
    return dpar


def _prefixed(coef: str, dpar: str | None) -> str:
    dpar = _dpar(dpar)
    coef = clean(coef)
    return coef if dpar is None else f"{dpar}_{coef}"


def population(coef: str, dpar: str | None = None) -> str:
    """Name of a population-level (fixed) effect.

    Examples
    --------
    >>> population("Intercept"), population("Days"), population("Intercept", dpar="sigma")
    ('b_Intercept', 'b_Days', 'b_sigma_Intercept')
    """
    return f"b_{_prefixed(coef, dpar)}"


def sd(group: str, coef: str, dpar: str | None = None) -> str:
    """Name of the standard deviation of a group effect.

    Examples
    --------
    >>> sd("Subject", "Days"), sd("Subject", "Intercept", dpar="sigma")
    ('sd_Subject__Days', 'sd_Subject__sigma_Intercept')
    """
    return f"sd_{clean(group)}__{_prefixed(coef, dpar)}"


def cor(
    group: str,
    coef1: str,
    coef2: str,
    *,
    dpar1: str | None = None,
    dpar2: str | None = None,
) -> str:
    """Name of the correlation between two group effects of one block.

    Examples
    --------
    >>> cor("Subject", "Intercept", "Days")
    'cor_Subject__Intercept__Days'
    >>> cor("g", "Intercept", "Intercept", dpar2="sigma")
    'cor_g__Intercept__sigma_Intercept'
    """
    return f"cor_{clean(group)}__{_prefixed(coef1, dpar1)}__{_prefixed(coef2, dpar2)}"


def group_effect(group: str, level, coef: str, dpar: str | None = None) -> str:
    """Name of one group-level deviation (lme4's ``ranef``), ``r_<group>[<level>,<coef>]``.

    ``level`` is converted with ``str``; it is kept verbatim.

    Examples
    --------
    >>> group_effect("Subject", 308, "Intercept")
    'r_Subject[308,Intercept]'
    >>> group_effect("Subject", "308", "Intercept", dpar="sigma")
    'r_Subject__sigma[308,Intercept]'
    """
    dpar = _dpar(dpar)
    head = clean(group) if dpar is None else f"{clean(group)}__{dpar}"
    return f"r_{head}[{level},{clean(coef)}]"


def block_key(index: int, dpar: str | None = None) -> str:
    """Key of design block ``index``'s group-level deviations among a posterior's draws
    (``(chains, draws, levels, q)``); a distributional formula's blocks carry its parameter.

    Examples
    --------
    >>> block_key(0), block_key(1, "sigma")
    ('r_block0', 'r_sigma_block1')
    """
    return f"r_block{index}" if dpar is None else f"r_{dpar}_block{index}"


def factor_key(column: str) -> str:
    """Draws key of the factors of the levels of ``column`` (``(chains, draws, levels, k)``).

    Examples
    --------
    >>> factor_key("user"), factor_cov_key("user")
    ('factors__user', 'factors_cov__user')
    """
    return f"factors__{column}"


def factor_mean_set(column: str) -> str:
    """Name of the one-level set of factors that is the prior mean of ``column``'s factors
    when no group column is given (BPMF's hierarchical mean): ``"user:mean"``."""
    return f"{column}:mean"


def factor_cov_key(column: str) -> str:
    """Draws key of the covariance of those factors, ``(chains, draws, k, k)``."""
    return f"factors_cov__{column}"


def family_parameter(name: str) -> str:
    """Name of a family (auxiliary) parameter: the parameter's own name, e.g. ``sigma``.

    Examples
    --------
    >>> family_parameter("sigma")
    'sigma'
    """
    dpar = _dpar(name)
    if dpar is None:
        raise ValueError("the mean 'mu' is not a family parameter; it is the linear predictor")
    return dpar


@dataclass(frozen=True)
class ParameterName:
    """A parameter name taken apart; ``str()`` puts it back together.

    Attributes
    ----------
    kind : {"b", "sd", "cor", "r", "family"}
        Population effect, group-effect SD, correlation, group-level deviation, or a family
        parameter.
    coef : str or None
        The coefficient (first coefficient of a correlation); ``None`` for a family parameter.
    group : str or None
        The grouping factor of ``sd``, ``cor`` and ``r`` names.
    level : str or None
        The level of an ``r`` name.
    dpar : str or None
        The distributional parameter the coefficient belongs to (``None`` for the mean); for a
        family parameter, its name.
    coef2, dpar2 : str or None
        The second coefficient of a correlation and its distributional parameter.
    """

    kind: str
    coef: str | None = None
    group: str | None = None
    level: str | None = None
    dpar: str | None = None
    coef2: str | None = None
    dpar2: str | None = None

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        """The parameter name."""
        if self.kind == "b":
            return population(self.coef, self.dpar)
        if self.kind == "sd":
            return sd(self.group, self.coef, self.dpar)
        if self.kind == "cor":
            return cor(self.group, self.coef, self.coef2, dpar1=self.dpar, dpar2=self.dpar2)
        if self.kind == "r":
            return group_effect(self.group, self.level, self.coef, self.dpar)
        return family_parameter(self.dpar)

    @property
    def prior_class(self) -> str | None:
        """The prior class this parameter belongs to (``None`` for ``r`` deviations).

        Examples
        --------
        >>> parse("b_Intercept").prior_class, parse("b_sigma_x").prior_class
        ('Intercept', 'b_sigma')
        >>> parse("sd_g__x").prior_class, parse("sd_g__sigma_x").prior_class
        ('sd', 'sd_sigma')
        """
        if self.kind == "b":
            base = INTERCEPT if self.coef == INTERCEPT else "b"
            return base if self.dpar is None else f"{base}_{self.dpar}"
        if self.kind == "sd":
            return "sd" if self.dpar is None else f"sd_{self.dpar}"
        if self.kind == "cor":
            return "cor"
        if self.kind == "family":
            return self.dpar
        return None

    @property
    def group_class(self) -> str | None:
        """The per-group prior key (``sd_<group>``, ``sd_<group>__<dpar>``, ``cor_<group>``).

        ``None`` for parameters that are not a group's SD or correlation.

        Examples
        --------
        >>> parse("sd_county__floor").group_class, parse("cor_g__a__b").group_class
        ('sd_county', 'cor_g')
        """
        if self.kind == "sd":
            return f"sd_{self.group}" if self.dpar is None else f"sd_{self.group}__{self.dpar}"
        if self.kind == "cor":
            return f"cor_{self.group}"
        return None


def _split_dpar(text: str, dpars: Collection[str]) -> tuple[str | None, str]:
    head, sep, tail = text.partition("_")
    if sep and tail and head in dpars:
        return head, tail
    return None, text


def parse(name: str, *, dpars: Collection[str] = DPARS) -> ParameterName:
    """Take a parameter name apart; the inverse of the builders.

    Parameters
    ----------
    name : str
        A name such as ``"b_Days"``, ``"sd_Subject__Intercept"`` or
        ``"r_Subject[308,Days]"``.
    dpars : collection of str, optional
        Distributional parameters to recognise as coefficient prefixes (``b_sigma_x``) and as
        bare family parameters. Default :data:`DPARS`. As in brms, ``b_sigma_x`` is read as
        the coefficient ``x`` of ``sigma``; pass ``dpars=()`` for a model without
        distributional sub-formulas whose predictor is called ``sigma_x``.

    Raises
    ------
    PriorError
        If ``name`` is not a parameter name.

    Examples
    --------
    >>> parse("sd_Subject__Days")
    ParameterName(kind='sd', coef='Days', group='Subject', level=None, dpar=None, coef2=None, dpar2=None)
    >>> parse("r_Subject__sigma[308,Intercept]").level
    '308'
    """  # noqa: E501
    if not isinstance(name, str):
        raise PriorError(f"a parameter name must be a string, got {name!r}")
    if name.startswith("r_"):
        match = _R_NAME.match(name)
        if match is not None:
            group, sep, dpar = match.group("head").partition("__")
            if group and (not sep or _DPAR.fullmatch(dpar)):
                return _checked(
                    name,
                    ParameterName(
                        "r",
                        coef=match.group("coef"),
                        group=group,
                        level=match.group("level"),
                        dpar=dpar or None,
                    ),
                )
    elif name.startswith("b_") and len(name) > 2:
        dpar, coef = _split_dpar(name[2:], dpars)
        return _checked(name, ParameterName("b", coef=coef, dpar=dpar))
    elif name.startswith("sd_"):
        group, sep, rest = name[3:].partition("__")
        if group and sep and rest:
            dpar, coef = _split_dpar(rest, dpars)
            return _checked(name, ParameterName("sd", coef=coef, group=group, dpar=dpar))
    elif name.startswith("cor_"):
        parts = name[4:].split("__")
        if len(parts) == 3 and all(parts):
            dpar1, coef1 = _split_dpar(parts[1], dpars)
            dpar2, coef2 = _split_dpar(parts[2], dpars)
            return _checked(
                name,
                ParameterName(
                    "cor", coef=coef1, group=parts[0], dpar=dpar1, coef2=coef2, dpar2=dpar2
                ),
            )
    elif name in dpars:
        return ParameterName("family", dpar=name)
    raise PriorError(
        f"{name!r} is not a parameter name; expected b_<coef>, sd_<group>__<coef>, "
        f"cor_<group>__<coef1>__<coef2>, r_<group>[<level>,<coef>] or a family parameter "
        f"({', '.join(dpars)})"
    )


def _checked(name: str, parsed: ParameterName) -> ParameterName:
    """Reject names whose parts would not rebuild the same string (e.g. ``b_log(x)``)."""
    try:
        rebuilt = parsed.name
    except (FormulaError, ValueError):
        rebuilt = None
    if rebuilt != name:
        raise PriorError(
            f"{name!r} is not a parameter name as multilevel writes them"
            + (f" (did you mean {rebuilt!r}?)" if rebuilt else "")
        )
    return parsed
