r"""Data simulated from a model's priors: the generative model behind a :class:`ModelSpec`.

One simulation draws, in this order,

1. each formula's population coefficients :math:`b` from their priors. When the spec's
   intercept prior is brms's default (``spec.centred_intercept_prior``), that prior is on the
   intercept of mean-centred predictors, so :math:`\alpha_c` is drawn from it and
   :math:`b_0 = \alpha_c - \bar{x}^\top b_{1:}` (with :math:`\bar{x}` the column means of
   ``X`` without its intercept column), as the engines read it;
2. per block of group effects, its SDs from their priors, its correlation matrix
   :math:`\Omega` from its LKJ prior (onion method, :mod:`._lkj`), and one row
   :math:`r_j \sim N(0, \mathrm{diag}(sd)\,\Omega\,\mathrm{diag}(sd))` per level;
3. the family parameters (``sigma``, ``nu``, ``shape``, ``phi``) from their priors, or row
   by row from their own formula (``sigma ~ x + (1 | g)``) through its link; ``sigma`` is the
   known ``se()`` where the formula has one;
4. the linear predictor :math:`\eta_i = \mathrm{offset}_i + x_i^\top b + \sum_{\text{blocks}}
   \sum_k w_{ik}\, z_i^\top r_{\mathrm{index}_{ik}}`, the mean :math:`\mu = g^{-1}(\eta)` and
   the response from the family (with ``trials()`` for binomial).

``weights()`` are not simulated: a weighted likelihood has no generative model, so the
simulated rows are unweighted (the fits still use the weights).

A draw whose response is not valid data for the family (a mean outside its support, a
non-finite value, a response that :meth:`Family.check_response` refuses, or one that takes a
single value, e.g. all 0 for bernoulli) is redrawn, parameters included, and counted: the
prior is then conditioned on valid data, which a calibration run reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from multilevel import naming
from multilevel.calibration._lkj import lkj_cholesky
from multilevel.errors import DataError, EngineError
from multilevel.families import REGISTRY
from multilevel.spec.covariance import correlations
from multilevel.spec.families import inverse_link
from multilevel.spec.model import ModelSpec

__all__ = ["Truth", "draw_truth", "draw_response", "simulate_once", "effect_names", "MAX_ATTEMPTS"]

#: Draws tried per simulation before the priors are declared unable to give valid data.
MAX_ATTEMPTS = 100


@dataclass(frozen=True, eq=False)
class Truth:
    """The parameters of one simulated data set.

    Attributes
    ----------
    values : dict of str to float
        Every named parameter of the spec (``spec.parameter_names``).
    effects : dict of str to numpy.ndarray
        Each block's group effects ``(levels, q)`` under its draws key (``r_block0``).
    aux : dict of str to numpy.ndarray
        The family parameters as the likelihood takes them: a float, or one value per row
        (``se()``, a distributional formula).
    eta : numpy.ndarray
        The linear predictor of the mean, one value per row.
    """

    values: dict[str, float]
    effects: dict[str, np.ndarray]
    aux: dict[str, np.ndarray]
    eta: np.ndarray


class _Invalid(Exception):
    """A simulated response that is not valid data for the family (the reason as text)."""


def _population(spec: ModelSpec, part, b_names, centred: bool, rng, values) -> np.ndarray:
    """Draw one formula's coefficients into ``values``; their vector."""
    b = np.array([float(spec.priors[n].rvs(None, rng)) for n in b_names])
    if centred and part.intercept and b.size > 1:
        # the prior is on the intercept of mean-centred predictors (brms's default)
        b[0] -= part.X[:, 1:].mean(axis=0) @ b[1:]
    values.update(zip(b_names, b.tolist(), strict=True))
    return b


def _blocks(spec: ModelSpec, blocks, covariance, rng, values, effects) -> None:
    """Draw the SDs, correlations and effects of each block into ``values`` / ``effects``."""
    for block, cov in zip(blocks, covariance, strict=True):
        sd = np.array([float(spec.priors[n].rvs(None, rng)) for n in cov.sd_names])
        values.update(zip(cov.sd_names, sd.tolist(), strict=True))
        root = np.eye(cov.q)
        if cov.correlated:
            (eta,) = spec.priors[cov.cor_names[0]].params
            root = lkj_cholesky(cov.q, eta, rng)
            cors = correlations(root @ root.T)
            values.update(zip(cov.cor_names, cors.tolist(), strict=True))
        z = rng.standard_normal((block.n_levels, cov.q))
        effects[cov.key] = z @ (sd[:, None] * root).T


def _predictor(part, b, blocks, covariance, effects) -> np.ndarray:
    """``offset + X b + sum over blocks of w * (Z * r[index]).sum(-1)``."""
    eta = np.asarray(part.offset, dtype=float) + part.X @ b
    for block, cov in zip(blocks, covariance, strict=True):
        r = effects[cov.key]
        for k in range(block.index.shape[1]):
            eta = eta + block.weights[:, k] * np.einsum("iq,iq->i", block.Z, r[block.index[:, k]])
    return eta


def draw_truth(spec: ModelSpec, rng: np.random.Generator) -> Truth:
    """Draw every parameter of ``spec`` from its prior (see the module docstring).

    Parameters
    ----------
    spec : ModelSpec
        With proper priors (see :func:`~multilevel.calibration._priors.check_simulable`).
    rng : numpy.random.Generator

    Returns
    -------
    Truth
    """
    design = spec.design
    values: dict[str, float] = {}
    effects: dict[str, np.ndarray] = {}
    b = _population(spec, design, spec.b_names, spec.centred_intercept_prior, rng, values)
    _blocks(spec, design.blocks, spec.covariance, rng, values, effects)
    aux: dict[str, np.ndarray] = {}
    for name, dspec in spec.dpars.items():
        part = design.dpars[name]
        bd = _population(spec, part, dspec.b_names, False, rng, values)
        _blocks(spec, part.blocks, dspec.covariance, rng, values, effects)
        aux[name] = inverse_link(
            dspec.link, _predictor(part, bd, part.blocks, dspec.covariance, effects)
        )
    for name in spec.aux_names:
        values[name] = float(spec.priors[name].rvs(None, rng))
        aux[name] = np.asarray(values[name])
    if spec.known_sigma:
        aux["sigma"] = np.asarray(design.se, dtype=float)
    eta = _predictor(design, b, design.blocks, spec.covariance, effects)
    return Truth(values=values, effects=effects, aux=aux, eta=eta)


def draw_response(spec: ModelSpec, truth: Truth, rng: np.random.Generator) -> np.ndarray:
    """Draw the response given ``truth``; raise ``_Invalid`` when it is not valid data."""
    family = spec.family
    record = REGISTRY[family.name]
    trials = spec.design.trials
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        mu = family.inverse_link(truth.eta)
    if not np.all(record.mean_support.contains(mu)):
        raise _Invalid(f"a mean outside the {family.name} family's support")
    for par in record.aux:
        if not np.all(par.contains(truth.aux[par.name])):
            raise _Invalid(f"a value of {par.name} outside its support")
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            y = family.rvs(mu, truth.aux, trials=trials, seed=rng)
    except ValueError as err:  # e.g. numpy's poisson refuses a mean above 1e19
        raise _Invalid(f"the family cannot draw from these parameters ({err})") from None
    y = np.asarray(y, dtype=float)
    if not np.all(np.isfinite(y)):
        raise _Invalid("a response that overflows")
    try:
        family.check_response(y, trials, name=spec.design.response or "y")
    except DataError as err:
        raise _Invalid(str(err)) from None
    if np.ptp(y) == 0 or (trials is not None and np.all(y == trials)):
        raise _Invalid("a response that takes a single value")
    return y


def simulate_once(
    spec: ModelSpec, rng: np.random.Generator, *, max_attempts: int = MAX_ATTEMPTS
) -> tuple[Truth, np.ndarray, int]:
    """One valid simulated data set: ``(truth, y, redraws)``.

    Raises
    ------
    EngineError
        When ``max_attempts`` draws in a row give no valid response.
    """
    reason = ""
    for attempt in range(max_attempts):
        truth = draw_truth(spec, rng)
        try:
            return truth, draw_response(spec, truth, rng), attempt
        except _Invalid as err:
            reason = str(err)
    raise EngineError(
        f"{max_attempts} draws from the priors in a row gave no valid data for the "
        f"{spec.family.name} family (the last: {reason}); the priors put too much mass "
        "where the family's response is undefined: give tighter priors"
    )


def effect_names(spec: ModelSpec, levels: int | None = None) -> list[tuple[str, str, int, int]]:
    """``(name, draws key, level, coefficient)`` of the group effects of the first ``levels``
    levels (all when None) of every block, named as in :meth:`Fit.summary`."""
    out = []
    parts = [(None, spec.design.blocks, spec.covariance)]
    parts += [
        (name, spec.design.dpars[name].blocks, dspec.covariance)
        for name, dspec in spec.dpars.items()
    ]
    for dpar, blocks, covariance in parts:
        for block, cov in zip(blocks, covariance, strict=True):
            count = block.n_levels if levels is None else min(levels, block.n_levels)
            for j in range(count):
                for c, coef in enumerate(block.coef_names):
                    name = naming.group_effect(block.name, block.levels[j], coef, dpar=dpar)
                    out.append((name, cov.key, j, c))
    return out
