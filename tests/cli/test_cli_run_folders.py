"""Run folders as ``--out``: checked before any work, an earlier run replaced only with
``--overwrite`` and the user's own files there kept; ``ml.load`` of a run folder, and
``Fit.save`` onto a folder. (Refusals are also in the bad-input catalogue.)"""

from __future__ import annotations

import json
import shutil

import pytest

import multilevel as ml
from _cli_runs import EXACT_FORMULA, data_csv, run_cli
from multilevel import rundir
from multilevel.errors import DataError
from multilevel.results import storage

QUICK = ["--chains", "1", "--draws", "50"]


def _seed(run) -> int:
    return json.loads((run / "run.json").read_text())["seed"]


def test_overwrite_replaces_the_run_files_and_keeps_the_users(exact, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(exact[1], run)
    (run / "notes.txt").write_text("mine")
    (run / "figures").mkdir()
    (run / "figures" / "plot.png").write_bytes(b"png")
    args = ["fit", data_csv(), EXACT_FORMULA, *QUICK, "--out", run, "--seed", "11"]

    refused = run_cli(*args)
    assert refused.status == 2
    assert refused.err.startswith(f"error: --out {str(run)!r} already holds a run")
    assert "--overwrite" in refused.err and _seed(run) == 3  # the earlier run, untouched

    result = run_cli(*args, "--overwrite")
    assert result.status == 0, result.err
    assert _seed(run) == 11
    assert (run / "notes.txt").read_text() == "mine"
    assert (run / "figures" / "plot.png").read_bytes() == b"png"
    names = {p.name for p in run.iterdir()}
    assert names == set(rundir.FILES.values()) | {"notes.txt", "figures"}
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # nothing left beside it
    assert rundir.open_run(run).fit().posterior.settings["seed"] == 11


def test_an_empty_folder_is_a_fine_target(tmp_path):
    (tmp_path / "run").mkdir()
    result = run_cli("fit", data_csv(), EXACT_FORMULA, *QUICK, "--out", tmp_path / "run")
    assert result.status == 0, result.err
    assert (tmp_path / "run" / "run.json").is_file()


def test_unwritable_out_is_found_before_reading_or_fitting(tmp_path, monkeypatch):
    """Whatever makes the folder unwritable (permissions, a read-only file system), the
    check creates a folder there before any work."""
    import multilevel.tables as tables

    def no_reading(*args, **kwargs):
        raise AssertionError("the data were read before --out was checked")

    def refused(beside, tag):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tables, "read_table", no_reading)
    monkeypatch.setattr(rundir, "fresh_folder", refused)
    out = tmp_path / "deep" / "run"
    result = run_cli("fit", data_csv(), EXACT_FORMULA, "--out", out)
    assert result.status == 2
    assert result.err == (
        f"error: --out {str(out)!r} cannot be written: creating a folder in {str(tmp_path)!r} "
        "failed (Permission denied); choose a folder you can write to, or change its "
        "permissions\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_load_a_run_folder_and_save_onto_a_folder(exact, tmp_path):
    fit = ml.load(exact[1])
    assert fit.posterior.settings["seed"] == 3
    assert storage.RUN_FIT_FILE == rundir.FILES["fit"]
    with pytest.raises(DataError) as info:
        fit.save(tmp_path)
    assert str(info.value) == (
        f"cannot save the fit to {str(tmp_path)!r}: it is a folder; give a file name, e.g. "
        f"{str(tmp_path / 'fit.mlfit')!r}"
    )
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DataError, match="folder without fit.mlfit"):
        ml.load(tmp_path)
