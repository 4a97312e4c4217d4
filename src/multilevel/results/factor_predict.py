r"""The factor term's part of the linear predictor, :math:`u_{i(n)} \cdot v_{j(n)}`, per draw.

A user or item that the training data did not have (:meth:`DesignInfo.transform
<multilevel.design.DesignInfo.transform>` with ``new_groups="population"`` or ``"sample"``)
takes its prior: the factors of its group when its side has one (a new song of a known
artist: item cold start through the side information), else its side's common mean, under
``"population"``; under ``"sample"`` one draw per new level and posterior draw from
:math:`N(\text{that mean}, \Lambda^{-1})`, the fitted distribution of its set of factors. A
new group is treated the same way one level up.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from multilevel.design._labels import label_text
from multilevel.errors import DataError
from multilevel.naming import factor_cov_key, factor_key, factor_mean_set

__all__ = ["factor_part", "side_factors"]


def _flat(array: np.ndarray) -> np.ndarray:
    return array.reshape((-1,) + array.shape[2:])


def _with_new(known: np.ndarray, means: np.ndarray, cov: np.ndarray | None, rng) -> np.ndarray:
    """``known`` ``(levels, k)`` followed by one row per new level: ``means`` plus, when
    ``cov`` is given, a draw from ``N(0, cov)``."""
    if cov is not None and len(means):
        means = means + rng.multivariate_normal(np.zeros(len(cov)), cov, size=len(means))
    return np.concatenate([known, means], axis=0)


def side_factors(draws: Mapping[str, np.ndarray], side, s: int, new_groups: str, rng):
    """Draw ``s``'s factors of every level of ``side`` (a :class:`~multilevel.design.FactorSide`
    of new data): the training levels', then the new levels' (module docstring)."""
    known = _flat(draws[factor_key(side.name)])[s].astype(float)
    n_new = len(side.new_levels)
    if not n_new:
        return known
    if factor_cov_key(side.name) not in draws:  # implicit counts: gamma factors
        raise DataError(
            f"{side.name} {label_text(side.new_levels[0])!r} was not in the training data: "
            "predictions for new levels of implicit counts are not implemented; refit with them"
        )
    sample = new_groups == "sample"
    cov = _flat(draws[factor_cov_key(side.name)])[s] if sample else None
    k = known.shape[1]
    mean_set = factor_key(factor_mean_set(side.name))
    means = np.zeros((n_new, k))
    if side.group is None and mean_set in draws:  # the side's common mean
        means += _flat(draws[mean_set])[s][0].astype(float)
    elif side.group is not None:
        group_known = _flat(draws[factor_key(side.group)])[s].astype(float)
        n_new_groups = int(max(0, side.group_index.max() + 1 - len(side.group_levels)))
        group_cov = _flat(draws[factor_cov_key(side.group)])[s] if sample else None
        groups = _with_new(group_known, np.zeros((n_new_groups, k)), group_cov, rng)
        new_rows = side.index >= side.n_levels
        first = np.full(n_new, -1, dtype=np.int64)
        first[side.index[new_rows] - side.n_levels] = side.group_index[new_rows]
        means = groups[first]
    return _with_new(known, means, cov, rng)


def factor_part(draws: Mapping[str, np.ndarray], factors, new_groups: str, rng) -> np.ndarray:
    """``(draws, n)``: ``u_user · v_item`` of each row of a
    :class:`~multilevel.design.FactorDesign` for every draw."""
    users, items = factors.users, factors.items
    n_draws = _flat(draws[factor_key(users.name)]).shape[0]
    out = np.empty((n_draws, users.index.size))
    for s in range(n_draws):
        u = side_factors(draws, users, s, new_groups, rng)
        v = side_factors(draws, items, s, new_groups, rng)
        out[s] = np.einsum("nk,nk->n", u[users.index], v[items.index])
    return out
