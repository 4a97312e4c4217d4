r"""The NumPyro model of a :class:`~multilevel.spec.model.ModelSpec` (shared by NUTS and VI).

Model
-----
With :math:`\eta_i = \mathrm{offset}_i + x_i^\top b + \sum_{\text{blocks}} \sum_k w_{ik}\,
z_i^\top r_{\mathrm{index}_{ik}}` and :math:`\mu_i = g^{-1}(\eta_i)`:

- population coefficients ``b``: the intercept is sampled for the mean-centred predictors
  (:math:`\alpha_c = b_0 + \bar x^\top b`, a shear with unit Jacobian, so the posterior is the
  same) but a user's intercept prior is evaluated on ``b_Intercept`` itself, the intercept as
  written (the data-scaled default prior on :math:`\alpha_c`, as brms does);
- each parameter with a prior is an unconstrained site mapped to its support (real, above the
  prior's lower bound, or the interval of a uniform prior) plus a ``factor`` with the prior's
  log density; the normalising constant of a truncated prior is constant and left out;
- block of ``q`` coefficients on ``L`` levels: rows :math:`r_j \sim N(0, \Lambda
  \Lambda^\top)`, :math:`\Lambda = \mathrm{diag}(sd)\,\Omega_L` with :math:`\Omega_L \sim
  \mathrm{LKJCholesky}(q, \eta)` for a correlated block, :math:`\Omega_L = I` otherwise;
  sampled non-centred (:math:`r_j = \Lambda z_j`, :func:`_correlated_effects`) unless the
  block is uncorrelated and the data's information about its effects is in ``data``
  (:func:`with_warm_start`): then given it (:func:`_scaled_effects`); a block named in
  ``make_model(rotate=...)`` as its mean and contrasts (:func:`_rotated_effects`);
- group effects enter by indexing rows into ``r`` (never a one-hot matrix);
- a family parameter with its own formula (``sigma ~ 1 + (1 | g)``) has a linear predictor
  built the same way (its intercept's prior is on ``b_sigma_Intercept`` as written) and takes
  the family's link for it (``log`` for ``sigma``);
- the likelihood is the family's, with ``sigma = se`` for ``y | se(s)`` and each row's log
  density multiplied by its ``weights()``.

Compiled code is reused
-----------------------
The model function depends only on the *structure* of the spec (family, link, parameter
names, prior families, block shapes); all numbers (design matrices, indices, prior
parameters) are passed in ``data``. Two specs with the same structure share one model
function (:func:`make_model` caches it), so NumPyro's ``jit_model_args`` reuses the compiled
sampler across data sets of the same shape.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.scipy import special as jsp
from numpyro.distributions import constraints
from numpyro.infer import init_to_uniform

from multilevel.errors import EngineError
from multilevel.families import REGISTRY, FamilyRecord
from multilevel.spec.defaults import intercept_location_scale
from multilevel.spec.model import FormulaPart, ModelSpec
from multilevel.spec.priors import POSITIVE_DISTS, Prior, support_key

__all__ = [
    "NumpyroModel",
    "make_model",
    "with_warm_start",
    "prior_distribution",
    "init_strategy",
    "FAMILIES",
    "LINKS",
]

_MODEL_CACHE_SIZE = 32

#: Inverse links in JAX.
LINKS = {
    "identity": lambda eta: eta,
    "log": jnp.exp,
    "logit": jax.nn.sigmoid,
    "probit": jsp.ndtr,
    "cauchit": lambda eta: 0.5 + jnp.arctan(eta) / jnp.pi,
    "cloglog": lambda eta: -jnp.expm1(-jnp.exp(eta)),
    "inverse": lambda eta: 1.0 / eta,
    "sqrt": jnp.square,
    "logm1": lambda eta: 1.0 + jnp.exp(eta),
}

#: Families the NumPyro model implements: every record has its likelihood.
FAMILIES = tuple(REGISTRY)


def numpyro_distribution(d: str, p):
    """NumPyro distribution ``d`` with parameters ``p`` (numbers or traced arrays)."""
    if d == "normal":
        return dist.Normal(p[0], p[1])
    if d == "student_t":
        return dist.StudentT(p[0], p[1], p[2])
    if d == "cauchy":
        return dist.Cauchy(p[0], p[1])
    if d == "logistic":
        return dist.Logistic(p[0], p[1])
    if d == "exponential":
        return dist.Exponential(p[0])
    if d == "gamma":
        return dist.Gamma(p[0], p[1])
    if d == "inv_gamma":
        return dist.InverseGamma(p[0], p[1])
    if d == "lognormal":
        return dist.LogNormal(p[0], p[1])
    if d == "uniform":
        return dist.Uniform(p[0], p[1])
    if d == "beta":
        return dist.Beta(p[0], p[1])
    if d == "flat":
        return None
    raise EngineError(f"the prior {d}() cannot be used on a scalar parameter")


def prior_distribution(prior: Prior):
    """The NumPyro distribution of a prior, without its truncation (None for ``flat``).

    Examples
    --------
    >>> from multilevel.spec.priors import parse_prior
    >>> type(prior_distribution(parse_prior("student_t(3, 0, 2.5)"))).__name__
    'StudentT'
    """
    try:
        return numpyro_distribution(prior.dist, prior.params)
    except EngineError:
        raise EngineError(
            f"the prior {prior.to_stan()!r} cannot be used on a scalar parameter"
        ) from None


def support_constraint(key: tuple):
    kind = key[0]
    if kind == "interval":
        return constraints.interval(key[1], key[2])
    if kind == "unit":
        return constraints.unit_interval
    if kind == "positive":
        return constraints.positive
    if kind == "above":
        return constraints.greater_than(key[1])
    return constraints.real


# -- structure: the hashable skeleton of a spec ---------------------------------------------


@dataclass(frozen=True)
class _Block:
    site: str  # "block0", "sigma_block0"
    q: int
    levels: int
    members: int  # columns of index (mm)
    weighted: bool
    sd_names: tuple[str, ...]
    cor_prior: str | None  # name of the first correlation (its prior is the block's LKJ)
    rotated: bool = False  # sampled as its mean and contrasts (see _rotated_effects)
    moves: tuple[int, ...] = ()  # per column, where its mean moves: -1 intercept, j slope j


@dataclass(frozen=True)
class _Part:
    dpar: str | None  # None for mu
    link: str
    intercept: str | None  # name of the intercept parameter, if any
    slopes: tuple[str, ...]
    centred_prior: bool  # the intercept's prior is on the centred intercept
    offset: bool
    blocks: tuple[_Block, ...]


@dataclass(frozen=True)
class _Structure:
    family: str
    link: str
    parts: tuple[_Part, ...]
    aux: tuple[str, ...]  # family parameters that are scalars
    priors: tuple[tuple[str, str, tuple], ...]  # (name, dist, support key)
    se: bool
    trials: bool
    weights: bool


def _blocks(blocks, covariance, prefix: str, rotate=frozenset(), movable=None) -> tuple:
    out = []
    for block, cov in zip(blocks, covariance, strict=True):
        w = np.asarray(block.weights)
        site = f"{prefix}block{cov.index}"
        weighted = not bool(np.all(w == 1.0))
        rotated = site in rotate and block.index.shape[1] == 1 and block.n_levels > 1
        out.append(
            _Block(
                site=site,
                q=block.q,
                levels=block.n_levels,
                members=block.index.shape[1],
                weighted=weighted,
                sd_names=cov.sd_names,
                cor_prior=cov.cor_names[0] if cov.correlated else None,
                rotated=rotated and not weighted,
                moves=_moves(block, movable) if rotated and not weighted else (),
            )
        )
    return tuple(out)


def _moves(block, movable) -> tuple[int, ...]:
    """Per column of a rotated block, the population coefficient with the same covariate
    (-1: the intercept, j: slope j, -2: none) that its mean moves into."""
    out = []
    for k in range(block.q):
        target = movable(np.asarray(block.Z[:, k], dtype=float)) if movable else -2
        out.append(-2 if target in out else target)  # each coefficient takes one column
    return tuple(out)


def _movable(spec: ModelSpec):
    """``movable(column) -> int``: the population coefficient a block column's mean can move
    into (-1 the intercept, j the j-th slope with an unbounded prior, -2 none): the one whose
    column of ``X`` equals it."""
    d = spec.design
    X = np.asarray(d.X, dtype=float)
    has_intercept = bool(d.intercept) and d.X_names[:1] == ("Intercept",)
    slopes = spec.b_names[1:] if has_intercept else spec.b_names
    first = 1 if has_intercept else 0

    def movable(column) -> int:
        if has_intercept and np.all(column == 1.0):
            return -1
        for j, name in enumerate(slopes):
            unbounded = support_key(spec.priors[name]) == ("real",)
            if unbounded and np.array_equal(X[:, first + j], column):
                return j
        return -2

    return movable


def _part(formula: FormulaPart, blocks) -> _Part:
    return _Part(
        dpar=formula.dpar,
        link=formula.link,
        intercept=formula.intercept,
        slopes=formula.slopes,
        centred_prior=formula.centred_prior,
        offset=bool(np.any(np.asarray(formula.design.offset) != 0)),
        blocks=blocks,
    )


def _structure(spec: ModelSpec, rotate=frozenset()) -> _Structure:
    d = spec.design
    parts = []
    for formula in spec.formula_parts:
        group_blocks, covariance = formula.design.blocks, formula.covariance
        if formula.dpar is None:
            movable = _movable(spec) if rotate else None
            blocks = _blocks(group_blocks, covariance, "", rotate, movable)
        else:
            blocks = _blocks(group_blocks, covariance, f"{formula.dpar}_")
        parts.append(_part(formula, blocks))
    for part in parts:
        if part.intercept is not None:
            prior = spec.priors[part.intercept]
            if prior.lower is not None or prior.dist in ("uniform", "beta", *POSITIVE_DISTS):
                raise EngineError(
                    f"a bounded prior on {part.intercept!r} ({prior.to_stan()}) is not "
                    "supported by the NUTS engine; use an unbounded one such as normal()"
                )
    priors = tuple((name, prior.dist, support_key(prior)) for name, prior in spec.priors.items())
    return _Structure(
        family=spec.family.name,
        link=spec.family.link,
        parts=tuple(parts),
        aux=tuple(spec.aux_names),
        priors=priors,
        se=d.se is not None,
        trials=d.trials is not None,
        weights=d.weights is not None,
    )


# -- data: every number, as arrays -----------------------------------------------------------


def _part_data(X, intercept: bool, offset, blocks, part: _Part) -> dict:
    X = np.asarray(X, dtype=float)
    Xs = X[:, 1:] if part.intercept is not None else X
    x_mean = Xs.mean(axis=0) if part.intercept is not None else np.zeros(Xs.shape[1])
    out = {
        "X": jnp.asarray(Xs - x_mean),
        "x_mean": jnp.asarray(x_mean),
        "offset": jnp.asarray(offset, dtype=float),
        "blocks": [],
    }
    for block, shape in zip(blocks, part.blocks, strict=True):
        out["blocks"].append(
            {
                "index": jnp.asarray(block.index, dtype=jnp.int32),
                "Z": jnp.asarray(block.Z, dtype=float),
                "w": jnp.asarray(block.weights, dtype=float) if shape.weighted else None,
                # the data's information and estimates of the effects (of the contrasts
                # when rotated) that set their parameterisation; zeros: non-centred
                "info": jnp.zeros((shape.levels - shape.rotated, shape.q)),
                "est": jnp.zeros((shape.levels - shape.rotated, shape.q)),
            }
        )
    return out


def _data(spec: ModelSpec, structure: _Structure) -> dict:
    d = spec.design
    parts = [
        _part_data(f.design.X, f.design.intercept, f.design.offset, f.design.blocks, part)
        for f, part in zip(spec.formula_parts, structure.parts, strict=True)
    ]
    y = np.asarray(d.y, dtype=float)
    location, _ = intercept_location_scale(y, spec.family)
    optional = {"se": d.se, "trials": d.trials, "weights": d.weights}
    data = {
        "parts": parts,
        "location": jnp.asarray(float(location)),
        "priors": {
            name: jnp.asarray(prior.params, dtype=float)
            for name, prior in spec.priors.items()
            if prior.params
        },
        "n": jnp.zeros(y.shape[0]),  # carries the number of rows as a shape
    }
    for key, value in optional.items():
        data[key] = None if value is None else jnp.asarray(value, dtype=float)
    return data


# -- the model -------------------------------------------------------------------------------


def init_strategy(site=None, radius: float = 2.0):
    """NumPyro init strategy: a site's ``infer["init"]`` value if it has one (the centred
    intercept starts at the response's location), otherwise uniform in ``(-radius, radius)``
    on the unconstrained scale."""
    if site is None:
        return partial(init_strategy, radius=radius)
    if site["type"] == "sample" and not site["is_observed"] and "init" in site["infer"]:
        return site["infer"]["init"]
    return init_to_uniform(site, radius=radius)


def _observation(record: FamilyRecord, link: str, eta, aux, se, trials):
    r"""The family's observation distribution from the linear predictor: its record's form on
    the link's scale where it has one (logit links), else its likelihood at
    :math:`\mu = g^{-1}(\eta)`; ``sigma`` is the known ``se`` for ``y | se(s)``."""
    if se is not None:
        aux = {**aux, "sigma": se}
    on_link_scale = record.likelihood_eta.get(link)
    if on_link_scale is not None:
        return on_link_scale(eta, aux, trials)
    return record.likelihood(LINKS[link](eta), aux, trials)


def _conditional(sd, info, est):
    r"""Mean :math:`a`, SD :math:`\sigma` and :math:`sd / \sigma` of effects given their SD
    under the Gaussian approximation :math:`\hat s_{jk} \sim N(r_{jk}, 1 / I_{jk})` of their
    data: precision :math:`I + sd^{-2}`, mean :math:`I \hat s` over it (written with
    :math:`t = I sd^2`, finite at any SD)."""
    t = info * sd**2
    ratio = jnp.sqrt(1.0 + t)
    return est * t / (1.0 + t), sd / ratio, ratio


def _scaled_effects(site: str, sd, info, est):
    r"""Independent effects :math:`r_{jk} \sim N(0, sd_k^2)`, sampled as
    :math:`u_{jk} = (r_{jk} - a_{jk}) / \sigma_{jk}` with :math:`a, \sigma` the mean and SD
    of :math:`r_{jk}` given :math:`sd_k` under the Gaussian approximation of the data
    (:func:`_conditional`). For any functions :math:`a(sd), \sigma(sd)` this is the same
    model (:math:`u \sim N(-a / \sigma, sd / \sigma)`); these make :math:`u`'s posterior
    nearly standard normal *whatever* :math:`sd`: no funnel at small SDs (where the prior
    pins the effects and this is the non-centred :math:`r = sd\,u`) nor at large ones
    (where the data do and it is centred). ``info = 0``: non-centred."""
    a, sigma, ratio = _conditional(sd, info, est)
    u = numpyro.sample(site, dist.Normal(-a / sigma, ratio).to_event(2))
    return a + sigma * u


def _correlated_effects(site: str, sd, L, rows: int):
    r"""Correlated effects :math:`r_j = \Lambda z_j`, :math:`\Lambda = \mathrm{diag}(sd)\,L`,
    :math:`z_j \sim N(0, I)`: non-centred. (Given the data as in :func:`_scaled_effects`,
    the sampled coordinates would depend on :math:`L`, and the correlation then mixed 2-7x
    worse on radon and a bernoulli ``(x | g)``.)"""
    z = numpyro.sample(site, dist.Normal(0.0, 1.0).expand([rows, sd.shape[0]]).to_event(2))
    return (z @ L.T) * sd


def helmert(d):
    r"""``H @ d`` for the ``(L, L - 1)`` Helmert contrasts :math:`H` (orthonormal columns
    orthogonal to the ones: column :math:`l` is :math:`(1, \dots, 1, -l, 0, \dots) /
    \sqrt{l (l + 1)}`), in O(L) for ``d`` of shape ``(L - 1, q)``."""
    m = d.shape[0]
    k = jnp.arange(1, m + 1, dtype=d.dtype)[:, None]
    s = d / jnp.sqrt(k * (k + 1.0))
    tail = jnp.cumsum(s[::-1], axis=0)[::-1]
    zero = jnp.zeros((1,) + d.shape[1:], d.dtype)
    return jnp.concatenate([tail, zero]) - jnp.concatenate([zero, k * s])


def helmert_transpose(r: np.ndarray) -> np.ndarray:
    """``H.T @ r`` (numpy; see :func:`helmert`)."""
    m = r.shape[0] - 1
    k = np.arange(1, m + 1, dtype=float)[:, None]
    return (np.cumsum(r, axis=0)[:-1] - k * r[1:]) / np.sqrt(k * (k + 1.0))


def _rotated_effects(site: str, sd, L, info, est, levels: int):
    r"""A block's effects as :math:`r = \mathbf 1\, m^\top / \sqrt{L} + H D` (an orthonormal
    rotation of the levels, so the rows of :math:`(m, D)` are again iid :math:`N(0,
    \Sigma)`): the block mean :math:`m` non-centred (site ``m_<site>``), the contrasts
    :math:`D` parameterised by their data (``info``, ``est``; site ``z_<site>``). Returns
    the effects and the mean :math:`m / \sqrt{L}` added to every level."""
    q = sd.shape[0]
    m = numpyro.sample(f"m_{site}", dist.Normal(0.0, 1.0).expand([q]).to_event(1))
    if L is not None:
        mean = (L @ m) * sd
        D = _correlated_effects(f"z_{site}", sd, L, levels - 1)
    else:
        mean = m * sd
        D = _scaled_effects(f"z_{site}", sd, info, est)
    mean = mean / jnp.sqrt(float(levels))
    return helmert(D) + mean, mean


def _build(structure: _Structure):
    """The model function of a structure: ``model(data, y=None)``."""
    kinds = {name: (d, support) for name, d, support in structure.priors}
    record = REGISTRY[structure.family]

    def scalar(name, data):
        d, support = kinds[name]
        value = numpyro.sample(name, dist.ImproperUniform(support_constraint(support), (), ()))
        if d != "flat":
            numpyro.factor(
                f"{name}__prior", numpyro_distribution(d, data["priors"][name]).log_prob(value)
            )
        return value

    def moved_scalar(name, moved, data):
        """A slope sampled with its blocks' means added (``<name>__moved``), and its value."""
        d, _ = kinds[name]
        total = numpyro.sample(f"{name}__moved", dist.ImproperUniform(constraints.real, (), ()))
        value = numpyro.deterministic(name, total - moved)
        if d != "flat":
            prior = numpyro_distribution(d, data["priors"][name])
            numpyro.factor(f"{name}__prior", prior.log_prob(value))
        return value

    def linear_predictor(part: _Part, pdata, data, n):
        eta = pdata["offset"] if part.offset else jnp.zeros(n)
        # the group effects first: the means of rotated blocks move into the population
        # coefficients of the same covariates (a shear of unit Jacobian): those sampled are
        # the sums, which the data identify, rather than the parts, which they do not
        moved_b = [0.0] * len(part.slopes)
        moved_intercept = 0.0
        for blk, bdata in zip(part.blocks, pdata["blocks"], strict=True):
            sd = jnp.stack([scalar(name, data) for name in blk.sd_names])
            L = None
            if blk.cor_prior is not None:
                eta_lkj = data["priors"][blk.cor_prior][0]
                L = numpyro.sample(f"L_{blk.site}", dist.LKJCholesky(blk.q, eta_lkj))
            if blk.rotated:
                r, mean = _rotated_effects(blk.site, sd, L, bdata["info"], bdata["est"], blk.levels)
                for k, target in enumerate(blk.moves):
                    if target == -1:
                        moved_intercept = moved_intercept + mean[k]
                    elif target >= 0:
                        moved_b[target] = moved_b[target] + mean[k]
            elif L is not None:
                r = _correlated_effects(f"z_{blk.site}", sd, L, blk.levels)
            else:
                r = _scaled_effects(f"z_{blk.site}", sd, bdata["info"], bdata["est"])
            r = numpyro.deterministic(f"r_{blk.site}", r)
            index, Z, w = bdata["index"], bdata["Z"], bdata["w"]
            for k in range(blk.members):
                rows = r[index[:, k]]
                term = jnp.sum(Z * rows, axis=1) if blk.q > 1 else Z[:, 0] * rows[:, 0]
                eta = eta + (term if w is None else w[:, k] * term)
        b = None
        if part.slopes:
            moves = {t for blk in part.blocks for t in blk.moves}
            b = jnp.stack(
                [
                    moved_scalar(name, moved_b[j], data) if j in moves else scalar(name, data)
                    for j, name in enumerate(part.slopes)
                ]
            )
            eta = eta + pdata["X"] @ b
        if part.intercept is not None:
            name = part.intercept
            shift = pdata["x_mean"] @ b if b is not None else 0.0
            if part.dpar is None:
                alpha_c = numpyro.sample(
                    "Intercept_c",
                    dist.ImproperUniform(constraints.real, (), ()),
                    infer={"init": data["location"]},
                )
                # the sampled intercept carries the moved means (of the covariates at x_mean)
                if b is not None:
                    moved_intercept = moved_intercept + pdata["x_mean"] @ jnp.stack(
                        [jnp.asarray(m, dtype=b.dtype) for m in moved_b]
                    )
                alpha_c = alpha_c - moved_intercept
            else:
                alpha_c = numpyro.sample(
                    f"Intercept_c_{part.dpar}", dist.ImproperUniform(constraints.real, (), ())
                )
            b0 = numpyro.deterministic(name, alpha_c - shift)
            d, _ = kinds[name]
            if d != "flat":
                at = alpha_c if part.centred_prior else b0
                prior = numpyro_distribution(d, data["priors"][name])
                numpyro.factor(f"{name}__prior", prior.log_prob(at))
            eta = eta + alpha_c
        return eta

    def model(data, y=None):
        n = data["n"].shape[0]
        eta = linear_predictor(structure.parts[0], data["parts"][0], data, n)
        aux = {name: scalar(name, data) for name in structure.aux}
        for part, pdata in zip(structure.parts[1:], data["parts"][1:], strict=True):
            aux[part.dpar] = LINKS[part.link](linear_predictor(part, pdata, data, n))
        obs = _observation(record, structure.link, eta, aux, data["se"], data["trials"])
        if data["weights"] is None:
            numpyro.sample("y", obs, obs=y)
        else:
            with numpyro.handlers.scale(scale=data["weights"]):
                numpyro.sample("y", obs, obs=y)

    return model


_MODELS: OrderedDict = OrderedDict()


def _model_for(structure: _Structure):
    model = _MODELS.get(structure)
    if model is None:
        model = _build(structure)
        _MODELS[structure] = model
        while len(_MODELS) > _MODEL_CACHE_SIZE:
            _MODELS.popitem(last=False)
    else:
        _MODELS.move_to_end(structure)
    return model


@dataclass(frozen=True, eq=False)
class NumpyroModel:
    """A NumPyro model function, its data, and what is needed to read its draws.

    Attributes
    ----------
    model : callable
        ``model(data, y=None)``: the NumPyro model (``y=None`` samples the response). The
        same function object for every spec of the same structure.
    data : dict
        A pytree of arrays: designs, indices, prior parameters.
    y : numpy.ndarray
        The observed response.
    structure : object
        Hashable skeleton of the spec; equal structures share :attr:`model`.
    """

    model: object
    data: dict
    y: np.ndarray
    structure: object

    @property
    def kwargs(self) -> dict:
        """Keyword arguments of the model for the observed data: ``{"data": ..., "y": ...}``."""
        return {"data": self.data, "y": self.y}


def make_model(spec: ModelSpec, rotate=()) -> NumpyroModel:
    """Build the NumPyro model of ``spec`` (see the module docstring for the mathematics).

    Sites: ``Intercept_c`` (centred intercept), ``b_<coef>``, ``sd_...``, ``L_block<i>``,
    ``z_block<i>``, family parameters by name, for a distributional formula
    ``Intercept_c_<dpar>``, ``b_<dpar>_<coef>``, ``z_<dpar>_block<i>``, ..., and the observed
    ``y``; deterministic ``b_Intercept`` and ``r_block<i>`` / ``r_<dpar>_block<i>``
    (``(levels, q)`` deviations).

    ``rotate``: sites of blocks (``"block0"``) to sample as their mean and contrasts, the
    mean moved into the population coefficients of the same covariates (sites ``m_block<i>``
    and ``<b name>__moved``; see :func:`_rotated_effects`).

    Raises
    ------
    EngineError
        A family or prior the model does not implement.
    """
    if spec.family.name not in FAMILIES:
        raise EngineError(f"the NUTS engine does not implement the {spec.family.name} family")
    for prior in spec.priors.values():
        if prior.dist != "lkj":
            prior_distribution(prior)  # raises for a prior it cannot use
    structure = _structure(spec, frozenset(rotate))
    model = _model_for(structure)
    return NumpyroModel(
        model=model,
        data=_data(spec, structure),
        y=np.asarray(spec.design.y, dtype=float),
        structure=structure,
    )


def with_warm_start(built: NumpyroModel, spec: ModelSpec, warm) -> NumpyroModel:
    """``built`` with a :class:`~._warm_start.WarmStart`'s information and estimates of the
    effects in its data and its starting values under ``data["start"]``: site -> ``(centre,
    spread)`` on the sampler's unconstrained scale (chains start at ``centre + U(-2, 2) *
    spread``)."""
    from numpyro.distributions import biject_to

    part = built.structure.parts[0]
    kinds = {name: support for name, _, support in built.structure.priors}
    data = dict(built.data)
    parts = list(data["parts"])
    blocks = [dict(b) for b in parts[0]["blocks"]]
    start = {}

    def scalar(name, spread):
        c = support_constraint(kinds[name])
        value = float(warm.start[name])
        if kinds[name][0] == "interval":  # inside the prior's interval
            low, high = kinds[name][1], kinds[name][2]
            value = min(max(value, low + 1e-3 * (high - low)), high - 1e-3 * (high - low))
        start[name] = (biject_to(c).inv(jnp.asarray(value)), jnp.asarray(spread))

    moved = np.zeros(len(part.slopes))
    moved_intercept = 0.0
    for blk, bdata in zip(part.blocks, blocks, strict=True):
        info = np.asarray(warm.information[blk.site], dtype=float)
        r = np.asarray(warm.start[f"r_{blk.site}"], dtype=float)
        est = np.asarray(warm.estimates[blk.site], dtype=float)
        for name in blk.sd_names:
            scalar(name, 0.3)
        sd = np.array([min(max(float(warm.start[n]), 1e-6), 1e6) for n in blk.sd_names])
        L = np.eye(blk.q)
        if blk.cor_prior is not None:
            L = np.asarray(warm.start[f"L_{blk.site}"], dtype=float)
            start[f"L_{blk.site}"] = (
                biject_to(constraints.corr_cholesky).inv(jnp.asarray(L)),
                jnp.asarray(0.3),
            )
        if blk.rotated:  # the mean and the contrasts
            mean = r.mean(axis=0)
            m = np.linalg.solve(sd[:, None] * L, mean * np.sqrt(blk.levels))
            start[f"m_{blk.site}"] = (jnp.asarray(m), jnp.asarray(0.5))
            for k, target in enumerate(blk.moves):
                if target == -1:
                    moved_intercept += mean[k]
                elif target >= 0:
                    moved[target] += mean[k]
            r = helmert_transpose(r)
        bdata["info"], bdata["est"] = jnp.asarray(info), jnp.asarray(est)
        if blk.cor_prior is not None:  # non-centred
            w = np.linalg.solve(L, (r / sd).T).T
        else:
            precision = info + sd**-2.0
            w = (r - info * est / precision) * np.sqrt(precision)
        start[f"z_{blk.site}"] = (jnp.asarray(w), jnp.asarray(0.5))
    moves = {t for blk in part.blocks for t in blk.moves}
    for j, name in enumerate(part.slopes):
        if j in moves:
            value = warm.start[name] + moved[j]
            start[f"{name}__moved"] = (jnp.asarray(value), jnp.asarray(warm.spread[name]))
        else:
            scalar(name, warm.spread[name])
    if part.intercept is not None:
        x_mean = np.asarray(parts[0]["x_mean"])
        slopes = np.array([warm.start[name] for name in part.slopes])
        alpha = warm.start[part.intercept] + (x_mean @ (slopes + moved) if slopes.size else 0.0)
        alpha += moved_intercept
        start["Intercept_c"] = (jnp.asarray(alpha), jnp.asarray(warm.spread[part.intercept]))
    for name in built.structure.aux:
        if name in warm.start:
            scalar(name, 0.3)
    parts[0] = {**parts[0], "blocks": blocks}
    data["parts"] = parts
    data["start"] = start
    return NumpyroModel(model=built.model, data=data, y=built.y, structure=built.structure)
