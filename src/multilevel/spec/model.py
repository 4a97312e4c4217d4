"""The model specification: a :class:`~multilevel.design.Design`, a family and one prior per
parameter, with every parameter's brms name (:func:`build_spec`).

A :class:`ModelSpec` is what every engine receives. It is plain frozen data: numpy arrays (in
the design), names and :class:`~multilevel.spec.priors.Prior` objects; no backend is imported.

Parameters, in the order they are reported:

- ``b_<coef>``: one per column of the population-level design ``X``; ``b_Intercept`` is the
  intercept of the formula **as written** (not of mean-centred predictors), and a user's
  ``Intercept`` / ``b_Intercept`` prior applies to it exactly. The data-scaled *default*
  intercept prior (``student_t(3, median, mad)`` of the response) is, as in brms, placed on
  the intercept of mean-centred predictors, where that scale is meaningful;
- ``sd_<group>__<coef>``: one per varying coefficient of each block;
- ``cor_<group>__<c1>__<c2>``: the correlations of a correlated block with two or more
  coefficients, all sharing the block's LKJ prior;
- the family's auxiliary parameters (``sigma``, ``nu``, ``shape``, ``phi``), except ``sigma``
  when the response has a known standard error (``y | se(s)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from multilevel import naming
from multilevel.design import Design
from multilevel.errors import EngineError, FormulaError
from multilevel.spec.covariance import CovarianceBlock
from multilevel.spec.defaults import default_priors, resolve_priors, response_sd
from multilevel.spec.factors import FactorSpec, factor_spec
from multilevel.spec.families import Family, get_family
from multilevel.spec.priors import Prior
from multilevel.spec.statistics import DataStatistics

__all__ = ["ModelSpec", "DparSpec", "FormulaPart", "build_spec"]


class _BlockNames:
    """The SD and correlation names of a formula's covariance blocks (its ``covariance``),
    block by block."""

    @property
    def sd_names(self) -> tuple[tuple[str, ...], ...]:
        """Per block, the names of its standard deviations."""
        return tuple(c.sd_names for c in self.covariance)

    @property
    def cor_names(self) -> tuple[tuple[str, ...], ...]:
        """Per block, the names of its correlations (empty when it has none)."""
        return tuple(c.cor_names for c in self.covariance)


@dataclass(frozen=True, eq=False)
class DparSpec(_BlockNames):
    """Names of the parameters of a family parameter's own formula (``sigma ~ 1 + (1 | g)``).

    Parameters
    ----------
    parameter : str
        The family parameter: ``"sigma"``, ``"shape"``, ``"phi"``, ``"nu"``.
    link : str
        Its link (``"log"`` for ``sigma``): the parameter is ``inverse_link(eta)`` row by row.
    b_names : tuple of str
        ``b_sigma_Intercept``, ``b_sigma_x``: one per column of ``design.dpars[parameter].X``.
    covariance : tuple of CovarianceBlock
        One per block of ``design.dpars[parameter].blocks``, as in :class:`ModelSpec`
        (``sd_g__sigma_Intercept``).
    """

    parameter: str
    link: str
    b_names: tuple[str, ...]
    covariance: tuple[CovarianceBlock, ...]


@dataclass(frozen=True, eq=False)
class FormulaPart:
    """One formula of a model with what the engines read of it: the mean's (``dpar`` None)
    or a family parameter's (``sigma ~ 1 + (1 | g)``). See :attr:`ModelSpec.formula_parts`.

    Parameters
    ----------
    dpar : str or None
        The family parameter, or None for the mean.
    link : str
        The link of the parameter the formula predicts.
    design : Design or DparDesign
        Its arrays: ``X``, ``X_names``, ``intercept``, ``offset``, ``blocks``.
    b_names : tuple of str
        One name per column of ``design.X``.
    covariance : tuple of CovarianceBlock
        One per block of ``design.blocks``.
    centred_prior : bool
        The intercept's prior is on the intercept of centred predictors (brms's default).
    """

    dpar: str | None
    link: str
    design: object
    b_names: tuple[str, ...]
    covariance: tuple[CovarianceBlock, ...]
    centred_prior: bool

    @property
    def intercept(self) -> str | None:
        """The intercept's name (``b_Intercept``, ``b_sigma_Intercept``), if it has one."""
        d = self.design
        has = bool(d.intercept) and tuple(d.X_names[:1]) == ("Intercept",)
        return self.b_names[0] if has else None

    @property
    def slopes(self) -> tuple[str, ...]:
        """The names of the other population-level coefficients, in ``X``'s column order."""
        return tuple(self.b_names[1:] if self.intercept is not None else self.b_names)


@dataclass(frozen=True, eq=False)
class ModelSpec(_BlockNames):
    """A design, a family and resolved priors: everything an engine needs.

    Parameters
    ----------
    design : Design
        The formula evaluated on the data.
    family : Family
        The response family.
    priors : Mapping of str to Prior
        One prior per parameter name (``b_``, ``sd_``, family parameters) and one per
        correlation name (each correlation of a block has the block's LKJ prior).
    b_names : tuple of str
        brms names of the population-level coefficients, one per column of ``design.X``.
    covariance : tuple of CovarianceBlock
        One per block of ``design.blocks``: its SD and correlation names (correlations in
        the order ``(0, 1), (0, 2), ..., (1, 2), ...``; none for an uncorrelated block or
        one with a single coefficient), its draws key and the SD/correlation <-> covariance
        conversions.
    aux_names : tuple of str
        The family parameters that are estimated (``sigma`` is fixed to ``se`` when the
        formula has ``se()``).
    centred_intercept_prior : bool
        True when the intercept's prior is brms's data-scaled default, which (as in brms) is
        placed on the intercept of mean-centred predictors; False when the user set it
        (``Intercept`` or ``b_Intercept``): it is then on ``b_Intercept`` as written.
    dpars : Mapping of str to DparSpec
        Family parameters with their own formula (empty if none); such a parameter is not in
        ``aux_names``. Their intercepts' priors are on the intercept as written.
    factors : FactorSpec or None
        The names and prior of the formula's ``factors()`` term, if it has one.
    statistics : DataStatistics or None
        For data on Dask: the statistics reduced over its partitions, which engines that
        reduce over rows read instead of ``design``'s rows (``design`` then has none).
    """

    design: Design
    family: Family
    priors: Mapping[str, Prior]
    b_names: tuple[str, ...]
    covariance: tuple[CovarianceBlock, ...]
    aux_names: tuple[str, ...]
    centred_intercept_prior: bool = False
    dpars: Mapping[str, DparSpec] = field(default_factory=lambda: MappingProxyType({}))
    factors: FactorSpec | None = None
    statistics: DataStatistics | None = None

    @property
    def all_covariance(self) -> tuple[CovarianceBlock, ...]:
        """The covariance blocks of the mean's formula, then of each distributional one."""
        return self.covariance + tuple(c for d in self.dpars.values() for c in d.covariance)

    @property
    def formula_parts(self) -> tuple[FormulaPart, ...]:
        """The mean's formula, then each family parameter's (:class:`FormulaPart`)."""
        mean = FormulaPart(
            dpar=None,
            link=self.family.link,
            design=self.design,
            b_names=self.b_names,
            covariance=self.covariance,
            centred_prior=self.centred_intercept_prior,
        )
        dpars = (
            FormulaPart(name, d.link, self.design.dpars[name], d.b_names, d.covariance, False)
            for name, d in self.dpars.items()
        )
        return (mean, *dpars)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Every named parameter (not the group-level deviations), in report order: ``b_``
        (the mean's, then each distributional formula's), ``sd_`` (the factors'
        ``sd_factors`` and ``share_<group>__factors`` last), ``cor_``, family parameters."""
        bs = self.b_names + tuple(n for d in self.dpars.values() for n in d.b_names)
        blocks = self.all_covariance
        sds = tuple(n for c in blocks for n in c.sd_names)
        if self.factors is not None:
            sds += self.factors.reported
        cors = tuple(n for c in blocks for n in c.cor_names)
        return bs + sds + cors + self.aux_names

    @property
    def n_rows(self) -> int:
        """Rows fitted: the design's, or for data on Dask the rows its statistics sum."""
        return self.design.n if self.statistics is None else self.statistics.rows

    @property
    def known_sigma(self) -> bool:
        """Whether the residual SD is the known ``se()`` of each row."""
        return self.design.se is not None and "sigma" in self.family.aux_names

    def cor_prior(self, block: int) -> Prior | None:
        """The LKJ prior of block ``block`` (None if it has no correlations)."""
        names = self.covariance[block].cor_names
        return self.priors[names[0]] if names else None

    def __repr__(self) -> str:
        blocks = ", ".join(f"{b.name}({', '.join(b.coef_names)})" for b in self.design.blocks)
        return (
            f"ModelSpec({self.design.info.formula.text!r}, family={self.family}, "
            f"n={self.design.n}, coefficients={len(self.b_names)}, blocks=[{blocks}])"
        )


def _groups(design: Design) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for block in design.blocks:
        groups.setdefault(block.name, []).extend(block.coef_names)
    for part in design.dpars.values():
        for block in part.blocks:
            groups.setdefault(block.name, []).extend(
                f"{part.parameter}_{c}" for c in block.coef_names
            )
    return groups


def _covariance(blocks, dpar: str | None) -> tuple[CovarianceBlock, ...]:
    return tuple(
        CovarianceBlock.of(i, b.name, b.coef_names, correlated=b.correlated, dpar=dpar)
        for i, b in enumerate(blocks)
    )


def build_spec(
    design: Design,
    family: Family | str = "gaussian",
    priors: Mapping[str, Prior | str] | None = None,
    *,
    with_priors: bool = True,
    statistics: DataStatistics | None = None,
) -> ModelSpec:
    """Name every parameter of a design and give it a prior.

    Parameters
    ----------
    design : Design
        From :func:`multilevel.design.design`.
    family : Family or str
        The response family (``"gaussian"``, ``"bernoulli"``, a :class:`Family` with a link).
    priors : mapping, optional
        User priors by class (``Intercept``, ``b``, ``sd``, ``cor``, ``sigma``, ...), group
        class (``sd_county``, ``cor_county``) or exact name (``b_floor``); the rest come from
        :func:`multilevel.spec.defaults.default_priors`. Positive parameters' priors are
        truncated at 0 (``nu`` at 1).
    with_priors : bool
        False: no priors at all (``spec.priors`` empty), for point estimates (REML / ML).
    statistics : DataStatistics, optional
        The data's statistics reduced over the partitions of a Dask frame
        (:mod:`multilevel.distributed`); ``design`` then has the data's encodings and no
        rows, and the default priors are scaled by ``statistics.scales``.

    Returns
    -------
    ModelSpec

    Raises
    ------
    DataError
        A response outside the family's support.
    PriorError
        An unknown prior target (the valid ones are listed) or an invalid prior.
    EngineError
        A formula without a response, ``se()`` with a family without ``sigma``, or a
        distributional formula for a parameter the family does not have.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import design
    >>> d = design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> spec = build_spec(d, "gaussian", {"cor": "lkj(2)"})
    >>> spec.parameter_names  # doctest: +NORMALIZE_WHITESPACE
    ('b_Intercept', 'b_Days', 'sd_Subject__Intercept', 'sd_Subject__Days',
     'cor_Subject__Intercept__Days', 'sigma')
    >>> spec.priors["cor_Subject__Intercept__Days"]
    Prior('lkj(2)')
    """
    family = get_family(family)
    if design.y is None:
        raise FormulaError("the formula has no response: write 'y ~ ...' to fit a model")
    for name in design.dpars:
        if name not in family.aux_names:
            valid = ", ".join(family.aux_names) or "none"
            raise EngineError(
                f"the {family.name} family has no parameter {name!r} for a distributional "
                f"formula; its parameters: {valid}"
            )
    if design.se is not None and "sigma" in design.dpars:
        raise EngineError("sigma cannot have a formula when se() gives it: drop one of them")
    family.check_response(
        design.y, design.trials, name=design.response or "y", index=design.info.training_index
    )
    if design.se is not None and "sigma" not in family.aux_names:
        raise EngineError(f"se() needs a family with a residual SD, not {family.name}")

    coefs = naming.clean_all(design.X_names)
    b_names = tuple(naming.population(c) for c in coefs)
    covariance = _covariance(design.blocks, None)
    dpars = {}
    for name, part in design.dpars.items():
        dpars[name] = DparSpec(
            parameter=name,
            link=family.links[name],
            b_names=tuple(naming.population(c, name) for c in naming.clean_all(part.X_names)),
            covariance=_covariance(part.blocks, name),
        )
    known_sigma = design.se is not None
    aux_names = tuple(
        a for a in family.aux_names if not (known_sigma and a == "sigma") and a not in dpars
    )

    resolved = {}
    if with_priors:
        defaults = default_priors(
            design.y,
            design.X,
            design.X_names,
            _groups(design),
            family,
            dpars=tuple(dpars),
            scales=None if statistics is None else statistics.scales,
        )
        draft = ModelSpec(design, family, {}, b_names, covariance, aux_names, False, dpars)
        if any(c.correlated for c in draft.all_covariance) and "cor" not in defaults:
            defaults["cor"] = Prior("lkj", (1.0,))
        resolved = resolve_priors(priors, list(draft.parameter_names), defaults=defaults)
    user_keys = set(priors or {})
    centred = bool(design.intercept) and not (
        {"Intercept", naming.population("Intercept")} & user_keys
    )
    return ModelSpec(
        design=design,
        family=family,
        priors=MappingProxyType(resolved),
        b_names=b_names,
        covariance=covariance,
        aux_names=aux_names,
        centred_intercept_prior=centred,
        dpars=MappingProxyType(dpars),
        factors=None
        if design.factors is None
        else factor_spec(design.factors, response_sd(design.y, family)),
        statistics=statistics,
    )
