"""The result of a calibration run: :class:`SBCResult`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from multilevel.calibration import _uniformity

__all__ = ["SBCResult"]

#: Family-wise false-alarm rate of :meth:`SBCResult.summary`'s flags by default.
ALPHA = 0.01
_SHOWN = ("mean_rank", "sd_rank", "p_ecdf", "p_chisq", "p_value", "miscalibrated", "reason")


@dataclass(frozen=True, eq=False)
class SBCResult:
    """Ranks of the true parameter values among the posterior draws, one row per simulation.

    For a calibrated model (right likelihood, right priors, a sampler that samples the
    posterior) every column of :attr:`ranks` is uniform on ``0..L``.

    Attributes
    ----------
    ranks : pandas.DataFrame
        Simulation × parameter: the number of the ``L`` kept posterior draws below the true
        value; only simulations whose fit succeeded.
    L : int
        Draws per rank: ranks lie in ``0..L``.
    truth : pandas.DataFrame
        Simulation × parameter: the values drawn from the priors (every simulation).
    diagnostics : pandas.DataFrame
        Per simulation: ``redraws`` (draws from the priors rejected for giving invalid data),
        ``divergences``, ``max_r_hat``, ``min_ess_bulk`` (over the ranked parameters),
        ``suggested_thin``, ``seconds``, ``fit_seed`` and ``error`` (empty, or why the fit
        failed: its simulation then has no ranks).
    thin : int
        The thinning step of each chain's draws.
    settings : Mapping
        ``method``, ``engine`` (its name) and ``reason`` (why it was chosen), ``chains``, ``draws``,
        ``warmup``, ``seed`` (the run's entropy: passing it as ``seed`` repeats the run),
        ``n_sims``, ``fit_priors``.
    """

    ranks: pd.DataFrame
    L: int
    truth: pd.DataFrame
    diagnostics: pd.DataFrame
    thin: int
    settings: Mapping[str, object] = field(default_factory=dict)

    def summary(self, alpha: float = ALPHA) -> pd.DataFrame:
        """Uniformity of each parameter's ranks.

        Parameters
        ----------
        alpha : float
            Family-wise false-alarm rate: a parameter is flagged when its p-value is below
            ``alpha / P`` with ``P`` the number of ranked parameters (Bonferroni). Default
            0.01: a calibrated model has at most a 1% chance of any flag.

        Returns
        -------
        pandas.DataFrame
            Indexed by parameter: ``mean_rank`` and ``sd_rank`` (of ``rank / L``; 0.5 and
            0.289 for uniform ranks), ``p_ecdf`` (simultaneous ECDF test, Säilynoja et al.
            2022), ``p_chisq`` (chi-square on rank bins), ``p_value`` (``2 * min`` of the
            two, Bonferroni), ``miscalibrated`` (``p_value < alpha / P``) and ``reason``
            (the departure in words). ``attrs`` holds ``alpha``, ``threshold``, ``n``, ``L``.
            See :mod:`multilevel.calibration._uniformity`.
        """
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
        L, columns = self.L, list(self.ranks.columns)
        threshold = alpha / max(len(columns), 1)
        rows = []
        for name in columns:
            r = self.ranks[name].to_numpy()
            if r.size < 2:
                rows.append(dict.fromkeys(_SHOWN, np.nan) | {"miscalibrated": False})
                continue
            u = r / L
            p_ecdf = _uniformity.ecdf_pvalue(r, L)
            p_chisq = _uniformity.chisq_pvalue(r, L)
            p = min(1.0, 2 * min(p_ecdf, p_chisq))
            flagged = bool(p < threshold)
            rows.append(
                {
                    "mean_rank": float(u.mean()),
                    "sd_rank": float(u.std(ddof=1)),
                    "p_ecdf": p_ecdf,
                    "p_chisq": p_chisq,
                    "p_value": p,
                    "miscalibrated": flagged,
                    "reason": _uniformity.describe(r, L) if flagged else "consistent with uniform",
                }
            )
        table = pd.DataFrame(rows, index=pd.Index(columns, name="parameter"), columns=_SHOWN)
        table.attrs.update(alpha=alpha, threshold=threshold, n=len(self.ranks), L=L)
        return table

    @property
    def miscalibrated(self) -> tuple[str, ...]:
        """The parameters flagged by :meth:`summary` at its default ``alpha``."""
        table = self.summary()
        return tuple(table.index[table["miscalibrated"].to_numpy(dtype=bool)])

    def plot(self, kind: str = "ecdf_diff", parameters=None, *, ncols: int = 3):
        """Plot the ranks; returns the matplotlib figure.

        Parameters
        ----------
        kind : {"ecdf_diff", "hist"}
            ``"ecdf_diff"``: the ECDF of the scaled ranks minus the uniform CDF, with the
            simultaneous 95% band (Säilynoja et al. 2022); ``"hist"``: rank histograms with
            each bin's pointwise 99% binomial band.
        parameters : sequence of str, optional
            Which parameters (default all ranked ones).
        ncols : int
            Panels per row.
        """
        from multilevel.calibration.plots import plot_ranks

        return plot_ranks(self, kind=kind, parameters=parameters, ncols=ncols)

    def _header(self) -> str:
        d = self.diagnostics
        failed = int((d["error"] != "").sum()) if "error" in d else 0
        divergences = int(np.nansum(d.get("divergences", pd.Series(dtype=float))))
        redraws = int(d["redraws"].sum()) if "redraws" in d else 0
        return (
            f"SBC: {len(self.ranks)} simulations with ranks (of {len(d)}), "
            f"L = {self.L} draws per rank (thin {self.thin}), "
            f"engine {self.settings.get('engine', '?')}\n"
            f"redraws {redraws}, failed fits {failed}, divergences {divergences}"
        )

    def __repr__(self) -> str:
        table = self.summary()
        flagged = table.index[table["miscalibrated"].to_numpy(dtype=bool)]
        verdict = f"miscalibrated: {', '.join(flagged)}" if len(flagged) else "no parameter flagged"
        number = "{:.3f}".format
        formatters = {c: number for c in ("mean_rank", "sd_rank")}
        formatters |= {c: "{:.2g}".format for c in ("p_ecdf", "p_chisq", "p_value")}
        body = table.to_string(formatters=formatters)
        return (
            f"{self._header()}\n{body}\n"
            f"{verdict} (p_value < alpha / P = {table.attrs['threshold']:.2g}, alpha = "
            f"{table.attrs['alpha']:g})"
        )

    def __rich__(self):
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        summary = self.summary()
        table = Table(title=None)
        table.add_column("parameter")
        for column in _SHOWN:
            table.add_column(column, justify="left" if column == "reason" else "right")
        for name, row in summary.iterrows():
            style = "bold red" if row["miscalibrated"] else None
            cells = [f"{row[c]:.3g}" if isinstance(row[c], float) else str(row[c]) for c in _SHOWN]
            table.add_row(str(name), *cells, style=style)
        note = f"flagged when p_value < alpha / P = {summary.attrs['threshold']:.2g}"
        return Group(Text(self._header()), table, Text(note))
