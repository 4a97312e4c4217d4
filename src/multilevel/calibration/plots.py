"""Plots of SBC ranks: ECDF differences with simultaneous bands, and rank histograms.

matplotlib is imported when a plot is drawn (it is an optional dependency).
"""

from __future__ import annotations

import math

import numpy as np

from multilevel.calibration import _uniformity

__all__ = ["plot_ranks"]

_KINDS = ("ecdf_diff", "hist")


def plot_ranks(result, *, kind: str = "ecdf_diff", parameters=None, ncols: int = 3):
    """One panel per parameter of an :class:`~multilevel.calibration.SBCResult`.

    ``"ecdf_diff"``: :math:`F(p) - p` of the ranks at the ECDF test's cut points, in the
    simultaneous 95% band of uniform ranks (grey); a curve leaving the band fails the test at
    the 5% level for that parameter. ``"hist"``: counts of the ranks in the chi-square test's
    bins, the grey band each bin's pointwise 99% binomial interval and the line its expected
    count. Flagged parameters (:meth:`SBCResult.summary`) have red titles.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        An unknown ``kind`` or parameter.
    """
    if kind not in _KINDS:
        raise ValueError(f"unknown kind {kind!r}; valid kinds: {', '.join(_KINDS)}")
    names = list(result.ranks.columns) if parameters is None else list(parameters)
    unknown = [n for n in names if n not in result.ranks.columns]
    if unknown:
        raise ValueError(
            f"no ranks for {', '.join(map(repr, unknown))}; ranked parameters: "
            + ", ".join(result.ranks.columns)
        )
    if not names:
        raise ValueError("no parameters to plot")
    import matplotlib.pyplot as plt

    flagged = set(result.miscalibrated)
    ncols = max(1, min(ncols, len(names)))
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.6 * nrows), squeeze=False)
    n, L = len(result.ranks), result.L
    for ax, name in zip(axes.ravel(), names, strict=False):
        ranks = result.ranks[name].to_numpy()
        if kind == "ecdf_diff":
            p, lower, upper = _uniformity.ecdf_band(n, L, 0.95)
            _, F = _uniformity.ecdf(ranks, L)
            ax.fill_between(p, lower - p, upper - p, color="0.85", step="mid", lw=0)
            ax.axhline(0.0, color="0.5", lw=0.8)
            ax.plot(p, F - p, color="C0", drawstyle="steps-mid")
            ax.set_xlabel("scaled rank")
            ax.set_ylabel("ECDF difference")
        else:
            B = _uniformity.bins(n, L)
            counts = np.bincount((ranks.astype(np.int64) * B) // (L + 1), minlength=B)
            lower, upper = _uniformity.histogram_band(n, L, 0.99)
            edges = np.arange(B + 1) / B
            ax.bar(edges[:-1], counts, width=1 / B, align="edge", color="C0", alpha=0.8)
            ax.stairs(upper, edges, baseline=lower, fill=True, color="0.6", alpha=0.4)
            ax.stairs(n * _uniformity.bin_probabilities(L, B), edges, color="0.3", lw=0.8)
            ax.set_xlabel("scaled rank")
            ax.set_ylabel("count")
        ax.set_title(name, fontsize=9, color="red" if name in flagged else "black")
    for ax in axes.ravel()[len(names) :]:
        ax.set_visible(False)
    fig.suptitle(
        f"SBC: {n} simulations, L = {L}"
        + (" (95% simultaneous bands)" if kind == "ecdf_diff" else " (99% bands per bin)"),
        fontsize=10,
    )
    fig.tight_layout()
    return fig
