"""Ctrl-C ends ``multilevel`` cleanly whenever it comes: status 130, the line
``interrupted``, no traceback or C++ abort, and nothing half-written (no run folder, no
temporary folder, an earlier run folder unchanged).

Each case runs the program in a subprocess with ``--progress`` (away from a terminal the
progress is one line per stage) and sends SIGINT as soon as a given stage is announced.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

import multilevel
from _cli_runs import EXACT_FORMULA, FORMULA, exact_run, simulated

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
# the package under test, whatever the working folder of the subprocess
_SOURCE = os.pathsep.join(
    [str(os.path.dirname(os.path.dirname(multilevel.__file__))), os.environ.get("PYTHONPATH", "")]
)


def _interrupt_at(argv, stage: str, cwd, timeout: float = 240.0, python=()):
    """Run ``multilevel ARGV --progress`` (with the interpreter options ``python``), send
    SIGINT when a stderr line contains ``stage``; return (status, stderr, seconds from the
    signal to the exit)."""
    command = [sys.executable, *python, "-m", "multilevel.cli", *map(str, argv), "--progress"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": _SOURCE}
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines = []
    deadline = time.monotonic() + timeout
    try:
        for line in process.stderr:
            lines.append(line)
            if stage in line:
                break
            assert time.monotonic() < deadline, "".join(lines)
        else:
            raise AssertionError(f"{stage!r} never shown:\n{''.join(lines)}")
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, "".join(lines) + rest, time.monotonic() - sent


def _assert_clean_interrupt(status: int, stderr: str, seconds: float) -> None:
    assert status == 130, stderr
    assert stderr.rstrip().splitlines()[-1].startswith("interrupted"), stderr
    for bad in ("Traceback", "KeyboardInterrupt", "pure virtual", "terminate called", "Abort"):
        assert bad not in stderr, stderr
    assert seconds < 20, f"took {seconds:.1f} s to stop"


def _files(folder) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def data(tmp_path):
    simulated().to_csv(tmp_path / "data.csv", index=False)
    return tmp_path


@pytest.mark.parametrize(
    "argv, stage",
    [
        # NUTS: XLA runs the chains in its own threads
        (
            [FORMULA, "--method", "nuts", "--chains", "2", "--draws", "20000"],
            "NUTS, 2 chains: warmup",
        ),
        # the exact engine while XLA compiles
        ([FORMULA, "--method", "exact", "--chains", "2", "--draws", "500"], "exact: compiling"),
        # writing the run folder (the exact conjugate engine: a quick fit)
        ([EXACT_FORMULA, "--chains", "2", "--draws", "200"], "writing the run folder: report"),
    ],
    ids=["sampling (nuts)", "compiling (exact)", "writing"],
)
def test_interrupt_leaves_nothing(data, argv, stage):
    status, stderr, seconds = _interrupt_at(
        ["fit", "data.csv", *argv, "--seed", "1", "--out", "run"], stage, data
    )
    _assert_clean_interrupt(status, stderr, seconds)
    assert sorted(p.name for p in data.iterdir()) == ["data.csv"]  # no run, no partial folder


def test_interrupt_while_the_libraries_load(data):
    """Ctrl-C in the first second, while NumPy, pandas and JAX are still being imported:
    ``-X importtime`` announces each import as it ends; the signal follows NumPy's."""
    status, stderr, seconds = _interrupt_at(
        ["fit", "data.csv", FORMULA, "--method", "nuts", "--out", "run"],
        " numpy\n",  # the line of the import of numpy itself (not numpy.linalg)
        data,
        python=("-X", "importtime"),
    )
    _assert_clean_interrupt(status, stderr, seconds)
    assert sorted(p.name for p in data.iterdir()) == ["data.csv"]


def test_the_program_takes_over_ctrl_c_before_loading_numpy():
    """What the program imports before :func:`multilevel.cli.main` installs its handler is
    small: the package and the command line, without NumPy, pandas or JAX."""
    code = (
        "import sys, multilevel.cli; print(sorted({'numpy', 'pandas', 'jax'} & set(sys.modules)))"
    )
    env = {**os.environ, "PYTHONPATH": _SOURCE}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_interrupted_overwrite_keeps_the_earlier_run_and_the_users_files(data):
    result, source = exact_run()
    assert result.status == 0, result.err
    shutil.copytree(source, data / "run")
    (data / "run" / "notes.txt").write_text("mine")
    before = _files(data / "run")
    status, stderr, seconds = _interrupt_at(
        ["fit", "data.csv", EXACT_FORMULA, "--chains", "2", "--draws", "200", "--out", "run",
         "--overwrite"],
        "writing the run folder: posterior.nc",
        data,
    )  # fmt: skip
    _assert_clean_interrupt(status, stderr, seconds)
    assert _files(data / "run") == before
    assert sorted(p.name for p in data.iterdir()) == ["data.csv", "run"]
