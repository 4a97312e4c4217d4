"""``multilevel report``: the HTML report of a run folder, written again."""

from __future__ import annotations

import hashlib
import json

from _cli_runs import run_cli


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_report_command_rewrites_the_report_and_the_manifest(exact, tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(exact[1], copy)
    (copy / "report.html").write_text("old")
    result = run_cli("report", copy)
    assert result.status == 0, result.err
    text = (copy / "report.html").read_text()
    assert text.startswith("<!DOCTYPE html>") and "Shrinkage" in text
    assert "posterior predictive check" in text.lower()
    manifest = json.loads((copy / "run.json").read_text())
    assert manifest["files"]["report.html"]["sha256"] == _sha256(copy / "report.html")
    assert run_cli("summary", copy).status == 0  # checksums still agree
    # elsewhere, leaving the run folder alone
    result = run_cli("report", copy, "--out", tmp_path / "elsewhere.html")
    assert result.status == 0 and (tmp_path / "elsewhere.html").is_file()
