"""The library's folder in the user's cache: compiled code kept between processes.

``$MULTILEVEL_CACHE`` when set, else the platform's user cache folder
(``~/.cache/multilevel`` on Linux, following ``XDG_CACHE_HOME``; ``~/Library/Caches/multilevel``
on macOS; ``%LOCALAPPDATA%\\multilevel\\Cache`` on Windows). It holds one subfolder per kind of
compiled code (:data:`KINDS`): ``jax`` (JAX's persistent compilation cache, see
:mod:`multilevel.engines._compile_cache`) and ``stan`` (compiled Stan programs). Anything in it
can be deleted at any time; it is rebuilt on demand. ``multilevel cache`` shows it and
``multilevel cache --clear`` empties it.

Examples
--------
>>> import os, tempfile
>>> from multilevel import user_cache
>>> os.environ["MULTILEVEL_CACHE"] = tempfile.mkdtemp()
>>> user_cache.usage()["jax"]["bytes"]
0
>>> del os.environ["MULTILEVEL_CACHE"]
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["ENV", "KINDS", "clear", "folder", "root", "usage"]

#: The environment variable that moves the cache.
ENV = "MULTILEVEL_CACHE"
#: What the cache holds: subfolder -> what it is.
KINDS = {
    "jax": "compiled JAX programs (the NUTS, exact and nested-Laplace engines)",
    "stan": "compiled Stan programs (method='stan')",
}


def root() -> Path:
    """The cache folder: ``$MULTILEVEL_CACHE``, else the user cache folder of the platform."""
    chosen = os.environ.get(ENV)
    if chosen:
        return Path(chosen).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("multilevel", appauthor=False))


def folder(kind: str) -> Path:
    """The subfolder for one kind of compiled code (a key of :data:`KINDS`), not created."""
    if kind not in KINDS:
        raise ValueError(f"no cache kind {kind!r}; the kinds are {sorted(KINDS)}")
    return root() / kind


def usage() -> dict[str, dict]:
    """Per kind: its folder, its files and their bytes."""
    out = {}
    for kind in KINDS:
        path = folder(kind)
        files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else []
        out[kind] = {
            "path": str(path),
            "files": len(files),
            "bytes": sum(_size(p) for p in files),
        }
    return out


def clear(kinds=None) -> int:
    """Delete the cached code of ``kinds`` (default: all); return the bytes freed.

    A process that is using the cache at the time recompiles what it misses.
    """
    freed = 0
    for kind in KINDS if kinds is None else kinds:
        path = folder(kind)
        if path.is_dir():
            freed += sum(_size(p) for p in path.rglob("*") if p.is_file())
            shutil.rmtree(path, ignore_errors=True)
    return freed


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # removed meanwhile by another process
        return 0
