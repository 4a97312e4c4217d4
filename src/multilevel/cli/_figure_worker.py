"""The helper process of ``multilevel fit`` that draws the report's figures
(:func:`multilevel.report.drawing.draw_figures`) from the saved fit while the command writes
the rest of the run folder. Light to import: the command starts it first, so that its imports
run while the command imports, reads and fits."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["FigureWorker"]


class FigureWorker:
    """A helper process that draws the figures of a saved fit while this one works.

    Start it early (:meth:`start`: its imports then overlap the fit), hand it the saved
    fit's path (:meth:`draw`), collect the figures (the callable :meth:`draw` returns gives
    None when the worker failed: draw them here then), :meth:`close` it at the end.

    The worker is a plain child process that reads paths on its standard input and writes
    the pickled figures on its standard output; it ends when its input closes, so it ends
    with this process however this one ends (Ctrl-C ends it at once, by ``os._exit``). It
    runs in a session of its own, so Ctrl-C at a terminal reaches this process only.

    Examples
    --------
    >>> worker = FigureWorker.start()                  # doctest: +SKIP
    >>> figures = worker.draw("run/fit.mlfit")          # doctest: +SKIP
    >>> figures()  # waits; None if the worker failed   # doctest: +SKIP
    >>> worker.close()                                  # doctest: +SKIP
    """

    def __init__(self, process) -> None:
        self._process = process

    @classmethod
    def start(cls) -> FigureWorker | None:
        """A started worker, or None on a machine with one core (nothing to overlap) or
        where no process can be started."""
        import subprocess
        import sys

        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        if (cores or os.cpu_count() or 1) < 2:
            return None
        # the child imports what this process imports (this multilevel, in this order)
        path = os.pathsep.join(str(Path(entry).absolute()) for entry in sys.path if entry)
        env = {**os.environ, "PYTHONPATH": path, "MPLBACKEND": "Agg"}
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", "from multilevel.report.drawing import _serve; _serve()"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
                start_new_session=os.name == "posix",
            )
        except OSError:
            return None
        return cls(process)

    def draw(self, fit_path) -> Callable[[], tuple | None]:
        """Start drawing the figures of the fit saved at ``fit_path``; the returned callable
        waits for them (None if the worker failed)."""
        import pickle

        process = self._process
        try:
            process.stdin.write(str(Path(fit_path).absolute()).encode() + b"\n")
            process.stdin.flush()
        except (OSError, ValueError):  # it has ended
            return lambda: None

        answer = []

        def collect():
            if not answer:  # read once: a second call must not wait for another answer
                try:
                    figures = pickle.load(process.stdout)
                except Exception:  # it ended, or wrote something else: draw them here
                    figures = None
                answer.append(figures if isinstance(figures, tuple) else None)
            return answer[0]

        return collect

    def close(self) -> None:
        """End the worker (closing its input), without waiting for it."""
        try:
            self._process.stdin.close()
        except OSError:
            pass
        self._process.stdout.close()
