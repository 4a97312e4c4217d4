"""The ``multilevel`` command line and its ``demo`` job."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys

import numpy as np
import pytest

from multilevel import __version__, datasets, demo
from multilevel.cli import COMMANDS, build_parser, main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """``multilevel demo --out DIR`` run once: (exit status, stdout, stderr, DIR)."""
    out = tmp_path_factory.mktemp("demo") / "plots"  # does not exist yet: demo creates it
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main(["demo", "--out", str(out), "--seed", "3"])
    return status, stdout.getvalue(), stderr.getvalue(), out


@pytest.fixture(scope="module")
def radon_fit():
    return demo.fit_radon()


# --------------------------------------------------------------------------- demo
def test_demo_succeeds(demo_run):
    status, _, stderr, _ = demo_run
    assert status == 0, stderr
    assert "Traceback" not in stderr


def test_demo_writes_valid_pngs(demo_run):
    _, stdout, _, out = demo_run
    for name in demo.PLOT_NAMES.values():
        path = out / name
        assert path.is_file(), f"{name} not written"
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE)
        assert len(data) > 10_000  # a real plot, not an empty canvas
        width, height = (int.from_bytes(data[k : k + 4], "big") for k in (16, 20))
        assert width > 300 and height > 200
        assert str(path.resolve()) in stdout.replace("\n", ""), "absolute path printed"


def test_demo_prints_every_herd(demo_run):
    _, stdout, _, _ = demo_run
    assert "cbpp" in stdout and "shrinkage" in stdout and "90% interval" in stdout
    lines = stdout.split("radon:")[0].splitlines()
    for herd in range(1, 16):
        row = next((ln for ln in lines if ln.split()[:1] == [str(herd)]), None)
        assert row is not None, f"herd {herd} missing from the table"
        assert len(row.split()) >= 7, row  # herd, cases, trials, own p, mean, interval, shrink
    # herd 14: 11 cases of 26, pulled from 0.423 toward the population
    row14 = next(ln for ln in lines if ln.split()[:1] == ["14"]).split()
    assert row14[1:4] == ["11", "26", "0.423"]
    assert 0.25 < float(row14[4]) < 0.40


def test_demo_prints_hyperparameters_and_engine(demo_run):
    _, stdout, _, _ = demo_run
    text = " ".join(stdout.split())
    assert "alpha" in text and "beta" in text
    assert "Engine: exact conjugate engine: beta-binomial" in text
    assert "Hyperpriors:" in text


def test_demo_prints_the_seed_question(demo_run):
    _, stdout, _, _ = demo_run
    text = " ".join(stdout.split())
    for label in ("not yet met", "1 house", "10 houses", "1000 houses"):
        assert label in text
    assert "shrinkage" in text and "falls from" in text


def test_herd_table_numbers():
    herds = demo.herd_table(demo.fit_cbpp())
    assert list(herds.index) == [str(h) for h in range(1, 16)]  # natural order
    cbpp = datasets.load("cbpp")
    totals = cbpp.groupby("herd")[["incidence", "size"]].sum()
    assert (herds["cases"] == totals.loc[herds.index, "incidence"]).all()
    assert (herds["trials"] == totals.loc[herds.index, "size"]).all()
    assert ((herds["q5"] < herds["mean"]) & (herds["mean"] < herds["q95"])).all()
    assert herds["shrinkage"].between(0, 1).all()
    # smaller herds are shrunk more: shrinkage = E[(a + b) / (a + b + n)] decreases in n
    order = herds.sort_values("trials")
    assert np.all(np.diff(order["shrinkage"].to_numpy()) <= 1e-12)


# --------------------------------------------------------------------------- seed question
def test_family_size_shrinkage_decreases_with_houses(radon_fit):
    table = demo.family_size_table(radon_fit)
    one, ten, thousand = (
        table.loc[f"new county, {n}"] for n in ("1 house", "10 houses", "1000 houses")
    )
    assert table.loc["new county, not yet met", "shrinkage"] == 1.0
    assert one["shrinkage"] > ten["shrinkage"] > thousand["shrinkage"]
    assert abs(thousand["mean"] - 2.0) < 0.05
    # the interval narrows and the posterior moves from the state mean toward 2.0
    assert one["sd"] > ten["sd"] > thousand["sd"]
    assert table["mean"].iloc[0] < one["mean"] < ten["mean"] < thousand["mean"] <= 2.0
    assert (table["own_mean"].iloc[1:] - 2.0).abs().max() < 1e-12


def test_family_size_does_not_depend_on_seed(radon_fit):
    a = demo.family_size_table(radon_fit, sizes=(10,), seed=0)
    b = demo.family_size_table(radon_fit, sizes=(10,), seed=99)
    np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-9)


def test_new_county_data_has_exact_mean_and_sd():
    data = demo.new_county_data(25, mean=2.0, sd=0.7, seed=5)
    assert len(data) == 25 and set(data["county"]) == {"new county"}
    assert data["log_radon"].mean() == pytest.approx(2.0, abs=1e-12)
    assert data["log_radon"].std(ddof=1) == pytest.approx(0.7, rel=1e-12)
    single = demo.new_county_data(1, mean=2.0, sd=0.7)
    assert single["log_radon"].tolist() == [2.0]


# --------------------------------------------------------------------------- command line
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


def test_demo_help_lists_options(capsys):
    assert main(["demo", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--out" in out and "--seed" in out


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
