"""Writing files so that a reader never sees half of one: every file the library writes goes
through here.

A file is written under a fresh hidden name beside its destination and renamed onto it only
when complete (``os.replace``: atomic within one filesystem); on any error, interrupt
included, the temporary file is removed and the destination is left as it was. The
temporary file and folder are created by the operating system as a plain ``open`` or
``mkdir`` would create them, so they get the usual modes (0666 and 0777 less the umask)
without reading the umask, which can only be read by setting it, process-wide.

Examples
--------
>>> import tempfile, pathlib
>>> from multilevel.atomic import atomic_open
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> with atomic_open(folder / "notes.txt", "w") as handle:
...     _ = handle.write("complete or absent")
>>> (folder / "notes.txt").read_text()
'complete or absent'
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_open", "atomic_path", "fresh_folder"]


def _fresh_name(folder: Path, stem: str) -> Path:
    return folder / f".{stem}.{secrets.token_hex(6)}.tmp"


@contextlib.contextmanager
def atomic_path(path) -> Iterator[Path]:
    """A new empty file beside ``path`` to write by name (``to_parquet``, ``to_csv``, ...);
    renamed onto ``path`` when the block ends without an error, removed otherwise."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    while True:
        tmp = _fresh_name(folder, path.name)
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(path, mode: str = "wb", **kwargs):
    """:func:`open` of a new file that replaces ``path`` when the block ends without error
    (``kwargs`` go to :func:`open`, e.g. ``encoding``)."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle


def fresh_folder(beside, tag: str) -> Path:
    """A new empty folder ``.NAME.TAG-XXXX`` beside the path ``beside`` (mode 0777 less the
    umask, as ``mkdir`` gives), for writing a set of files to rename into place at once."""
    beside = Path(beside).absolute()
    while True:
        folder = beside.parent / f".{beside.name}.{tag}-{secrets.token_hex(6)}"
        try:
            folder.mkdir(0o777)
            return folder
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
