"""JAX's persistent compilation cache in the user's cache folder, so that a model compiled
once is not compiled again by a later process (a command-line run, a restarted notebook, a
Dask worker).

:func:`enable` points JAX's own cache (``jax_compilation_cache_dir``) at
``user_cache.folder("jax")/<host>``, once per process, before an engine compiles. JAX keys
each entry on the lowered program (every shape, dtype and constant), the compile options,
the devices, the XLA flags and the versions of JAX and jaxlib; the folder adds the machine
and its CPU's instruction sets, so that a home folder shared by unlike machines never hands
one machine code built for another. Entries are written whatever their compile time (the
engines' programs compile in 0.01-2 s each, below JAX's default threshold of 1 s).

The cache is bounded (``MULTILEVEL_JAX_CACHE_MB``, default 1024 MB): past it, JAX evicts the
least recently used entries. With a bound JAX reads and writes under a file lock, so
processes that share the folder never see half an entry. ``MULTILEVEL_JAX_CACHE=0`` switches
it off; a cache folder the user gave JAX (``JAX_COMPILATION_CACHE_DIR``) is left as it is.
:func:`counts` tells how many programs came from the cache and how many were compiled.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import threading
from pathlib import Path

__all__ = ["ENV_SIZE", "ENV_SWITCH", "counts", "enable", "enabled_folder", "host_folder"]

#: ``0``, ``off``, ``false`` or ``no`` switch the cache off.
ENV_SWITCH = "MULTILEVEL_JAX_CACHE"
#: Size bound in MB.
ENV_SIZE = "MULTILEVEL_JAX_CACHE_MB"
DEFAULT_MB = 1024

_HIT = "/jax/compilation_cache/cache_hits"
_MISS = "/jax/compilation_cache/cache_misses"
_counts = {_HIT: 0, _MISS: 0}
_lock = threading.Lock()
_enabled: Path | None = None


def _switched_off() -> bool:
    return os.environ.get(ENV_SWITCH, "").strip().lower() in ("0", "off", "false", "no")


def _size_bytes() -> int:
    text = os.environ.get(ENV_SIZE, "").strip()
    if not text:
        return DEFAULT_MB << 20
    try:
        megabytes = float(text)
    except ValueError:
        from multilevel.errors import EngineError

        raise EngineError(
            f"{ENV_SIZE}={text!r} is not a number: give the cache's size bound in MB "
            f"(default {DEFAULT_MB}), or {ENV_SWITCH}=0 to switch the cache off"
        ) from None
    return max(int(megabytes * (1 << 20)), 1)


@functools.cache
def _cpu_fingerprint() -> str:
    """The machine and its CPU's instruction sets (Linux: the ``flags`` of /proc/cpuinfo)."""
    described = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith(("flags", "Features")):
                    described = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    digest = hashlib.sha256(described.encode()).hexdigest()[:12]
    return f"{platform.machine() or 'cpu'}-{digest}"


def host_folder() -> Path:
    """This machine's folder of the JAX cache."""
    from multilevel import user_cache

    return user_cache.folder("jax") / _cpu_fingerprint()


def enable() -> Path | None:
    """Use the persistent cache from now on in this process; return its folder, or None
    when it is off (:data:`ENV_SWITCH`) or the user set JAX's own. Cheap after the first
    call."""
    global _enabled
    with _lock:
        if _enabled is not None:
            return _enabled
        import jax
        from jax import monitoring

        if _switched_off() or jax.config.jax_compilation_cache_dir:
            return None
        path = host_folder()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:  # a read-only home: compile as before
            return None
        jax.config.update("jax_compilation_cache_max_size", _size_bytes())
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_compilation_cache_dir", str(path))
        monitoring.register_event_listener(_count)
        _enabled = path
        return path


def enabled_folder() -> Path | None:
    """The cache folder this process uses, or None (off, or no engine has compiled yet)."""
    return _enabled


def _count(event: str, **_) -> None:
    if event in _counts:
        _counts[event] += 1


def counts() -> tuple[int, int]:
    """Programs loaded from the cache and programs compiled and written to it, so far in
    this process."""
    return _counts[_HIT], _counts[_MISS]
