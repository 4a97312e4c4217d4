"""The ``multilevel`` command line: ``multilevel <command> [options]``.

A thin argument layer: each command is a :class:`Command` in :data:`COMMANDS` that declares
its options and calls the public API. Adding a command means adding one entry.

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
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from multilevel import __version__
from multilevel.errors import MultilevelError

__all__ = ["Command", "COMMANDS", "build_parser", "main"]

USER_ERROR = 2
INTERRUPTED = 130


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
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, or an argument error (already printed)
        code = exit_.code
        return 0 if code is None else code if isinstance(code, int) else USER_ERROR
    if args.command is None:
        parser.print_help(sys.stderr)
        return USER_ERROR
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return COMMANDS[args.command].run(args)
    except MultilevelError as err:
        print(f"error: {err}", file=sys.stderr)
        return USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
