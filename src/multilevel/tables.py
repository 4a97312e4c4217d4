"""Reading and writing data tables (CSV, TSV, Parquet) for the command line, with errors
that name the file and say what to do.

Parquet needs ``pyarrow`` (``pip install pyarrow``); CSV and TSV need nothing beyond pandas.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from multilevel.atomic import atomic_path
from multilevel.errors import DataError

__all__ = [
    "CSV_EXACT_FLOATS",
    "read_table",
    "write_table",
    "table_format",
    "FORMATS",
]

#: ``read_csv`` options that parse every number to the nearest double, so a file gives the
#: same data with every supported pandas: pandas 2's default parser is off by one unit in the
#: last place for about a third of the values; pandas 3's default is exact (and deprecates
#: the option).
CSV_EXACT_FLOATS = {"float_precision": "round_trip"} if pd.__version__.startswith("2.") else {}

#: File name endings -> format.
FORMATS = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".tsv.gz": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def table_format(path) -> str:
    """``"csv"``, ``"tsv"`` or ``"parquet"`` from the file name; DataError otherwise.

    Examples
    --------
    >>> table_format("radon.csv"), table_format("x.PARQUET"), table_format("a.tsv.gz")
    ('csv', 'parquet', 'tsv')
    """
    name = Path(path).name.lower()
    for ending in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(ending):
            return FORMATS[ending]
    raise DataError(
        f"cannot tell the format of {str(path)!r} from its name; use a file ending in "
        + ", ".join(FORMATS)
    )


def _pyarrow(path, action: str) -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise DataError(
            f"{action} the Parquet file {str(path)!r} needs the pyarrow package: "
            "pip install pyarrow (or use a CSV file)"
        ) from None


def read_table(path) -> pd.DataFrame:
    """Read a CSV, TSV or Parquet file into a data frame.

    Raises
    ------
    DataError
        A missing or unreadable file, an unknown format, a file without rows or columns,
        Parquet without pyarrow.
    """
    path = Path(path)
    kind = table_format(path)
    if not path.exists():
        raise DataError(f"data file {str(path)!r} does not exist")
    if path.is_dir():
        raise DataError(f"data file {str(path)!r} is a folder, not a file")
    try:
        if kind == "parquet":
            _pyarrow(path, "reading")
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep="\t" if kind == "tsv" else ",", **CSV_EXACT_FLOATS)
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"data file {str(path)!r} is empty: no header line, no rows") from None
    except Exception as err:  # any parser failure on arbitrary bytes is a bad file
        raise DataError(
            f"cannot read {str(path)!r} as {kind.upper()}: {type(err).__name__}: "
            f"{str(err).strip().splitlines()[0] if str(err).strip() else 'unreadable'}"
        ) from None
    if frame.shape[1] == 0:
        raise DataError(f"data file {str(path)!r} has no columns")
    if len(frame) == 0:
        raise DataError(
            f"data file {str(path)!r} has a header ({', '.join(map(str, frame.columns))}) "
            "but no rows"
        )
    return frame


def write_table(frame: pd.DataFrame, path) -> Path:
    """Write ``frame`` (without its index) as CSV, TSV or Parquet by the file name,
    atomically: under a temporary name beside ``path``, then renamed.

    Raises
    ------
    DataError
        An unknown format, a missing folder, Parquet without pyarrow.
    """
    path = Path(path)
    kind = table_format(path)
    if kind == "parquet":
        _pyarrow(path, "writing")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise DataError(f"cannot write {str(path)!r}: the folder {str(folder)!r} does not exist")
    with atomic_path(path) as tmp:
        if kind == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            compression = "gzip" if path.name.lower().endswith(".gz") else None
            frame.to_csv(
                tmp, index=False, sep="\t" if kind == "tsv" else ",", compression=compression
            )
    return path
