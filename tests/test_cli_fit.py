"""``multilevel fit / check / summary / predict / report``: the run folder they write and read.

The fits are shared with the report tests (see ``_cli_runs.py``)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from _cli_runs import (
    EXACT_FORMULA,
    FORMULA,
    data_csv,
    exact_run,
    nuts_run,
    run_cli,
    simulated,
    workdir,
)
from multilevel import rundir
from multilevel.errors import DataError
from multilevel.results.arviz_bridge import group_names


@pytest.fixture(scope="module")
def nuts():
    result, out = nuts_run()
    assert result.status == 0, result.err
    return result, out


@pytest.fixture(scope="module")
def exact():
    result, out = exact_run()
    assert result.status == 0, result.err
    return result, out


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- fit
def test_fit_writes_every_file_and_nothing_else(nuts):
    result, out = nuts
    assert sorted(p.name for p in out.iterdir()) == sorted(rundir.FILES.values())
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    assert leftovers == [], "temporary folders left beside the run"
    assert "Traceback" not in result.err
    assert f"wrote {out}" in result.out and "report.html" in result.out


def test_fit_prints_the_summary(nuts):
    result, _ = nuts
    for name in ("b_Intercept", "b_x", "sd_g__Intercept", "sigma", "engine: nuts"):
        assert name in result.out


def test_manifest_records_versions_seed_timings_and_checksums(nuts):
    _, out = nuts
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["format"] == rundir.FORMAT and manifest["version"] == rundir.VERSION
    assert manifest["seed"] == 7
    assert manifest["command"].startswith("multilevel fit ")
    for package in ("multilevel", "python", "numpy", "jax", "numpyro", "arviz"):
        assert manifest["versions"][package]
    assert manifest["timings"]["fit"] > 0 and manifest["timings"]["read_data"] >= 0
    assert "engine_warmup_and_sampling" in manifest["timings"]
    assert manifest["settings"]["chains"] == 2 and manifest["settings"]["draws"] == 200
    for name, entry in manifest["files"].items():
        assert _sha256(out / name) == entry["sha256"], name
        assert (out / name).stat().st_size == entry["bytes"]


def test_spec_json_has_formula_priors_design_and_data(nuts):
    _, out = nuts
    spec = json.loads((out / "spec.json").read_text())
    assert spec["formula"] == FORMULA and spec["family"] == "gaussian"
    assert spec["engine"] == "nuts" and spec["method"] == "nuts"
    expected = ml.default_priors(FORMULA, simulated(), priors={"sd": "normal(0, 1)"})["prior"]
    assert spec["priors"] == expected.to_dict()
    assert spec["user_priors"] == {"sd": "normal(0, 1)"}
    assert spec["prior_sources"]["sd_g__Intercept"] == "yours"
    assert spec["prior_sources"]["b_x"] == "default"
    assert spec["groups"] == [
        {"factor": "g", "term": "(1 | g)", "levels": 6, "coefficients": ["Intercept"],
         "correlated": True}
    ]  # fmt: skip
    assert spec["data"]["rows"] == 80 and spec["data"]["columns"] == ["y", "x", "g"]
    assert spec["data"]["sha256"] == _sha256(data_csv())
    assert spec["data"]["summary"]["g"]["distinct"] == 6


def test_summary_csv_and_netcdf_are_the_fit(nuts):
    import arviz as az

    _, out = nuts
    fit = ml.load(out / "fit.mlfit")
    table = pd.read_csv(out / "summary.csv", index_col=0)
    pd.testing.assert_frame_equal(table, fit.summary(), check_names=False, rtol=1e-12)
    idata = az.from_netcdf(out / "posterior.nc")
    assert {"posterior", "sample_stats", "observed_data", "log_likelihood"} <= set(
        group_names(idata)
    )
    for name in fit.spec.parameter_names:  # lossless: the very same draws
        np.testing.assert_array_equal(idata.posterior[name].values, fit.posterior.draws[name])
    np.testing.assert_array_equal(idata.posterior["r_g"].values, fit.posterior.draws["r_block0"])
    np.testing.assert_array_equal(idata.observed_data["y"].values, simulated()["y"].to_numpy())


def test_parquet_input_and_exact_engine(exact):
    result, out = exact
    spec = json.loads((out / "spec.json").read_text())
    assert spec["engine"] == "conjugate" and spec["formula"] == EXACT_FORMULA
    assert spec["data"]["path"].endswith(".parquet")
    assert "engine: conjugate" in result.out


def test_fit_replaces_an_earlier_run(exact, tmp_path):
    first = tmp_path / "run"
    args = ["fit", data_csv(), EXACT_FORMULA, "--chains", "1", "--draws", "50", "--out", first]
    assert run_cli(*args, "--seed", "1").status == 0
    seed_of = lambda: json.loads((first / "run.json").read_text())["seed"]  # noqa: E731
    assert seed_of() == 1
    assert run_cli(*args, "--seed", "2").status == 0
    assert seed_of() == 2
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_interrupted_write_leaves_no_run_and_keeps_the_earlier_one(exact, tmp_path, monkeypatch):
    import multilevel.report as report

    fit = rundir.open_run(exact[1]).fit()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "write_report", interrupted)
    target = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        rundir.write_run(fit, target, spec_info={}, log_info={})
    assert list(tmp_path.iterdir()) == []  # no run, no partial folder
    # an earlier run survives an interrupted replacement, byte for byte
    earlier = tmp_path / "earlier"
    monkeypatch.undo()
    rundir.write_run(fit, earlier, spec_info={}, log_info={})
    before = {p.name: p.read_bytes() for p in earlier.iterdir()}
    monkeypatch.setattr(report, "write_report", interrupted)
    with pytest.raises(KeyboardInterrupt):
        rundir.write_run(fit, earlier, spec_info={}, log_info={})
    assert {p.name: p.read_bytes() for p in earlier.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["earlier"]


def test_fit_without_seed_records_the_one_it_used_and_shows_progress(tmp_path):
    out = tmp_path / "run"
    result = run_cli("fit", data_csv(), EXACT_FORMULA, "--chains", "1", "--draws", "50",
                     "--progress", "--out", out)  # fmt: skip
    assert result.status == 0, result.err
    seed = json.loads((out / "run.json").read_text())["seed"]
    assert isinstance(seed, int) and seed >= 0
    assert f"seed {seed}" in result.out
    assert (out / "report.html").is_file()


# --------------------------------------------------------------------------- check
def test_check_shows_design_priors_structure_and_problems():
    result = run_cli("check", data_csv(), FORMULA, "--prior", "sd=normal(0, 1)")
    assert result.status == 0, result.err
    out = result.out
    assert "y is modelled with a gaussian likelihood" in out
    assert "Population-level columns (2): Intercept, x" in out
    assert "Grouping structure:" in out and "single" in out
    priors = ml.default_priors(FORMULA, simulated(), priors={"sd": "normal(0, 1)"})["prior"]
    for name, prior in priors.items():
        line = next(ln for ln in out.splitlines() if ln.split()[:1] == [name])
        assert prior in line
    assert "(yours)" in next(ln for ln in out.splitlines() if "sd_g__Intercept" in ln)
    assert "(yours)" not in next(ln for ln in out.splitlines() if ln.split()[:1] == ["b_x"])
    assert "Engine: " in out
    assert "grouping factor g has only 6 levels" not in out  # 6 >= 5: no warning
    assert not list(workdir().glob("*.html")), "check writes nothing"


def test_check_lists_data_problems(tmp_path):
    data = simulated().assign(y01=lambda d: (d["y"] > 1).astype(int))
    data["h"] = np.where(np.arange(len(data)) % 2, "a", "b")
    path = tmp_path / "d.csv"
    data.to_csv(path, index=False)
    result = run_cli("check", path, "y01 ~ x + (1 | h)")
    assert result.status == 0, result.err
    assert "grouping factor h has only 2 levels" in result.out
    assert "takes only the values 0 and 1: consider --family bernoulli" in result.out


# ------------------------------------------------------------------- summary, predict, report
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


def test_predict_command_matches_the_api(nuts, tmp_path):
    _, out = nuts
    new = pd.DataFrame({"x": [0.0, 1.0, -1.0], "g": ["g1", "g6", "unseen"]})
    new.to_csv(tmp_path / "new.csv", index=False)
    result = run_cli("predict", out, tmp_path / "new.csv", "--new-groups", "population",
                     "--out", tmp_path / "pred.csv")  # fmt: skip
    assert result.status == 0, result.err
    assert "wrote 3 predictions" in result.out
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert list(pred.columns) == ["x", "g", "pred_mean", "pred_sd", "pred_q5", "pred_q50",
                                  "pred_q95"]  # fmt: skip
    expected = ml.load(out / "fit.mlfit").predict(new, new_groups="population")
    np.testing.assert_allclose(pred["pred_mean"], expected["mean"], rtol=1e-9)
    np.testing.assert_allclose(pred["pred_q95"], expected["q95"], rtol=1e-9)


def test_predict_to_stdout_and_parquet(exact, tmp_path):
    _, out = exact
    pd.DataFrame({"g": ["g2"]}).to_csv(tmp_path / "new.csv", index=False)
    result = run_cli("predict", out, tmp_path / "new.csv")
    assert result.status == 0 and "pred_mean" in result.out
    result = run_cli("predict", out, tmp_path / "new.csv", "--out", tmp_path / "p.parquet")
    assert result.status == 0, result.err
    assert list(pd.read_parquet(tmp_path / "p.parquet")["g"]) == ["g2"]


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


def test_open_run_detects_a_changed_file(exact, tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(exact[1], copy)
    with open(copy / "summary.csv", "a") as handle:
        handle.write("extra,1\n")
    with pytest.raises(DataError, match="summary.csv differs"):
        rundir.open_run(copy).summary()


# --------------------------------------------------------------------------- errors
def test_internal_error_keeps_its_traceback(monkeypatch):
    from multilevel import cli

    def broken(args):
        raise RuntimeError("a bug")

    monkeypatch.setitem(cli.COMMANDS, "summary", cli.COMMANDS["summary"].__class__(
        "x", "x", cli.COMMANDS["summary"].configure, broken))  # fmt: skip
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["summary", "anything"])


def test_user_error_from_a_subprocess_has_no_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "multilevel.cli", "fit", str(data_csv()), "y ~ x + (1 | gg)",
         "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("error: column 'gg' (did you mean 'g'?)")
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


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
