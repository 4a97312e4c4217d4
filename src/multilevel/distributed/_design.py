"""The design of a Dask frame: encodings learned in one pass over the partitions, then the
same :class:`~multilevel.design.Design` built partition by partition.

The in-memory design stage learns everything from the rows it holds. Over partitions, what
must be known before any partition's design is built is the set of levels: of every grouping
factor (for an interaction ``a:b``, the combinations present) and of every categorical
predictor. One pass (:func:`scan`) collects, per partition, the complete rows' distinct
values of each such column set together with one real row each, and counts the rows left out
for missing values. Those representative rows are a small frame with every level; the design
stage learns its encodings from them (levels sort there exactly as in memory), and
:meth:`DesignInfo.transform` then builds each partition's design with them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from multilevel.design import design as make_design
from multilevel.errors import DataError
from multilevel.formula.ast import variables
from multilevel.frame import missing_values

__all__ = [
    "HEAD_ROWS",
    "DaskSource",
    "Scan",
    "scan",
    "learned_info",
    "partition_design",
    "no_rows",
]

HEAD_ROWS = 1000  # rows of the first partitions the encodings are also learned from


def label_sets(info) -> list[tuple[str, ...]]:
    """The column sets whose distinct values are levels: each grouping factor's columns
    (one set per column of an ``mm()``), and each categorical predictor's columns."""
    sets: list[tuple[str, ...]] = []
    for grouping in info.groupings.values():
        if grouping.membership:
            sets += [(c,) for c in grouping.columns]
        else:
            sets.append(tuple(grouping.columns))
    formulas = [info.formula, *info.formula.dpars.values()]
    for formula, part in zip(formulas, info.parts, strict=True):
        for text, factor in part.factors.items():
            if factor.kind == "categorical":
                sets.append(tuple(variables(formula.expressions[text])))
    return list(dict.fromkeys(s for s in sets if s))


def stateful(info) -> list[str]:
    """The factors whose encodings are learned from the values of every row (``scale()``,
    ``center()``, ``poly()``)."""
    return [text for part in info.parts for text, f in part.factors.items() if f.state]


@dataclass(frozen=True, eq=False)
class Scan:
    """What one pass over the partitions learned: rows, rows left out for missing values
    (with where, for the first partition that has some), and for each label set in ``sets``
    one real row per distinct value."""

    rows: int
    dropped: int
    missing_note: str | None
    sets: tuple[tuple[str, ...], ...]
    representatives: tuple[pd.DataFrame, ...]

    def __add__(self, other: Scan) -> Scan:
        reps = tuple(
            pd.concat([a, b]).drop_duplicates(subset=list(columns)) if len(b) else a
            for columns, a, b in zip(
                self.sets, self.representatives, other.representatives, strict=True
            )
        )
        return Scan(
            self.rows + other.rows,
            self.dropped + other.dropped,
            self.missing_note or other.missing_note,
            self.sets,
            reps,
        )


def complete_rows(frame: pd.DataFrame, used: list, na_action: str):
    """The rows of one partition without a missing value in a used column (text columns of
    numbers read as numbers) and the :class:`~multilevel.frame.Missing` found; under
    ``na_action="error"`` a DataError naming them."""
    found = missing_values(frame, used, all_missing=True)
    if found.columns and na_action == "error":
        raise DataError(
            f"{found.describe(frame.index)}, and na_action='error' refuses them: drop or "
            "impute those rows, or use na_action='omit' to leave them out"
        )
    kept = frame[used].assign(**found.numbers) if found.numbers else frame[used]
    if found.columns:
        kept = kept.loc[~found.rows]
    return kept, found


def scan(frame: pd.DataFrame, used: list, sets: tuple, na_action: str, number: int) -> Scan:
    """The :class:`Scan` of partition ``number``."""
    kept, found = complete_rows(frame, used, na_action)
    dropped = int(found.rows.sum())
    note = f"partition {number}: {found.describe(frame.index)}" if dropped else None
    reps = tuple(kept.drop_duplicates(subset=list(columns)) for columns in sets)
    return Scan(len(frame), dropped, note, sets, reps)


def learned_info(formula, head: pd.DataFrame, found: Scan, family: str):
    """The DesignInfo of the whole frame, learned from the first rows and the
    representatives of every level.

    Raises
    ------
    DataError
        A stateful transform (its parameters need every row: compute the column in the
        frame), or population-level columns collinear in the rows read.
    """
    seed = pd.concat([head, *found.representatives], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        learned = make_design(formula, seed, family=family)
    info = learned.info
    moving = stateful(info)
    if moving:
        raise DataError(
            f"{', '.join(moving)} learn their parameters (means, SDs, polynomial "
            "coefficients) from every row, which a fit on Dask does not hold at once: "
            "compute the column in the Dask frame first (ddf.assign(...)) and use it in "
            "the formula"
        )
    if info.notes:
        raise DataError(
            f"{' '.join(info.notes)} (in the rows that hold every level of the Dask frame's "
            "factors): a fit on Dask does not drop columns; remove them from the formula"
        )
    return learned


def no_rows(learned):
    """A design with the learned encodings and no rows: what the spec of a fit on Dask
    holds (its engines read the reduced statistics instead)."""
    none = slice(0, 0)

    def cut(array):
        return None if array is None else np.asarray(array)[none]

    def cut_blocks(blocks):
        return tuple(
            replace(b, index=cut(b.index), weights=cut(b.weights), Z=cut(b.Z)) for b in blocks
        )

    dpars = {
        name: replace(part, X=cut(part.X), offset=cut(part.offset), blocks=cut_blocks(part.blocks))
        for name, part in learned.dpars.items()
    }
    return replace(
        learned,
        y=cut(learned.y),
        X=cut(learned.X),
        offset=cut(learned.offset),
        blocks=cut_blocks(learned.blocks),
        trials=cut(learned.trials),
        se=cut(learned.se),
        weights=cut(learned.weights),
        dpars=dpars,
        info=replace(learned.info, n_train=0, row_labels=None),
    )


@dataclass(frozen=True, eq=False)
class DaskSource:
    """A Dask frame with the encodings learned from it: what an engine that passes over the
    rows at every step (the Laplace engine's PIRLS) needs to build each partition's design
    on the worker that holds it.

    Attributes
    ----------
    frame : dask.dataframe.DataFrame
    info : DesignInfo
        The encodings learned from the whole frame.
    used : list of str
        The columns the formula reads.
    na_action : str
    family : Family
    """

    frame: object
    info: object
    used: list
    na_action: str
    family: object

    def designs(self) -> list:
        """Each partition's design (None for a partition without complete rows), its
        response checked against the family, computed and held in the workers' memory
        (``persist``: Dask spills it to disk when memory runs short) for the passes to
        come; the caller drops the list to release them."""
        import dask

        from multilevel.distributed._client import active_client, partitions, per_partition

        args = (self.info, self.used, self.na_action, self.family)  # not the frame itself
        tasks = per_partition(partitions(self.frame), partition_design, *args)
        client = active_client()
        if client is not None:
            return list(client.persist(tasks))
        return list(dask.persist(*tasks, scheduler="threads"))


def partition_design(frame, info, used, na_action, family):
    """The design of one partition's complete rows with the learned encodings, its response
    checked against the family (None when the partition has no complete row)."""
    kept, _ = complete_rows(frame, used, na_action)
    if not len(kept):
        return None
    d = info.transform(kept)
    family.check_response(d.y, d.trials, name=d.response or "y", index=kept.index)
    return d
