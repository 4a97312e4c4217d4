"""Binary ratings with a probit link (Albert & Chib's latent gaussian): calibrated
probabilities of held-out likes and the variance components of the latent scale."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import norm

import multilevel as ml
from _factor_data import simulate, split

FORMULA = "liked ~ 1 + (1 | user) + (1 | item) + factors(user, item, k = 2, item_group = artist)"


@pytest.fixture(scope="module")
def fitted():
    frame, _ = simulate(n_users=300, n_items=150, per_user=40, k=2, seed=5)
    eta = frame["mu"] - 3.0  # the latent scale: intercept 0, SDs 0.3, sigma 1
    frame["liked"] = (eta + np.random.default_rng(1).normal(size=len(frame)) > 0).astype(int)
    frame["eta"] = eta
    train, held = split(frame, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.fit(
            FORMULA,
            train,
            family="bernoulli(link='probit')",
            chains=2,
            draws=400,
            warmup=300,
            seed=1,
            progress=False,
        )
    return fit, held


def test_probit_factor_models_are_fitted_by_the_latent_gaussian_sampler(fitted):
    fit, _ = fitted
    assert fit.posterior.engine == "factorization"
    assert "probit (latent gaussian)" in fit.posterior.reason
    assert "sigma" not in fit.posterior.draws
    table = fit.summary()
    assert abs(table.loc["b_Intercept", "mean"]) < 4 * table.loc["b_Intercept", "sd"]
    for name in ("sd_user__Intercept", "sd_item__Intercept"):
        assert abs(table.loc[name, "mean"] - 0.3) < 4 * table.loc[name, "sd"] + 0.03, name


def test_held_out_probabilities_are_calibrated(fitted):
    fit, held = fitted
    p = fit.predict(held)["mean"].to_numpy()
    assert np.corrcoef(p, norm.cdf(held["eta"]))[0, 1] > 0.7
    liked = held["liked"].to_numpy()
    bins = np.digitize(p, [0.2, 0.4, 0.6, 0.8])
    for b in range(5):
        inside = bins == b
        expected = p[inside].mean()
        spread = 4 * np.sqrt(expected * (1 - expected) / inside.sum()) + 0.02
        assert abs(liked[inside].mean() - expected) < spread, (b, liked[inside].mean(), expected)


def test_fold_in_of_a_probit_model_says_it_is_not_implemented(fitted):
    fit, held = fitted
    with pytest.raises(ml.EngineError, match="not implemented"):
        fit.fold_in(held.assign(user="newcomer"))


def test_the_logit_link_is_refused_with_the_supported_one_named():
    frame, _ = simulate(n_users=20, n_items=10, per_user=5, k=2)
    frame["liked"] = (frame["rating"] > 3).astype(int)
    with pytest.raises(ml.EngineError, match="probit"):
        ml.fit(
            "liked ~ factors(user, item, k = 2)",
            frame,
            family="bernoulli",
            chains=1,
            draws=10,
            warmup=10,
            progress=False,
        )
