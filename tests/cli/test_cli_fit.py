"""``multilevel fit``: the run folder it writes.

The fits are shared with the other command tests and the report tests (see
``tests/_cli_runs.py`` and ``conftest.py``)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from _cli_runs import EXACT_FORMULA, FORMULA, data_csv, run_cli, simulated
from multilevel import rundir
from multilevel.results.arviz_bridge import group_names


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
    assert run_cli(*args, "--seed", "2", "--overwrite").status == 0
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
        rundir.write_run(fit, earlier, spec_info={}, log_info={}, overwrite=True)
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


def test_fit_leaves_out_rows_with_missing_values_and_says_so(tmp_path):
    data = simulated().astype({"y": object})
    data.loc[[4, 9], "y"] = "NA"
    data.loc[20, "y"] = "."
    path = tmp_path / "na.csv"
    data.to_csv(path, index=False, sep=";")  # and a semicolon file
    out = tmp_path / "run"
    result = run_cli("fit", path, EXACT_FORMULA, "--draws", "100", "--seed", "1", "--out", out)
    assert result.status == 0, result.err
    message = (
        "3 of 80 rows are left out because column 'y' has missing values (NA) in rows 4, 9, 20"
    )
    assert f"warning: {message}" in result.err
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["settings"]["na_action"] == "omit"
    assert any(message in w for w in manifest["warnings"])
    spec = json.loads((out / "spec.json").read_text())
    assert spec["data"]["rows"] == 80 and spec["data"]["rows_used"] == 77
    refused = run_cli("fit", path, EXACT_FORMULA, "--na-action", "error", "--out", tmp_path / "r2")
    assert refused.status == 2 and "na_action='error' refuses them" in refused.err
    assert not (tmp_path / "r2").exists()
