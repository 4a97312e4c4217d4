"""``multilevel fit DATA FORMULA --out RUN_DIR``: fit a model and write a run folder."""

from __future__ import annotations

import argparse
import hashlib
import math
import platform
import shlex
import time
import warnings
from pathlib import Path

from multilevel import __version__
from multilevel.cli._common import (
    Command,
    data_options,
    parse_prior_options,
    prior_sources,
    progress_option,
    report_warnings,
    show_progress,
    speak_cli,
    steps,
)
from multilevel.cli._dask import connect, is_dataset, read_dataset
from multilevel.errors import DataError

__all__ = ["COMMAND", "VERSIONED", "options", "run"]

#: Packages whose versions a run records.
VERSIONED = ("numpy", "scipy", "pandas", "jax", "numpyro", "arviz", "matplotlib")


def options(parser: argparse.ArgumentParser) -> None:
    """``DATA FORMULA --family --prior --na-action --sep --out --overwrite --method --nagq --chains
    --draws --warmup --seed --target-accept --max-tree-depth --progress``."""
    from multilevel.engines import METHODS

    data_options(parser)
    parser.add_argument(
        "--out",
        metavar="RUN_DIR",
        type=Path,
        required=True,
        help="the run folder to write (summary.csv, posterior.nc, fit.mlfit, "
        "spec.json, run.json, report.html); checked before the fit",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier run in RUN_DIR: its run files are replaced once the new "
        "run is complete, any other file there is kept",
    )
    parser.add_argument(
        "--method",
        default="auto",
        choices=list(METHODS),
        help="inference engine (default auto: exact where possible, nested Laplace (inla) for "
        "GLMMs from 20,000 rows, else NUTS); reml or ml "
        "give lme4's point estimates, laplace glmer's (no draws: the run has no "
        "posterior.nc)",
    )
    parser.add_argument(
        "--nagq",
        type=int,
        default=1,
        metavar="K",
        help="with --method laplace: 1 (default) for the Laplace approximation, K > 1 for "
        "adaptive Gauss-Hermite quadrature with K nodes (one term such as (1 | g); glmer's "
        "nAGQ)",
    )
    parser.add_argument(
        "--dask",
        nargs="?",
        const="local",
        default=None,
        metavar="SCHEDULER",
        help="read DATA (a Parquet file, a folder of Parquet files or a quoted glob such as "
        "'data/*.parquet'; a folder or glob implies --dask) as a Dask frame and reduce it "
        "partition by partition: on the cluster of the scheduler at SCHEDULER "
        "(tcp://host:8786 or a scheduler .json file), else on local threads. For the "
        "gaussian engine (reml, ml, exact), laplace and data larger than memory",
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
    parser.add_argument(
        "--max-tree-depth",
        type=int,
        default=10,
        help="NUTS maximum tree depth, Stan's max_treedepth (default 10)",
    )
    progress_option(parser)


def run(args: argparse.Namespace) -> int:
    """Fit, then write the run folder (it appears only when complete) and print the fit."""
    from multilevel import rundir
    from multilevel.cli._figure_worker import FigureWorker

    rundir.check_target(args.out, overwrite=args.overwrite)  # before reading and fitting
    worker = FigureWorker.start()  # now: its imports run while this process imports and fits
    client = None
    try:
        from multilevel.tables import read_table

        start = time.perf_counter()  # reading the data, from here
        priors = parse_prior_options(args.prior)
        on_dask = args.dask is not None or is_dataset(args.data)
        client = connect(args.dask) if on_dask else None
        frame = read_dataset(args.data) if on_dask else read_table(args.data, sep=args.sep)
        return _fit_and_write(args, frame, priors, start, worker)
    finally:
        if worker is not None:
            worker.close()
        if client is not None:
            client.close()


def _fit_and_write(args, frame, priors, start, worker) -> int:
    import multilevel as ml
    from multilevel import rundir
    from multilevel.engines import _compile_cache
    from multilevel.report import data_summary
    from multilevel.seeds import resolve_seed

    read_seconds = time.perf_counter() - start
    seed = resolve_seed(args.seed)
    programs = _compile_cache.counts()
    show = show_progress(args)
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
            max_tree_depth=args.max_tree_depth,
            na_action=args.na_action,
            nagq=args.nagq,
        )
    fit_seconds = time.perf_counter() - fit_start
    messages = report_warnings(caught)
    (hits, misses), (hits_before, misses_before) = _compile_cache.counts(), programs
    loaded, compiled = hits - hits_before, misses - misses_before
    cache = _compile_cache.enabled_folder()

    used = [c for c in frame.columns if c in fit.spec.design.info.formula.variables()]
    statistics = fit.spec.statistics
    # on Dask: the table of the first partition's rows (the statistics hold no rows)
    summary = data_summary(
        frame if statistics is None else frame.get_partition(0)[used].compute(), used
    )
    sources = prior_sources(fit.spec, priors)
    spec_info = {
        "method": args.method,
        "user_priors": priors,
        "prior_sources": sources,
        "data": {
            "path": str(args.data),
            "sha256": _file_sha256(args.data) if args.data.is_file() else None,
            "rows": int(len(frame) if statistics is None else statistics.rows + statistics.dropped),
            "rows_used": int(fit.spec.n_rows),
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
            "max_tree_depth": args.max_tree_depth,
            "na_action": args.na_action,
            "nagq": args.nagq,
        },
        "versions": _versions(),
        "timings": {
            "read_data": read_seconds,
            "fit": fit_seconds,
            **{f"engine_{k}": v for k, v in _engine(fit).timings.items()},
        },
        "warnings": messages,
        "diagnostics": fit.diagnostics(),
        "compiled_programs": {
            "cache": None if cache is None else str(cache),
            "loaded_from_cache": loaded,
            "compiled": compiled,
        },
    }
    write_start = time.perf_counter()
    report_kwargs = {
        "data_source": str(args.data)
        if statistics is None
        else f"{args.data} ({statistics.describe()}; the table summarises its first partition)",
        "data_table": summary,
        "prior_sources": sources or None,
        "settings": {"seed": seed},
        "timings": {"read data": read_seconds, "fit (total)": fit_seconds},
        "versions": log_info["versions"],
    }
    try:
        with steps(show, "writing the run folder") as step:
            rundir.write_run(
                fit,
                args.out,
                spec_info=spec_info,
                log_info=log_info,
                report_kwargs=report_kwargs,
                progress=step,
                overwrite=args.overwrite,
                figure_worker=worker,
            )
    except OSError as err:
        raise DataError(f"cannot write the run folder {str(args.out)!r}: {err}") from None
    write_seconds = time.perf_counter() - write_start

    print(speak_cli(repr(fit), run_dir=args.out))
    programs = (
        f" ({compiled} programs compiled, {loaded} loaded from the cache)"
        if loaded or compiled
        else ""
    )
    print(f"\nseed {seed}; fit {fit_seconds:.1f} s{programs}, files {write_seconds:.1f} s")
    print(f"wrote {args.out}/ (report: {args.out / rundir.FILES['report']})")
    return 0


COMMAND = Command(
    help="fit a model to a CSV or Parquet file and write a run folder with a report",
    description=(
        "Fit a Bayesian multilevel model written as an lme4/brms formula to DATA and "
        "write the run folder RUN_DIR: summary.csv, posterior.nc (ArviZ netCDF), "
        "fit.mlfit (the whole fit, for 'predict' and 'report'), spec.json (formula, "
        "priors, design), run.json (versions, seed, timings, warnings) and report.html. "
        "The folder appears only when complete. Example: multilevel fit radon.csv "
        '"log_radon ~ floor + (1 | county)" --out run'
    ),
    configure=options,
    run=run,
)


def _engine(fit):
    """What the engine returned: the posterior, or a point fit's estimate."""
    return fit.posterior if hasattr(fit, "posterior") else fit.estimate


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
