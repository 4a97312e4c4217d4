"""Real data sets bundled with ``multilevel``, with their provenance.

Every data set is a small CSV file shipped inside the package (read with
:mod:`importlib.resources`, so it works from an installed wheel) and documented in
``PROVENANCE.md``: its source and version, the original reference, the number of rows, every
column with its unit, and any change made to it.

Grouping and factor columns are returned as strings (object dtype), even when the labels look
like numbers, so they are never mistaken for numeric predictors; the one exception is
``sleepstudy.Subject``, kept as its integer labels (308, 309, ...).

Examples
--------
>>> from multilevel import datasets
>>> "sleepstudy" in datasets.names()
True
>>> datasets.load("cbpp").head(2)
  herd  incidence  size period
0    1          2    14      1
1    1          3    12      2
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass, field
from importlib.resources import files

import pandas as pd

from multilevel.errors import DataError
from multilevel.tables import CSV_EXACT_FLOATS

__all__ = ["names", "load", "describe"]


@dataclass(frozen=True)
class _Entry:
    """Where a data set lives and which of its columns hold labels (read as strings)."""

    filename: str
    label_columns: tuple[str, ...] = field(default=())


_REGISTRY: dict[str, _Entry] = {
    "baseball": _Entry("baseball.csv.gz", ("id", "team")),
    "cbpp": _Entry("cbpp.csv", ("herd", "period")),
    "efron_morris": _Entry("efron_morris.csv", ("name", "team", "league")),
    "eight_schools": _Entry("eight_schools.csv", ("school",)),
    "grouseticks": _Entry("grouseticks.csv", ("INDEX", "BROOD", "YEAR", "LOCATION")),
    "insteval": _Entry("insteval.csv.gz", ("s", "d", "studage", "lectage", "service", "dept")),
    "insurance": _Entry("insurance.csv", ("District", "Group", "Age")),
    "pastes": _Entry("pastes.csv", ("batch", "cask", "sample")),
    "penicillin": _Entry("penicillin.csv", ("plate", "sample")),
    "radon": _Entry("radon.csv", ("county",)),
    "sleepstudy": _Entry("sleepstudy.csv"),
    "verbagg": _Entry("verbagg.csv.gz", ("Gender", "item", "resp", "id", "btype", "situ", "mode")),
}


def names() -> list[str]:
    """Return the names of the bundled data sets.

    Returns
    -------
    list of str
        The names accepted by :func:`load` and :func:`describe`, sorted alphabetically.

    Examples
    --------
    >>> from multilevel import datasets
    >>> datasets.names()[:3]
    ['baseball', 'cbpp', 'efron_morris']
    """
    return sorted(_REGISTRY)


def load(name: str) -> pd.DataFrame:
    """Load a bundled data set as a pandas DataFrame.

    Parameters
    ----------
    name : str
        One of :func:`names`, e.g. ``"sleepstudy"``, ``"radon"`` or ``"cbpp"``.

    Returns
    -------
    pandas.DataFrame
        A fresh copy on every call, so changing it never affects later calls. Grouping and
        factor columns are strings (object dtype); see :func:`describe` for every column.

    Raises
    ------
    DataError
        If `name` is not a bundled data set; the message lists the valid names and suggests
        the closest one.

    Examples
    --------
    >>> from multilevel import datasets
    >>> sleep = datasets.load("sleepstudy")
    >>> sleep.shape
    (180, 3)
    >>> round(float(sleep["Reaction"].mean()), 1)
    298.5
    """
    return _read(_check_name(name)).copy(deep=True)


def describe(name: str) -> str:
    """Return the provenance notes of a bundled data set.

    Parameters
    ----------
    name : str
        One of :func:`names`.

    Returns
    -------
    str
        The data set's section of ``PROVENANCE.md`` (Markdown): source and version, original
        reference, number of rows, columns with units and meaning, and transformations applied.

    Raises
    ------
    DataError
        If `name` is not a bundled data set.

    Examples
    --------
    >>> from multilevel import datasets
    >>> print(datasets.describe("eight_schools").splitlines()[0])
    ## `eight_schools`
    >>> "Rubin" in datasets.describe("eight_schools")
    True
    """
    return _sections()[_check_name(name)]


def _check_name(name: object) -> str:
    """Return `name` if it is a bundled data set, else raise a helpful DataError."""
    if isinstance(name, str) and name in _REGISTRY:
        return name
    valid = ", ".join(repr(n) for n in names())
    message = f"Unknown data set {name!r}. Valid names are: {valid}."
    if isinstance(name, str):
        close = difflib.get_close_matches(name.strip().lower(), names(), n=1, cutoff=0.5)
        if close:
            message += f" Did you mean {close[0]!r}?"
    raise DataError(message)


@functools.cache
def _read(name: str) -> pd.DataFrame:
    """Read a data set's file once; callers get copies."""
    entry = _REGISTRY[name]
    resource = files(__name__) / "data" / entry.filename
    compression = "gzip" if entry.filename.endswith(".gz") else None
    with resource.open("rb") as handle:
        frame = pd.read_csv(
            handle,
            compression=compression,
            dtype={column: object for column in entry.label_columns},
            keep_default_na=False,
            na_values=[""],
            **CSV_EXACT_FLOATS,
        )
    return frame


@functools.cache
def _sections() -> dict[str, str]:
    """Split PROVENANCE.md into one section per data set, keyed by name."""
    text = (files(__name__) / "PROVENANCE.md").read_text(encoding="utf-8")
    parts = re.split(r"^(?=## `)", text, flags=re.MULTILINE)
    sections: dict[str, str] = {}
    for part in parts:
        match = re.match(r"## `([^`]+)`", part)
        if match:
            sections[match.group(1)] = part.strip() + "\n"
    return sections
