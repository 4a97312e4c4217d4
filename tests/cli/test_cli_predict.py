"""``multilevel predict``: predictions for new rows from a run folder."""

from __future__ import annotations

import numpy as np
import pandas as pd

import multilevel as ml
from _cli_runs import run_cli


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


def test_rows_with_missing_values_get_empty_predictions(exact, tmp_path):
    _, run = exact
    new = tmp_path / "new.csv"
    new.write_text("g\ng1\nNA\ng2\n")
    out = tmp_path / "pred.csv"
    result = run_cli("predict", run, new, "--out", out)
    assert result.status == 0, result.err
    assert "warning: row 1 of the new data has missing values (NA)" in result.err
    table = pd.read_csv(out)
    assert table["pred_mean"].isna().tolist() == [False, True, False]
