"""``multilevel summary``: the posterior summary of a run folder, checked against its
checksums."""

from __future__ import annotations

import pytest

from _cli_runs import FORMULA, run_cli
from multilevel import rundir
from multilevel.errors import DataError


def test_summary_command(nuts):
    _, out = nuts
    result = run_cli("summary", out)
    assert result.status == 0, result.err
    assert FORMULA in result.out and "engine: nuts" in result.out
    rows = [line.split()[0] for line in result.out.splitlines() if line.strip()]
    assert "b_x" in rows and not any(r.startswith("r_g[") for r in rows)
    result = run_cli("summary", out, "--all")
    rows = [line.split()[0] for line in result.out.splitlines() if line.strip()]
    assert "r_g[g1,Intercept]" in rows


def test_open_run_detects_a_changed_file(exact, tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(exact[1], copy)
    with open(copy / "summary.csv", "a") as handle:
        handle.write("extra,1\n")
    with pytest.raises(DataError, match="summary.csv differs"):
        rundir.open_run(copy).summary()
