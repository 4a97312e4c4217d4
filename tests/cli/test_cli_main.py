"""The ``multilevel`` command line itself: the parser and its registry of commands, exit
statuses, errors, warnings, ``python -m multilevel.cli`` and a closed pipe."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from multilevel import __version__
from multilevel.cli import COMMANDS, build_parser, main


def test_help_via_python_m():
    done = subprocess.run(
        [sys.executable, "-m", "multilevel.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "usage: multilevel" in done.stdout
    for name in COMMANDS:
        assert name in done.stdout


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"multilevel {__version__}"


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: multilevel" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["nonsense"], ["demo", "--seed", "x"], ["demo", "--nope"]])
def test_argument_errors_exit_2(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


def test_user_error_is_one_line_without_traceback(tmp_path, capsys):
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("x")
    assert main(["demo", "--out", str(not_a_folder)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "not a folder" in lines[0]


def test_user_error_from_console_script_exits_2(tmp_path):
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("x")
    done = subprocess.run(
        [sys.executable, "-m", "multilevel.cli", "demo", "--out", str(not_a_folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_has_help(name, capsys):
    assert main([name, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: multilevel {name}")
    assert COMMANDS[name].description.split()[0] in out


def test_every_command_is_in_the_parser():
    parser = build_parser()
    choices = next(a for a in parser._actions if a.dest == "command").choices
    assert set(choices) == set(COMMANDS)


def test_registered_command_errors_and_warnings(monkeypatch, capsys):
    """A new registry entry is a subcommand; its MultilevelError exits 2 in one line and its
    warnings print as 'warning: ...' lines."""
    import warnings

    from multilevel.cli import Command
    from multilevel.errors import DataError, DataWarning

    def configure(parser):
        parser.add_argument("--fail", action="store_true")

    def run(args):
        warnings.warn("only 2 groups", DataWarning, stacklevel=2)
        if args.fail:
            raise DataError("column 'y' is missing")
        return 0

    monkeypatch.setitem(COMMANDS, "boom", Command("test", "test command", configure, run))
    assert main(["boom"]) == 0
    assert capsys.readouterr().err == "warning: only 2 groups\n"
    assert main(["boom", "--fail"]) == 2
    assert capsys.readouterr().err == "warning: only 2 groups\nerror: column 'y' is missing\n"


def test_internal_error_keeps_its_traceback(monkeypatch):
    from multilevel import cli

    def broken(args):
        raise RuntimeError("a bug")

    monkeypatch.setitem(cli.COMMANDS, "summary", cli.COMMANDS["summary"].__class__(
        "x", "x", cli.COMMANDS["summary"].configure, broken))  # fmt: skip
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["summary", "anything"])


def test_a_reader_that_stops_early_gets_no_traceback(nuts):
    """`multilevel summary RUN | head -1`: the reader has gone when the table is written
    (here before the first byte, so the outcome does not depend on timing or buffer sizes)."""
    _, out = nuts
    command = [sys.executable, "-m", "multilevel.cli", "summary", str(out)]
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            command, stdout=write_end, stderr=subprocess.PIPE, timeout=120, check=False
        )
    finally:
        os.close(write_end)
    stderr = result.stderr.decode()
    assert result.returncode == 141, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


# --------------------------------------------------------------------------- one module per command
def _command_modules() -> dict[str, object]:
    """The public modules of the ``multilevel.cli`` package, by name: one per command."""
    import importlib
    import pkgutil

    import multilevel.cli as package

    return {
        info.name: importlib.import_module(f"multilevel.cli.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith("_")
    }


def test_every_command_module_is_registered_in_the_parser():
    """Each command module's COMMAND is the registry entry of its name, and a subcommand of
    the parser with the module's options; no entry lacks a module."""
    from multilevel.cli._common import Command

    modules = _command_modules()
    assert (
        set(modules)
        == set(COMMANDS)
        == {
            "fit",
            "check",
            "summary",
            "predict",
            "report",
            "demo",
            "cache",
        }
    )
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    for name, module in modules.items():
        assert isinstance(module.COMMAND, Command), name
        assert COMMANDS[name] is module.COMMAND, name
        assert module.COMMAND.configure is module.options and module.COMMAND.run is module.run
        assert subparsers[name].description == module.COMMAND.description
        options = {s for a in subparsers[name]._actions for s in a.option_strings}
        assert "--help" in options, name


def test_help_lists_every_command_with_its_help(capsys):
    assert main(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps the help text
    assert out.startswith("usage: multilevel")
    for name, command in COMMANDS.items():
        assert f"{name} {' '.join(command.help.split())}" in out, name


@pytest.mark.parametrize("name", ["", *sorted(_command_modules()), "_common"])
def test_doctests(name):
    import doctest
    import importlib

    module = importlib.import_module("multilevel.cli" + (f".{name}" if name else ""))
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    assert doctest.testmod(module, optionflags=flags).failed == 0
