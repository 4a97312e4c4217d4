"""The HTML report of a fit: one self-contained file with the model in words, the data,
priors, engine, diagnostics, estimates and plots.

>>> import multilevel as ml                                  # doctest: +SKIP
>>> from multilevel.report import write_report               # doctest: +SKIP
>>> write_report(fit, "report.html")                         # doctest: +SKIP

:func:`build_report` collects the content (a :class:`Report`), :func:`render` turns it into
HTML through one template, :func:`write_report` does both and writes the file atomically.
"""

from __future__ import annotations

from pathlib import Path

from multilevel.atomic import atomic_open
from multilevel.report.content import SECTIONS, Figure, Report, build_report, data_summary
from multilevel.report.html import render

__all__ = ["SECTIONS", "Figure", "Report", "build_report", "data_summary", "render", "write_report"]


def write_report(fit, path, **kwargs) -> Path:
    """Build, render and write the report of ``fit`` to ``path`` (an ``.html`` file).

    The file is written under a temporary name beside ``path`` and renamed, so a reader
    never sees half a report. Keyword arguments go to :func:`build_report`.

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    text = render(build_report(fit, **kwargs))
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path
