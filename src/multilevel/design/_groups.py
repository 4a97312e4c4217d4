"""Grouping factors → level index arrays: ``g``, ``a:b`` and ``mm(g1, g2, ...)``.

A grouping is stored as ``index int32[n, m]`` into its sorted levels and ``weights
float[n, m]`` (m = 1 except for multiple membership), never as an n × levels matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from multilevel.design._labels import factorize_sorted, label_text, match_levels
from multilevel.errors import DataError
from multilevel.formula.terms import GroupTerm
from multilevel.frame import label_column, numeric_column, row_list

__all__ = ["GroupingInfo", "learn_grouping", "apply_grouping", "NEW_GROUPS"]

#: Policies for levels of a grouping factor that were not in the training data.
NEW_GROUPS = ("error", "population", "sample")


@dataclass(frozen=True, eq=False)
class GroupingInfo:
    """A learned grouping factor.

    Parameters
    ----------
    name : str
        ``"g"``, ``"a:b"`` or ``"mm(g1,g2)"``.
    columns : tuple of str
        Grouping columns (the membership columns for ``mm``).
    levels : pandas.Index
        Sorted level labels.
    membership : bool
        Whether this is a multiple-membership grouping.
    weights : tuple of str or None
        ``mm`` weight columns.
    scale : bool
        ``mm(..., scale = TRUE)``: divide each row's weights by their sum.
    """

    name: str
    columns: tuple[str, ...]
    levels: pd.Index
    membership: bool = False
    weights: tuple[str, ...] | None = None
    scale: bool = False


def _interaction_labels(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.Series:
    """Row labels ``"a_level:b_level"`` of an interaction of grouping columns."""
    parts = []
    for column in columns:
        values = label_column(frame, column, grouping=True)
        codes, uniques = pd.factorize(values, sort=False)
        texts = np.array([label_text(u) for u in uniques], dtype=object)
        parts.append(texts[codes])
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + ":" + part
    return pd.Series(joined, index=frame.index, dtype=object)


def _interaction_levels(frame: pd.DataFrame, columns: tuple[str, ...]):
    """Codes and sorted labels of ``a:b``: lexicographic in the sorted levels of a, then b."""
    key = np.zeros(len(frame), dtype=np.int64)
    components = []
    for column in columns:
        codes, levels = factorize_sorted(label_column(frame, column, grouping=True))
        key = key * len(levels) + codes
        components.append(levels)
    distinct, inverse = np.unique(key, return_inverse=True)
    remainder = distinct.copy()
    digits = []
    for levels in reversed(components):
        digits.append(remainder % len(levels))
        remainder = remainder // len(levels)
    digits.reverse()
    texts = [np.array([label_text(v) for v in levels], dtype=object) for levels in components]
    labels = texts[0][digits[0]]
    for text, digit in zip(texts[1:], digits[1:], strict=True):
        labels = labels + ":" + text[digit]
    return inverse.reshape(-1).astype(np.int64), pd.Index(labels, dtype=object)


def _weights(frame: pd.DataFrame, info: GroupingInfo, n: int) -> np.ndarray:
    m = len(info.columns) if info.membership else 1  # a:b is one level per row
    if info.weights is None:  # ones, held as one value (a read-only broadcast view)
        weights = np.broadcast_to(1.0, (n, m))
    else:
        weights = np.column_stack([numeric_column(frame, w) for w in info.weights])
        negative = (weights < 0).any(axis=1)
        if negative.any():
            raise DataError(
                f"the weights ({', '.join(info.weights)}) of {info.name} must not be negative; "
                f"they are in {row_list(frame.index, negative)}"
            )
    if info.scale:
        total = weights.sum(axis=1)
        zero = total <= 0
        if zero.any():
            raise DataError(
                f"the weights of {info.name} sum to 0 in {row_list(frame.index, zero)}, so "
                "scale = TRUE cannot divide by their sum"
            )
        weights = weights / total[:, None]
    return weights


def learn_grouping(
    term: GroupTerm, frame: pd.DataFrame
) -> tuple[GroupingInfo, np.ndarray, np.ndarray]:
    """Levels, ``int32[n, m]`` index and ``float[n, m]`` weights of a block's grouping.

    Raises
    ------
    DataError
        Missing labels, negative or all-zero ``mm`` weights, or fewer than 2 levels.
    """
    n = len(frame)
    membership = term.membership
    if membership is not None:
        stacked = pd.concat(
            [
                label_column(frame, c, grouping=True).reset_index(drop=True)
                for c in membership.columns
            ],
            ignore_index=True,
        )
        if len({str(frame[c].dtype) for c in membership.columns}) > 1:
            stacked = stacked.astype(object)
        codes, levels = factorize_sorted(stacked)
        index = codes.reshape(len(membership.columns), n).T
        info = GroupingInfo(
            term.name, membership.columns, levels, True, membership.weights, membership.scale
        )
    elif len(term.group) > 1:
        codes, levels = _interaction_levels(frame, term.group)
        index = codes[:, None]
        info = GroupingInfo(term.name, term.group, levels)
    else:
        codes, levels = factorize_sorted(label_column(frame, term.group[0], grouping=True))
        index = codes[:, None]
        info = GroupingInfo(term.name, term.group, levels)
    if len(levels) < 2:
        only = label_text(levels[0]) if len(levels) else "none"
        raise DataError(
            f"the grouping factor {term.name} has a single level ({only!r}) in the data; a group "
            f"term such as {term.source or term} needs at least 2 levels (remove it, or fit "
            "the model with a population-level intercept only)"
        )
    return info, np.ascontiguousarray(index, dtype=np.int32), _weights(frame, info, n)


def apply_grouping(
    info: GroupingInfo, frame: pd.DataFrame, new_groups: str
) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    """Index new data into the training levels.

    Rows at a level not seen in training get index ``len(info.levels) + j`` where ``j`` is the
    position of their label in the returned ``new_levels``; under ``"population"`` their
    weight is also 0, so that the weighted sum of group effects leaves them out.

    Raises
    ------
    DataError
        Under ``new_groups="error"``, naming the factor and the new levels.
    """
    n = len(frame)
    if info.membership:
        raw = [label_column(frame, c, grouping=True) for c in info.columns]
        index = np.column_stack([match_levels(info.levels, r) for r in raw])
        labels = [r.to_numpy(dtype=object) for r in raw]
    else:
        if len(info.columns) > 1:
            values = _interaction_labels(frame, info.columns)
        else:
            values = label_column(frame, info.columns[0], grouping=True)
        index = match_levels(info.levels, values)[:, None]
        labels = [values.to_numpy(dtype=object)]
    new = index < 0
    new_levels = pd.Index([], dtype=object)
    if new.any():
        seen: dict[str, object] = {}
        pieces = []
        for k, column in enumerate(labels):
            rows = np.flatnonzero(new[:, k])
            codes, uniques = pd.factorize(pd.Series(column[rows], dtype=object), sort=False)
            texts = [label_text(u) for u in uniques]
            for text, value in zip(texts, uniques, strict=True):
                seen.setdefault(text, value)
            pieces.append((k, rows, codes, texts))
        if new_groups == "error":
            shown = ", ".join(repr(t) for t in list(seen)[:10])
            more = f" (and {len(seen) - 10} more)" if len(seen) > 10 else ""
            raise DataError(
                f"the grouping factor {info.name} has level{'s' if len(seen) > 1 else ''} "
                f"{shown}{more} in {row_list(frame.index, new.any(axis=1))} that the model was "
                "not fitted with; pass new_groups='population' to predict them without a group "
                "effect, or new_groups='sample' to draw new group effects"
            )
        order = {text: j for j, text in enumerate(seen)}
        new_levels = pd.Index(list(seen.values()), dtype=object)
        for k, rows, codes, texts in pieces:
            position = np.array([order[t] for t in texts], dtype=np.int64)
            index[rows, k] = len(info.levels) + position[codes]
    weights = _weights(frame, info, n)
    if new_groups == "population":
        weights = np.where(new, 0.0, weights)
    return np.ascontiguousarray(index, dtype=np.int32), weights, new_levels
