"""Every engine's fit survives a save and a load in a fresh process: ``summary``, ``coef``,
``ranef``, ``predict`` (every kind, new levels drawn), ``to_arviz`` (every group, with its
coordinates), the diagnostics, the repr and the HTML report are identical to the
original's. The fresh process imports nothing of the fitting session: only the file
carries the fit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from _storage_fits import (
    ENGINES,
    NEWDATA,
    assert_same_outputs,
    engine_fit,
    outputs,
    read_outputs,
    write_outputs,
)

HERE = Path(__file__).resolve().parent

CHILD = """
import sys
from pathlib import Path

import multilevel as ml
from _storage_fits import NEWDATA, outputs, write_outputs

folder = Path(sys.argv[1])
for engine in sys.argv[2:]:
    fit = ml.load(folder / f"{engine}.mlfit")
    report = folder / "child" / f"{engine}.html" if hasattr(fit, "posterior") else None
    write_outputs(outputs(fit, NEWDATA[engine], report=report), folder / "child" / engine)
"""


def _report(folder: Path, side: str, engine: str, fit) -> Path | None:
    if not hasattr(fit, "posterior"):  # point fits have no report
        return None
    (folder / side).mkdir(exist_ok=True)
    return folder / side / f"{engine}.html"


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory):
    """Each engine's outputs before saving (this process) and after loading (a new one)."""
    folder = tmp_path_factory.mktemp("engines")
    for engine in ENGINES:
        fit = engine_fit(engine)
        fit.save(folder / f"{engine}.mlfit")
        report = _report(folder, "parent", engine, fit)
        write_outputs(outputs(fit, NEWDATA[engine], report=report), folder / "parent" / engine)
    (folder / "child").mkdir()
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), *(p for p in sys.path if p)])
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder), *ENGINES],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return folder


@pytest.mark.parametrize("engine", ENGINES)
def test_a_fit_is_the_same_after_loading_it_in_a_fresh_process(round_trip, engine):
    before = read_outputs(round_trip / "parent" / engine)
    after = read_outputs(round_trip / "child" / engine)
    assert_same_outputs(before, after)
    if engine in ("conjugate", "exact", "nuts"):
        assert "report" in before and "<html" in before["report"]
        assert any(name.startswith("arviz/posterior_predictive/") for name in before)
