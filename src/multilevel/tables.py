"""Reading and writing data tables (CSV, TSV, Parquet) for the command line, with errors
that name the file and say what to do.

Parquet needs ``pyarrow`` (``pip install pyarrow``); CSV and TSV need nothing beyond pandas.

A CSV file's separator is read from its header line when it is not a comma: a semicolon (as
R's ``write.csv2`` and spreadsheets in locales with a decimal comma write, then with decimal
commas read as such when the numbers have them) or a tab; ``sep=`` (``--sep``) says it
explicitly. Missing values are written as R and SAS write them: ``NA``, ``N/A``, ``n/a``,
``NaN``, ``null``, ``.``, or an empty cell (:data:`multilevel.missing.NA_STRINGS`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from multilevel.atomic import atomic_path
from multilevel.errors import DataError
from multilevel.missing import NA_STRINGS

__all__ = [
    "CSV_EXACT_FLOATS",
    "SEPARATORS",
    "read_table",
    "write_table",
    "table_format",
    "FORMATS",
]

#: Separators a CSV file may use, by the name ``sep=`` (and ``--sep``) also accepts.
SEPARATORS = {"comma": ",", "semicolon": ";", "tab": "\t"}

_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d*(,\d+)?([eE][-+]?\d+)?\s*$")

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


def _separator(sep: str | None) -> str | None:
    """A separator from ``sep=``: a name of :data:`SEPARATORS` or one character."""
    if sep is None:
        return None
    value = SEPARATORS.get(sep.lower(), "\t" if sep in ("\\t", "\t") else sep)
    if len(value) != 1:
        raise DataError(
            f"the separator {sep!r} is not one character; use one of "
            + ", ".join(SEPARATORS)
            + " or a single character"
        )
    return value


def _sniff(path: Path) -> str:
    """The separator of a CSV file from its header line: a comma unless the header has no
    comma and has semicolons or tabs."""
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as handle:
            header = handle.readline()
    except (OSError, EOFError):
        return ","  # the reader says what is wrong with the file
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    if counts[","] or not (counts[";"] or counts["\t"]):
        return ","
    return ";" if counts[";"] >= counts["\t"] else "\t"


def _decimal_commas(frame: pd.DataFrame) -> bool:
    """Whether a text column holds numbers written with a decimal comma (``"1,5"``)."""
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column.dtype):
            continue
        values = column.dropna().astype(str)
        if (
            len(values)
            and values.str.contains(",", regex=False).any()
            and values.map(lambda v: bool(_DECIMAL_COMMA.match(v))).all()
        ):
            return True
    return False


def _read_csv(path: Path, sep: str) -> pd.DataFrame:
    options = {"sep": sep, "na_values": list(NA_STRINGS), **CSV_EXACT_FLOATS}
    frame = pd.read_csv(path, **options)
    if sep == ";" and _decimal_commas(frame):
        frame = pd.read_csv(path, decimal=",", **options)
    return frame


def read_table(path, *, sep: str | None = None) -> pd.DataFrame:
    """Read a CSV, TSV or Parquet file into a data frame.

    Parameters
    ----------
    path : str or os.PathLike
    sep : str, optional
        The separator of a CSV or TSV file: ``"comma"``, ``"semicolon"``, ``"tab"`` or one
        character. Default: a tab for ``.tsv``, else read from the header line (see the
        module docstring).

    Raises
    ------
    DataError
        A missing or unreadable file, an unknown format, a file without rows or columns,
        Parquet without pyarrow, a separator that is not one character.
    """
    path = Path(path)
    kind = table_format(path)
    separator = _separator(sep)
    if not path.exists():
        raise DataError(f"data file {str(path)!r} does not exist")
    if path.is_dir():
        raise DataError(f"data file {str(path)!r} is a folder, not a file")
    try:
        if kind == "parquet":
            _pyarrow(path, "reading")
            frame = pd.read_parquet(path)
        else:
            if separator is None:
                separator = "\t" if kind == "tsv" else _sniff(path)
            frame = _read_csv(path, separator)
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
