"""Leave-one-group-out quantities against refitting without the group."""

import numpy as np
import pytest

import multilevel as ml

PRIORS = {"alpha": "lognormal(1, 1.5)", "beta": "lognormal(2, 1.5)"}
COLUMNS = dict(likelihood="binomial", group="herd", successes="incidence", trials="size")


@pytest.fixture(scope="module")
def cbpp():
    return ml.datasets.load("cbpp")


@pytest.fixture(scope="module")
def fit(cbpp):
    return ml.fit_conjugate(cbpp, priors=PRIORS, **COLUMNS)


@pytest.mark.parametrize("herd", ["1", "14", "9"])
def test_hyper_without_matches_refit(fit, cbpp, herd):
    refit = ml.fit_conjugate(cbpp[cbpp.herd != herd], priors=PRIORS, **COLUMNS)
    loo = fit.hyper_without(herd)
    expected = refit.hyper()
    np.testing.assert_allclose(loo["mean"], expected["mean"], rtol=2e-3)
    np.testing.assert_allclose(loo["sd"], expected["sd"], rtol=5e-3)
    np.testing.assert_allclose(loo["q95"], expected["q95"], rtol=5e-3)


def test_loo_elpd_is_ratio_of_evidences(fit, cbpp):
    # log p(x_i | x_-i) = log p(x) - log p(x_-i), each evidence from its own quadrature
    table = fit.loo()
    for herd in ["1", "14"]:
        refit = ml.fit_conjugate(cbpp[cbpp.herd != herd], priors=PRIORS, **COLUMNS)
        expected = fit.hyper_posterior.log_evidence - refit.hyper_posterior.log_evidence
        assert table.loc[herd, "elpd"] == pytest.approx(expected, abs=2e-3)


def test_loo_predictive_matches_refit_prediction(fit, cbpp):
    table = fit.loo()
    refit = ml.fit_conjugate(cbpp[cbpp.herd != "14"], priors=PRIORS, **COLUMNS)
    trials = cbpp.loc[cbpp.herd == "14", "size"].sum()
    expected = refit.new_group(trials=trials).loc["summary"]
    assert table.loc["14", "mean"] == pytest.approx(expected["mean"], rel=2e-3)
    assert table.loc["14", "sd"] == pytest.approx(expected["sd"], rel=2e-3)
    assert table.loc["14", "q95"] == expected["q95"]
    assert 0 <= table["pit"].min() and table["pit"].max() <= 1


def test_fixed_hyperparameters_loo_is_the_marginal(cbpp):
    from scipy import stats

    fit = ml.fit_conjugate(cbpp, hyper={"alpha": 2.0, "beta": 12.0}, **COLUMNS)
    tot = cbpp.groupby("herd")[["incidence", "size"]].sum()
    tot = tot.loc[fit.loo().index]
    expected = stats.betabinom.logpmf(tot.incidence, tot["size"], 2.0, 12.0)
    np.testing.assert_allclose(fit.loo()["elpd"], expected, rtol=1e-10)
