"""A gaussian factor model's data, arranged once per fit for the Gibbs sweeps: the response,
the population-level basis and its priors, the intercept blocks, and each set of factors with
the rows it touches (:class:`Problem`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from multilevel.engines.factorization._noise import noise_of
from multilevel.linalg.segments import PaddedRows
from multilevel.naming import factor_mean_set

__all__ = ["Problem", "FactorSet", "CoefficientPriors", "DrawNames", "problem_of"]


@dataclass(frozen=True)
class DrawNames:
    """The posterior's keys of everything a sweep draws, in the order of the state's arrays
    (the draws are kept without the spec)."""

    b: tuple[str, ...]
    sd: tuple[str, ...]  # one per block
    effects: tuple[str, ...]  # r_block<i>
    sigma: bool
    noise_b: tuple[str, ...]
    noise_sd: tuple[str, ...]
    noise_effects: tuple[str, ...]
    factor_sd: tuple[str, ...]  # one per set of factors
    reported: tuple[str, ...]
    shares: tuple[tuple[str, int, int], ...]

    @classmethod
    def of(cls, spec) -> DrawNames:
        noise = spec.dpars.get("sigma")
        return cls(
            b=tuple(spec.b_names),
            sd=tuple(c.sd_names[0] for c in spec.covariance),
            effects=tuple(c.key for c in spec.covariance),
            sigma="sigma" in spec.aux_names,
            noise_b=tuple(noise.b_names) if noise else (),
            noise_sd=tuple(c.sd_names[0] for c in noise.covariance) if noise else (),
            noise_effects=tuple(c.key for c in noise.covariance) if noise else (),
            factor_sd=tuple(spec.factors.sd_names),
            reported=tuple(spec.factors.reported),
            shares=tuple(spec.factors.shares),
        )


@dataclass(frozen=True, eq=False)
class CoefficientPriors:
    """Independent priors of the population coefficients (in the sampled basis).

    ``N(mean, scale^2 / lambda)`` with ``lambda = 1`` for a normal prior and ``lambda ~
    Gamma(nu / 2, nu / 2)`` for a Student-t (the t as a scale mixture of normals, so its
    conditional stays gaussian); ``scale = inf`` for a flat prior.
    """

    mean: np.ndarray
    scale: np.ndarray
    nu: np.ndarray  # inf for normal and flat priors


@dataclass(frozen=True, eq=False)
class FactorSet:
    """One set of factors: the users', the items', or a group's (artists').

    ``rows``/``index``/``other_index`` are set for users and items (each level's rows laid out
    for :func:`~multilevel.linalg.segments.segment_gram`, each row's level on this side and on
    the other); ``parent`` (int ``(levels,)``) is the group of each level
    when the set has one (its factors' prior mean), ``children`` the set whose prior mean
    this set is.
    """

    name: str
    n_levels: int
    rows: PaddedRows | None = None
    index: np.ndarray | None = None
    other_index: np.ndarray | None = None
    parent: int | None = None  # position of the group set in Problem.sets
    parent_index: np.ndarray | None = None
    child: int | None = None  # position of the set grouped by this one


@dataclass(frozen=True, eq=False)
class Problem:
    """Everything a sweep reads (module docstring)."""

    y: np.ndarray
    offset: np.ndarray
    X: np.ndarray
    XtX: np.ndarray
    centre: np.ndarray  # means subtracted from X's non-intercept columns (zeros if none)
    priors: CoefficientPriors
    block_index: tuple[np.ndarray, ...]
    block_z: tuple[np.ndarray, ...]
    block_levels: tuple[int, ...]
    block_intercept: tuple[bool, ...]  # z is 1 on every row
    intercept: bool  # X's first column is the intercept
    sd_priors: tuple
    sigma_prior: object  # None with a sigma formula
    noise: object  # the sigma formula's NoiseModel, or None
    binary: bool  # bernoulli with probit link: y is the sign of a latent gaussian (sigma = 1)
    sets: tuple[FactorSet, ...]
    k: int
    wishart_df: float
    wishart_scale_inverse: np.ndarray
    names: DrawNames

    @property
    def n(self) -> int:
        return self.y.size


def _coefficient_priors(spec) -> CoefficientPriors:
    mean, scale, nu = [], [], []
    for name in spec.b_names:
        prior = spec.priors.get(name)  # b_Intercept's is on the centred intercept if centred
        if prior is None or prior.dist == "flat":
            mean.append(0.0), scale.append(np.inf), nu.append(np.inf)
        elif prior.dist == "normal":
            mean.append(prior.params[0]), scale.append(prior.params[1]), nu.append(np.inf)
        elif prior.dist == "student_t":
            nu_, m, s = prior.params
            mean.append(m), scale.append(s), nu.append(nu_)
        else:  # cauchy (checked by the engine's support)
            m, s = prior.params
            mean.append(m), scale.append(s), nu.append(1.0)
    return CoefficientPriors(np.array(mean), np.array(scale), np.array(nu))


def _sets(factors) -> tuple[FactorSet, ...]:
    users, items = factors.users, factors.items
    sets: list[FactorSet] = []
    groups = []
    for side, other in ((users, items), (items, users)):
        index = np.asarray(side.index, dtype=np.int64)
        other_index = np.asarray(other.index, dtype=np.int64)
        sets.append(
            FactorSet(
                side.name,
                side.n_levels,
                PaddedRows.of(index, side.n_levels, other_index, other.n_levels),
                index,
                other_index,
            )
        )
        groups.append(side.group)
    for position, side in enumerate((users, items)):
        if side.group is None:  # one common mean
            name, n_levels = factor_mean_set(side.name), 1
            parent_index = np.zeros(side.n_levels, dtype=np.int64)
        else:
            name, n_levels = side.group, len(side.group_levels)
            parent_index = side.level_groups().astype(np.int64)
        sets.append(FactorSet(name, n_levels, child=position))
        child = sets[position]
        sets[position] = FactorSet(
            child.name,
            child.n_levels,
            child.rows,
            child.index,
            child.other_index,
            parent=len(sets) - 1,
            parent_index=parent_index,
        )
    return tuple(sets)


def problem_of(spec) -> Problem:
    """Arrange ``spec`` for the sampler (a spec the engine supports)."""
    d = spec.design
    X = np.asarray(d.X, dtype=float)
    centred = bool(spec.centred_intercept_prior and d.intercept)
    centre = np.zeros(X.shape[1])
    if centred:
        centre[1:] = X[:, 1:].mean(axis=0)
    fs = spec.factors
    return Problem(
        y=np.asarray(d.y, dtype=float),
        offset=np.asarray(d.offset, dtype=float),
        X=X - centre,
        XtX=(X - centre).T @ (X - centre),
        centre=centre,
        priors=_coefficient_priors(spec),
        block_index=tuple(np.asarray(b.index[:, 0], dtype=np.int64) for b in d.blocks),
        block_z=tuple(np.asarray(b.Z[:, 0], dtype=float) for b in d.blocks),
        block_levels=tuple(b.n_levels for b in d.blocks),
        block_intercept=tuple(bool(np.all(b.Z[:, 0] == 1.0)) for b in d.blocks),
        intercept=bool(d.intercept),
        sd_priors=tuple(spec.priors[c.sd_names[0]] for c in spec.covariance),
        sigma_prior=spec.priors.get("sigma"),
        noise=noise_of(spec) if "sigma" in spec.dpars else None,
        binary=spec.family.name == "bernoulli",
        sets=_sets(d.factors),
        k=fs.k,
        wishart_df=fs.prior_df,
        wishart_scale_inverse=np.linalg.inv(fs.prior_wishart_scale),
        names=DrawNames.of(spec),
    )
