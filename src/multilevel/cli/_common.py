"""What the commands share: the :class:`Command` record, common options, printing, progress
and the library's warnings as ``warning: ...`` lines."""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from multilevel.errors import PriorError
from multilevel.missing import NA_ACTIONS

__all__ = [
    "trust_option",
    "Command",
    "data_options",
    "err",
    "parse_prior_options",
    "print_table",
    "prior_sources",
    "progress_option",
    "report_warnings",
    "run_dir_option",
    "show_progress",
    "speak_cli",
    "steps",
]


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


# --------------------------------------------------------------------------- options
def data_options(parser: argparse.ArgumentParser) -> None:
    """``DATA FORMULA --family --prior --na-action --sep``: the model and its data (``fit``,
    ``check``)."""
    parser.add_argument(
        "data",
        metavar="DATA",
        type=Path,
        help="the data: a .csv, .tsv or .parquet file (Parquet needs pyarrow); missing values "
        "written NA, N/A, n/a, NaN, null, '.' or left empty",
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
    parser.add_argument(
        "--na-action",
        choices=NA_ACTIONS,
        default="omit",
        help="rows with a missing value in a column the model uses: omit (default: leave "
        "them out and say how many, as lme4 and brms) or error (refuse them)",
    )
    parser.add_argument(
        "--sep",
        default=None,
        metavar="SEP",
        help="the separator of a CSV file: comma, semicolon, tab or one character "
        "(default: read from the header line)",
    )


def run_dir_option(parser: argparse.ArgumentParser) -> None:
    """``RUN_DIR``: a run folder written by ``multilevel fit``."""
    parser.add_argument(
        "run_dir",
        metavar="RUN_DIR",
        type=Path,
        help="a run folder written by 'multilevel fit --out RUN_DIR'",
    )


def trust_option(parser: argparse.ArgumentParser) -> None:
    """``--trust``: also open a fit file of the old pickle format."""
    parser.add_argument(
        "--trust",
        action="store_true",
        help="also open a fit.mlfit of the old pickle format (version 1); opening it runs "
        "code from the file: only for run folders you trust. The current format needs no flag.",
    )


def progress_option(parser: argparse.ArgumentParser) -> None:
    """``--progress`` / ``--no-progress`` (default: when stderr is a terminal)."""
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


# --------------------------------------------------------------------------- the model
def prior_sources(spec, priors) -> dict[str, str]:
    """``parameter -> "yours" | "default"`` when the user set ``priors`` (else empty).

    A parameter's prior is ``"default"`` when it is the one :func:`multilevel.build_spec`
    gives the same design without user priors.

    Examples
    --------
    >>> import multilevel as ml
    >>> d = ml.design("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
    >>> spec = ml.build_spec(d, "gaussian", {"sd": "normal(0, 10)"})
    >>> sources = prior_sources(spec, {"sd": "normal(0, 10)"})
    >>> sources["sd_Subject__Intercept"], sources["b_Days"]
    ('yours', 'default')
    >>> prior_sources(spec, {})
    {}
    """
    if not priors:
        return {}
    from multilevel import build_spec

    defaults = build_spec(spec.design, spec.family).priors
    return {
        name: "default" if name in defaults and defaults[name] == prior else "yours"
        for name, prior in spec.priors.items()
    }


# --------------------------------------------------------------------------- printing
def err(*parts) -> None:
    """Print to standard error, as ``print`` does but in one write (a line is never cut in
    half by an interrupt, which silences the output)."""
    sys.stderr.write(" ".join(map(str, parts)) + "\n")


def print_table(table, *, float_digits: int = 4) -> None:
    """Print a data frame whole (up to 500 rows), floats to ``float_digits`` digits."""
    import pandas as pd

    with pd.option_context(
        "display.max_rows", 500, "display.max_columns", 20, "display.width", 120
    ):
        print(table.to_string(float_format=lambda v: f"{v:.{float_digits}g}", na_rep=""))


#: What the Python API's messages say -> what the command line calls it.
_CLI_WORDS = (
    (re.compile(r"\bnew_groups=['\"](\w+)['\"]"), r"--new-groups \1"),
    (re.compile(r"\bmethod=['\"](\w+)['\"](?: or ['\"](\w+)['\"])?"), None),
    (re.compile(r"\bnagq=(\d+)"), r"--nagq \1"),
    (re.compile(r"\btarget_accept\b"), "--target-accept"),
    (re.compile(r"\bmax_tree_depth\b"), "--max-tree-depth"),
    (re.compile(r"`priors`"), "--prior"),
    (re.compile(r"Run more warmup and draws\b"), "Run more warmup and draws (--warmup, --draws)"),
    (re.compile(r"Run more draws\b"), "Run more draws (--draws)"),
    (re.compile(r"\bsee fit\.diagnostics\(\)"), "see 'multilevel summary RUN_DIR'"),
)


def _method_words(match: re.Match) -> str:
    first, second = match.groups()
    return f"--method {first}" + (f" or --method {second}" if second else "")


def speak_cli(text: str, *, run_dir=None) -> str:
    """A library message in the command line's words: ``new_groups='population'`` becomes
    ``--new-groups population``, ``target_accept`` ``--target-accept``, ``see
    fit.diagnostics()`` ``see 'multilevel summary RUN_DIR'`` (with the run folder's name
    when given), and so on.

    Examples
    --------
    >>> speak_cli("pass new_groups='population' to predict them")
    'pass --new-groups population to predict them'
    >>> speak_cli("Increase target_accept (e.g. 0.95). Run more draws.")
    'Increase --target-accept (e.g. 0.95). Run more draws (--draws).'
    >>> speak_cli("use method='exact' or 'nuts' for a posterior")
    'use --method exact or --method nuts for a posterior'
    >>> speak_cli("use nagq=25 or method='nuts'")
    'use --nagq 25 or --method nuts'
    >>> speak_cli("2 problem(s), see fit.diagnostics()", run_dir="run")
    "2 problem(s), see 'multilevel summary run'"
    """
    for pattern, words in _CLI_WORDS:
        text = pattern.sub(_method_words if words is None else words, text)
    if run_dir is not None:
        text = text.replace("'multilevel summary RUN_DIR'", f"'multilevel summary {run_dir}'")
    return text


def report_warnings(caught) -> list[str]:
    """Print the library's own warnings as ``warning: ...`` lines and return them; pass
    other packages' warnings on to the usual filters."""
    from multilevel.errors import ConvergenceWarning, DataWarning

    messages = []
    for w in caught:
        if issubclass(w.category, (ConvergenceWarning, DataWarning)):
            messages.append(f"{w.category.__name__}: {w.message}")
            err(f"warning: {speak_cli(str(w.message))}")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return messages


# --------------------------------------------------------------------------- progress
def show_progress(args) -> bool:
    """Progress bars: on when asked, else when stderr is a terminal."""
    if args.progress is not None:
        return args.progress
    return sys.stderr.isatty()


@contextlib.contextmanager
def steps(enabled: bool, title: str):
    """A progress display for a sequence of labelled steps (on stderr: a spinner on a
    terminal, else a line per step): yields ``step(label)``."""
    from multilevel.engines._progress import stages

    with stages(enabled, title) as step:
        yield step
