"""Per-user noise in a factor model (``sigma ~ 1 + (1 | user)``): the noise's variance
components are recovered and intervals stay calibrated for noisy and quiet users alike."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import multilevel as ml
from _factor_data import FORMULA, simulate, split
from multilevel.errors import EngineError

LOG_SD_MEAN, LOG_SD_SD = np.log(0.5), 0.4


@pytest.fixture(scope="module")
def fitted():
    frame, _ = simulate(n_users=250, n_items=120, per_user=30, k=2, seed=3)
    rng = np.random.default_rng(9)
    log_sd = LOG_SD_MEAN + rng.normal(0, LOG_SD_SD, 250)
    user = frame["user"].str[1:].astype(int).to_numpy()
    frame["rating"] = frame["mu"] + rng.normal(size=len(frame)) * np.exp(log_sd[user])
    train, held = split(frame, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.fit(
            FORMULA.format(k=2),
            train,
            dpars={"sigma": "sigma ~ 1 + (1 | user)"},
            chains=2,
            draws=300,
            warmup=200,
            seed=1,
            progress=False,
        )
    return fit, held, log_sd


def test_the_noise_model_is_recovered(fitted):
    fit, _, log_sd = fitted
    table = fit.summary()
    for name, truth in (
        ("b_sigma_Intercept", log_sd.mean()),
        ("sd_user__sigma_Intercept", log_sd.std()),
    ):
        assert abs(table.loc[name, "mean"] - truth) < 4 * table.loc[name, "sd"] + 0.02, name
        assert table.loc[name, "r_hat"] < 1.05, name
    levels = fit.spec.design.dpars["sigma"].blocks[0].levels
    effects = fit.posterior.draws["r_sigma_block0"].reshape(-1, len(levels)).mean(0)
    assert np.corrcoef(effects, log_sd[[int(u[1:]) for u in levels]])[0, 1] > 0.85


def test_intervals_are_calibrated_for_noisy_and_quiet_users(fitted):
    fit, held, log_sd = fitted
    table = fit.predict(held, kind="response", seed=1)
    inside = (held["rating"] >= table["q5"]) & (held["rating"] <= table["q95"])
    noisy = log_sd[held["user"].str[1:].astype(int)] > LOG_SD_MEAN
    for group in (noisy, ~noisy):
        spread = 3.5 * np.sqrt(0.09 / group.sum())
        assert abs(inside[group].mean() - 0.9) < spread, (inside[group].mean(), group.sum())


def test_fold_in_with_a_sigma_formula_says_it_is_not_implemented(fitted):
    fit, held, _ = fitted
    with pytest.raises(EngineError, match="sigma"):
        fit.fold_in(held.assign(user="newcomer"))
