"""How grouping factors relate: nested, crossed, or multiple membership."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["group_structure", "nested"]


def nested(inner: np.ndarray, outer: np.ndarray, n_inner: int, n_outer: int) -> bool:
    """True when every level of ``inner`` occurs with exactly one level of ``outer``.

    Examples
    --------
    >>> nested(np.array([0, 1, 2, 2]), np.array([0, 0, 1, 1]), 3, 2)
    True
    >>> nested(np.array([0, 1, 0]), np.array([0, 0, 1]), 2, 2)
    False
    """
    pairs = np.unique(inner.astype(np.int64) * n_outer + outer.astype(np.int64))
    return len(pairs) == len(np.unique(inner))


def group_structure(design) -> pd.DataFrame:
    """See :meth:`multilevel.design.Design.group_structure`."""
    factors: dict[str, tuple[np.ndarray, int, bool]] = {}
    blocks = list(design.blocks)
    for sub in design.dpars.values():
        blocks += list(sub.blocks)
    for block in blocks:
        if block.name not in factors:
            size = block.n_levels + len(block.new_levels)
            factors[block.name] = (block.index, size, block.multiple_membership)
    rows = []
    names = list(factors)
    for name in names:
        index, size, membership = factors[name]
        counts = np.bincount(index.ravel(), minlength=size)
        counts = counts[counts > 0]
        inside, crossed = [], []
        if not membership:
            for other in names:
                o_index, o_size, o_membership = factors[other]
                if other == name or o_membership:
                    continue
                if nested(index[:, 0], o_index[:, 0], size, o_size):
                    inside.append(other)
                elif not nested(o_index[:, 0], index[:, 0], o_size, size):
                    crossed.append(other)
        rows.append((name, size, int(counts.min()), int(counts.max()), inside, crossed, membership))
    contains = {name: set() for name in names}
    for name, *_, inside, _crossed, _membership in rows:
        for other in inside:
            contains[other].add(name)
    records = []
    for name, size, low, high, inside, crossed, membership in rows:
        if membership:
            structure = "multiple membership"
        elif inside:
            structure = "nested"
        elif crossed:
            structure = "crossed"
        elif contains[name]:
            structure = "outer"
        else:
            structure = "single"
        records.append(
            {
                "factor": name,
                "levels": size,
                "min_rows": low,
                "max_rows": high,
                "nested_in": ", ".join(inside),
                "crossed_with": ", ".join(crossed),
                "structure": structure,
            }
        )
    return pd.DataFrame.from_records(records).set_index("factor")
