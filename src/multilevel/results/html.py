"""Small HTML pieces: tables of numbers and the compact summary a notebook shows for a
:class:`~multilevel.results.fit.Fit` (``Fit._repr_html_``). Plain strings, no dependency."""

from __future__ import annotations

import html
import math

import pandas as pd

__all__ = ["escape", "format_number", "table_html", "fit_html", "point_html", "SHORT_COLUMNS"]

#: Summary columns shown in compact tables.
SHORT_COLUMNS = ("mean", "sd", "q5", "q95", "r_hat", "ess_bulk")


def escape(text) -> str:
    """``text`` with ``&``, ``<``, ``>`` and quotes escaped for HTML."""
    return html.escape(str(text), quote=True)


def format_number(value, digits: int = 3) -> str:
    """A number with ``digits`` significant digits (integers as they are, NaN as '')."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return ""
    if number != 0 and (abs(number) >= 1e6 or abs(number) < 1e-3):
        return f"{number:.{digits - 1}e}"
    if abs(number) >= 10**digits:
        return f"{number:.0f}"
    return f"{number:.{digits}g}"


#: Columns shown with a fixed number of decimals rather than significant digits: R-hat
#: (two decimals, as ArviZ and brms print it) and effective sample sizes (whole numbers).
FIXED_DECIMALS = {"r_hat": 2, "ess_bulk": 0, "ess_tail": 0}


def _cell(value, digits: int, decimals: int | None) -> str:
    if decimals is not None and isinstance(value, float) and math.isfinite(value):
        return f"{value:.{decimals}f}"
    return format_number(value, digits)


def table_html(
    table: pd.DataFrame,
    *,
    index_name: str | None = None,
    digits: int = 3,
    css_class: str = "ml-table",
) -> str:
    """An HTML ``<table>`` of a data frame: index as the first column, numbers with
    ``digits`` significant digits (the columns of :data:`FIXED_DECIMALS` with fixed
    decimals), every cell escaped."""
    name = index_name if index_name is not None else (table.index.name or "")
    head = "".join(f"<th>{escape(c)}</th>" for c in [name, *table.columns])
    decimals = [FIXED_DECIMALS.get(str(c)) for c in table.columns]
    rows = []
    for label, row in zip(table.index, table.itertuples(index=False), strict=True):
        cells = "".join(
            f'<td class="num">{escape(_cell(v, digits, d))}</td>'
            if isinstance(v, (int, float)) and not isinstance(v, bool)
            else f'<td class="text">{escape("" if v is None else v)}</td>'
            for v, d in zip(row, decimals, strict=True)
        )
        rows.append(f"<tr><th>{escape(label)}</th>{cells}</tr>")
    return (
        f'<table class="{css_class}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


_STYLE = (
    "<style>.ml-fit table.ml-table{border-collapse:collapse;font-size:12px}"
    ".ml-fit .ml-table th,.ml-fit .ml-table td{padding:2px 8px;text-align:right;"
    "border-bottom:1px solid #ddd}.ml-fit .ml-table th:first-child{text-align:left}"
    ".ml-fit .ml-warn{color:#a15c00}.ml-fit .ml-ok{color:#2a7a2a}</style>"
)


def fit_html(fit) -> str:
    """Compact HTML summary of a fit: formula, family, data, engine and why, draws, groups,
    the named parameters' summary and the convergence verdict."""
    spec, post = fit.spec, fit.posterior
    design = spec.design
    groups = (
        ", ".join(f"{escape(g)} ({len(fit._group(g)[0]):,} levels)" for g in fit.groups) or "none"
    )
    summary = fit.summary().loc[list(spec.parameter_names), list(SHORT_COLUMNS)]
    problems = fit.diagnostics()
    if problems:
        verdict = "".join(f'<li class="ml-warn">{escape(p)}</li>' for p in problems)
        verdict = f"<ul>{verdict}</ul>"
    else:
        verdict = '<p class="ml-ok">No convergence problems found.</p>'
    return (
        f'<div class="ml-fit">{_STYLE}'
        f"<p><b>multilevel Fit</b> <code>{escape(design.info.formula.text)}</code></p>"
        f"<p>family: {escape(spec.family)} &middot; observations: {spec.n_rows:,} &middot; "
        f"groups: {groups}<br>engine: <b>{escape(post.engine)}</b> "
        f"({post.n_chains} chains &times; {post.n_draws} draws) &mdash; "
        f"<i>{escape(post.reason)}</i></p>"
        f"{table_html(summary)}{verdict}</div>"
    )


def point_html(fit) -> str:
    """Compact HTML summary of a REML/ML :class:`~multilevel.results.estimate.PointFit`:
    formula, data, estimator, the estimates with standard errors, the variance components
    (lme4's ``VarCorr``) and whether the optimisation converged."""
    spec, est = fit.spec, fit.estimate
    design = spec.design
    groups = (
        ", ".join(f"{escape(g)} ({len(fit._group(g)[0]):,} levels)" for g in fit.groups) or "none"
    )
    table = fit.summary().loc[list(spec.parameter_names)]
    problems = fit.diagnostics()
    verdict = (
        "".join(f'<p class="ml-warn">{escape(p)}</p>' for p in problems)
        or '<p class="ml-ok">The optimisation converged.</p>'
    )
    return (
        f'<div class="ml-fit">{_STYLE}'
        f"<p><b>multilevel PointFit ({escape(est.method.upper())})</b> "
        f"<code>{escape(design.info.formula.text)}</code></p>"
        f"<p>family: {escape(spec.family)} &middot; observations: {spec.n_rows:,} &middot; "
        f"groups: {groups}<br>log-likelihood{' (restricted)' if est.method == 'reml' else ''}: "
        f"{est.loglik:.2f} &mdash; <i>{escape(est.reason)}</i></p>"
        f"{table_html(table, digits=4)}"
        f"<p>Variance components (lme4's VarCorr):</p>"
        f"{table_html(fit.VarCorr().set_index('grp'), digits=4)}{verdict}</div>"
    )
