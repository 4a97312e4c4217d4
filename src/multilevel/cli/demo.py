"""``multilevel demo``: exact hierarchical fits of bundled real data, explained
(:mod:`multilevel.demo`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from multilevel.cli._common import Command

__all__ = ["COMMAND", "options", "run"]


def options(parser: argparse.ArgumentParser) -> None:
    """``--out --seed``."""
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


def run(args: argparse.Namespace) -> int:
    """Run :func:`multilevel.demo.run`."""
    from multilevel import demo

    demo.run(args.out, seed=args.seed)
    return 0


COMMAND = Command(
    help="exact hierarchical fits of bundled real data, explained",
    description=(
        "Fit lme4's cbpp herds (beta-binomial, full Bayes) and print every herd's "
        "posterior with its shrinkage; then, on the Minnesota radon data, show what we "
        "know about a new county measured in 1, 10 and 1000 houses, and about a county "
        "not yet met. Writes shrinkage plots (PNG) and prints their paths."
    ),
    configure=options,
    run=run,
)
