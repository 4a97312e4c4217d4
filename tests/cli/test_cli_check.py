"""``multilevel check``: the model and its data, without fitting."""

from __future__ import annotations

import numpy as np
import pytest

import multilevel as ml
from _cli_runs import FORMULA, data_csv, run_cli, simulated, workdir


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


# -- issue 17: missing values, separators, integer codes, cbind, identifiability ----------


def _with_na(tmp_path, sep=",", name="na.csv"):
    """The simulated data with x missing in rows 3 ("n/a"), 7 ("NA") and 11 (".")."""
    data = simulated().astype({"x": object})
    data.loc[3, "x"], data.loc[7, "x"], data.loc[11, "x"] = "n/a", "NA", "."
    path = tmp_path / name
    data.to_csv(path, index=False, sep=sep)
    return path


def test_check_counts_the_rows_left_out_for_missing_values(tmp_path):
    result = run_cli("check", _with_na(tmp_path), FORMULA)
    assert result.status == 0, result.err
    message = (
        "3 of 80 rows are left out because column 'x' has missing values (NA) in rows 3, 7, "
        "11; the model is fitted to the other 77 rows (as lme4 and brms do; "
        "na_action='error' refuses them instead)"
    )
    assert f"  - {message}" in result.out
    assert result.out.count(message) == 1  # listed once, though warned and noted
    assert f"warning: {message}" in result.err
    assert "Population-level columns (2): Intercept, x" in result.out  # x is a number


def test_check_with_na_action_error_refuses_them(tmp_path):
    result = run_cli("check", _with_na(tmp_path), FORMULA, "--na-action", "error")
    assert result.status == 2
    assert "error: column 'x' has missing values (NA) in rows 3, 7, 11" in result.err
    assert "--na-action omit" in result.err


@pytest.mark.parametrize("sep", [";", "\t"])
def test_check_reads_semicolon_and_tab_files(tmp_path, sep):
    result = run_cli("check", _with_na(tmp_path, sep=sep), FORMULA)
    assert result.status == 0, result.err
    assert "3 of 80 rows are left out" in result.out
    assert "Population-level columns (2): Intercept, x" in result.out


def test_check_with_an_explicit_separator(tmp_path):
    path = tmp_path / "pipes.csv"
    simulated().to_csv(path, index=False, sep="|")
    result = run_cli("check", path, FORMULA, "--sep", "|")
    assert result.status == 0, result.err
    assert "Population-level columns (2): Intercept, x" in result.out


def test_check_flags_integer_codes_and_factor_clears_them(tmp_path):
    cbpp = ml.datasets.load("cbpp").assign(period=lambda d: d["period"].astype(int))
    path = tmp_path / "cbpp.csv"
    cbpp.to_csv(path, index=False)
    result = run_cli(
        "check", path, "cbind(incidence, size - incidence) ~ period + (1 | herd)",
        "--family", "binomial",
    )  # fmt: skip
    assert result.status == 0, result.err
    assert "period is used as a number (one slope), but it holds only 4 distinct" in result.out
    assert "write factor(period) in the formula" in result.out
    assert "Population-level columns (2): Intercept, period" in result.out
    result = run_cli(
        "check", path, "cbind(incidence, size - incidence) ~ factor(period) + (1 | herd)",
        "--family", "binomial",
    )  # fmt: skip
    assert result.status == 0, result.err
    assert "factor(period)" in result.out and "is used as a number" not in result.out
    assert "Population-level columns (4): Intercept, factor(period)2" in result.out


def test_check_lists_a_model_lme4_would_refuse(tmp_path):
    path = tmp_path / "ids.csv"
    simulated().assign(id=np.arange(80)).to_csv(path, index=False)
    result = run_cli("check", path, "y ~ x + (1 | id)")
    assert result.status == 0, result.err
    assert "  - the model cannot be fitted: the grouping factor id has 80 levels for 80 rows" in (
        result.out
    )
    assert "partial pooling is for" not in result.out.split("cannot be fitted")[1]
    result = run_cli("fit", path, "y ~ x + (1 | id)", "--out", tmp_path / "run")
    assert result.status == 2 and "error: the grouping factor id has 80 levels" in result.err
    assert not (tmp_path / "run").exists()
