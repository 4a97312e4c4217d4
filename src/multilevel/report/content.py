"""What a report says: the :class:`Report` object, built from a fit by :func:`build_report`.

The Report is plain data (strings, tables, PNG images as data URIs); :mod:`.html` renders
it through one template. Keeping the two apart lets tests check the content without HTML
and lets another renderer (Markdown, a notebook) reuse it.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from multilevel.report.factors import factor_tables
from multilevel.report.words import describe_model, prior_words

__all__ = [
    "Figure",
    "Report",
    "build_report",
    "data_summary",
    "SECTIONS",
    "ALL_SECTIONS",
    "POINT_SECTIONS",
]

#: Section ids of a report, in order, with their headings.
SECTIONS = {
    "model": "Model",
    "data": "Data",
    "problems": "Data problems",
    "priors": "Priors",
    "engine": "Engine",
    "diagnostics": "Diagnostics",
    "population": "Population-level effects",
    "variance": "Variance components",
    "shrinkage": "Shrinkage",
    "effects": "Group-level effects",
    "levels": "Estimates per level",
    "ppc": "Posterior predictive check",
    "loo": "Leave-one-out cross-validation",
    "trace": "Trace and rank plots",
}
#: Every section a report can have, in order: :data:`SECTIONS` and, after the variance
#: components, "Factors" for a model with ``factors()``.
ALL_SECTIONS = dict(
    [*list(SECTIONS.items())[: list(SECTIONS).index("variance") + 1], ("factors", "Factors")]
    + list(SECTIONS.items())[list(SECTIONS).index("variance") + 1 :]
)
#: The sections of the report of a REML/ML point fit (no priors, sampler or draws).
POINT_SECTIONS = ("model", "data", "problems", "engine", "population", "variance", "levels")
#: Levels per grouping factor listed in the "Estimates per level" tables (the rest are
#: counted in a note).
MAX_LEVEL_ROWS = 5000

_SUMMARY_COLUMNS = ["mean", "sd", "q5", "q50", "q95", "r_hat", "ess_bulk", "ess_tail"]


@dataclass(frozen=True)
class Figure:
    """One plot of a report: a PNG data URI, or a note saying why it is absent."""

    id: str
    title: str
    caption: str
    image: str | None = None  # "data:image/png;base64,..."
    note: str = ""


@dataclass(frozen=True)
class Report:
    """Everything a report shows (see :data:`SECTIONS`)."""

    title: str
    formula: str
    model_words: str
    family: str
    n_obs: int
    data_source: str
    data_table: pd.DataFrame
    structure: pd.DataFrame
    priors: pd.DataFrame
    engine: str
    reason: str
    settings: Mapping[str, object]
    timings: Mapping[str, float]
    diagnostics: tuple[str, ...]
    checks: Mapping[str, str]
    population: pd.DataFrame
    variance: pd.DataFrame
    figures: tuple[Figure, ...]
    versions: Mapping[str, str] = field(default_factory=dict)
    created: str = ""
    kind: str = "posterior"  # or "point" (REML / ML)
    sections: tuple[str, ...] = tuple(SECTIONS)
    problems: tuple[str, ...] = ()
    levels: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    loo: Mapping[str, float] = field(default_factory=dict)
    pareto_k: pd.DataFrame | None = None
    loo_note: str = ""
    notes: tuple[str, ...] = ()
    factors: Mapping[str, pd.DataFrame] = field(default_factory=dict)


def data_summary(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per column: type, missing values, distinct values, and mean, SD, min, max
    (numbers) or the most frequent labels (text and categories).

    Examples
    --------
    >>> table = data_summary(pd.DataFrame({"y": [1.0, 2.0, None], "g": ["a", "b", "b"]}))
    >>> print(table.loc["y", "missing"], table.loc["g", "distinct"], table.loc["g", "values"])
    1 2 b (2), a (1)
    """
    columns = list(frame.columns) if columns is None else [c for c in columns if c in frame]
    records = []
    for name in columns:
        column = frame[name]
        record = {
            "type": "",
            "missing": int(column.isna().sum()),
            "distinct": int(column.nunique(dropna=True)),
            "mean": np.nan,
            "sd": np.nan,
            "min": np.nan,
            "max": np.nan,
            "values": "",
        }
        if pd.api.types.is_bool_dtype(column):
            record["type"] = "boolean"
            record["mean"] = float(column.mean()) if len(column) else np.nan
        elif pd.api.types.is_numeric_dtype(column):
            values = column.to_numpy(dtype=float, na_value=np.nan)
            finite = values[np.isfinite(values)]
            record["type"] = "integer" if pd.api.types.is_integer_dtype(column) else "number"
            if finite.size:
                record.update(
                    mean=float(finite.mean()),
                    sd=float(finite.std(ddof=1)) if finite.size > 1 else np.nan,
                    min=float(finite.min()),
                    max=float(finite.max()),
                )
            infinite = int(np.isinf(values).sum())
            if infinite:
                record["values"] = f"{infinite} infinite"
        else:
            record["type"] = "category" if isinstance(column.dtype, pd.CategoricalDtype) else "text"
            top = column.astype(str)[column.notna()].value_counts().head(3)
            record["values"] = ", ".join(f"{k} ({v})" for k, v in top.items())
        records.append(record)
    table = pd.DataFrame.from_records(records, index=pd.Index(columns, name="column"))
    if table.empty:
        table = pd.DataFrame(
            columns=["type", "missing", "distinct", "mean", "sd", "min", "max", "values"]
        )
    return table


def _table(fit, names: Sequence[str]) -> pd.DataFrame:
    summary = fit.summary()
    names = [n for n in names if n in summary.index]
    return summary.loc[names, _SUMMARY_COLUMNS]


def _checks(fit) -> dict[str, str]:
    """Headline numbers of the convergence diagnostics."""
    summary = fit.summary()
    named = summary.loc[list(fit.spec.parameter_names)]
    stats = fit.posterior.sample_stats

    def extreme(column: str, pick, digits: int) -> str:
        values = summary[column].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        return f"{pick(values):.{digits}f}" if values.size else "not available (one chain?)"

    out = {
        "largest R-hat": extreme("r_hat", np.max, 3),
        "smallest bulk ESS": extreme("ess_bulk", np.min, 0),
        "smallest tail ESS": extreme("ess_tail", np.min, 0),
        "parameters checked": f"{len(named)} named + {len(summary) - len(named)} group effects",
    }
    if "diverging" in stats:
        out["divergent transitions"] = str(int(np.sum(stats["diverging"])))
    if not stats:
        out["sampler"] = "independent draws (no Markov chain: no divergences or tree depth)"
    return out


def build_report(
    fit,
    *,
    data_source: str = "a data frame",
    data_table: pd.DataFrame | None = None,
    prior_sources: Mapping[str, str] | None = None,
    settings: Mapping[str, object] | None = None,
    timings: Mapping[str, float] | None = None,
    versions: Mapping[str, str] | None = None,
    title: str | None = None,
    progress=None,
    figures: Callable[[], Sequence[Figure] | None] | None = None,
) -> Report:
    """Collect everything the report shows about ``fit``.

    Parameters
    ----------
    fit : Fit
    data_source : str
        Where the data came from (a file name), shown in the Data section.
    data_table : DataFrame, optional
        :func:`data_summary` of the data (the fit itself keeps only the design arrays).
    prior_sources : mapping, optional
        ``parameter -> "default" | "yours"``, shown next to each prior.
    settings, timings, versions : mapping, optional
        Extra run information (seed, command, timings, package versions).
    progress : callable, optional
        Called with a short label before each costly step (for progress bars).
    figures : callable, optional
        Gives the figures drawn elsewhere (:class:`~multilevel.cli._figure_worker.FigureWorker`),
        called after everything else; when it gives None, or is not given, they are drawn
        here (:func:`~multilevel.report.drawing.draw_figures`).

    Returns
    -------
    Report
    """
    from multilevel.report.drawing import draw_figures
    from multilevel.results.estimate import PointFit

    if isinstance(fit, PointFit):
        return _point_report(
            fit,
            data_source=data_source,
            data_table=data_table,
            timings=timings,
            versions=versions,
            title=title,
            progress=progress,
        )
    step = progress or (lambda label: None)
    spec, post = fit.spec, fit.posterior
    step("summary")
    priors = pd.DataFrame(
        {"prior": [prior_words(p) for p in spec.priors.values()]},
        index=pd.Index(list(spec.priors), name="parameter"),
    )
    if prior_sources:
        priors["set by"] = [prior_sources.get(name, "") for name in priors.index]
    b_names = list(spec.b_names) + [n for d in spec.dpars.values() for n in d.b_names]
    variance = [n for n in spec.parameter_names if n not in b_names]
    run_settings = {
        "chains": post.n_chains,
        "draws per chain": post.n_draws,
        **{k: v for k, v in post.settings.items() if k not in ("chains", "draws")},
        **(settings or {}),
    }
    step("leave-one-out cross-validation")
    loo, pareto_k, loo_note = _loo(fit)
    step("factors")
    factors = factor_tables(fit)
    fields = dict(
        factors=factors,
        sections=tuple(ALL_SECTIONS if factors else SECTIONS),
        **_model_fields(fit, title, data_source, data_table),
        priors=priors,
        engine=post.engine,
        reason=post.reason,
        settings=run_settings,
        timings={**dict(post.timings), **dict(timings or {})},
        diagnostics=tuple(fit.diagnostics()),
        checks=_checks(fit),
        population=_table(fit, b_names),
        variance=_table(fit, variance),
        versions=dict(versions or {}),
        problems=_problems(spec),
        levels=_level_tables(fit),
        loo=loo,
        pareto_k=pareto_k,
        loo_note=loo_note,
    )
    drawn = None
    if figures is not None:  # drawn alongside: last, so that they had the most time
        step("figures (drawn alongside)")
        drawn = figures()
    if drawn is None:
        drawn = draw_figures(fit, step)
    return Report(figures=tuple(drawn), **fields)


def _model_fields(fit, title, data_source, data_table) -> dict:
    """The fields every report has: the model, the data and when it was made."""
    spec = fit.spec
    return {
        "title": title or f"multilevel: {spec.design.info.formula.text}",
        "formula": spec.design.info.formula.text,
        "model_words": describe_model(spec),
        "family": str(spec.family),
        "n_obs": spec.n_rows,
        "data_source": data_source,
        "data_table": _data_table(spec, data_table),
        "structure": spec.design.group_structure()
        if fit.groups and spec.statistics is None  # (rows on Dask: not here)
        else pd.DataFrame(),
        "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def _problems(spec) -> tuple[str, ...]:
    """What ``multilevel check`` reports (:func:`multilevel.checks.data_problems`)."""
    from multilevel.checks import data_problems

    if spec.statistics is not None:  # checked partition by partition on Dask
        return ()
    return tuple(data_problems(spec))


def _grouping_columns(spec) -> list[str]:
    """Data columns used as grouping factors (of the mean's formula and the dpars')."""
    from multilevel.formula.terms import _expression_columns

    formula = spec.design.info.formula
    out: list[str] = []
    for f in (formula, *formula.dpars.values()):
        for block in f.groups:
            for text in block.group:
                out += [c for c in _expression_columns(text, formula.expressions) if c not in out]
    return out


def _data_table(spec, table: pd.DataFrame | None) -> pd.DataFrame:
    """The data summary with grouping columns described by their levels (an id's mean and
    SD mean nothing): type ``grouping factor``, rows per level in ``values``."""
    if table is None:
        table = pd.DataFrame(
            {"type": ["number"], "rows": [spec.n_rows]},
            index=pd.Index([spec.design.response or "response"], name="column"),
        )
    table = table.copy()
    for column in _grouping_columns(spec):
        if column not in table.index:
            continue
        block = next(
            (b for b in spec.design.blocks if b.name == column and not b.multiple_membership),
            None,
        )
        for stat in ("mean", "sd", "min", "max"):
            if stat in table.columns:
                table[stat] = table[stat].astype(object)
                table.loc[column, stat] = np.nan
        if "type" in table.columns:
            table.loc[column, "type"] = "grouping factor"
        if "values" in table.columns and block is not None:
            counts = np.bincount(block.index[:, 0], minlength=block.n_levels)
            table.loc[column, "values"] = (
                f"{block.n_levels:,} levels, {counts.min():,} to {counts.max():,} rows each"
            )
    return table


def _level_rows(fit, group: str) -> np.ndarray | None:
    for block in fit.spec.design.blocks:
        if block.name == group and not block.multiple_membership:
            return np.bincount(block.index[:, 0], minlength=block.n_levels)
    return None


def _level_tables(fit) -> dict[str, pd.DataFrame]:
    """Per grouping factor, each level's rows and total coefficients (lme4's ``coef``):
    posterior mean with 5% and 95% quantiles, or the estimate of a point fit with the
    conditional mode of its deviation (lme4's ``ranef``)."""
    from multilevel.results.estimate import PointFit

    out = {}
    for group in fit.groups:
        coef = fit.coef(group)
        if isinstance(fit, PointFit):
            ranef = fit.ranef(group)
            parts = {c: coef[c] for c in coef.columns}
            parts.update({f"{c} deviation": ranef[c] for c in ranef.columns})
            order = [k for c in coef.columns for k in (c, f"{c} deviation")]
        else:
            q5, q95 = fit.coef(group, "q5"), fit.coef(group, "q95")
            parts = {}
            for c in coef.columns:
                parts.update({c: coef[c], f"{c} q5": q5[c], f"{c} q95": q95[c]})
            order = list(parts)
        table = pd.DataFrame(parts)[order]
        rows = _level_rows(fit, group)
        if rows is not None:
            table.insert(0, "rows", rows)
        table.index = pd.Index([str(v) for v in table.index], name=group)
        out[group] = table
    return out


def _loo(fit) -> tuple[dict, pd.DataFrame | None, str]:
    """PSIS-LOO's headline numbers, the Pareto k table and a note (its warning, or why
    there is no LOO): the numbers of ``fit.loo()``, computed without ArviZ."""
    from multilevel.errors import DataError
    from multilevel.results.compare import pareto_k_table
    from multilevel.results.fit import unreliable_rows

    if fit.posterior.log_likelihood is None:
        return (
            {},
            None,
            (
                "Not available: the engine did not keep the pointwise log-likelihood (it skips it "
                "when chains x draws x rows exceeds 50 million values)."
            ),
        )
    try:
        result = fit._psis_loo()
    except DataError as err:
        return {}, None, f"Not available: {err}"
    summary = {
        "elpd_loo": result.elpd_loo,
        "se": result.se,
        "p_loo": result.p_loo,
        "looic": result.looic,
        "good_k": result.good_k,
    }
    table = pareto_k_table(result.pareto_k, result.good_k)
    return summary, table, unreliable_rows(result.pareto_k, result.good_k) or ""


#: method -> (what it is, the lme4 call that gives the same estimates)
_ESTIMATORS = {
    "reml": ("restricted maximum likelihood", "lmer(REML = TRUE)"),
    "ml": ("maximum likelihood", "lmer(REML = FALSE)"),
    "laplace": ("maximum likelihood, Laplace approximation", "glmer(nAGQ = 1)"),
}


def _point_report(fit, *, data_source, data_table, timings, versions, title, progress) -> Report:
    """The report of a REML / ML :class:`~multilevel.results.estimate.PointFit`."""
    step = progress or (lambda label: None)
    spec, est = fit.spec, fit.estimate
    step("summary")
    summary = fit.summary()
    b = summary.loc[list(spec.b_names), ["estimate", "std_error"]]
    statistic = "z value" if est.method == "laplace" else "t value"  # as lme4 prints them
    b[statistic] = b["estimate"] / b["std_error"]
    variance = fit.VarCorr()
    variance.index = pd.Index(variance.pop("grp"), name="group")
    method = est.method.upper()
    words, call = _ESTIMATORS[est.method]
    settings = {
        "estimator": f"{method} ({words}), as lme4's {call}",
        "log-likelihood" + (" (restricted)" if est.method == "reml" else ""): f"{est.loglik:.2f}",
        "converged": "yes" if est.converged else f"no ({est.message})",
        "function evaluations": str(est.evaluations),
    }
    return Report(
        **_model_fields(fit, title, data_source, data_table),
        priors=pd.DataFrame(),
        engine=f"{'laplace' if est.method == 'laplace' else 'gaussian'} ({method})",
        reason=est.reason,
        settings=settings,
        timings={**dict(est.timings), **dict(timings or {})},
        diagnostics=tuple(fit.diagnostics()),
        checks={},
        population=b,
        variance=variance,
        figures=(),
        versions=dict(versions or {}),
        kind="point",
        sections=POINT_SECTIONS,
        problems=_problems(spec),
        levels=_level_tables(fit),
        notes=(
            "Point estimates, as lme4: no priors, no draws, so no posterior.nc, no "
            "convergence diagnostics of a sampler, no predictive check and no LOO. Fit with "
            "--method exact (or auto) for the posterior.",
        ),
    )
