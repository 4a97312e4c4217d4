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
import threading
import time

__all__ = ["Phases", "sampling_progress", "stages", "tick", "counting_bar"]

_HANDLER = None  # the open bar's update function, or None
_LIVE = None  # the rich display of the open stages, or None
_PHASES = None  # the open sampling block's Phases, or None


class Phases:
    """When a sampling block started, when its compiled loop first reported back (the end of
    tracing, compiling or loading from the cache) and when it ended; and how many programs
    were compiled or loaded from the persistent cache meanwhile."""

    def __init__(self) -> None:
        from multilevel.engines._compile_cache import counts

        self.start = time.perf_counter()
        self.first_tick: float | None = None
        self.end: float | None = None
        self._counts = counts()

    def programs(self) -> tuple[int, int]:
        """Programs loaded from the cache and programs compiled, since the block started."""
        from multilevel.engines._compile_cache import counts

        hits, misses = counts()
        return hits - self._counts[0], misses - self._counts[1]

    def compiled(self) -> str:
        """``compiled in 2.1 s (4 of 5 programs from the cache)``, once the loop runs."""
        seconds = (self.first_tick or time.perf_counter()) - self.start
        hits, misses = self.programs()
        cached = f" ({hits} of {hits + misses} programs from the cache)" if hits else ""
        return f"compiled in {seconds:.1f} s{cached}"

    def timings(self) -> dict[str, float]:
        """``compile`` (until the loop first reported) and ``warmup_and_sampling`` (the rest);
        all of it is ``warmup_and_sampling`` for a loop that never reported."""
        end = self.end or time.perf_counter()
        if self.first_tick is None:
            return {"warmup_and_sampling": end - self.start}
        return {
            "compile": self.first_tick - self.start,
            "warmup_and_sampling": end - self.first_tick,
        }


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
    phases = _PHASES
    if phases is not None and phases.first_tick is None:
        phases.first_tick = time.perf_counter()
    handler = _HANDLER
    if handler is not None:
        handler(iterations, int(iteration) + 1)


@contextlib.contextmanager
def sampling_progress(
    progress: bool, label: str, warmup: int, draws: int, chains: int = 1, *, compiles: bool = True
):
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
    compiles : bool
        Whether the loop is compiled first (JAX): the bar says ``compiling`` until the loop's
        first report, then how long it took. A loop in Python (``False``) starts at warmup.

    Yields
    ------
    Phases
        The compile time (until the loop's first report) and the sampling time.

    Examples
    --------
    >>> with sampling_progress(False, "NUTS", 10, 10, chains=2) as phases:
    ...     tick(5, 4)
    >>> sorted(phases.timings())
    ['compile', 'warmup_and_sampling']
    """
    global _PHASES
    phases, outer = Phases(), _PHASES
    _PHASES = phases
    try:
        if not progress:
            yield phases
        else:
            with _sampling_display(label, warmup, draws, chains, phases if compiles else None):
                yield phases
    finally:
        phases.end = time.perf_counter()
        _PHASES = outer


@contextlib.contextmanager
def _sampling_display(label: str, warmup: int, draws: int, chains: int, phases: Phases | None):
    global _HANDLER
    console, live = _console()
    if not live:
        with _sampling_lines(label, warmup, phases):
            yield
        return
    total = (warmup + draws) * chains
    bar = counting_bar(console)
    task = bar.add_task(f"{label}: compiling", total=total)
    done = 0

    compiled = ""

    def update(iterations: int, iteration: int) -> None:
        nonlocal done, compiled
        compiled = compiled or phases.compiled()  # at the first report
        done = min(done + iterations, total)
        phase = "warmup" if iteration <= warmup else "sampling"
        bar.update(task, completed=done, description=f"{label}: {phase}; {compiled}")

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


@contextlib.contextmanager
def _sampling_lines(label: str, warmup: int, phases: Phases | None):
    """:func:`sampling_progress` away from a terminal: a line per phase."""
    global _HANDLER
    if phases is not None:
        _line(f"{label}: compiling")
    shown = set()
    lock = threading.Lock()

    def update(iterations: int, iteration: int) -> None:
        # each phase once, in order (chains in threads report in any order, at once)
        with lock:
            for phase in ("warmup", "sampling")[: 1 if iteration <= warmup else 2]:
                if phase not in shown:
                    if not shown and phases is not None:
                        _line(f"{label}: {phases.compiled()}")
                    shown.add(phase)
                    _line(f"{label}: {phase}")

    _HANDLER = update
    try:
        yield
    finally:
        _HANDLER = None
