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
- block of ``q`` coefficients on ``L`` levels (non-centred): :math:`z \sim N(0, 1)^{L \times q}`,
  :math:`r = z\,(\mathrm{diag}(sd)\,\Omega_L)^\top` with :math:`\Omega_L \sim
  \mathrm{LKJCholesky}(q, \eta)` for a correlated block, :math:`\Omega_L = I` otherwise;
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
from multilevel.spec.model import ModelSpec
from multilevel.spec.priors import Prior

__all__ = [
    "NumpyroModel",
    "make_model",
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

_POSITIVE_DISTS = ("exponential", "gamma", "inv_gamma", "lognormal")


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


def support_key(prior: Prior) -> tuple:
    """A hashable description of the support of a parameter with this prior."""
    low = prior.lower
    d = prior.dist
    if d == "uniform":
        a, b = prior.params
        return ("interval", float(max(a, low) if low is not None else a), float(b))
    if d == "beta":
        return ("unit",)
    if d in _POSITIVE_DISTS:
        return ("positive",) if low is None or low <= 0 else ("above", float(low))
    if low is None:
        return ("real",)
    return ("positive",) if low == 0 else ("above", float(low))


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


def _blocks(blocks, covariance, prefix: str) -> tuple[_Block, ...]:
    out = []
    for block, cov in zip(blocks, covariance, strict=True):
        w = np.asarray(block.weights)
        out.append(
            _Block(
                site=f"{prefix}block{cov.index}",
                q=block.q,
                levels=block.n_levels,
                members=block.index.shape[1],
                weighted=not bool(np.all(w == 1.0)),
                sd_names=cov.sd_names,
                cor_prior=cov.cor_names[0] if cov.correlated else None,
            )
        )
    return tuple(out)


def _part(dpar, link, X_names, b_names, intercept, centred, offset, blocks) -> _Part:
    has_intercept = bool(intercept) and len(X_names) > 0 and X_names[0] == "Intercept"
    return _Part(
        dpar=dpar,
        link=link,
        intercept=b_names[0] if has_intercept else None,
        slopes=tuple(b_names[1:] if has_intercept else b_names),
        centred_prior=centred,
        offset=bool(np.any(np.asarray(offset) != 0)),
        blocks=blocks,
    )


def _structure(spec: ModelSpec) -> _Structure:
    d = spec.design
    parts = [
        _part(
            None,
            spec.family.link,
            d.X_names,
            spec.b_names,
            d.intercept,
            spec.centred_intercept_prior,
            d.offset,
            _blocks(d.blocks, spec.covariance, ""),
        )
    ]
    for name, dspec in spec.dpars.items():
        dd = d.dpars[name]
        parts.append(
            _part(
                name,
                dspec.link,
                dd.X_names,
                dspec.b_names,
                dd.intercept,
                False,
                dd.offset,
                _blocks(dd.blocks, dspec.covariance, f"{name}_"),
            )
        )
    for part in parts:
        if part.intercept is not None:
            prior = spec.priors[part.intercept]
            if prior.lower is not None or prior.dist in ("uniform", "beta", *_POSITIVE_DISTS):
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
            }
        )
    return out


def _data(spec: ModelSpec, structure: _Structure) -> dict:
    d = spec.design
    parts = [_part_data(d.X, d.intercept, d.offset, d.blocks, structure.parts[0])]
    for part in structure.parts[1:]:
        dd = d.dpars[part.dpar]
        parts.append(_part_data(dd.X, dd.intercept, dd.offset, dd.blocks, part))
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

    def linear_predictor(part: _Part, pdata, data, n):
        eta = pdata["offset"] if part.offset else jnp.zeros(n)
        b = None
        if part.slopes:
            b = jnp.stack([scalar(name, data) for name in part.slopes])
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
        for blk, bdata in zip(part.blocks, pdata["blocks"], strict=True):
            sd = jnp.stack([scalar(name, data) for name in blk.sd_names])
            z = numpyro.sample(
                f"z_{blk.site}", dist.Normal(0.0, 1.0).expand([blk.levels, blk.q]).to_event(2)
            )
            if blk.cor_prior is not None:
                eta_lkj = data["priors"][blk.cor_prior][0]
                L = numpyro.sample(f"L_{blk.site}", dist.LKJCholesky(blk.q, eta_lkj))
                r = (z @ L.T) * sd
            else:
                r = z * sd
            r = numpyro.deterministic(f"r_{blk.site}", r)
            index, Z, w = bdata["index"], bdata["Z"], bdata["w"]
            for k in range(blk.members):
                rows = r[index[:, k]]
                term = jnp.sum(Z * rows, axis=1) if blk.q > 1 else Z[:, 0] * rows[:, 0]
                eta = eta + (term if w is None else w[:, k] * term)
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


def make_model(spec: ModelSpec) -> NumpyroModel:
    """Build the NumPyro model of ``spec`` (see the module docstring for the mathematics).

    Sites: ``Intercept_c`` (centred intercept), ``b_<coef>``, ``sd_...``, ``L_block<i>``,
    ``z_block<i>``, family parameters by name, for a distributional formula
    ``Intercept_c_<dpar>``, ``b_<dpar>_<coef>``, ``z_<dpar>_block<i>``, ..., and the observed
    ``y``; deterministic ``b_Intercept`` and ``r_block<i>`` / ``r_<dpar>_block<i>``
    (``(levels, q)`` deviations).

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
    structure = _structure(spec)
    model = _model_for(structure)
    return NumpyroModel(
        model=model,
        data=_data(spec, structure),
        y=np.asarray(spec.design.y, dtype=float),
        structure=structure,
    )
