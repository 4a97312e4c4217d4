"""The figures of a report: drawn here (:func:`draw_figures`), or by a helper process that
starts with the command and draws them while this process writes the rest of the run
(:class:`multilevel.cli._figure_worker.FigureWorker`, which runs :func:`_serve`).

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

from multilevel.report.content import Figure

__all__ = ["draw_figures"]


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


def _serve() -> None:
    """The worker's loop: for each path read, the pickled figures of the fit saved there, or
    None when drawing failed."""
    import pickle
    import sys

    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever else prints goes where stderr goes (nowhere)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    _warm_up()

    for line in sys.stdin.buffer:
        try:
            figures = _draw_saved(line.decode().rstrip("\n"))
        except Exception:
            figures = None
        pickle.dump(figures, out)
        out.flush()


def _warm_up() -> None:
    """In the worker, while the fit runs: the imports that drawing needs, and one small
    figure drawn (matplotlib loads its fonts and caches its text layout at the first)."""
    from matplotlib.figure import Figure as Canvas

    import multilevel.results.figures  # noqa: F401
    import multilevel.results.predict  # noqa: F401  (the predictive check's replicated data)
    import multilevel.results.storage  # noqa: F401
    from multilevel.report.images import png_bytes

    canvas = Canvas(figsize=(2.0, 1.5), layout="constrained")
    axes = canvas.subplots()
    axes.plot([0.0, 1.0])
    axes.set_title("warm-up", fontsize=9)
    png_bytes(canvas)


def _draw_saved(path: str) -> tuple[Figure, ...]:
    """In the worker: the figures of the fit saved at ``path``."""
    from multilevel.results.storage import load_fit

    return draw_figures(load_fit(path))
