"""Ctrl-C ends the ``multilevel`` program at once and cleanly, whenever it comes.

Python turns SIGINT into a ``KeyboardInterrupt`` in the main thread, between two bytecodes.
During sampling that is a poor fit: the main thread waits on chains that XLA runs in its
own threads (which go on running), or sits inside a compiled call (the interrupt waits for
it); when the exception then unwinds and the interpreter shuts down while XLA's threads are
still working, C++ static destructors run under them ("pure virtual method called", exit
-6); and a ``KeyboardInterrupt`` that lands inside third-party code may be caught there and
lost.

So the program (``main()`` run as the process's entry point) takes SIGINT over: the Python
handler does nothing, and the signal's byte, written by the C-level handler to a pipe
(:func:`signal.set_wakeup_fd`), wakes a watcher thread. The watcher points standard output
and error at the null device (the main thread runs on until the end: nothing it prints may
follow), waits for a rename into place that is under way, removes every half-written
temporary file and folder (:func:`multilevel.atomic.abandon`), prints ``interrupted`` and
ends the process with status 130 through :func:`os._exit`: no unwinding, no interpreter
shutdown, no C++ destructor.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

__all__ = ["INTERRUPTED", "end_on_interrupt", "exit_interrupted"]

#: Exit status on Ctrl-C (128 + SIGINT, as a shell reports).
INTERRUPTED = 130


def end_on_interrupt() -> bool:
    """Let SIGINT end the process through :func:`exit_interrupted` (from a watcher thread).

    Only from the main thread of a program that owns the process's signals; returns whether
    it was installed.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    try:
        signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    except (ValueError, OSError):  # pragma: no cover - not the main thread / no pipes
        os.close(read_end)
        os.close(write_end)
        return False
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    threading.Thread(target=_watch, args=(read_end,), name="interrupt", daemon=True).start()
    return True


def _watch(read_end: int) -> None:
    while True:
        data = os.read(read_end, 64)
        if not data or signal.SIGINT in data:
            break
    exit_interrupted()


def exit_interrupted() -> None:
    """Silence the rest of the program, remove what is half-written, say so and end the
    process with status 130, without running Python's or C++'s shutdown (see the module
    docstring)."""
    from multilevel.atomic import abandon

    try:
        sys.stdout.flush()
    except Exception:  # noqa: BLE001 - a closed pipe, a detached stream: nothing to flush
        pass
    terminal = _mute_output()  # the main thread runs on meanwhile: no line of its after ours
    removed = abandon()
    message = "interrupted"
    if removed:
        message += ": the files being written were removed; what was already complete is unchanged"
    try:
        if terminal is not None and os.isatty(terminal):  # past a progress bar, cursor shown
            message = "\r\x1b[2K\x1b[?25h" + message
        os.write(terminal if terminal is not None else 2, (message + "\n").encode())
    except OSError:
        pass
    os._exit(INTERRUPTED)


def _mute_output() -> int | None:
    """Point standard output and error at the null device; return a descriptor of the
    original standard error (None if that failed)."""
    try:
        saved = os.dup(2)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.close(null)
    except OSError:  # pragma: no cover - no descriptors left
        return None
    return saved
