"""``multilevel predict RUN_DIR NEWDATA``: predictions for new rows from a run folder."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from multilevel.cli._common import (
    Command,
    print_table,
    report_warnings,
    run_dir_option,
    trust_option,
)
from multilevel.errors import DataError

__all__ = ["COMMAND", "options", "run"]


def options(parser: argparse.ArgumentParser) -> None:
    """``RUN_DIR NEWDATA --trust --new-groups --kind --seed --out``."""
    from multilevel.results.predict import KINDS, NEW_GROUPS

    run_dir_option(parser)
    trust_option(parser)
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


def run(args: argparse.Namespace) -> int:
    """Predict NEWDATA with the run's fit; print the rows or write them to ``--out``."""
    from multilevel.rundir import open_run
    from multilevel.tables import read_table, table_format, write_table

    if args.out is not None:
        table_format(args.out)  # a bad name fails before any work
    folder = open_run(args.run_dir)
    newdata = read_table(args.newdata)
    fit = folder.fit(trust=args.trust)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = fit.predict(newdata, kind=args.kind, new_groups=args.new_groups, seed=args.seed)
    report_warnings(caught)  # rows with missing values: their predictions are empty (NaN)
    if table.ndim == 1:  # a point fit (reml, ml): one estimate per row
        table = table.to_frame()
    out = newdata.copy()
    for column in table.columns:
        out[f"pred_{column}"] = table[column].to_numpy()
    if args.out is None:
        print_table(out)
        return 0
    try:
        write_table(out, args.out)
    except OSError as err:
        raise DataError(f"cannot write {str(args.out)!r}: {err}") from None
    print(f"wrote {len(out):,} predictions ({args.kind}) to {args.out}")
    return 0


COMMAND = Command(
    help="predict new rows from a run folder",
    description=(
        "Predict the rows of NEWDATA from the fit in RUN_DIR: posterior mean, SD and 5%, "
        "50%, 95% quantiles of the expected response (--kind mean), the linear predictor "
        "or replicated responses. Grouping levels the fit has not seen are an error "
        "unless --new-groups says otherwise; rows with a missing value get empty "
        "predictions, with a warning."
    ),
    configure=options,
    run=run,
)
