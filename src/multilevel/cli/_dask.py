"""``multilevel fit --dask``: a Parquet dataset (a folder, a glob or a file) read as a Dask
frame, on a scheduler's cluster or Dask's local threads."""

from __future__ import annotations

from pathlib import Path

from multilevel.errors import DataError

__all__ = ["is_dataset", "read_dataset", "connect"]

CONNECT_TIMEOUT = "20s"  # to reach a scheduler before the fit gives up


def is_dataset(path: Path) -> bool:
    """A folder or a glob pattern: a Parquet dataset (read with Dask)."""
    return path.is_dir() or any(c in str(path) for c in "*?[")


def read_dataset(path: Path):
    """The Parquet dataset at ``path`` as a Dask frame.

    Raises
    ------
    DataError
        Dask missing, nothing at ``path``, or files Dask cannot read as Parquet.
    """
    try:
        import dask.dataframe as dd
    except ImportError:
        raise DataError(
            "reading a dataset with Dask needs it installed: pip install 'multilevel[dask]'"
        ) from None
    if not is_dataset(path) and not path.exists():
        raise DataError(f"data file {str(path)!r} does not exist")
    try:
        return dd.read_parquet(str(path))
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read {str(path)!r} as a Parquet dataset: {err}") from None


def connect(scheduler: str | None):
    """A ``distributed.Client`` of the scheduler at ``scheduler`` (an address such as
    ``tcp://10.0.0.5:8786`` or a scheduler file), or None for Dask's local threads
    (``scheduler`` None or ``"local"``).

    Raises
    ------
    DataError
        distributed missing or the scheduler unreachable.
    """
    if scheduler in (None, "local"):
        return None
    try:
        from distributed import Client
    except ImportError:
        raise DataError(
            "a scheduler address needs dask.distributed: pip install 'multilevel[dask]'"
        ) from None
    try:
        if scheduler.endswith(".json"):
            return Client(scheduler_file=scheduler, timeout=CONNECT_TIMEOUT)
        return Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as err:
        raise DataError(f"cannot reach the Dask scheduler {scheduler!r}: {err}") from None
