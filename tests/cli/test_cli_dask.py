"""``multilevel fit`` of a Parquet dataset (a folder or a glob) on Dask: the run folder of an
in-memory fit, with the rows counted from the statistics; a scheduler that cannot be reached
is a clear error."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from tests._cli_runs import run_cli, simulated

import multilevel as ml

pytest.importorskip("dask.dataframe")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dataset")
    frame = simulated(n=300, seed=9)
    for k in range(3):
        frame.iloc[k * 100 : (k + 1) * 100].to_parquet(folder / f"part-{k}.parquet")
    return folder, frame


@pytest.mark.parametrize("where", ["folder", "glob"])
def test_fit_of_a_dataset_on_dask(dataset, tmp_path, where):
    folder, frame = dataset
    data = folder if where == "folder" else f"{folder}/part-*.parquet"
    out = tmp_path / "run"
    result = run_cli("fit", data, "y ~ x + (1 | g)", "--method", "reml", "--out", out)
    assert result.status == 0, result.err
    assert "data on Dask: 300 rows in 3 partitions" in result.out
    spec = json.loads((out / "spec.json").read_text())
    assert spec["observations"] == 300 and spec["data"]["rows_used"] == 300
    summary = pd.read_csv(out / "summary.csv", index_col=0)
    local = ml.fit("y ~ x + (1 | g)", frame, method="reml").estimate.estimates
    for name, value in local.items():
        assert summary.iloc[:, 0][name] == pytest.approx(value, rel=1e-5, abs=1e-6)
    assert "data on Dask" in (out / "report.html").read_text()


def test_unreachable_scheduler_is_a_clear_error(dataset, tmp_path, monkeypatch):
    folder, _ = dataset
    monkeypatch.setattr("multilevel.cli._dask.CONNECT_TIMEOUT", "2s")
    result = run_cli(
        "fit", folder, "y ~ x + (1 | g)", "--dask", "tcp://127.0.0.1:9", "--out", tmp_path / "r"
    )
    assert result.status != 0
    assert "cannot reach the Dask scheduler" in result.err
    assert not (tmp_path / "r").exists()
