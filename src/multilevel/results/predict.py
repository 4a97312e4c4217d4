r"""Predictions from posterior draws: linear predictor, expected response, replicated data.

Everything here is numpy on the draws of a :class:`~multilevel.posterior.Posterior`; no
engine is called. For each draw :math:`s` and row :math:`i` of a design,

.. math::

    \eta_{si} = \mathrm{offset}_i + x_i^\top b_s
        + \sum_{\text{blocks}} \sum_k w_{ik}\, z_i^\top r_{s,\,\mathrm{index}_{ik}},

the same sum the NumPyro model evaluates. A family parameter with its own formula
(``sigma ~ 1 + (1 | g)``) gets its own :math:`\eta` the same way and is its inverse link
row by row; the other family parameters are their draws, and ``sigma`` of ``y | se(s)`` is
the ``se`` column.

Rows of new data with a missing value in a column that predictions read (a predictor, a
grouping factor, an offset, ``trials()`` or ``se()``; not the response or ``weights()``) are
neither dropped nor refused: their predictions are NaN, with a
:class:`~multilevel.errors.DataWarning` naming them, as R's ``predict()`` passes missing values
through for new data (``na.action = na.pass``: lme4's ``predict.merMod``, and brms, whose NA
numeric predictors give NA predictions; brms reads an NA category as all its dummies 0,
which here is NaN too).

Group levels that the training data did not have (:meth:`DesignInfo.transform
<multilevel.design.DesignInfo.transform>` with ``new_groups="population"`` or ``"sample"``)
point past the block's training levels. Under ``"population"`` their weight is 0, so they
contribute nothing; under ``"sample"`` each new level gets, per draw, one effect drawn from
the fitted distribution of its block, :math:`N(0, \mathrm{diag}(sd_s)\,\Omega_s\,
\mathrm{diag}(sd_s))` (brms's ``sample_new_levels = "gaussian"``), shared by every row with
that level. Each block, hence each grouping factor, is handled on its own: a row can have a
known county and a new level of another factor.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np
import pandas as pd

from multilevel.errors import DataError, DataWarning
from multilevel.frame import row_list, to_pandas
from multilevel.results.factor_predict import factor_part
from multilevel.spec.families import inverse_link

__all__ = [
    "KINDS",
    "NEW_GROUPS",
    "PREDICT_COLUMNS",
    "predict_draws",
    "predict_design",
    "design_rows",
    "linear_predictor",
    "summarize_draws",
]

#: Values of ``kind``: the linear predictor, the expected response, or replicated responses.
KINDS = ("mean", "linear", "response")
#: Values of ``new_groups`` (as :meth:`multilevel.design.DesignInfo.transform`).
NEW_GROUPS = ("error", "population", "sample")
#: Columns of a summarized prediction.
PREDICT_COLUMNS = ("mean", "sd", "q5", "q50", "q95")


def _flat(array) -> np.ndarray:
    """``(chains, draws, ...)`` -> ``(chains * draws, ...)`` in float64."""
    array = np.asarray(array, dtype=float)
    return array.reshape((array.shape[0] * array.shape[1],) + array.shape[2:])


def _part(spec, parameter: str | None):
    """The spec of the mean's formula (the ModelSpec) or of a dpar formula (its DparSpec)."""
    return spec if parameter is None else spec.dpars[parameter]


def _new_effects(block, covariance, sd: np.ndarray, cor, rng: np.random.Generator) -> np.ndarray:
    """``(S, new levels, q)`` effects of the block's new levels, one draw per level and draw."""
    n_draws, q = sd.shape
    z = rng.standard_normal((n_draws, len(block.new_levels), q))
    return z @ np.swapaxes(covariance.scale_factor(sd, cor), 1, 2)


def linear_predictor(
    spec,
    draws: Mapping[str, np.ndarray],
    part,
    *,
    parameter: str | None = None,
    new_groups: str = "error",
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Draws of the linear predictor of one formula of a model, ``(chains * draws, n)``.

    Parameters
    ----------
    spec : ModelSpec
        The fitted model's specification (for parameter names).
    draws : mapping
        ``Posterior.draws``: ``(chains, draws, ...)`` arrays under brms names plus
        ``r_block<i>`` (``r_<parameter>_block<i>`` for a distributional formula).
    part : Design or DparDesign
        The design to predict for: ``X``, ``offset`` and ``blocks`` (training or from
        :meth:`DesignInfo.transform <multilevel.design.DesignInfo.transform>`).
    parameter : str, optional
        None for the mean's formula, or the family parameter of a distributional formula
        (``"sigma"``).
    new_groups : {"error", "population", "sample"}
        The policy ``part`` was built with; under ``"sample"`` new levels get effects drawn
        from their block's fitted distribution (see the module docstring).
    rng : numpy.random.Generator, optional
        Source of the new levels' effects (needed only when there are new levels).

    Returns
    -------
    numpy.ndarray
        float64 ``(chains * draws, n)``.
    """
    formula_spec = _part(spec, parameter)
    b_names, covariance = formula_spec.b_names, formula_spec.covariance
    X = np.asarray(part.X, dtype=float)
    n = X.shape[0]
    if b_names:
        b = np.stack([_flat(draws[name]) for name in b_names], axis=1)  # (S, p)
        eta = b @ X.T
    else:
        eta = np.zeros((_flat(next(iter(draws.values()))).shape[0], n))
    eta += np.asarray(part.offset, dtype=float)[None, :]
    for block, cov in zip(part.blocks, covariance, strict=True):
        r = _flat(draws[cov.key])  # (S, levels, q)
        n_new = len(block.new_levels)
        if n_new:
            if new_groups == "sample":
                if rng is None:  # pragma: no cover - callers pass one
                    rng = np.random.default_rng()
                new = _new_effects(block, cov, *cov.gather(draws, _flat), rng)
            else:  # "population": their weights are 0
                new = np.zeros((r.shape[0], n_new, r.shape[2]))
            r = np.concatenate([r, new], axis=1)
        Z = np.asarray(block.Z, dtype=float)
        weights = np.asarray(block.weights, dtype=float)
        index = np.asarray(block.index)
        for k in range(index.shape[1]):
            wz = weights[:, k, None] * Z  # (n, q)
            idx = index[:, k]
            for j in range(Z.shape[1]):
                eta += wz[None, :, j] * r[:, idx, j]
    factors = getattr(part, "factors", None)
    if parameter is None and factors is not None:
        eta += factor_part(draws, factors, new_groups, rng or np.random.default_rng())
    return eta


def _addition_text(spec, kind: str) -> str:
    for addition, text in spec.design.info.formula.additions:
        if addition == kind:
            return text
    return kind  # pragma: no cover - only called for additions the formula has


def _aux_values(spec, draws, design, rng, new_groups, *, need_se: bool) -> dict:
    """Values of the family's auxiliary parameters, broadcastable to ``(S, n)``."""
    dpars = getattr(spec, "dpars", {})
    aux = {}
    for name in spec.family.aux_names:
        if name in dpars:
            eta = linear_predictor(
                spec,
                draws,
                design.dpars[name],
                parameter=name,
                new_groups=new_groups,
                rng=rng,
            )
            aux[name] = inverse_link(dpars[name].link, eta)
        elif name == "sigma" and spec.known_sigma:
            if design.se is None:
                if need_se:
                    raise DataError(
                        f"kind='response' needs the known standard error of each row: newdata "
                        f"has no column for se({_addition_text(spec, 'se')})"
                    )
                continue
            aux[name] = np.asarray(design.se, dtype=float)[None, :]
        else:
            aux[name] = _flat(draws[name])[:, None]
    return aux


def predict_draws(
    spec,
    posterior,
    newdata=None,
    *,
    kind: str = "mean",
    new_groups: str = "error",
    seed=None,
) -> np.ndarray:
    """Posterior draws of predictions for the rows of ``newdata`` (default: the training data).

    Parameters
    ----------
    spec : ModelSpec
    posterior : Posterior
    newdata : data frame or dict of columns, optional
        Rows to predict for; the response column is not needed. None: the training rows
        (those the model was fitted to). Rows with a missing value in a column the
        predictions read get NaN predictions (see the module docstring).
    kind : {"mean", "linear", "response"}
        ``"linear"``: the linear predictor :math:`\\eta`; ``"mean"``: the expected response
        :math:`E[y \\mid \\theta]` (``Family.mean``: the inverse link of :math:`\\eta`, times
        the number of trials for binomial, :math:`\\exp(\\mu + \\sigma^2/2)` for lognormal);
        ``"response"``: one replicated response per draw (posterior predictive).
    new_groups : {"error", "population", "sample"}
        Grouping levels absent from the training data: raise, leave their effect out, or
        draw it from the fitted group distribution.
    seed : int or numpy.random.Generator, optional
        For ``new_groups="sample"`` and ``kind="response"``.

    Returns
    -------
    numpy.ndarray
        float64 ``(chains * draws, n)``; NaN in the columns of rows with missing values.

    Warns
    -----
    DataWarning
        Naming the rows of ``newdata`` whose predictions are NaN.

    Raises
    ------
    DataError
        Missing predictor columns, a new level under ``new_groups="error"``, a binomial
        mean/response without the ``trials()`` column, a ``se()`` response without the
        ``se()`` column, or a mean outside the family's support.
    ValueError
        An unknown ``kind`` or ``new_groups``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}, not {kind!r}")
    if new_groups not in NEW_GROUPS:
        raise ValueError(
            f"new_groups must be one of {', '.join(map(repr, NEW_GROUPS))}, not {new_groups!r}"
        )
    rng = np.random.default_rng(seed)
    if newdata is None:
        return _predict(spec, posterior, spec.design, kind, new_groups, rng)
    frame = to_pandas(newdata)
    design, missing = spec.design.info.transform_complete(frame, new_groups=new_groups)
    if missing.any():
        warnings.warn(
            f"{row_list(frame.index, missing)} of the new data "
            f"{'have' if missing.sum() > 1 else 'has'} missing values (NA) in "
            "columns the predictions need: their predictions are NaN (as predict() in lme4 "
            "and brms)",
            DataWarning,
            stacklevel=3,
        )
    n_draws = int(np.prod(np.shape(next(iter(posterior.draws.values())))[:2]))
    out = np.full((n_draws, len(frame)), np.nan)
    if design is not None:
        out[:, ~missing] = _predict(spec, posterior, design, kind, new_groups, rng)
    return out


def design_rows(design, rows: np.ndarray):
    """The design of some of ``design``'s rows (a training design's sample), its arrays
    sliced; the encodings are the same."""
    from dataclasses import replace

    def cut(value):
        return None if value is None else value[rows]

    def blocks(part):
        return tuple(
            replace(b, index=b.index[rows], weights=b.weights[rows], Z=b.Z[rows])
            for b in part.blocks
        )

    factors = design.factors
    if factors is not None:
        factors = replace(
            factors,
            **{
                key: replace(side, index=side.index[rows], group_index=cut(side.group_index))
                for key, side in (("users", factors.users), ("items", factors.items))
            },
        )
    dpars = {
        name: replace(part, X=part.X[rows], offset=part.offset[rows], blocks=blocks(part))
        for name, part in design.dpars.items()
    }
    return replace(
        design,
        y=cut(design.y),
        X=design.X[rows],
        offset=design.offset[rows],
        blocks=blocks(design),
        trials=cut(design.trials),
        se=cut(design.se),
        weights=cut(design.weights),
        dpars=MappingProxyType(dpars),
        factors=factors,
    )


def predict_design(spec, posterior, design, *, kind: str = "mean", seed=None) -> np.ndarray:
    """:func:`predict_draws` for a built design (no new levels): ``(chains * draws, n)``."""
    return _predict(spec, posterior, design, kind, "error", np.random.default_rng(seed))


def _predict(spec, posterior, design, kind: str, new_groups: str, rng) -> np.ndarray:
    """:func:`predict_draws` for a design without missing values."""
    draws = posterior.draws
    eta = linear_predictor(spec, draws, design, new_groups=new_groups, rng=rng)
    if kind == "linear":
        return eta
    family = spec.family
    if family.needs_trials and design.trials is None:
        raise DataError(
            f"kind={kind!r} of the binomial family needs the number of trials: newdata has "
            f"no column for trials({_addition_text(spec, 'trials')})"
        )
    aux = _aux_values(spec, draws, design, rng, new_groups, need_se=kind == "response")
    mu = family.inverse_link(eta)
    if kind == "mean":
        return np.asarray(family.mean(mu, aux, trials=design.trials), dtype=float)
    try:
        out = family.rvs(mu, aux, trials=design.trials, seed=rng)
    except ValueError as err:  # numpy rejects a mean outside the support (identity links)
        raise DataError(
            f"cannot draw {family.name} responses: some draws give a mean outside the "
            f"family's support ({err}); a link that keeps the mean in range avoids this"
        ) from None
    return np.asarray(out, dtype=float)


def summarize_draws(draws: np.ndarray, index: Sequence | pd.Index | None = None) -> pd.DataFrame:
    """Per-row posterior mean, SD and 5%, 50%, 95% quantiles of ``(S, n)`` draws.

    Examples
    --------
    >>> table = summarize_draws(np.arange(10.0)[:, None] * [1.0, 2.0])
    >>> table.columns.tolist(), table["mean"].tolist()
    (['mean', 'sd', 'q5', 'q50', 'q95'], [4.5, 9.0])
    """
    draws = np.asarray(draws, dtype=float)
    q = np.quantile(draws, [0.05, 0.5, 0.95], axis=0)
    return pd.DataFrame(
        {
            "mean": draws.mean(axis=0),
            "sd": draws.std(axis=0, ddof=1),
            "q5": q[0],
            "q50": q[1],
            "q95": q[2],
        },
        index=index,
    )
