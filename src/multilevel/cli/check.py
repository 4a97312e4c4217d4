"""``multilevel check DATA FORMULA``: the model and its data, without fitting."""

from __future__ import annotations

import argparse
import warnings

from multilevel.cli._common import (
    Command,
    data_options,
    parse_prior_options,
    print_table,
    prior_sources,
    report_warnings,
)

__all__ = ["COMMAND", "options", "run"]


def options(parser: argparse.ArgumentParser) -> None:
    """``DATA FORMULA --family --prior --na-action --sep --method``."""
    from multilevel.engines import METHODS

    data_options(parser)
    parser.add_argument(
        "--method",
        default="auto",
        choices=METHODS,
        help="show which engine this method would use (default auto)",
    )


def run(args: argparse.Namespace) -> int:
    """Print the model in words, the data it uses, its columns, grouping structure, priors,
    engine and data problems (:func:`multilevel.checks.data_problems`)."""
    import multilevel as ml
    from multilevel.checks import data_problems
    from multilevel.engines import select_engine
    from multilevel.report import data_summary
    from multilevel.report.words import describe_model
    from multilevel.spec.families import get_family
    from multilevel.tables import read_table

    priors = parse_prior_options(args.prior)
    frame = read_table(args.data, sep=args.sep)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        family = get_family(args.family)
        design = ml.design(args.formula, frame, family=family.name, na_action=args.na_action)
        spec = ml.build_spec(design, family, priors or None)
    formula = design.info.formula
    print(f"Formula: {formula.text}")
    print(f"  {describe_model(spec)}")
    used = [c for c in frame.columns if c in formula.variables()]
    print(
        f"\nData: {args.data}: {len(frame):,} rows, {frame.shape[1]} columns; the model uses "
        f"{len(used)}: {', '.join(map(str, used))}"
    )
    print_table(data_summary(frame, used))
    print(f"\nPopulation-level columns ({len(design.X_names)}): {', '.join(design.X_names)}")
    structure = design.group_structure() if design.blocks or design.dpars else None
    if structure is not None and not structure.empty:
        print("\nGrouping structure:")
        print_table(structure)
    print("\nPriors that would be used (Stan notation; T[0, ]: truncated at 0):")
    sources = prior_sources(spec, priors)
    for name, prior in spec.priors.items():
        mark = "   (yours)" if sources.get(name) == "yours" else ""
        print(f"  {name:<32} {prior.to_stan()}{mark}")
    engine, reason = select_engine(spec, args.method)
    print(f"\nEngine: {engine.name}: {reason}")
    problems = [m.split(": ", 1)[1] for m in report_warnings(caught)]
    problems += data_problems(spec, structure=structure)
    problems = list(dict.fromkeys(problems))  # the design's notes come both ways
    print("\nData problems:" if problems else "\nData problems: none found")
    for problem in problems:
        print(f"  - {problem}")
    return 0


COMMAND = Command(
    help="check a formula against data without fitting: design, priors, groups, problems",
    description=(
        "Parse FORMULA, build the design on DATA and show the model in words, the columns "
        "used, the population-level columns, the grouping structure (levels per factor, "
        "nested or crossed), the priors that would be used, the engine that would fit it, "
        "and data problems worth a look. Nothing is fitted or written."
    ),
    configure=options,
    run=run,
)
