"""A progress bar over the simulations of a calibration run.

On a terminal (or in Jupyter) a rich bar on standard error that vanishes when done, as the
fits' bars (:mod:`multilevel.engines._progress`); elsewhere (a log file, a pipe) one line
per tenth of the run, ``sbc: 20/100 simulations``.

Examples
--------
>>> with progress_bar(False, 3) as advance:
...     advance()
"""

from __future__ import annotations

import contextlib
import sys

__all__ = ["progress_bar"]


@contextlib.contextmanager
def progress_bar(enabled: bool, total: int, label: str = "sbc"):
    """Yield ``advance()``, to call once per finished simulation."""
    if not enabled:
        yield lambda: None
        return
    from rich.console import Console

    console = Console(stderr=True)
    if not (console.is_terminal or console.is_jupyter):
        done = [0]
        step = max(1, total // 10)

        def advance() -> None:
            done[0] += 1
            if done[0] % step == 0 or done[0] == total:
                sys.stderr.write(f"{label}: {done[0]}/{total} simulations\n")
                sys.stderr.flush()

        yield advance
        return
    from multilevel.engines._progress import counting_bar

    display = counting_bar(console)
    task = display.add_task(f"{label}: simulations", total=total)
    with display:
        yield lambda: display.advance(task)
