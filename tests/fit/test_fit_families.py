"""``multilevel.fit`` end to end: each family recovers simulated parameters; diagnostics warn;
the Fit's containers have the documented shapes."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special

import multilevel as ml
from multilevel.fit import fit
from multilevel.results.arviz_bridge import group_names
from multilevel.spec.families import get_family

TRUTH = {"b_Intercept": 0.3, "b_x": 0.6, "sd_g__Intercept": 0.5}
AUX = {"sigma": 0.8, "nu": 5.0, "shape": 4.0, "phi": 8.0}
N, LEVELS = 300, 12


def _simulate(family: str, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    fam = get_family(family)
    g = np.repeat(np.arange(LEVELS), N // LEVELS)
    x = rng.normal(size=N)
    u = rng.normal(0, TRUTH["sd_g__Intercept"], size=LEVELS)
    eta = TRUTH["b_Intercept"] + TRUTH["b_x"] * x + u[g]
    mu = fam.inverse_link(eta)
    aux = {name: AUX[name] for name in fam.aux_names}
    trials = np.full(N, 10) if family == "binomial" else None
    y = fam.rvs(mu, aux, trials=trials, seed=seed + 1)
    if family == "beta":
        y = np.clip(y, 1e-6, 1 - 1e-6)
    data = pd.DataFrame({"y": y, "x": x, "g": [f"g{i:02d}" for i in g]})
    if trials is not None:
        data["n"] = trials
    return data


@pytest.mark.slow
@pytest.mark.parametrize(
    "family",
    [
        "gaussian",
        "student_t",
        "bernoulli",
        "binomial",
        "poisson",
        "negbinomial",
        "gamma",
        "lognormal",
        "beta",
    ],
)
def test_family_recovers_simulated_parameters(family):
    data = _simulate(family, seed=11)
    lhs = "y | trials(n)" if family == "binomial" else "y"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.ConvergenceWarning)
        result = fit(
            f"{lhs} ~ 1 + x + (1 | g)",
            data,
            family=family,
            priors={"sd": "normal(0, 1)"},
            chains=2,
            draws=500,
            warmup=500,
            seed=3,
            progress=False,
        )
    table = result.summary()
    truth = dict(TRUTH, **{name: AUX[name] for name in result.spec.aux_names})
    for name, value in truth.items():
        row = table.loc[name]
        # the truth lies inside a wide central interval (5 posterior SDs), a loose but
        # family-agnostic recovery check; the 90% coverage calibration is a separate test
        assert abs(row["mean"] - value) < 5 * row["sd"], (name, row["mean"], row["sd"], value)
    assert table["r_hat"].max() < 1.1  # 2 short chains: a loose mixing check
    coef = result.coef("g")
    assert coef.shape == (LEVELS, 1) and list(coef.columns) == ["Intercept"]
    assert list(coef.index) == [f"g{i:02d}" for i in range(LEVELS)]


def test_short_run_warns_and_containers_have_documented_shapes():
    data = ml.datasets.load("eight_schools")
    with pytest.warns(ml.ConvergenceWarning, match="effective sample size"):
        result = fit(
            "y | se(sigma) ~ 1 + (1 | school)",
            data,
            chains=2,
            draws=30,
            warmup=30,
            seed=0,
            progress=False,
            method="nuts",
        )
    post = result.posterior
    assert post.draws["b_Intercept"].shape == (2, 30)
    assert post.draws["r_block0"].shape == (2, 30, 8, 1)
    assert post.log_likelihood.shape == (2, 30, 8)
    assert set(post.sample_stats) >= {"diverging", "tree_depth", "energy", "lp"}
    idata = result.to_arviz()
    groups = set(group_names(idata))
    assert {"posterior", "sample_stats", "observed_data", "log_likelihood"} <= groups
    assert idata.posterior["r_school"].dims == ("chain", "draw", "school", "school__coef")
    assert "nuts" in repr(result) and "b_Intercept" in repr(result)
    assert result.ranef("school").shape == (8, 1)
    with pytest.raises(KeyError, match="school"):
        result.coef("schools")
    with pytest.raises(ValueError, match="stat"):
        result.coef("school", stat="mode")


def test_bad_settings_are_engine_errors():
    data = ml.datasets.load("eight_schools")
    with pytest.raises(ml.EngineError, match="chains"):
        fit("y | se(sigma) ~ 1 + (1 | school)", data, chains=0, progress=False)
    with pytest.raises(ml.EngineError, match="method"):
        fit("y | se(sigma) ~ 1 + (1 | school)", data, method="magic", progress=False)
    with pytest.raises(ml.EngineError, match="seed"):
        fit("y | se(sigma) ~ 1 + (1 | school)", data, seed=-1, progress=False)


def test_inverse_link_helper_agrees_with_scipy():
    # guards the simulation above: the family's inverse logit is scipy's expit
    assert get_family("bernoulli").inverse_link(0.3) == pytest.approx(special.expit(0.3))
