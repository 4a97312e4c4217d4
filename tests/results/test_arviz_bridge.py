"""What ``to_arviz``, ``loo`` and the run folder's ``posterior.nc`` give with the installed
ArviZ: an InferenceData with ArviZ 0.x, an xarray DataTree with 1.x, each usable by that
line's own functions, and netCDF files that open with either line.

Refresh the golden files with ``python tests/results/test_arviz_bridge.py`` once under
each ArviZ line (it writes ``posterior_arviz<major>.nc`` for the installed one).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import warnings
from importlib.metadata import version
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from _fitted import small_fit
from multilevel.results import arviz_bridge
from multilevel.results.fit import Fit

GOLDEN = Path(__file__).resolve().parents[1] / "reference" / "netcdf"
GROUPS = ["posterior", "sample_stats", "observed_data", "log_likelihood"]


def _golden_groups() -> tuple[dict, dict, dict]:
    """The golden files' contents: fixed numbers, no random generator."""
    shape = (2, 5)
    groups = {
        "posterior": {
            "b_Intercept": np.arange(10.0).reshape(shape) / 7,
            "r_g": np.arange(30.0).reshape(shape + (3, 1)) / 11,
        },
        "sample_stats": {"diverging": np.arange(10).reshape(shape) % 3 == 0},
        "observed_data": {"y": np.array([0.5, -1.0, 2.25, 3.0])},
        "log_likelihood": {"y": -np.arange(40.0).reshape(shape + (4,)) / 13},
    }
    coords = {"g": ["a", "b", "c"], "g__coef": ["Intercept"], "obs": [0, 1, 2, 3]}
    dims = {"r_g": ["g", "g__coef"], "y": ["obs"]}
    return groups, coords, dims


def _fit_with_loglik(shift: float = 0.0) -> Fit:
    """The shared NUTS fit, its log-likelihood recomputed with every mean moved by ``shift``
    (a worse model)."""
    fit = small_fit()
    mean = fit.predict(kind="mean", summary=False).reshape(2, 200, -1) + shift
    sigma = fit.posterior.draws["sigma"][..., None]
    loglik = stats.norm.logpdf(np.asarray(fit.spec.design.y), mean, sigma)
    return Fit(fit.spec, dataclasses.replace(fit.posterior, log_likelihood=loglik))


def test_to_arviz_is_the_container_of_the_installed_line():
    fit = _fit_with_loglik()
    idata = fit.to_arviz()
    if int(version("arviz").split(".")[0]) >= 1:
        import xarray as xr

        assert arviz_bridge.is_arviz_1() and isinstance(idata, xr.DataTree)
    else:
        assert not arviz_bridge.is_arviz_1() and isinstance(idata, az.InferenceData)
    assert sorted(arviz_bridge.group_names(idata)) == sorted(GROUPS + ["posterior_predictive"])
    assert idata.posterior["r_g"].dims == ("chain", "draw", "g", "g__coef")
    assert list(idata.posterior["r_g"].coords["g"].values) == [f"g{i}" for i in range(6)]
    np.testing.assert_array_equal(idata.posterior["b_x"].values, fit.posterior.draws["b_x"])
    np.testing.assert_array_equal(idata.log_likelihood["y"].values, fit.posterior.log_likelihood)
    # the engine's stored log-likelihood is that of its draws
    np.testing.assert_allclose(
        fit.posterior.log_likelihood, small_fit().posterior.log_likelihood, rtol=1e-5, atol=1e-5
    )
    # the line's own functions take it and agree with ours
    table = az.summary(idata, var_names=["b_x", "sigma"], kind="stats", round_to="none")
    np.testing.assert_allclose(
        table["mean"].to_numpy(), fit.summary().loc[["b_x", "sigma"], "mean"], rtol=1e-12
    )
    ess = az.ess(idata, var_names=["b_x"])["b_x"].values
    np.testing.assert_allclose(ess, fit.summary().loc["b_x", "ess_bulk"], rtol=1e-9)


def test_loo_is_the_lines_result_and_compare_ranks_the_better_model_first():
    good, worse = _fit_with_loglik(), _fit_with_loglik(shift=1.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = {"good": good.loo(), "worse": worse.loo()}
        table = az.compare(results)
    assert type(results["good"]).__name__.startswith("ELPDData")
    assert arviz_bridge.elpd(results["good"]) > arviz_bridge.elpd(results["worse"])
    assert list(table.index) == ["good", "worse"]
    pointwise = arviz_bridge.elpd_pointwise(results["good"])
    assert pointwise.shape == (good.spec.design.n,)
    assert pointwise.sum() == pytest.approx(arviz_bridge.elpd(results["good"]), rel=1e-12)
    short = arviz_bridge.drop_pointwise(results["good"])
    assert arviz_bridge.elpd(short) == arviz_bridge.elpd(results["good"])
    if arviz_bridge.is_arviz_1():
        assert short["pareto_k"] is None and short["elpd_i"] is None
    else:
        assert "pareto_k" not in short.index and "loo_i" not in short.index


@pytest.mark.parametrize("line", [0, 1])
def test_posterior_nc_of_either_line_opens(line):
    groups, coords, _ = _golden_groups()
    idata = az.from_netcdf(GOLDEN / f"posterior_arviz{line}.nc")
    assert sorted(arviz_bridge.group_names(idata)) == sorted(GROUPS)
    for group, variables in groups.items():
        for name, values in variables.items():
            read = idata[group][name]
            np.testing.assert_array_equal(read.values, values)
            assert read.values.dtype == values.dtype
    assert list(idata.posterior["r_g"].coords["g"].values) == coords["g"]


def test_to_netcdf_writes_the_named_groups_and_reads_back(tmp_path):
    groups, coords, dims = _golden_groups()
    data = arviz_bridge.from_groups(groups, coords=coords, dims=dims)
    arviz_bridge.to_netcdf(data, tmp_path / "p.nc", groups=["posterior", "observed_data"])
    back = az.from_netcdf(tmp_path / "p.nc")
    assert sorted(arviz_bridge.group_names(back)) == ["observed_data", "posterior"]
    np.testing.assert_array_equal(back.posterior["r_g"].values, groups["posterior"]["r_g"])
    assert sorted(arviz_bridge.group_names(data)) == sorted(GROUPS)  # data itself is unchanged
    with pytest.raises(KeyError, match="posterior_predictive"):
        arviz_bridge.to_netcdf(data, tmp_path / "q.nc", groups=["posterior_predictive"])


def test_with_group_leaves_the_original_alone():
    groups, coords, dims = _golden_groups()
    data = arviz_bridge.from_groups(groups, coords=coords, dims=dims)
    more = arviz_bridge.with_group(
        data, "posterior_predictive", {"y": np.zeros((2, 5, 4))}, coords=coords, dims=dims
    )
    assert sorted(arviz_bridge.group_names(more)) == sorted(GROUPS + ["posterior_predictive"])
    assert sorted(arviz_bridge.group_names(data)) == sorted(GROUPS)
    assert more.posterior_predictive["y"].dims == ("chain", "draw", "obs")
    pd.testing.assert_index_equal(
        more.posterior["r_g"].indexes["g"], data.posterior["r_g"].indexes["g"]
    )


def test_arviz_0_daily_refactor_notice_is_not_shown_as_ours(tmp_path):
    def imports(code: str, cache: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / cache)}  # no notice shown today
        command = [sys.executable, "-W", "error::FutureWarning", "-c", code]
        return subprocess.run(command, env=env, capture_output=True, text=True, check=False)

    ours = imports("from multilevel.results import arviz_bridge; arviz_bridge._arviz()", "a")
    assert ours.returncode == 0, ours.stderr
    if hasattr(az, "_warn_once_per_day"):  # ArviZ 0.22 and 0.23: the notice is there to hide
        assert "major refactor" in imports("import arviz", "b").stderr


if __name__ == "__main__":  # write the golden file of the installed ArviZ line
    groups, coords, dims = _golden_groups()
    data = arviz_bridge.from_groups(groups, coords=coords, dims=dims)
    GOLDEN.mkdir(parents=True, exist_ok=True)
    path = GOLDEN / f"posterior_arviz{int(arviz_bridge.is_arviz_1())}.nc"
    arviz_bridge.to_netcdf(data, path, groups=GROUPS)
    sys.stdout.write(f"wrote {path} with ArviZ {version('arviz')}\n")
