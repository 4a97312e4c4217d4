"""The ``multilevel`` command line: ``multilevel <command> [options]``.

A thin argument layer: each command is a :class:`Command` in :data:`COMMANDS` that declares
its options and calls the public API. Adding a command means adding one entry.

======================  ==============================================================
``fit DATA FORMULA``    fit a model to a CSV / Parquet file, write a run folder (``--out``)
``check DATA FORMULA``  parse, build the design, show priors, groups and data problems
``summary RUN_DIR``     print the posterior summary of a run
``predict RUN_DIR NEW`` predictions for new rows
``report RUN_DIR``      (re)write the HTML report of a run
``demo``                exact hierarchical fits of bundled real data, explained
======================  ==============================================================

Exit status: 0 on success, 2 for a user error (bad arguments, or any
:class:`~multilevel.errors.MultilevelError`, printed as one ``error: ...`` message without a
traceback), 130 when interrupted. Anything else is a bug and keeps its traceback.

Examples
--------
>>> from multilevel.cli import main
>>> main(["--version"])  # doctest: +ELLIPSIS
multilevel ...
0
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import math
import os
import platform
import shlex
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from multilevel import __version__
from multilevel.errors import DataError, MultilevelError, PriorError

__all__ = ["Command", "COMMANDS", "build_parser", "main", "parse_prior_options"]

USER_ERROR = 2
INTERRUPTED = 130
#: Exit status when the reader of standard output went away (128 + SIGPIPE, as a shell reports)
BROKEN_PIPE = 141
#: Packages whose versions a run records.
#: Methods that give point estimates, not draws: the Python API only (no run folder).
POINT_METHODS = ("reml", "ml")
VERSIONED = ("numpy", "scipy", "pandas", "jax", "numpyro", "arviz", "matplotlib")


@dataclass(frozen=True)
class Command:
    """One subcommand: its help, its options and what it runs.

    ``configure(parser)`` adds the options; ``run(args)`` does the work and returns the exit
    status (raising :class:`~multilevel.errors.MultilevelError` for a user error).
    """

    help: str
    description: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# --------------------------------------------------------------------------- helpers
def _err(*parts) -> None:
    print(*parts, file=sys.stderr)


def _show_progress(args) -> bool:
    """Progress bars: on when asked, else when stderr is a terminal."""
    if args.progress is not None:
        return args.progress
    return sys.stderr.isatty()


@contextlib.contextmanager
def _steps(enabled: bool, title: str):
    """A progress display for a sequence of labelled steps (rich, on stderr): yields
    ``step(label)``."""
    if not enabled:
        yield lambda label: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        task = progress.add_task(title, total=None)

        def step(label: str) -> None:
            progress.update(task, description=f"{title}: {label}")

        yield step


def parse_prior_options(options) -> dict[str, str]:
    """``["sd=normal(0, 1)", "b_x=normal(0, 5)"]`` -> ``{"sd": "normal(0, 1)", ...}``.

    Raises
    ------
    PriorError
        An option without ``=``, an empty target or distribution, a target given twice.

    Examples
    --------
    >>> parse_prior_options(["sd=normal(0, 1)", " b_x = student_t(3, 0, 2.5) "])
    {'sd': 'normal(0, 1)', 'b_x': 'student_t(3, 0, 2.5)'}
    """
    priors: dict[str, str] = {}
    for option in options or ():
        target, equals, dist = option.partition("=")
        target, dist = target.strip(), dist.strip()
        if not equals or not target or not dist:
            raise PriorError(
                f"--prior {option!r}: write TARGET=DISTRIBUTION, e.g. --prior 'sd=normal(0, 1)'"
            )
        if target in priors:
            raise PriorError(f"--prior sets {target!r} twice: {priors[target]!r} and {dist!r}")
        priors[target] = dist
    return priors


def _report_warnings(caught) -> list[str]:
    """Print the library's own warnings as ``warning: ...`` lines and return them; pass
    other packages' warnings on to the usual filters."""
    from multilevel.errors import ConvergenceWarning, DataWarning

    messages = []
    for w in caught:
        if issubclass(w.category, (ConvergenceWarning, DataWarning)):
            messages.append(f"{w.category.__name__}: {w.message}")
            _err(f"warning: {w.message}")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return messages


def _prior_sources(formula, frame, family, spec, priors) -> dict[str, str]:
    """``parameter -> "yours" | "default"`` when the user set priors (else empty)."""
    if not priors:
        return {}
    from multilevel.fit import _spec

    defaults = _spec(formula, frame, family, None).priors
    return {
        name: "default" if name in defaults and defaults[name] == prior else "yours"
        for name, prior in spec.priors.items()
    }


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"multilevel": __version__, "python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # pragma: no cover - all are dependencies
            out[name] = "not installed"
    out["platform"] = platform.platform()
    return out


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _json_table(table) -> dict:
    """A data frame as ``{row: {column: value}}`` with NaN as None (valid JSON)."""
    return {
        str(index): {
            k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()
        }
        for index, row in table.to_dict(orient="index").items()
    }


def _frame_table(records: dict):
    import pandas as pd

    table = pd.DataFrame.from_dict(records, orient="index")
    table.index.name = "column"
    return table.astype({c: float for c in ("mean", "sd", "min", "max") if c in table})


def _data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "data",
        metavar="DATA",
        type=Path,
        help="the data: a .csv, .tsv or .parquet file (Parquet needs pyarrow)",
    )
    parser.add_argument(
        "formula", metavar="FORMULA", help='an lme4/brms formula in quotes, e.g. "y ~ x + (1 | g)"'
    )
    parser.add_argument(
        "--family",
        default="gaussian",
        help="response family: gaussian (default), student_t, bernoulli, "
        "binomial, poisson, negbinomial, gamma, lognormal, beta",
    )
    parser.add_argument(
        "--prior",
        action="append",
        default=[],
        metavar="TARGET=DIST",
        help="a prior in Stan's notation, repeatable: --prior 'sd=normal(0, 1)'"
        " --prior 'b_x=normal(0, 5)' (targets: Intercept, b, sd, sd_<group>, "
        "cor, sigma, or a parameter name; see 'multilevel check')",
    )


def _progress_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="show progress bars (default: when stderr is a terminal)",
    )
    parser.add_argument(
        "--no-progress", dest="progress", action="store_false", help="never show progress bars"
    )


def _print_table(table, *, float_digits: int = 4) -> None:
    import pandas as pd

    with pd.option_context(
        "display.max_rows", 500, "display.max_columns", 20, "display.width", 120
    ):
        print(table.to_string(float_format=lambda v: f"{v:.{float_digits}g}", na_rep=""))


# --------------------------------------------------------------------------- fit
def _fit_options(parser: argparse.ArgumentParser) -> None:
    from multilevel.engines import METHODS

    _data_options(parser)
    parser.add_argument(
        "--out",
        metavar="RUN_DIR",
        type=Path,
        required=True,
        help="the run folder to write (summary.csv, posterior.nc, fit.mlfit, "
        "spec.json, run.json, report.html); an earlier run there is replaced",
    )
    parser.add_argument(
        "--method",
        default="auto",
        choices=[m for m in METHODS if m not in POINT_METHODS],
        help="inference engine (default auto: exact where possible, else NUTS)",
    )
    parser.add_argument("--chains", type=int, default=4, help="number of chains (default 4)")
    parser.add_argument(
        "--draws", type=int, default=1000, help="draws kept per chain (default 1000)"
    )
    parser.add_argument(
        "--warmup", type=int, default=None, help="warmup iterations per chain (default: as --draws)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed (default: a fresh one, recorded in run.json)",
    )
    parser.add_argument(
        "--target-accept",
        type=float,
        default=0.8,
        help="NUTS target acceptance rate, Stan's adapt_delta (default 0.8)",
    )
    _progress_option(parser)


def _fit(args: argparse.Namespace) -> int:

    import multilevel as ml
    from multilevel import rundir
    from multilevel.report import data_summary
    from multilevel.seeds import resolve_seed
    from multilevel.tables import read_table

    start = time.perf_counter()
    rundir.check_target(args.out)  # before the (long) fit
    priors = parse_prior_options(args.prior)
    frame = read_table(args.data)
    read_seconds = time.perf_counter() - start
    seed = resolve_seed(args.seed)
    show = _show_progress(args)
    fit_start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = ml.fit(
            args.formula,
            frame,
            family=args.family,
            priors=priors or None,
            method=args.method,
            chains=args.chains,
            draws=args.draws,
            warmup=args.draws if args.warmup is None else args.warmup,
            seed=seed,
            progress=show,
            target_accept=args.target_accept,
        )
    fit_seconds = time.perf_counter() - fit_start
    messages = _report_warnings(caught)

    used = [c for c in frame.columns if c in fit.spec.design.info.formula.variables()]
    summary = data_summary(frame, used)
    sources = _prior_sources(args.formula, frame, args.family, fit.spec, priors)
    spec_info = {
        "method": args.method,
        "user_priors": priors,
        "prior_sources": sources,
        "data": {
            "path": str(args.data),
            "sha256": _file_sha256(args.data),
            "rows": int(len(frame)),
            "columns": [str(c) for c in frame.columns],
            "summary": _json_table(summary),
        },
    }
    log_info = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": "multilevel " + shlex.join(args.argv),
        "seed": seed,
        "settings": {
            "method": args.method,
            "chains": args.chains,
            "draws": args.draws,
            "warmup": args.draws if args.warmup is None else args.warmup,
            "target_accept": args.target_accept,
        },
        "versions": _versions(),
        "timings": {
            "read_data": read_seconds,
            "fit": fit_seconds,
            **{f"engine_{k}": v for k, v in fit.posterior.timings.items()},
        },
        "warnings": messages,
        "diagnostics": fit.diagnostics(),
    }
    write_start = time.perf_counter()
    report_kwargs = {
        "data_source": str(args.data),
        "data_table": summary,
        "prior_sources": sources or None,
        "settings": {"seed": seed},
        "timings": {"read data": read_seconds, "fit (total)": fit_seconds},
        "versions": log_info["versions"],
    }
    try:
        with _steps(show, "writing the run folder") as step:
            rundir.write_run(
                fit,
                args.out,
                spec_info=spec_info,
                log_info=log_info,
                report_kwargs=report_kwargs,
                progress=step,
            )
    except OSError as err:
        raise DataError(f"cannot write the run folder {str(args.out)!r}: {err}") from None
    write_seconds = time.perf_counter() - write_start

    print(repr(fit))
    print(f"\nseed {seed}; fit {fit_seconds:.1f} s, files {write_seconds:.1f} s")
    print(f"wrote {args.out}/ (report: {args.out / rundir.FILES['report']})")
    return 0


# --------------------------------------------------------------------------- check
def _check_options(parser: argparse.ArgumentParser) -> None:
    from multilevel.engines import METHODS

    _data_options(parser)
    parser.add_argument(
        "--method",
        default="auto",
        choices=METHODS,
        help="show which engine this method would use (default auto)",
    )


def _data_problems(frame, spec, structure) -> list[str]:
    """Non-fatal problems worth a look before fitting."""
    import numpy as np

    problems = []
    design = spec.design
    for factor, row in structure.iterrows():
        if row["levels"] < 5:
            problems.append(
                f"grouping factor {factor} has only {row['levels']} levels: its standard "
                "deviation is poorly determined by the data and leans on its prior"
            )
    for block in design.blocks:
        if block.multiple_membership:
            continue
        counts = np.bincount(block.index[:, 0], minlength=block.n_levels)
        single = int((counts == 1).sum())
        if single:
            problems.append(
                f"{single} of {block.n_levels} levels of {block.name} have a single row: "
                "their effects are mostly set by the other levels (that is fine, and what "
                "partial pooling is for)"
            )
            break
    X = np.asarray(design.X, dtype=float)
    for j, name in enumerate(design.X_names):
        if name != "Intercept" and X.shape[0] > 1 and np.ptp(X[:, j]) == 0:
            problems.append(f"population-level column {name} is constant: it cannot be estimated")
    y = design.y
    if y is not None and spec.family.name in ("gaussian", "student_t"):
        values = np.unique(y)
        if len(values) <= 2 and set(values.tolist()) <= {0.0, 1.0}:
            problems.append(
                f"the response {design.response} takes only the values 0 and 1: consider "
                "--family bernoulli"
            )
        elif len(values) > 2 and np.all(values >= 0) and np.all(values == np.round(values)):
            problems.append(
                f"the response {design.response} holds non-negative whole numbers: if they are "
                "counts, consider --family poisson or negbinomial"
            )
    return problems


def _check(args: argparse.Namespace) -> int:
    from multilevel.engines import select_engine
    from multilevel.fit import _spec
    from multilevel.report import data_summary
    from multilevel.report.words import describe_model
    from multilevel.tables import read_table

    priors = parse_prior_options(args.prior)
    frame = read_table(args.data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spec = _spec(args.formula, frame, args.family, priors or None)
    design = spec.design
    formula = design.info.formula
    print(f"Formula: {formula.text}")
    print(f"  {describe_model(spec)}")
    used = [c for c in frame.columns if c in formula.variables()]
    print(
        f"\nData: {args.data}: {len(frame):,} rows, {frame.shape[1]} columns; the model uses "
        f"{len(used)}: {', '.join(map(str, used))}"
    )
    _print_table(data_summary(frame, used))
    print(f"\nPopulation-level columns ({len(design.X_names)}): {', '.join(design.X_names)}")
    structure = design.group_structure() if design.blocks or design.dpars else None
    if structure is not None and not structure.empty:
        print("\nGrouping structure:")
        _print_table(structure)
    print("\nPriors that would be used (Stan notation; T[0, ]: truncated at 0):")
    sources = _prior_sources(args.formula, frame, args.family, spec, priors)
    for name, prior in spec.priors.items():
        mark = "   (yours)" if sources.get(name) == "yours" else ""
        print(f"  {name:<32} {prior.to_stan()}{mark}")
    engine, reason = select_engine(spec, args.method)
    print(f"\nEngine: {engine.name}: {reason}")
    problems = [m.split(": ", 1)[1] for m in _report_warnings(caught)]
    problems += _data_problems(frame, spec, structure if structure is not None else _empty())
    print("\nData problems:" if problems else "\nData problems: none found")
    for problem in problems:
        print(f"  - {problem}")
    return 0


def _empty():
    import pandas as pd

    return pd.DataFrame(columns=["levels"])


# --------------------------------------------------------------------------- summary
def _run_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dir",
        metavar="RUN_DIR",
        type=Path,
        help="a run folder written by 'multilevel fit --out RUN_DIR'",
    )


def _summary_options(parser: argparse.ArgumentParser) -> None:
    _run_dir_option(parser)
    parser.add_argument(
        "--all",
        action="store_true",
        help="also show every group-level effect r_<group>[level,coef]",
    )


def _summary(args: argparse.Namespace) -> int:
    from multilevel.rundir import open_run

    run = open_run(args.run_dir)
    spec, log = run.spec, run.manifest
    table = run.summary()
    if not args.all:
        named = [n for n in spec.get("parameters", []) if n in table.index]
        table = table.loc[named] if named else table
    print(f"Run {args.run_dir}: {spec.get('formula')}")
    print(
        f"  family: {spec.get('family')} ({spec.get('link')} link); observations: "
        f"{spec.get('observations')}; data: {spec.get('data', {}).get('path')}"
    )
    print(f"  engine: {spec.get('engine')} ({spec.get('reason')})")
    print(f"  draws: {spec.get('chains')} chains x {spec.get('draws')}; seed {log.get('seed')}")
    for group in spec.get("groups", []):
        print(f"  group {group['factor']}: {group['levels']} levels, {group['term']}")
    _print_table(table)
    problems = log.get("diagnostics") or []
    print("convergence: no problems found" if not problems else "convergence problems:")
    for problem in problems:
        print(f"  - {problem}")
    return 0


# --------------------------------------------------------------------------- predict
def _predict_options(parser: argparse.ArgumentParser) -> None:
    from multilevel.results.predict import KINDS, NEW_GROUPS

    _run_dir_option(parser)
    parser.add_argument(
        "newdata",
        metavar="NEWDATA",
        type=Path,
        help="rows to predict for: a .csv, .tsv or .parquet file with the "
        "predictor and grouping columns",
    )
    parser.add_argument(
        "--new-groups",
        choices=NEW_GROUPS,
        default="error",
        help="a grouping level the fit has not seen: error (default), "
        "population (no group effect) or sample (draw one from the fitted SD)",
    )
    parser.add_argument(
        "--kind",
        choices=KINDS,
        default="mean",
        help="mean (expected response, default), linear (link scale) or response (replicated data)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed for --new-groups sample and --kind response (default 0)",
    )
    parser.add_argument(
        "--out",
        metavar="FILE",
        type=Path,
        default=None,
        help="write NEWDATA with the columns pred_mean, pred_sd, pred_q5, "
        "pred_q50, pred_q95 (.csv, .tsv or .parquet); default: print them",
    )


def _predict(args: argparse.Namespace) -> int:
    from multilevel.rundir import open_run
    from multilevel.tables import read_table, table_format, write_table

    if args.out is not None:
        table_format(args.out)  # a bad name fails before any work
    run = open_run(args.run_dir)
    newdata = read_table(args.newdata)
    fit = run.fit()
    table = fit.predict(newdata, kind=args.kind, new_groups=args.new_groups, seed=args.seed)
    out = newdata.copy()
    for column in table.columns:
        out[f"pred_{column}"] = table[column].to_numpy()
    if args.out is None:
        _print_table(out)
        return 0
    try:
        write_table(out, args.out)
    except OSError as err:
        raise DataError(f"cannot write {str(args.out)!r}: {err}") from None
    print(f"wrote {len(out):,} predictions ({args.kind}) to {args.out}")
    return 0


# --------------------------------------------------------------------------- report
def _report_options(parser: argparse.ArgumentParser) -> None:
    _run_dir_option(parser)
    parser.add_argument(
        "--out",
        metavar="FILE",
        type=Path,
        default=None,
        help="where to write the HTML (default: RUN_DIR/report.html, replaced)",
    )
    _progress_option(parser)


def _report(args: argparse.Namespace) -> int:
    from multilevel.report import write_report
    from multilevel.rundir import FILES, open_run

    run = open_run(args.run_dir)
    fit = run.fit()
    data = run.spec.get("data", {})
    log = run.manifest
    kwargs = {
        "data_source": data.get("path", "a data frame"),
        "data_table": _frame_table(data["summary"]) if data.get("summary") else None,
        "prior_sources": run.spec.get("prior_sources") or None,
        "settings": {"seed": log.get("seed")},
        "timings": {
            "read data": log.get("timings", {}).get("read_data", float("nan")),
            "fit (total)": log.get("timings", {}).get("fit", float("nan")),
        },
        "versions": log.get("versions") or None,
    }
    target = args.out or args.run_dir / FILES["report"]
    if args.out is not None and args.out.is_dir():
        raise DataError(f"--out {str(args.out)!r} is a folder; give an .html file name")
    try:
        with _steps(_show_progress(args), "writing the report") as step:
            written = write_report(fit, target, progress=step, **kwargs)
    except OSError as err:
        raise DataError(f"cannot write the report {str(target)!r}: {err}") from None
    if args.out is None:
        run.update_file("report", written)
    print(f"wrote {written}")
    return 0


# --------------------------------------------------------------------------- demo
def _demo_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=None,
        help="folder for the PNG plots, created if needed (default: the current folder)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the synthetic houses of the new county (default: 0)",
    )


def _demo(args: argparse.Namespace) -> int:
    from multilevel import demo

    demo.run(args.out, seed=args.seed)
    return 0


COMMANDS: dict[str, Command] = {
    "fit": Command(
        help="fit a model to a CSV or Parquet file and write a run folder with a report",
        description=(
            "Fit a Bayesian multilevel model written as an lme4/brms formula to DATA and "
            "write the run folder RUN_DIR: summary.csv, posterior.nc (ArviZ netCDF), "
            "fit.mlfit (the whole fit, for 'predict' and 'report'), spec.json (formula, "
            "priors, design), run.json (versions, seed, timings, warnings) and report.html. "
            "The folder appears only when complete. Example: multilevel fit radon.csv "
            '"log_radon ~ floor + (1 | county)" --out run'
        ),
        configure=_fit_options,
        run=_fit,
    ),
    "check": Command(
        help="check a formula against data without fitting: design, priors, groups, problems",
        description=(
            "Parse FORMULA, build the design on DATA and show the model in words, the columns "
            "used, the population-level columns, the grouping structure (levels per factor, "
            "nested or crossed), the priors that would be used, the engine that would fit it, "
            "and data problems worth a look. Nothing is fitted or written."
        ),
        configure=_check_options,
        run=_check,
    ),
    "summary": Command(
        help="print the posterior summary of a run folder",
        description="Print the model, engine, draws and the posterior summary of RUN_DIR "
        "(named parameters; --all adds the group-level effects) and its diagnostics.",
        configure=_summary_options,
        run=_summary,
    ),
    "predict": Command(
        help="predict new rows from a run folder",
        description=(
            "Predict the rows of NEWDATA from the fit in RUN_DIR: posterior mean, SD and 5%, "
            "50%, 95% quantiles of the expected response (--kind mean), the linear predictor "
            "or replicated responses. Grouping levels the fit has not seen are an error "
            "unless --new-groups says otherwise."
        ),
        configure=_predict_options,
        run=_predict,
    ),
    "report": Command(
        help="write the HTML report of a run folder again",
        description="Render the self-contained HTML report of RUN_DIR again (after an "
        "upgrade, or elsewhere with --out).",
        configure=_report_options,
        run=_report,
    ),
    "demo": Command(
        help="exact hierarchical fits of bundled real data, explained",
        description=(
            "Fit lme4's cbpp herds (beta-binomial, full Bayes) and print every herd's "
            "posterior with its shrinkage; then, on the Minnesota radon data, show what we "
            "know about a new county measured in 1, 10 and 1000 houses, and about a county "
            "not yet met. Writes shrinkage plots (PNG) and prints their paths."
        ),
        configure=_demo_options,
        run=_demo,
    ),
}


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one subparser per entry of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="multilevel",
        description="Bayesian hierarchical (multilevel) models: exact where the mathematics "
        "allows.",
    )
    parser.add_argument("--version", action="version", version=f"multilevel {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, command in COMMANDS.items():
        child = sub.add_parser(name, help=command.help, description=command.description)
        command.configure(child)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr if file is None else file)


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, or an argument error (already printed)
        code = exit_.code
        return 0 if code is None else code if isinstance(code, int) else USER_ERROR
    if args.command is None:
        parser.print_help(sys.stderr)
        return USER_ERROR
    args.argv = argv
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            status = COMMANDS[args.command].run(args)
            sys.stdout.flush()  # here, where a closed pipe is handled, not at exit
            return status
    except MultilevelError as err:
        print(f"error: {err}", file=sys.stderr)
        return USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # the reader went away (`multilevel summary RUN | head`)
        _silence_stdout()
        return BROKEN_PIPE


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so that Python's flush at exit does not raise
    into the closed pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass  # not a real file (tests capture it): nothing is flushed at exit


if __name__ == "__main__":
    sys.exit(main())
