"""``multilevel check``: the model and its data, without fitting."""

from __future__ import annotations

import numpy as np

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
