"""Where Dask work runs, and how its failures reach the user.

The library computes on the active :class:`distributed.Client` when there is one (the
convention of dask-ml: the user starts the client, the library finds it) and on Dask's local
threaded scheduler otherwise. Only small reduced objects come back to the client: every
per-partition result is summed in a binary tree of tasks on the cluster.
"""

from __future__ import annotations

from multilevel.errors import EngineError, MultilevelError

__all__ = [
    "is_dask_frame",
    "active_client",
    "compute",
    "tree_reduce",
    "partitions",
    "per_partition",
]


def is_dask_frame(data) -> bool:
    """Whether ``data`` is a ``dask.dataframe.DataFrame`` (checked without importing Dask).

    Examples
    --------
    >>> import pandas as pd
    >>> is_dask_frame(pd.DataFrame({"y": [1.0]}))
    False
    """
    module = type(data).__module__ or ""
    return module.split(".")[0] in ("dask", "dask_expr") and hasattr(data, "npartitions")


def active_client():
    """The active ``distributed.Client``, or None (no client, or distributed not installed)."""
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:  # no client has been started
        return None


def partitions(frame) -> list:
    """The partitions of a Dask frame as delayed pandas frames, in order."""
    return list(frame.to_delayed(optimize_graph=True))


def in_partition(k: int, total: int, function, *args):
    """``function(*args)``, a MultilevelError re-raised with the partition named (its class
    kept, so the user's ``except DataError`` still catches it)."""
    try:
        return function(*args)
    except MultilevelError as err:
        raise type(err)(f"partition {k} of {total}: {err}") from None


def per_partition(parts, function, *args) -> list:
    """Delayed ``function(part, *args)`` for each partition in ``parts``, its errors naming
    the partition (:func:`in_partition`); the tasks carry ``function``'s name (what the
    dashboard shows)."""
    from dask import delayed
    from dask.base import tokenize

    call = delayed(in_partition, pure=True)
    name = function.__name__.lstrip("_")
    return [
        call(
            k,
            len(parts),
            function,
            part,
            *args,
            dask_key_name=f"{name}-{tokenize(k, function, part, *args)}",
        )
        for k, part in enumerate(parts)
    ]


def _skipping_empty(combine):
    """``combine`` with None (a partition with nothing to add) as its identity."""

    def combined(a, b):
        return b if a is None else a if b is None else combine(a, b)

    return combined


def tree_reduce(items, combine):
    """One delayed result combining ``items`` pairwise in a binary tree of ``combine`` tasks
    (so the client receives one reduced object, never every partition's). An item that is
    None (a partition with nothing to add) is skipped; all None gives None.

    Examples
    --------
    >>> from dask import delayed
    >>> tree_reduce([delayed(k) for k in (1, None, 3)], lambda a, b: a + b).compute()
    4
    """
    from dask import delayed

    items = list(items)
    if not items:
        raise ValueError("nothing to reduce")
    combine = delayed(_skipping_empty(combine), pure=True)
    while len(items) > 1:
        pairs = [
            combine(items[i], items[i + 1]) if i + 1 < len(items) else items[i]
            for i in range(0, len(items), 2)
        ]
        items = pairs
    return items[0]


def compute(*tasks):
    """Compute delayed ``tasks`` on the active client (or the threaded scheduler) and return
    their results as a tuple.

    A task that raises a :class:`~multilevel.errors.MultilevelError` (bad data in a
    partition) re-raises it here. A worker lost while computing is retried by Dask
    (``distributed.scheduler.allowed-failures`` times); when the retries are spent the fit
    ends with an EngineError that says so, and nothing has been written.

    Raises
    ------
    EngineError
        The cluster lost the work (a worker died more often than Dask retries, or the
        scheduler went away).
    """
    import dask

    client = active_client()
    try:
        if client is not None:
            return tuple(client.compute(list(tasks), sync=True))
        return dask.compute(*tasks, scheduler="threads")
    except MultilevelError:
        raise
    except Exception as err:  # noqa: BLE001 - translated below when it is the cluster's
        name = type(err).__name__
        if name in ("KilledWorker", "CommClosedError", "CancelledError", "FutureCancelledError"):
            raise EngineError(
                f"the Dask cluster lost the work of this fit ({name}: {err}); Dask retried "
                "it on other workers and gave up. Nothing was written: check the workers' "
                "memory limits and logs, then fit again"
            ) from err
        raise
