"""Writing files so that a reader never sees half of one: every file the library writes goes
through here.

A file is written under a fresh hidden name beside its destination and renamed onto it only
when complete (``os.replace``: atomic within one filesystem); on any error, interrupt
included, the temporary file is removed and the destination is left as it was. The
temporary file and folder are created by the operating system as a plain ``open`` or
``mkdir`` would create them, so they get the usual modes (0666 and 0777 less the umask)
without reading the umask, which can only be read by setting it, process-wide.

Every temporary file and folder is registered while it is written, and the renames that put
things in place hold one lock (:func:`renaming`): :func:`abandon` (the command line's exit on
Ctrl-C, from another thread) waits for a rename under way, removes what is half-written and
keeps anything else from being created or renamed into place, so an interrupt, whenever it
comes, leaves every destination either as it was or complete.

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
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["abandon", "atomic_open", "atomic_path", "fresh_folder", "renaming", "temporary_folder"]

_LOCK = threading.RLock()  # held while a temporary path is created or renamed into place
_PENDING: set[Path] = set()  # temporary files and folders being written


def _fresh_name(folder: Path, stem: str) -> Path:
    return folder / f".{stem}.{secrets.token_hex(6)}.tmp"


@contextlib.contextmanager
def atomic_path(path) -> Iterator[Path]:
    """A new empty file beside ``path`` to write by name (``to_parquet``, ``to_csv``, ...);
    renamed onto ``path`` when the block ends without an error, removed otherwise."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    with _LOCK:
        while True:
            tmp = _fresh_name(folder, path.name)
            try:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
                break
            except FileExistsError:  # pragma: no cover - 48 random bits
                continue
        _PENDING.add(tmp)
    try:
        yield tmp
        with _LOCK:
            os.replace(tmp, path)
            _PENDING.discard(tmp)
    except BaseException:
        with _LOCK:
            tmp.unlink(missing_ok=True)
            _PENDING.discard(tmp)
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


@contextlib.contextmanager
def temporary_folder(beside, tag: str) -> Iterator[Path]:
    """A :func:`fresh_folder` registered as half-written while the block runs (see
    :func:`abandon`) and removed when the block ends if it is still there (not renamed
    into place inside a :func:`renaming` block)."""
    with _LOCK:
        folder = fresh_folder(beside, tag)
        _PENDING.add(folder)
    try:
        yield folder
    finally:
        with _LOCK:
            shutil.rmtree(folder, ignore_errors=True)
            _PENDING.discard(folder)


@contextlib.contextmanager
def renaming() -> Iterator[None]:
    """Hold the lock of renames into place: :func:`abandon` waits until the block ends."""
    with _LOCK:
        yield


def abandon() -> list[Path]:
    """Remove every temporary file and folder being written and keep any other from being
    created or renamed into place (the lock is kept): for an exit on interrupt, called from
    any thread. Returns the paths removed."""
    _LOCK.acquire()  # never released: the process is about to end
    removed = sorted(_PENDING)
    for path in removed:
        for _ in range(50):  # the writing thread may still be adding files to a folder
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            if not (path.exists() or path.is_symlink()):
                break
            time.sleep(0.01)
    _PENDING.clear()
    return removed
