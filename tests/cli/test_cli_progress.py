"""Progress on every long step: the exact engine's stages and the sampling phases, on the
command line (``--progress``) and in Python (``progress=True``). Away from a terminal each
stage is one line on standard error."""

from __future__ import annotations

import re

import multilevel as ml
from _cli_runs import data_csv, run_cli, simulated
from multilevel.engines import _progress


def test_exact_engine_and_writing_show_their_stages(tmp_path):
    args = ["fit", data_csv(), "y ~ x + (1 | g)", "--method", "exact", "--chains", "2",
            "--draws", "200", "--seed", "1"]  # fmt: skip
    result = run_cli(*args, "--progress", "--out", tmp_path / "run")
    assert result.status == 0, result.err
    lines = result.err.splitlines()
    for stage in (
        "exact: cross-products of the data",
        "exact: compiling the collapsed posterior and finding its mode",
        "exact: drawing the group effects (400 draws)",
        "writing the run folder: posterior.nc",
        "writing the run folder: report.html",
    ):
        assert stage in lines, result.err
    assert any(line.startswith("exact: sampling") for line in lines)
    quiet = run_cli(*args, "--no-progress", "--out", tmp_path / "q")
    assert "exact:" not in quiet.err and "writing the run folder" not in quiet.err


def test_python_progress_of_the_exact_engine(capsys):
    ml.fit("y ~ x + (1 | g)", simulated(), method="exact", chains=2, draws=200, seed=1,
           progress=True)  # fmt: skip
    err = capsys.readouterr().err
    assert "exact: compiling the collapsed posterior" in err
    assert "exact: drawing the group effects" in err
    ml.fit("y ~ x + (1 | g)", simulated(), method="exact", chains=2, draws=200, seed=1,
           progress=False)  # fmt: skip
    assert capsys.readouterr().err == ""


def test_sampling_phases_away_from_a_terminal(capsys):
    with _progress.sampling_progress(True, "NUTS, 2 chains", warmup=10, draws=10, chains=2):
        _progress.tick(2, 4)  # warmup, both chains
        _progress.tick(2, 14)  # sampling
        _progress.tick(1, 3)  # a slower chain still in warmup: no line back
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "NUTS, 2 chains: compiling"
    assert re.fullmatch(r"NUTS, 2 chains: compiled in \d+\.\d s", lines[1])  # (no cache hit)
    assert lines[2:] == ["NUTS, 2 chains: warmup", "NUTS, 2 chains: sampling"]
    _progress.tick(1, 1)  # no bar open: nothing
    assert capsys.readouterr().err == ""


def test_a_python_loop_has_no_compiling_phase(capsys):
    with _progress.sampling_progress(
        True, "Gibbs, 1 chain", warmup=10, draws=10, compiles=False
    ) as phases:
        _progress.tick(1, 4)
        _progress.tick(1, 14)
    assert capsys.readouterr().err.splitlines() == [
        "Gibbs, 1 chain: warmup",
        "Gibbs, 1 chain: sampling",
    ]
    assert phases.timings()["compile"] >= 0  # the time to the first report, all the same


def test_the_phases_time_compiling_apart_from_sampling(monkeypatch):
    clock = iter([10.0, 12.5, 20.0])  # start, first report, end
    monkeypatch.setattr(_progress.time, "perf_counter", lambda: next(clock))
    with _progress.sampling_progress(False, "NUTS", 10, 10) as phases:
        _progress.tick(1, 0)
        _progress.tick(1, 1)  # later reports do not move the end of compiling
    assert phases.timings() == {"compile": 2.5, "warmup_and_sampling": 7.5}
