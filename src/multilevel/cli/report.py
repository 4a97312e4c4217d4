"""``multilevel report RUN_DIR``: write the HTML report of a run folder again."""

from __future__ import annotations

import argparse
from pathlib import Path

from multilevel.cli._common import (
    Command,
    progress_option,
    run_dir_option,
    show_progress,
    steps,
    trust_option,
)
from multilevel.errors import DataError

__all__ = ["COMMAND", "options", "run"]


def options(parser: argparse.ArgumentParser) -> None:
    """``RUN_DIR --trust --out --progress``."""
    run_dir_option(parser)
    trust_option(parser)
    parser.add_argument(
        "--out",
        metavar="FILE",
        type=Path,
        default=None,
        help="where to write the HTML (default: RUN_DIR/report.html, replaced)",
    )
    progress_option(parser)


def run(args: argparse.Namespace) -> int:
    """Render the report of the run's fit with what the run recorded (data summary, prior
    sources, seed, timings, versions); without ``--out`` it replaces the run's report."""
    from multilevel.report import write_report
    from multilevel.rundir import FILES, open_run

    folder = open_run(args.run_dir)
    fit = folder.fit(trust=args.trust)
    data = folder.spec.get("data", {})
    log = folder.manifest
    kwargs = {
        "data_source": data.get("path", "a data frame"),
        "data_table": _frame_table(data["summary"]) if data.get("summary") else None,
        "prior_sources": folder.spec.get("prior_sources") or None,
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
        with steps(show_progress(args), "writing the report") as step:
            written = write_report(fit, target, progress=step, **kwargs)
    except OSError as err:
        raise DataError(f"cannot write the report {str(target)!r}: {err}") from None
    if args.out is None:
        folder.update_file("report", written)
    print(f"wrote {written}")
    return 0


COMMAND = Command(
    help="write the HTML report of a run folder again",
    description="Render the self-contained HTML report of RUN_DIR again (after an "
    "upgrade, or elsewhere with --out).",
    configure=options,
    run=run,
)


def _frame_table(records: dict):
    """The data summary a run recorded (``{column: {statistic: value}}``) as a data frame."""
    import pandas as pd

    table = pd.DataFrame.from_dict(records, orient="index")
    table.index.name = "column"
    return table.astype({c: float for c in ("mean", "sd", "min", "max") if c in table})
