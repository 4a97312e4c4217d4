"""Level labels: lme4's sort order, their text in column names, matching new data to them."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["factorize_sorted", "label_text", "match_levels", "sort_order"]


def label_text(level: object) -> str:
    """The text of a level inside a name: ``"b"``, ``"308"``, ``"True"``; ``4.0`` → ``"4"``.

    Examples
    --------
    >>> label_text("b"), label_text(308), label_text(4.0), label_text(2.5), label_text(True)
    ('b', '308', '4', '2.5', 'True')
    """
    if isinstance(level, bool | np.bool_):
        return str(bool(level))
    if isinstance(level, pd.Timestamp) and level == level.normalize():
        return level.strftime("%Y-%m-%d")  # a date without a time of day
    if isinstance(level, float | np.floating) and float(level).is_integer():
        return str(int(level))
    if isinstance(level, np.generic):
        return str(level.item())
    return str(level)


def sort_order(uniques: pd.Index) -> np.ndarray:
    """Positions that sort distinct labels as lme4 does.

    Numbers sort numerically, text lexicographically, and text that is entirely numbers
    (``"2"``, ``"10"``, read from a CSV as strings) numerically, so that levels ``"1"`` to
    ``"15"`` come out in their natural order. Labels of mixed types sort by their text.

    Examples
    --------
    >>> idx = pd.Index(["10", "2", "1"])
    >>> list(idx[sort_order(idx)])
    ['1', '2', '10']
    >>> idx = pd.Index(["b", "a", "C"])
    >>> list(idx[sort_order(idx)])
    ['C', 'a', 'b']
    """
    if pd.api.types.is_numeric_dtype(uniques.dtype) or pd.api.types.is_bool_dtype(uniques.dtype):
        return np.argsort(uniques.to_numpy(), kind="stable")
    values = uniques.to_numpy(dtype=object)
    if all(isinstance(v, str) for v in values):
        numbers = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
        if not np.isnan(numbers).any():
            texts = np.asarray(values, dtype=str)
            return np.lexsort((texts, numbers))
        return np.argsort(np.asarray(values, dtype=str), kind="stable")
    try:
        return np.argsort(values, kind="stable")
    except TypeError:
        return np.argsort(np.array([label_text(v) for v in values], dtype=str), kind="stable")


def factorize_sorted(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes of ``values`` and their distinct labels in sorted order.

    A pandas categorical keeps its categories' order (the levels the user chose), less the
    categories that do not occur.

    Examples
    --------
    >>> codes, levels = factorize_sorted(pd.Series([372, 308, 372, 309]))
    >>> codes.tolist(), levels.tolist()
    ([2, 0, 2, 1], [308, 309, 372])
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        used = values.cat.remove_unused_categories()
        return used.cat.codes.to_numpy(dtype=np.int64), pd.Index(used.cat.categories)
    array = values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)
    if array.dtype.kind in "iu" and array.size:
        direct = _factorize_integers(array)
        if direct is not None:
            return direct
    codes, uniques = pd.factorize(values, sort=False)
    uniques = pd.Index(uniques)
    order = sort_order(uniques)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[codes], uniques.take(order)


def _factorize_integers(array: np.ndarray) -> tuple[np.ndarray, pd.Index] | None:
    """:func:`factorize_sorted` of integers spanning at most twice as many values as there are
    rows, by a table over the span: pandas' hash table peaks at ~40 bytes per row (the 10^6-row
    benchmark's largest allocation), this at ~16. None for sparser labels."""
    lo, hi = int(array.min()), int(array.max())
    if hi - lo + 1 > 2 * array.size:
        return None
    shifted = array - array.dtype.type(lo) if lo else array
    present = np.zeros(hi - lo + 1, dtype=bool)
    present[shifted] = True
    rank = np.cumsum(present, dtype=np.int64) - 1
    levels = np.flatnonzero(present).astype(array.dtype) + array.dtype.type(lo)
    return rank[shifted], pd.Index(levels)


def match_levels(levels: pd.Index, values: pd.Series) -> np.ndarray:
    """Position of each value among ``levels``, -1 where it is not one of them.

    Values that differ from a level only in type (``"308"`` for ``308``) match by their text.

    Examples
    --------
    >>> match_levels(pd.Index([308, 309]), pd.Series(["309", "999", 308])).tolist()
    [1, -1, 0]
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    codes, uniques = pd.factorize(values, sort=False)
    uniques = pd.Index(uniques)
    try:
        found = np.asarray(levels.get_indexer(uniques), dtype=np.int64)
    except (TypeError, ValueError):
        found = np.full(len(uniques), -1, dtype=np.int64)
    if (found < 0).any():
        by_text = {label_text(level): i for i, level in enumerate(levels)}
        for j in np.flatnonzero(found < 0):
            found[j] = by_text.get(label_text(uniques[j]), -1)
    return found[codes]
