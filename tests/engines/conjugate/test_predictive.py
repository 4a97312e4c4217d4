"""Predictives: a brand-new group, new observations, and updating a new group."""

import numpy as np
import pandas as pd
import pytest

import multilevel as ml

COLUMNS = dict(likelihood="binomial", group="herd", successes="incidence", trials="size")
PRIORS = {"alpha": "lognormal(1, 1.5)", "beta": "lognormal(2, 1.5)"}


@pytest.fixture(scope="module")
def cbpp():
    return ml.datasets.load("cbpp")


@pytest.fixture(scope="module")
def fit(cbpp):
    return ml.fit_conjugate(cbpp, priors=PRIORS, **COLUMNS)


def test_new_group_matches_simulation(fit):
    rng = np.random.default_rng(3)
    draws = fit.hyper_draws(200_000, seed=4)
    p = rng.beta(draws["alpha"], draws["beta"])
    s = rng.binomial(25, p)
    table = fit.new_group(trials=25)
    for row, sims in (("parameter", p), ("summary", s)):
        mcse = sims.std() / np.sqrt(len(sims))
        assert abs(table.loc[row, "mean"] - sims.mean()) < 5 * mcse + 1e-4 * sims.std()
        assert table.loc[row, "sd"] == pytest.approx(sims.std(), rel=0.01)
    assert table.loc["summary", "q95"] == pytest.approx(np.quantile(s, 0.95), abs=1)


def test_update_new_group_matches_refit_with_it(fit, cbpp):
    new = pd.DataFrame({"herd": ["new", "new"], "incidence": [3, 1], "size": [12, 9]})
    updated = fit.update_new_group(new)
    refit = ml.fit_conjugate(pd.concat([cbpp, new]), priors=PRIORS, **COLUMNS).groups()
    for col in ("mean", "sd", "q5", "q95", "shrinkage"):
        assert updated.loc["new", col] == pytest.approx(refit.loc["new", col], rel=2e-3)
    with pytest.raises(ml.DataError, match="already in the fitted data"):
        fit.update_new_group(cbpp.head(1))


def test_posterior_shrinks_less_as_the_group_grows(fit):
    sizes = [1, 10, 1000]
    new = pd.DataFrame(
        {"herd": [f"n{n}" for n in sizes], "incidence": [0.4 * n for n in sizes], "size": sizes}
    ).round()
    table = fit.update_new_group(new.iloc[[2]])
    big = table.iloc[0]
    assert big["shrinkage"] < 0.05 and abs(big["mean"] - 0.4) < 0.02
    small = [fit.update_new_group(new.iloc[[i]]).iloc[0] for i in range(2)]
    assert small[0]["shrinkage"] > small[1]["shrinkage"] > big["shrinkage"]
    assert small[1]["sd"] > big["sd"]


def test_group_draws_agree_with_group_summaries(fit):
    draws = fit.group_draws(20_000, groups=["1", "14"], seed=1)
    table = fit.groups().loc[["1", "14"]]
    np.testing.assert_allclose(draws.mean(), table["mean"], atol=5 * (table["sd"] / 140).max())
    np.testing.assert_allclose(draws.std(), table["sd"], rtol=0.03)


def test_predict_rejects_wrong_size_argument(fit):
    with pytest.raises(ml.DataError, match="trials="):
        fit.predict(exposure=3)
    with pytest.raises(ml.DataError, match="unknown group"):
        fit.predict(groups=["no-such-herd"])
