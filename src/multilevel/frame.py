"""Reading and validating user tables at the public boundary.

Any eager data frame that narwhals can read (pandas, polars, pyarrow, ...) or a dict of
columns is accepted. Checks name the column and the offending rows, and nothing is dropped.
"""

from __future__ import annotations

import difflib

import numpy as np
import pandas as pd

from multilevel.errors import DataError

__all__ = ["to_pandas", "require_columns", "numeric_column", "label_column", "row_list"]


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
            "remove or impute them first (na_action='error')"
        )
    infinite = np.isinf(values)
    if infinite.any():
        raise DataError(f"column {name!r} has infinite values in {row_list(frame.index, infinite)}")
    return values


def label_column(frame: pd.DataFrame, name: str) -> pd.Series:
    """A grouping column; DataError if it has missing labels."""
    column = frame[name]
    missing = column.isna().to_numpy()
    if missing.any():
        raise DataError(
            f"grouping column {name!r} has missing labels in {row_list(frame.index, missing)}"
        )
    return column
