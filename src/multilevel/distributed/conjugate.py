"""The classical hierarchical model on a Dask frame: one pass to per-group statistics.

:func:`conjugate_spec` is the Dask counterpart of
:func:`multilevel.spec.conjugate.build_conjugate_spec`. Every partition is validated with the
in-memory checks and reduced to the sufficient statistics of the groups it holds; the
partial statistics are merged pairwise in a tree of tasks on the cluster, so the client
receives one small table of statistics (a row per group), never the data. The merge is
exact: sums add, the within-group sum of squares of the normal likelihood merges with Chan's
parallel formula, and the known-SE normal merges precisions and precision-weighted sums.
The resulting :class:`~multilevel.spec.conjugate.ConjugateSpec` is the one the in-memory
path builds from the same rows (up to floating-point rounding of the sums).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from multilevel.distributed._client import compute, partitions, per_partition, tree_reduce
from multilevel.distributed._moments import Moments
from multilevel.errors import DataError
from multilevel.frame import require_columns
from multilevel.spec.conjugate import (
    _REDUCERS,
    HYPER_NAMES,
    ConjugateSpec,
    GroupStats,
    _group_codes,
    _role_values,
    _sum,
    _validate_hyper,
    _validate_priors,
    check_arguments,
)

__all__ = ["conjugate_spec"]


@dataclass(frozen=True)
class _Partial:
    """Statistics of the groups of some partitions: ``labels`` (distinct, any order) and,
    by name, one array per statistic aligned with them; ``rows`` counts the rows read."""

    chain: str
    labels: pd.Index
    stats: dict[str, np.ndarray]
    rows: int


def _partition_stats(frame: pd.DataFrame, likelihood, group, columns):
    """Validate one partition and reduce it to its groups' statistics (None if empty)."""
    if len(frame) == 0:
        return None
    codes, labels = _group_codes(frame, group, allow_single_group=True)
    chain, stats = _REDUCERS[likelihood](frame, columns, codes, len(labels))
    dtype = frame[group].dtype
    if isinstance(dtype, pd.CategoricalDtype):  # keep the categories' order for the merge
        labels = pd.CategoricalIndex(labels, dtype=dtype, name=labels.name)
    if chain == "normal_known":  # merge precisions and precision-weighted sums, not means
        precision = 1.0 / _role_values(frame, columns, "se") ** 2
        y = _role_values(frame, columns, "y")
        stats = {
            "precision": _sum(codes, precision, len(labels)),
            "weighted": _sum(codes, y * precision, len(labels)),
            "n": stats["n"],
        }
    stats = {k: np.asarray(v, float) for k, v in stats.items()}
    return _Partial(chain, labels, stats, len(frame))


def _spread(values: np.ndarray, codes: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros(size)
    out[codes] = values
    return out


def _merge_sums(a, b, ca, cb, size):
    return {k: _spread(a[k], ca, size) + _spread(b[k], cb, size) for k in a}


def _merge_normal(a, b, ca, cb, size):
    """Chan et al.'s pairwise update of counts, means and sums of squares about the mean
    (:class:`~multilevel.distributed._moments.Moments`), group by group."""

    def moments(x, codes):
        return Moments(*(_spread(x[k], codes, size) for k in ("n", "ybar", "ss")))

    merged = moments(a, ca) + moments(b, cb)
    return {"ybar": merged.mean, "n": merged.n, "ss": merged.m2}


_MERGERS = {"normal": _merge_normal}


def _combine(a: _Partial, b: _Partial) -> _Partial:
    """The statistics of the groups of ``a`` and ``b`` together."""
    codes, labels = pd.factorize(a.labels.append(b.labels))
    ca, cb = codes[: len(a.labels)], codes[len(a.labels) :]
    merge = _MERGERS.get(a.chain, _merge_sums)
    stats = merge(a.stats, b.stats, ca, cb, len(labels))
    return _Partial(a.chain, pd.Index(labels), stats, a.rows + b.rows)


def _final_stats(chain: str, stats: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if chain == "normal_known":
        return {
            "ybar": stats["weighted"] / stats["precision"],
            "v": 1.0 / stats["precision"],
            "n": stats["n"],
        }
    return stats


def _default_text(labels: pd.Index) -> pd.Index:
    """Text labels in pandas' default text dtype: Dask turns text columns into
    ``string[pyarrow]``, which the same data read by pandas would not have."""
    dtype = labels.dtype
    if isinstance(dtype, pd.StringDtype) and getattr(dtype, "na_value", None) is pd.NA:
        return labels.astype("str")
    return labels


def conjugate_spec(
    ddf, *, likelihood, group, priors=None, hyper="bayes", **columns
) -> ConjugateSpec:
    """Validate a Dask frame and reduce it to per-group sufficient statistics in one pass.

    The arguments are those of :func:`multilevel.fit_conjugate`. Column names are checked
    against ``ddf.columns`` on the client; each partition is then validated with the checks
    of the in-memory path and reduced to the statistics of its groups, and the partial
    statistics are merged pairwise on the cluster (the active ``distributed.Client`` if
    there is one, else Dask's threaded scheduler). Only the merged statistics, one row per
    group, reach the client. Groups may be spread over any number of partitions.

    Parameters
    ----------
    ddf : dask.dataframe.DataFrame
        The rows, as for the in-memory fit (single observations or per-group summaries).
    likelihood : {"normal", "binomial", "poisson", "gamma"}
    group : str
        The grouping column.
    priors : dict, optional
        Hyperpriors by name, as for :func:`multilevel.fit_conjugate`.
    hyper : "bayes", "eb" or dict
        The treatment of the hyperparameters.
    **columns
        Column names (or, where allowed, numbers) for the likelihood's roles.

    Returns
    -------
    ConjugateSpec
        The same specification the in-memory path builds from the same rows: group labels
        sorted as lme4 sorts them, statistics in that order, ``n_rows`` the total row count.
        Text labels have pandas' default text dtype.

    Raises
    ------
    DataError
        As the in-memory path: unknown likelihood or column arguments, missing columns,
        fewer than two groups, no rows. Bad values (NaN, values outside the support) are
        found in their partition, and the message starts with ``partition K of N:``, with
        ``K`` counted from 0 as in ``ddf.partitions[K]``; the rows it names are index
        labels of the Dask frame.
    PriorError
        A prior for an unknown hyperparameter or an invalid prior string (checked before
        the data are read).
    EngineError
        The cluster lost the work (see :func:`multilevel.distributed._client.compute`).

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"clinic": ["a", "b", "a", "c", "b", "c"],
    ...                       "deaths": [1, 3, 0, 2, 1, 2],
    ...                       "patients": [10, 20, 8, 15, 12, 9]})
    >>> spec = conjugate_spec(dd.from_pandas(frame, npartitions=3), likelihood="binomial",
    ...                       group="clinic", successes="deaths", trials="patients")
    >>> spec.labels.tolist(), spec.stats["successes"].tolist(), spec.n_rows
    (['a', 'b', 'c'], [1.0, 4.0, 4.0], 6)
    """
    check_arguments(likelihood, columns)
    meta = ddf._meta  # an empty pandas frame with the columns and dtypes
    require_columns(meta, [group], role="group column")
    require_columns(meta, [v for v in columns.values() if isinstance(v, str)])
    chain = "normal_known" if likelihood == "normal" and columns.get("se") is not None else None
    names = HYPER_NAMES[chain or likelihood]
    priors = _validate_priors(priors, names)
    hyper = _validate_hyper(hyper, names)

    tasks = per_partition(partitions(ddf), _partition_stats, likelihood, group, dict(columns))
    (total,) = compute(tree_reduce(tasks, _combine))
    if total is None:
        raise DataError("the data have no rows")
    codes, labels = _group_codes(pd.DataFrame({group: total.labels}), group)
    order = np.empty(len(codes), dtype=np.int64)
    order[codes] = np.arange(len(codes))  # sorted position -> position in total.labels
    stats = {k: v[order] for k, v in _final_stats(total.chain, total.stats).items()}
    return ConjugateSpec(
        likelihood=likelihood,
        chain=total.chain,
        group=group,
        labels=_default_text(labels),
        stats=GroupStats(stats),
        columns=dict(columns),
        priors=priors,
        hyper=hyper,
        n_rows=total.rows,
    )
