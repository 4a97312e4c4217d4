"""``multilevel cache``: where compiled code is kept between runs, how much, and ``--clear``
to empty it (:mod:`multilevel.user_cache`)."""

from __future__ import annotations

import argparse

from multilevel.cli._common import Command

__all__ = ["COMMAND", "options", "run"]


def options(parser: argparse.ArgumentParser) -> None:
    """``--clear [KIND ...]``."""
    from multilevel.user_cache import KINDS

    parser.add_argument(
        "--clear",
        nargs="*",
        choices=list(KINDS),
        default=None,
        metavar="KIND",
        help=f"delete the cached code ({', '.join(KINDS)}; default: all); the next fit of "
        "each model compiles it again",
    )


def run(args: argparse.Namespace) -> int:
    """Show the cache, or clear it."""
    from multilevel import user_cache
    from multilevel.engines._compile_cache import ENV_SIZE, ENV_SWITCH

    if args.clear is not None:
        freed = user_cache.clear(args.clear or None)
        print(f"cleared {_megabytes(freed)} from {user_cache.root()}")
        return 0
    print(f"cache folder: {user_cache.root()} (set {user_cache.ENV} to move it)")
    for kind, used in user_cache.usage().items():
        print(
            f"  {kind}: {used['files']} files, {_megabytes(used['bytes'])}: "
            f"{user_cache.KINDS[kind]}"
        )
    print(f"{ENV_SWITCH}=0 switches the JAX cache off; {ENV_SIZE} bounds it (MB, default 1024)")
    return 0


def _megabytes(count: int) -> str:
    return f"{count / (1 << 20):.1f} MB"


COMMAND = Command(
    help="show or clear the compiled code kept between runs",
    description=(
        "Show the folder where compiled models are kept between runs (JAX programs, so that "
        "a model is compiled once, not at every run; compiled Stan programs) and its size; "
        "--clear deletes them. Deleting is always safe: what is missing is compiled again."
    ),
    configure=options,
    run=run,
)
