"""Reading and validating user tables at the public boundary.

Any eager data frame that narwhals can read (pandas, polars, pyarrow, ...) or a dict of
columns is accepted. Checks name the column and the offending rows.

Missing values are what pandas calls missing (NaN, None, ``pd.NA``, ``NaT``) and, in a text
column whose other values are all numbers, the usual spellings of a missing value
(:data:`NA_STRINGS`: ``"NA"``, ``"n/a"``, ``"."``, ``""``, ...), as R's ``read.csv`` and SAS
write them. :func:`missing_values` finds them in the columns a model uses; the design stage
drops those rows (``na_action="omit"``, as lme4 and brms do) or refuses them
(``na_action="error"``).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from multilevel.errors import DataError
from multilevel.missing import NA_ACTIONS, NA_STRINGS

__all__ = [
    "Missing",
    "check_na_action",
    "label_column",
    "missing_values",
    "numbers_from_text",
    "numeric_column",
    "require_columns",
    "row_list",
    "to_pandas",
]


def to_pandas(data) -> pd.DataFrame:
    """Convert ``data`` to a pandas DataFrame without copying pandas input."""
    if isinstance(data, pd.DataFrame):
        frame = data
    elif isinstance(data, dict):
        try:
            frame = pd.DataFrame(data)
        except ValueError as err:
            raise DataError(f"could not build a table from the dict of columns: {err}") from None
    else:
        try:
            import narwhals as nw

            frame = nw.from_native(data, eager_only=True).to_pandas()
        except TypeError:
            raise DataError(
                f"data must be a data frame (pandas, polars, pyarrow, ...) or a dict of "
                f"columns, got {type(data).__name__}"
            ) from None
    if len(frame) == 0:
        raise DataError("the data have no rows")
    return frame


def row_list(index, mask, limit: int = 5) -> str:
    """'rows 3, 7, 9 (and 12 more)' for the rows where ``mask`` is true."""
    rows = np.asarray(index)[np.asarray(mask)]
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f" (and {len(rows) - limit} more)" if len(rows) > limit else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def require_columns(frame: pd.DataFrame, names, role: str = "column") -> None:
    """Raise DataError naming every missing column and the closest existing names."""
    missing = [n for n in names if n not in frame.columns]
    if not missing:
        return
    parts = []
    for name in missing:
        close = difflib.get_close_matches(str(name), [str(c) for c in frame.columns], n=1)
        parts.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise DataError(
        f"{role} {', '.join(parts)} not found in the data; available columns: "
        + ", ".join(map(str, frame.columns))
    )


def numeric_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    """The column as float64; DataError for text, missing or infinite values."""
    column = frame[name]
    if column.dtype == bool:
        column = column.astype(float)
    if not (pd.api.types.is_numeric_dtype(column)):
        bad = pd.to_numeric(column, errors="coerce").isna() & column.notna()
        raise DataError(
            f"column {name!r} must be numeric but holds text such as "
            f"{column[bad].iloc[0]!r} ({row_list(frame.index, bad)})"
        )
    values = column.to_numpy(dtype=float, na_value=np.nan)
    missing = np.isnan(values)
    if missing.all():
        raise DataError(f"column {name!r} has only missing values")
    if missing.any():
        raise DataError(
            f"column {name!r} has missing values (NaN) in {row_list(frame.index, missing)}; "
            "drop or impute those rows first"
        )
    infinite = np.isinf(values)
    if infinite.any():
        raise DataError(f"column {name!r} has infinite values in {row_list(frame.index, infinite)}")
    return values


def label_column(frame: pd.DataFrame, name: str, *, grouping: bool = False) -> pd.Series:
    """A column of labels (a grouping factor, a categorical predictor); DataError if it has
    missing values."""
    column = frame[name]
    missing = column.isna().to_numpy()
    if missing.any():
        what = "missing labels" if grouping else "missing values (NA)"
        raise DataError(
            f"{'grouping column' if grouping else 'column'} {name!r} has {what} in "
            f"{row_list(frame.index, missing)}; drop or impute those rows first"
        )
    return column


def check_na_action(na_action: str) -> str:
    """``na_action`` if it is one of :data:`NA_ACTIONS`; ValueError otherwise."""
    if na_action not in NA_ACTIONS:
        raise ValueError(
            f"na_action must be one of {', '.join(map(repr, NA_ACTIONS))}, not {na_action!r}"
        )
    return na_action


def _is_text_dtype(dtype) -> bool:
    return pd.api.types.is_object_dtype(dtype) or (
        pd.api.types.is_string_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype)
    )


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def numbers_from_text(column: pd.Series) -> pd.Series | None:
    """A text column that holds numbers and spellings of a missing value, as float64 (NaN
    where missing); None for any other column.

    A column of numbers becomes text when a missing value is written ``"NA"``, ``"n/a"``,
    ``"."``... (:data:`NA_STRINGS`); it is read back as numbers only when at least one such
    spelling is there, so a text column of numeric labels (``"308"``, ``"309"``) stays labels.

    Examples
    --------
    >>> numbers_from_text(pd.Series(["1.5", ".", "2", "n/a"])).tolist()
    [1.5, nan, 2.0, nan]
    >>> numbers_from_text(pd.Series(["a", "NA"])) is None, numbers_from_text(pd.Series(["1"]))
    (True, None)
    """
    if not _is_text_dtype(column.dtype):
        return None
    spelled = column.isin(NA_STRINGS).to_numpy(dtype=bool)
    if not spelled.any():
        return None
    rest = ~spelled & column.notna().to_numpy(dtype=bool)
    values = column[rest].astype(object)
    if values.map(lambda v: isinstance(v, bool | np.bool_)).any():
        return None
    numbers = np.array([_number(v) for v in values], dtype=float)  # exact, as float("0.1")
    if np.isnan(numbers).any():
        return None
    out = np.full(len(column), np.nan)
    out[rest] = numbers
    return pd.Series(out, index=column.index, name=column.name)


@dataclass(frozen=True)
class Missing:
    """Where the columns a model uses have missing values.

    Attributes
    ----------
    rows : numpy.ndarray
        bool, per row: True where at least one of the columns is missing.
    columns : dict of str to numpy.ndarray
        Column -> bool per row, True where it is missing (only columns that have some).
    numbers : dict of str to pandas.Series
        Text columns read as numbers (:func:`numbers_from_text`), to use instead of the
        originals.
    """

    rows: np.ndarray
    columns: dict
    numbers: dict

    def describe(self, index) -> str:
        """``"column 'x' has missing values (NA) in rows 1, 4"``, or for several columns
        ``"columns 'y' and 'x' have missing values (NA): 'y' in rows 0, 5 and 'x' in row 7"``;
        rows by their labels in ``index``."""
        names = [repr(name) for name in self.columns]
        where = [f"{row_list(index, mask)}" for mask in self.columns.values()]
        if len(names) == 1:
            return f"column {names[0]} has missing values (NA) in {where[0]}"
        listed = ", ".join(names[:-1]) + " and " + names[-1]
        places = [f"{name} in {rows}" for name, rows in zip(names, where, strict=True)]
        return (
            f"columns {listed} have missing values (NA): "
            + ", ".join(places[:-1])
            + " and "
            + places[-1]
        )


def missing_values(frame: pd.DataFrame, columns, *, all_missing: bool = False) -> Missing:
    """Missing values in ``columns`` of ``frame`` (see the module docstring).

    Parameters
    ----------
    frame : pandas.DataFrame
    columns : iterable of str
    all_missing : bool
        Whether a column may be missing in every row (new data to predict for).

    Raises
    ------
    DataError
        A column that has only missing values (unless ``all_missing``).

    Examples
    --------
    >>> frame = pd.DataFrame({"y": [1.0, None, 3.0], "x": ["1", ".", "2"], "g": list("aab")})
    >>> found = missing_values(frame, ["y", "x", "g"])
    >>> found.rows.tolist(), list(found.columns), list(found.numbers)
    ([False, True, False], ['y', 'x'], ['x'])
    >>> found.describe(frame.index)
    "columns 'y' and 'x' have missing values (NA): 'y' in row 1 and 'x' in row 1"
    """
    rows = np.zeros(len(frame), dtype=bool)
    masks: dict[str, np.ndarray] = {}
    numbers: dict[str, pd.Series] = {}
    for name in columns:
        column = frame[name]
        converted = numbers_from_text(column)
        if converted is not None:
            numbers[name] = converted
            column = converted
        missing = column.isna().to_numpy(dtype=bool)
        count = int(missing.sum())
        if count == len(frame) and not all_missing:
            raise DataError(f"column {name!r} has only missing values")
        if count:
            masks[name] = missing
            rows |= missing
    return Missing(rows, masks, numbers)
