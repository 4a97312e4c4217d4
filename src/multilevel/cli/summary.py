"""``multilevel summary RUN_DIR``: the posterior summary of a run folder."""

from __future__ import annotations

import argparse

from multilevel.cli._common import Command, print_table, run_dir_option, speak_cli

__all__ = ["COMMAND", "options", "run"]


def options(parser: argparse.ArgumentParser) -> None:
    """``RUN_DIR --all``."""
    run_dir_option(parser)
    parser.add_argument(
        "--all",
        action="store_true",
        help="also show every group-level effect r_<group>[level,coef]",
    )


def run(args: argparse.Namespace) -> int:
    """Print the model, engine and draws of the run, its summary table and diagnostics."""
    from multilevel.rundir import open_run

    folder = open_run(args.run_dir)
    spec, log = folder.spec, folder.manifest
    table = folder.summary()
    if not args.all:
        named = [n for n in spec.get("parameters", []) if n in table.index]
        table = table.loc[named] if named else table
    print(f"Run {args.run_dir}: {spec.get('formula')}")
    print(
        f"  family: {spec.get('family')} ({spec.get('link')} link); observations: "
        f"{spec.get('observations')}; data: {spec.get('data', {}).get('path')}"
    )
    print(f"  engine: {spec.get('engine')} ({spec.get('reason')})")
    if spec.get("chains") is None:  # a point fit (--method reml / ml): estimates, no draws
        print("  point estimates (no draws)")
    else:
        print(f"  draws: {spec.get('chains')} chains x {spec.get('draws')}; seed {log.get('seed')}")
    for group in spec.get("groups", []):
        print(f"  group {group['factor']}: {group['levels']} levels, {group['term']}")
    print_table(table)
    problems = log.get("diagnostics") or []
    print("convergence: no problems found" if not problems else "convergence problems:")
    for problem in problems:
        print(f"  - {speak_cli(problem)}")
    return 0


COMMAND = Command(
    help="print the posterior summary of a run folder",
    description="Print the model, engine, draws and the posterior summary of RUN_DIR "
    "(named parameters; --all adds the group-level effects) and its diagnostics.",
    configure=options,
    run=run,
)
