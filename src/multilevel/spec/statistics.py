"""What engines that reduce over rows need of data they never hold: the statistics of a
Dask frame, summed over its partitions (:mod:`multilevel.distributed`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from multilevel.linalg.crossprod import CrossProducts
from multilevel.spec.defaults import DataScales

__all__ = ["DataStatistics"]


@dataclass(frozen=True, eq=False)
class DataStatistics:
    """Reduced statistics of data held elsewhere.

    Attributes
    ----------
    cross_products : CrossProducts or None
        The weighted cross products of ``[Z X y]`` over every row
        (:func:`multilevel.linalg.crossprod.cross_products`); None for a family whose
        engine reduces per-row weights at every step instead (the Laplace engine).
    scales : DataScales or None
        The summaries the default priors read (None where there are no priors).
    x_mean : numpy.ndarray or None
        The mean of each population-level column, ``(p,)``.
    rows : int
        Rows fitted (after rows with missing values are left out).
    dropped : int
        Rows left out for missing values.
    partitions : int
        Partitions of the frame.
    source : object
        Where the rows are, for engines that pass over them at every step: a
        :class:`multilevel.distributed.DaskSource` (the frame and its encodings).
    """

    cross_products: CrossProducts | None
    scales: DataScales | None
    x_mean: np.ndarray | None
    rows: int
    dropped: int
    partitions: int
    source: object = None

    def describe(self) -> str:
        """One line for the fit's reason: where the data are and how much of them.

        Examples
        --------
        >>> import numpy as np
        >>> DataStatistics(None, None, None, 10**8, 0, 100).describe()
        'data on Dask: 100,000,000 rows in 100 partitions, PIRLS passes over the partitions'
        """
        how = (
            "PIRLS passes over the partitions"
            if self.cross_products is None
            else "reduced to their statistics"
        )
        return f"data on Dask: {self.rows:,} rows in {self.partitions:,} partitions, {how}"


def cross_products_of(spec) -> CrossProducts:
    """The cross products of a spec's data: reduced over a Dask frame's partitions, or
    accumulated from the design's rows."""
    from multilevel.linalg.crossprod import cross_products

    if spec.statistics is None:
        return cross_products(spec.design)
    if spec.statistics.cross_products is None:
        from multilevel.errors import EngineError

        raise EngineError("the data on Dask were reduced for another engine: fit them again")
    return spec.statistics.cross_products


def require_rows(spec, newdata) -> None:
    """Refuse to read the training rows of a fit whose data stayed on Dask.

    Raises
    ------
    DataError
        ``newdata`` is None and the spec holds statistics, not rows.
    """
    if newdata is None and spec.statistics is not None:
        from multilevel.errors import DataError

        raise DataError(
            "this fit's data stayed on Dask, so it holds no rows to predict for: pass the "
            "Dask frame (fit.predict(ddf) gives a lazy Dask frame of predictions)"
        )
