"""matplotlib figures for fitted models (imported lazily: plotting is optional)."""

from __future__ import annotations

import numpy as np

__all__ = ["shrinkage_plot"]


def _figure(ax, size=(7.0, 5.0)):
    import matplotlib

    if ax is not None:
        return ax.figure, ax
    matplotlib.use("Agg", force=False) if matplotlib.get_backend() == "" else None
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.add_subplot()


def shrinkage_plot(groups, population, *, parameter, group, ax=None, label_groups=0):
    """Own estimate vs partially pooled posterior mean, one point per group.

    ``groups`` is a table with columns ``n, estimate, mean, q5, q95, shrinkage``. Groups are
    drawn with 90% intervals when there are at most 200 of them.
    """
    fig, ax = _figure(ax)
    x, y = groups["estimate"].to_numpy(), groups["mean"].to_numpy()
    size = groups["n"].to_numpy(float)
    area = 12 + 180 * np.sqrt(size / size.max())
    if len(groups) <= 200:
        ax.vlines(x, groups["q5"], groups["q95"], color="0.75", lw=1, zorder=1)
    points = ax.scatter(
        x,
        y,
        s=area,
        c=groups["shrinkage"],
        cmap="viridis",
        vmin=0,
        vmax=1,
        edgecolor="k",
        linewidth=0.4,
        zorder=2,
    )
    lo, hi = np.nanmin([x.min(), y.min()]), np.nanmax([x.max(), y.max()])
    ax.plot([lo, hi], [lo, hi], "--", color="0.4", lw=1, label="no pooling")
    ax.axhline(population, ls=":", color="C3", lw=1.5, label=f"population mean {population:.3g}")
    for label, xi, yi in list(zip(groups.index, x, y, strict=True))[:label_groups]:
        ax.annotate(str(label), (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points")
    fig.colorbar(points, ax=ax, label="shrinkage toward the population")
    ax.set_xlabel(f"group's own estimate of {parameter}")
    ax.set_ylabel(f"posterior mean of {parameter} (90% interval)")
    ax.set_title(f"Shrinkage of {len(groups)} {group} groups (point size = group size)")
    ax.legend(loc="upper left", fontsize=8)
    return fig
