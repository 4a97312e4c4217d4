"""A terminal progress bar fed from inside compiled sampling loops.

The compiled loop (:mod:`._driver`) calls :func:`tick` through ``jax.debug.callback`` about a
hundred times per chain with the iteration number; the callback always exists in the compiled
code (so fits with and without a bar share it) and does nothing unless a bar is open. Chains
may run one after another (threads), side by side (devices) or in one vectorized loop, so the
bar counts iterations summed over chains.
"""

from __future__ import annotations

import contextlib

__all__ = ["sampling_progress", "tick"]

_HANDLER = None  # the open bar's update function, or None


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
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    total = (warmup + draws) * chains
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(f"{label}: compiling", total=total)
    done = 0

    def update(iterations: int, iteration: int) -> None:
        nonlocal done
        done = min(done + iterations, total)
        phase = "warmup" if iteration <= warmup else "sampling"
        bar.update(task, completed=done, description=f"{label}: {phase}")

    with bar:
        _HANDLER = update
        try:
            yield
        finally:
            _HANDLER = None
