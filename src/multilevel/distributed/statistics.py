"""The statistics of a gaussian model over a Dask frame: the cross products of ``[Z X y]``
(:func:`multilevel.linalg.crossprod.cross_products`) summed over partitions on the cluster,
and the summaries its default priors read.

Each partition's design is built with the encodings learned from the whole frame
(:mod:`multilevel.distributed._design`); its cross products, column moments and response
range are combined pairwise on the cluster, so the client receives one object whose size
grows with the levels, never with the rows. The priors' location and scale (medians) take a
few further passes over the response only (:mod:`multilevel.distributed._order`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from multilevel.distributed._client import compute, per_partition, tree_reduce
from multilevel.distributed._design import complete_rows, partition_design
from multilevel.distributed._moments import Moments
from multilevel.distributed._order import median
from multilevel.linalg.crossprod import CrossProducts, cross_products
from multilevel.spec.defaults import (
    DataScales,
    link_scale_response,
    location_scale,
    sd_scale_response,
    usable_sd,
)
from multilevel.spec.statistics import DataStatistics

__all__ = ["gaussian_statistics", "add_cross_products"]


def add_cross_products(a: CrossProducts, b: CrossProducts) -> CrossProducts:
    """The cross products of two sets of rows together (same terms and columns)."""
    return replace(
        a,
        diag={k: a.diag[k] + b.diag[k] for k in a.diag},
        ZtZ=(a.ZtZ + b.ZtZ).tocsr(),
        ZtX=a.ZtX + b.ZtX,
        Zty=a.Zty + b.Zty,
        XtX=a.XtX + b.XtX,
        Xty=a.Xty + b.Xty,
        yty=a.yty + b.yty,
        n=a.n + b.n,
        log_weights=a.log_weights + b.log_weights,
    )


@dataclass(frozen=True, eq=False)
class _Partial:
    """One partition's (or several partitions') share of the statistics."""

    cross_products: CrossProducts
    columns: Moments  # of X's columns
    sd_values: Moments | None  # of what scales the b priors
    link_count: int  # finite values of the response on the priors' link scale
    link_low: float
    link_high: float

    def __add__(self, other: _Partial) -> _Partial:
        return _Partial(
            add_cross_products(self.cross_products, other.cross_products),
            self.columns + other.columns,
            None if self.sd_values is None else self.sd_values + other.sd_values,
            self.link_count + other.link_count,
            min(self.link_low, other.link_low),
            max(self.link_high, other.link_high),
        )


def _partition(frame, info, used, na_action, family) -> _Partial | None:
    d = partition_design(frame, info, used, na_action, family)
    if d is None:
        return None
    link_values = link_scale_response(d.y, family)
    sd_values = sd_scale_response(d.y, family)
    have = link_values is not None and link_values.size > 0
    return _Partial(
        cross_products(d),
        Moments.of(d.X),
        None if sd_values is None else Moments.of(sd_values),
        0 if link_values is None else int(link_values.size),
        float(link_values.min()) if have else np.inf,
        float(link_values.max()) if have else -np.inf,
    )


def _link_values(frame, info, used, na_action, family) -> np.ndarray:
    kept, _ = complete_rows(frame, used, na_action)
    if not len(kept):
        return np.zeros(0)
    values = link_scale_response(info.response_of(kept), family)
    return np.zeros(0) if values is None else values


def gaussian_statistics(
    parts, info, used, na_action, family, *, dropped: int, priors: bool = True
) -> DataStatistics:
    """Reduce the partitions ``parts`` (delayed pandas frames) of a frame to the statistics of
    the model ``info`` encodes (with ``priors``, also the default priors' location and scale:
    the exact medians take four more passes over the response).

    Raises
    ------
    DataError
        Bad data in a partition (the partition is named), or no complete rows at all.
    """
    from dask import delayed

    args = (info, used, na_action, family)
    (partial,) = compute(tree_reduce(per_partition(parts, _partition, *args), _Partial.__add__))
    if partial is None:
        from multilevel.errors import DataError

        raise DataError("no row of the Dask frame is complete: every row has a missing value")
    location, scale = 0.0, 2.5
    if priors and partial.link_count:

        def tasks(function):
            return [delayed(function)(v) for v in per_partition(parts, _link_values, *args)]

        low, high, count = partial.link_low, partial.link_high, partial.link_count
        middle = median(tasks, low, high, count)
        spread = max(high - middle, middle - low)

        def deviations(function):
            return tasks(lambda values: function(np.abs(values - middle)))

        location, scale = location_scale(middle, median(deviations, 0.0, spread, count))
    sd_y = 1.0 if partial.sd_values is None else usable_sd(float(partial.sd_values.sd()))
    scales = (
        DataScales(location, scale, sd_y, tuple(usable_sd(float(s)) for s in partial.columns.sd()))
        if priors
        else None
    )
    return DataStatistics(
        cross_products=partial.cross_products,
        scales=scales,
        x_mean=np.asarray(partial.columns.mean, float),
        rows=int(partial.cross_products.n),
        dropped=dropped,
        partitions=len(parts),
    )
