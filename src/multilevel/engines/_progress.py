"""Progress of the long steps of a fit: a bar fed from inside compiled sampling loops, and
labelled stages (compiling, sampling, drawing group effects, writing) for the rest.

The compiled loop (:mod:`._driver`) calls :func:`tick` through ``jax.debug.callback`` about a
hundred times per chain with the iteration number; the callback always exists in the compiled
code (so fits with and without a bar share it) and does nothing unless a bar is open. Chains
may run one after another (threads), side by side (devices) or in one vectorized loop, so the
bar counts iterations summed over chains.

On a terminal (or in Jupyter) both are rich displays on standard error that vanish when done;
elsewhere (a log file, a pipe) each stage and phase is one line, ``LABEL: what``. A sampling
bar opened while :func:`stages` shows pauses the stages' display.
"""

from __future__ import annotations

import contextlib
import sys

__all__ = ["sampling_progress", "stages", "tick", "counting_bar"]

_HANDLER = None  # the open bar's update function, or None
_LIVE = None  # the rich display of the open stages, or None


def _console():
    """The rich console on standard error, and whether it can show live displays."""
    from rich.console import Console

    console = Console(stderr=True)
    return console, console.is_terminal or console.is_jupyter


def counting_bar(console):
    """A rich bar that counts (``12/100``), shows the elapsed and remaining time, and vanishes
    when done: the sampling bar's, and the one over the simulations of a calibration run."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def _line(text: str) -> None:
    # one write per line (print writes the text and its newline apart): an interrupt that
    # silences the output between them would leave half a line
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


@contextlib.contextmanager
def stages(progress: bool, label: str):
    """Show which step of a long task runs (if ``progress``): yields ``step(text)``.

    Examples
    --------
    >>> with stages(False, "exact") as step:
    ...     step("compiling")
    """
    global _LIVE
    if not progress:
        yield lambda text: None
        return
    console, live = _console()
    if not live:
        yield lambda text: _line(f"{label}: {text}")
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    display = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task = display.add_task(label, total=None)

    def step(text: str) -> None:
        display.update(task, description=f"{label}: {text}")

    outer, _LIVE = _LIVE, display
    try:
        with display:
            yield step
    finally:
        _LIVE = outer


def tick(iterations: int, iteration) -> None:
    """Report ``iterations`` more iterations done (summed over chains), the last being
    iteration ``iteration`` (0-based, warmup first) of its chain."""
    handler = _HANDLER
    if handler is not None:
        handler(iterations, int(iteration) + 1)


@contextlib.contextmanager
def sampling_progress(progress: bool, label: str, warmup: int, draws: int, chains: int = 1):
    """Show a bar of the iterations of all chains while the block runs (if ``progress``).

    Parameters
    ----------
    progress : bool
        Show the bar on standard error; with ``False`` nothing is shown.
    label : str
        What is sampled, e.g. ``"NUTS, 4 chains"``.
    warmup, draws : int
        Iterations per chain of each phase.
    chains : int
        Number of chains.

    Examples
    --------
    >>> with sampling_progress(False, "NUTS", 10, 10, chains=2):
    ...     tick(5, 4)
    """
    global _HANDLER
    if not progress:
        yield
        return
    console, live = _console()
    if not live:
        yield from _sampling_lines(label, warmup, draws, chains)
        return
    total = (warmup + draws) * chains
    bar = counting_bar(console)
    task = bar.add_task(f"{label}: compiling", total=total)
    done = 0

    def update(iterations: int, iteration: int) -> None:
        nonlocal done
        done = min(done + iterations, total)
        phase = "warmup" if iteration <= warmup else "sampling"
        bar.update(task, completed=done, description=f"{label}: {phase}")

    paused = _LIVE
    if paused is not None:
        paused.stop()  # one live display at a time
    try:
        with bar:
            _HANDLER = update
            try:
                yield
            finally:
                _HANDLER = None
    finally:
        if paused is not None:
            paused.start()


def _sampling_lines(label: str, warmup: int, draws: int, chains: int):
    """:func:`sampling_progress` away from a terminal: a line per phase."""
    global _HANDLER
    _line(f"{label}: compiling")
    shown = {"compiling"}

    def update(iterations: int, iteration: int) -> None:
        # each phase once, in order (chains in threads report in any order)
        for phase in ("warmup", "sampling")[: 1 if iteration <= warmup else 2]:
            if phase not in shown:
                shown.add(phase)
                _line(f"{label}: {phase}")

    _HANDLER = update
    try:
        yield
    finally:
        _HANDLER = None
