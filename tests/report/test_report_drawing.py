"""The report's figures drawn by a helper process (:class:`FigureWorker`) are the ones drawn
here, byte for byte; when the worker fails the report draws them here."""

from __future__ import annotations

import json

import pytest

from _fitted import small_fit
from multilevel import rundir
from multilevel.cli._figure_worker import FigureWorker
from multilevel.report import build_report
from multilevel.report.drawing import draw_figures


@pytest.fixture(scope="module")
def worker():
    started = FigureWorker.start()
    if started is None:
        pytest.skip("one core: the figures are always drawn in the fitting process")
    yield started
    started.close()


def test_the_worker_draws_the_figures_drawn_here(tmp_path, worker):
    fit = small_fit()
    fit.save(tmp_path / "fit.mlfit")
    drawn = worker.draw(tmp_path / "fit.mlfit")()
    here = draw_figures(fit)
    assert [f.id for f in drawn] == ["shrinkage", "effects", "ppc", "trace"]
    assert all(f.image and f.image.startswith("data:image/png;base64,") for f in drawn)
    assert drawn == here


def test_a_failed_worker_leaves_the_figures_to_this_process(tmp_path, worker):
    fit = small_fit()
    failed = worker.draw(tmp_path / "no-such-fit.mlfit")
    assert failed() is None
    report = build_report(fit, figures=failed)
    assert report.figures == draw_figures(fit)
    # and the worker still draws the next fit's figures
    fit.save(tmp_path / "fit.mlfit")
    assert worker.draw(tmp_path / "fit.mlfit")() == report.figures


def test_a_run_folder_written_with_the_worker_is_the_one_written_without(tmp_path, worker):
    fit = small_fit()
    info = {"spec_info": {}, "log_info": {}}
    rundir.write_run(fit, tmp_path / "with", figure_worker=worker, **info)
    rundir.write_run(fit, tmp_path / "without", **info)
    files = {}
    for name in ("with", "without"):
        manifest = json.loads((tmp_path / name / "run.json").read_text())["files"]
        # (the report holds its creation time, and so does posterior.nc under ArviZ 0.x)
        files[name] = {
            k: v["sha256"] for k, v in manifest.items() if k not in ("report.html", "posterior.nc")
        }
        files[name]["figures"] = [
            line
            for line in (tmp_path / name / "report.html").read_text().splitlines()
            if "data:image/png" in line
        ]
    assert files["with"] == files["without"]
    assert len(files["with"]["figures"]) == 4
