"""The figures of a report: drawn here (:func:`draw_figures`), or by a helper process that
starts with the command and draws them while this process writes the rest of the run
(:class:`FigureWorker`).

Drawing is most of the cost of writing a run folder (matplotlib's import, its layout of
every tick label: 0.5-1 s of a radon run), and none of it needs the fitting process: the
worker imports matplotlib while the engine fits, reads the saved fit (``fit.mlfit``) when it
is written and hands back the figures as PNG data URIs, the same bytes as drawn here. When
the machine has one core, or the worker fails in any way, the figures are drawn here.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

from multilevel.report.content import Figure

__all__ = ["FigureWorker", "draw_figures"]


def _draw(id_: str, title: str, caption: str, make) -> Figure:
    """Draw a figure; a ValueError from the plot (no such plot for this model) becomes a
    note in the report instead."""
    from multilevel.report.images import png_data_uri

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fig = make()
    except ValueError as err:
        return Figure(id_, title, caption, None, f"Not available for this model: {err}")
    return Figure(id_, title, caption, png_data_uri(fig))


def draw_figures(fit, progress: Callable[[str], None] | None = None) -> tuple[Figure, ...]:
    """The report's figures of a posterior fit: shrinkage, group-level effects, posterior
    predictive check, trace and rank plots (``progress`` is called before each)."""
    from multilevel.results import figures as plots

    step = progress or (lambda label: None)
    spec, post = fit.spec, fit.posterior
    figures = []
    if fit.groups:
        first = spec.design.blocks[0].name if spec.design.blocks else fit.groups[0]
        step("shrinkage plot")
        figures.append(
            _draw(
                "shrinkage",
                "Shrinkage",
                f"Each {first} level's own estimate (its rows only, x) against its partially "
                "pooled posterior mean (y) with 90% interval; point size is the level's number "
                "of rows. Small levels are pulled toward the population value (dotted line); "
                "the dashed diagonal is no pooling.",
                lambda: plots.shrinkage_plot(fit, first),
            )
        )
        step("caterpillar plot")
        figures.append(
            _draw(
                "effects",
                "Group-level effects",
                "Caterpillar plot: each level's deviation from the population-level "
                "coefficient (posterior mean and 90% interval), sorted. Find a level by "
                "name in the table of estimates per level below.",
                lambda: plots.effects_plot(fit),
            )
        )
    else:
        for id_, title_ in (("shrinkage", "Shrinkage"), ("effects", "Group-level effects")):
            figures.append(Figure(id_, title_, "", None, "The model has no group-level effects."))
    step("posterior predictive check")
    figures.append(
        _draw(
            "ppc",
            "Posterior predictive check",
            (
                "The observed frequency of each value (grey bars) against the frequencies in "
                "data sets replicated from the posterior (blue: mean and 90% interval)."
                if spec.family.discrete
                else "The observed responses' density (black) against the densities of data "
                "sets replicated from the posterior (blue)."
            )
            + " Systematic differences point to a misfit of the family or the formula.",
            lambda: plots.ppc_plot(fit),
        )
    )
    step("trace and rank plots")
    mcmc = bool(post.sample_stats)
    figures.append(
        _draw(
            "trace",
            "Trace and rank plots",
            (
                "Left: each chain's draws in order (they should overlap, without trends). "
                "Right: rank histograms per chain (flat when the chains agree)."
                if mcmc
                else "The draws are independent (exact engine, no Markov chain), so there is "
                "no trace to inspect; rank histograms per chain should be flat."
            ),
            lambda: plots.trace_rank_plot(fit),
        )
    )
    return tuple(figures)


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
        package = str(Path(__file__).resolve().parents[2])  # the multilevel being run
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [package, os.environ.get("PYTHONPATH")])),
            "MPLBACKEND": "Agg",
        }
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

    def draw(self, fit_path) -> Callable[[], tuple[Figure, ...] | None]:
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


def _serve() -> None:
    """The worker's loop: for each path read, the pickled figures of the fit saved there, or
    None when drawing failed."""
    import pickle
    import sys

    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever else prints goes where stderr goes (nowhere)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    import matplotlib.figure  # noqa: F401  (now: it overlaps the fit)

    import multilevel.results.figures  # noqa: F401
    import multilevel.results.storage  # noqa: F401

    for line in sys.stdin.buffer:
        try:
            figures = _draw_saved(line.decode().rstrip("\n"))
        except Exception:
            figures = None
        pickle.dump(figures, out)
        out.flush()


def _draw_saved(path: str) -> tuple[Figure, ...]:
    """In the worker: the figures of the fit saved at ``path``."""
    from multilevel.results.storage import load_fit

    return draw_figures(load_fit(path))
