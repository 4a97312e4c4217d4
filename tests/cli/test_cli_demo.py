"""``multilevel demo``: the demo job through the command line (the job itself:
``tests/test_demo.py``)."""

from __future__ import annotations

import contextlib
import io

import pytest

from multilevel import demo
from multilevel.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """``multilevel demo --out DIR`` run once: (exit status, stdout, stderr, DIR)."""
    out = tmp_path_factory.mktemp("demo") / "plots"  # does not exist yet: demo creates it
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main(["demo", "--out", str(out), "--seed", "3"])
    return status, stdout.getvalue(), stderr.getvalue(), out


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


def test_demo_help_lists_options(capsys):
    assert main(["demo", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--out" in out and "--seed" in out
