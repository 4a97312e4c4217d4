"""The ``multilevel`` command line: ``multilevel <command> [options]``.

A thin argument layer over the public API, one module per command: each module holds its
options (``options(parser)``), its work (``run(args)``) and its :class:`Command` record
(``COMMAND``), registered in :data:`COMMANDS`. Adding a command means adding one module and
one entry. What the commands share (common options, printing, progress, warnings) is in
:mod:`multilevel.cli._common`.

======================  =====================  ==============================================
``fit DATA FORMULA``    :mod:`~.cli.fit`       fit a model to a CSV / Parquet file, write a
                                               run folder (``--out``)
``check DATA FORMULA``  :mod:`~.cli.check`     parse, build the design, show priors, groups
                                               and data problems (:mod:`multilevel.checks`)
``summary RUN_DIR``     :mod:`~.cli.summary`   print the posterior summary of a run
``predict RUN_DIR NEW`` :mod:`~.cli.predict`   predictions for new rows
``report RUN_DIR``      :mod:`~.cli.report`    (re)write the HTML report of a run
``demo``                :mod:`~.cli.demo`      exact hierarchical fits of bundled real data,
                                               explained
``cache``               :mod:`~.cli.cache`     show or ``--clear`` the compiled code kept
                                               between runs
======================  =====================  ==============================================

Exit status: 0 on success, 2 for a user error (bad arguments, or any
:class:`~multilevel.errors.MultilevelError`, printed as one ``error: ...`` message without a
traceback), 130 when interrupted, 141 when the reader of standard output went away
(``multilevel summary RUN | head``). Anything else is a bug and keeps its traceback.
Run as the program (``main()`` without ``argv``: the console script, ``python -m
multilevel.cli``), Ctrl-C ends it at once, whenever it comes, with status 130, the line
``interrupted`` and nothing half-written (:mod:`multilevel.cli._interrupt`).

Examples
--------
>>> from multilevel.cli import main
>>> main(["--version"])  # doctest: +ELLIPSIS
multilevel ...
0
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import warnings

from multilevel import __version__
from multilevel.cli import cache, check, demo, fit, predict, report, summary
from multilevel.cli._common import Command, parse_prior_options, speak_cli
from multilevel.cli._interrupt import INTERRUPTED, end_on_interrupt
from multilevel.errors import MultilevelError

__all__ = ["Command", "COMMANDS", "build_parser", "main", "parse_prior_options"]

USER_ERROR = 2
#: Exit status when the reader of standard output went away (128 + SIGPIPE, as a shell reports)
BROKEN_PIPE = 141

#: The subcommands, in the order ``multilevel --help`` lists them.
COMMANDS: dict[str, Command] = {
    "fit": fit.COMMAND,
    "check": check.COMMAND,
    "summary": summary.COMMAND,
    "predict": predict.COMMAND,
    "report": report.COMMAND,
    "demo": demo.COMMAND,
    "cache": cache.COMMAND,
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with one subparser per entry of :data:`COMMANDS`; given a
    ``command`` name, only that subparser's options are added (another's can import half
    the library: ``predict`` reads its choices from the prediction code)."""
    parser = argparse.ArgumentParser(
        prog="multilevel",
        description="Bayesian hierarchical (multilevel) models: exact where the mathematics "
        "allows.",
    )
    parser.add_argument("--version", action="version", version=f"multilevel {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, entry in COMMANDS.items():
        child = sub.add_parser(name, help=entry.help, description=entry.description)
        if command is None or name == command:
            entry.configure(child)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    if argv is None:  # the program itself: Ctrl-C ends the process cleanly, at once
        end_on_interrupt()
    argv = list(sys.argv[1:] if argv is None else argv)
    # the options of the command named, only: no command (--help, --version) needs none
    parser = build_parser(next((a for a in argv if not a.startswith("-")), ""))
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
        print(f"error: {speak_cli(str(err))}", file=sys.stderr)
        return USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # the reader went away (`multilevel summary RUN | head`)
        _silence_stdout()
        return BROKEN_PIPE


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Our warnings as ``warning: ...`` lines in the command line's words; another
    package's (a notice of ArviZ, a deprecation in NumPy) as Python shows it, with its
    category and source, so that it does not read as ours."""
    stream = sys.stderr if file is None else file
    if _is_ours(category, filename):
        print(f"warning: {speak_cli(str(message))}", file=stream)
    else:
        stream.write(warnings.formatwarning(message, category, filename, lineno, line))


def _is_ours(category, filename) -> bool:
    """A warning of one of our classes, or issued from the multilevel package."""
    from multilevel import errors

    if issubclass(
        category, (errors.ConvergenceWarning, errors.DataWarning, errors.UnsafeFileWarning)
    ):
        return True
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        return os.path.commonpath([package, os.path.abspath(filename)]) == package
    except ValueError:  # another drive, or no file name
        return False


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so that Python's flush at exit does not raise
    into the closed pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass  # not a real file (tests capture it): nothing is flushed at exit
