"""Exact order statistics (median, and the median absolute deviation) of values spread over
partitions, in a few passes that return only histograms and, at the end, a few values.

Each pass brackets every wanted rank: the partitions count the values below the bracket and
histogram those inside it (:data:`BINS` bins); the bin holding the rank becomes the next
bracket. A bracket whose values are all equal, or few enough (:data:`COLLECT`), is resolved
exactly from them. Values on the order of 10^8 need two passes per statistic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from multilevel.distributed._client import compute, tree_reduce

__all__ = ["order_statistics", "median"]

BINS = 4096
COLLECT = 1 << 20  # values of one bracket sent to the client at most


@dataclass(frozen=True)
class _Bracket:
    low: float
    high: float  # values in [low, high)
    inside: int  # how many
    collect: bool


def _summarise(values: np.ndarray, brackets) -> list:
    """Per bracket: (values below, histogram or values inside, min inside, max inside)."""
    out = []
    for b in brackets:
        below = int(np.count_nonzero(values < b.low))
        inside = values[(values >= b.low) & (values < b.high)]
        lo = float(inside.min()) if inside.size else np.inf
        hi = float(inside.max()) if inside.size else -np.inf
        if b.collect:
            out.append((below, inside, lo, hi))
        else:
            edges = np.linspace(b.low, b.high, BINS + 1)
            bins = np.searchsorted(edges, inside, side="right") - 1
            out.append((below, np.bincount(np.minimum(bins, BINS - 1), minlength=BINS), lo, hi))
    return out


def _merge(a: list, b: list) -> list:
    return [
        (
            x[0] + y[0],
            np.concatenate([x[1], y[1]]) if x[1].dtype.kind == "f" else x[1] + y[1],
            min(x[2], y[2]),
            max(x[3], y[3]),
        )
        for x, y in zip(a, b, strict=True)
    ]


def order_statistics(values_tasks, ranks, low: float, high: float, count: int) -> list[float]:
    """The values at 0-based ``ranks`` among ``count`` values in ``[low, high]``.

    Parameters
    ----------
    values_tasks : callable
        ``values_tasks(function)`` -> delayed results of ``function(values)`` for each
        partition's 1-d float array of values (recomputed at every pass: nothing is held).
    ranks : sequence of int
    low, high : float
        The smallest and largest value.
    count : int
        How many values there are.

    Examples
    --------
    >>> from dask import delayed
    >>> parts = [np.array([3.0, 1.0]), np.array([2.0, 5.0, 4.0])]
    >>> tasks = lambda f: [delayed(f)(p) for p in parts]
    >>> order_statistics(tasks, [0, 2, 4], 1.0, 5.0, 5)
    [1.0, 3.0, 5.0]
    """
    start = _Bracket(low, float(np.nextafter(high, np.inf)), count, count <= COLLECT)
    brackets = {r: start for r in ranks}
    found: dict[int, float] = {}
    while len(found) < len(brackets):
        pending = [r for r in brackets if r not in found]
        todo = list(dict.fromkeys(brackets[r] for r in pending))
        (summary,) = compute(
            tree_reduce(values_tasks(lambda v, todo=todo: _summarise(v, todo)), _merge)
        )
        result = dict(zip(todo, summary, strict=True))
        for r in pending:
            b = brackets[r]
            below, inside, lo, hi = result[b]
            t = r - below
            if lo == hi:  # every value inside is the same
                found[r] = lo
            elif b.collect:
                found[r] = float(np.partition(inside, t)[t])
            else:
                edges = np.linspace(b.low, b.high, BINS + 1)
                k = int(np.searchsorted(np.cumsum(inside), t, side="right"))
                n_in = int(inside[k])
                brackets[r] = _Bracket(float(edges[k]), float(edges[k + 1]), n_in, n_in <= COLLECT)
    return [found[r] for r in ranks]


def median(values_tasks, low: float, high: float, count: int) -> float:
    """The median (``numpy.median``'s: the mean of the middle two for an even count) of
    ``count`` values in ``[low, high]`` (nan for none)."""
    if count == 0:
        return float("nan")
    middle = order_statistics(
        values_tasks, sorted({(count - 1) // 2, count // 2}), low, high, count
    )
    return float(np.mean([middle[0], middle[-1]]))
