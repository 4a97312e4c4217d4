"""A ``factors(user, item, k, item_group = ...)`` term → :class:`FactorDesign`: per row the
user's and the item's level, and per row the group (artist) of each side that has one."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from multilevel.design._labels import label_text
from multilevel.design._types import FactorDesign, FactorSide
from multilevel.errors import DataError
from multilevel.formula.terms import FactorTerm

__all__ = ["factor_design"]

#: column -> (int32 index (n,), levels, new levels), learned or applied like a grouping factor.
Grouping = Callable[[str], tuple[np.ndarray, pd.Index, pd.Index]]


def factor_design(term: FactorTerm, grouping: Grouping, *, learn: bool) -> FactorDesign:
    """The data of a factor term.

    Raises
    ------
    DataError
        While learning: a level of a grouped side whose rows name two groups (an item with
        two artists).
    """
    return FactorDesign(
        term=term,
        users=_side(term.user, term.user_group, grouping, learn=learn),
        items=_side(term.item, term.item_group, grouping, learn=learn),
    )


def _side(column: str, group: str | None, grouping: Grouping, *, learn: bool) -> FactorSide:
    index, levels, new_levels = grouping(column)
    if group is None:
        return FactorSide(column, levels, index, new_levels)
    group_index, group_levels, _ = grouping(group)
    if learn:
        _check_one_group(column, group, index, levels, group_index, group_levels)
    return FactorSide(column, levels, index, new_levels, group, group_levels, group_index)


def _check_one_group(column, group, index, levels, group_index, group_levels) -> None:
    """Every level of ``column`` has one level of ``group`` in all its rows."""
    first = np.full(len(levels), -1, dtype=np.int64)
    first[index[::-1]] = group_index[::-1]  # the group of each level's first row
    clash = np.flatnonzero(first[index] != group_index)
    if clash.size:
        row = clash[0]
        level = label_text(levels[index[row]])
        one = label_text(group_levels[first[index[row]]])
        raise DataError(
            f"{column} {level!r} has rows with {group} {one!r}"
            f" and {label_text(group_levels[group_index[row]])!r} (and {clash.size - 1} more such "
            f"rows); as the group of {column} in factors(), each {column} must belong to one "
            f"{group}: correct the data or leave the group out"
        )
