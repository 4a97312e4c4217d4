"""The Gibbs sampler recovers simulated truth: variance components, the factors' subspace and
calibrated predictive intervals of held-out ratings."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import multilevel as ml
from _factor_data import FORMULA, simulate, split
from multilevel.naming import factor_key


@pytest.fixture(scope="module")
def fitted():
    frame, truth = simulate(seed=0)
    train, held = split(frame, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.fit(
            FORMULA.format(k=3), train, chains=2, draws=400, warmup=300, seed=2, progress=False
        )
    return fit, train, held, truth


def _within(fit, name, value, z=4.0):
    row = fit.summary().loc[name]
    assert abs(row["mean"] - value) < z * row["sd"], (name, row["mean"], row["sd"], value)


def test_the_engine_is_gibbs_and_says_so(fitted):
    fit = fitted[0]
    assert fit.posterior.engine == "factorization"
    assert "blocked Gibbs" in fit.posterior.reason
    assert "k = 3 factors of user and item (item by artist)" in fit.posterior.reason


def test_variance_components_are_recovered(fitted):
    fit, train, _, truth = fitted
    users = np.array(sorted({int(u[1:]) for u in train["user"]}))
    items = np.array(sorted({int(i[1:]) for i in train["item"]}))
    _within(fit, "sigma", truth["sigma"])
    _within(fit, "sd_user__Intercept", truth["a"][users].std(), z=5)
    _within(fit, "sd_item__Intercept", truth["b"][items].std(), z=5)
    rows = (train["user"].str[1:].astype(int), train["item"].str[1:].astype(int))
    true_part = (truth["U"][rows[0]] * truth["V"][rows[1]]).sum(1)
    # the factor part's SD over the rows, up to what the intercepts absorb of it
    assert abs(fit.summary().loc["sd_factors", "mean"] - true_part.std()) < 0.1
    share = (
        (truth["W"] ** 2).sum()
        / len(truth["W"])
        / ((truth["W"] ** 2).sum() / len(truth["W"]) + 3 * 0.3**2)
    )
    _within(fit, "share_artist__factors", share, z=5)


def test_the_factor_subspace_is_recovered(fitted):
    fit, train, _, truth = fitted
    d = fit.spec.design.factors
    U = fit.posterior.draws[factor_key("user")].reshape(-1, d.users.n_levels, 3)
    V = fit.posterior.draws[factor_key("item")].reshape(-1, d.items.n_levels, 3)
    M = np.einsum("suk,sik->ui", U.astype(float), V.astype(float)) / U.shape[0]
    estimate = np.linalg.svd(M, full_matrices=False)[0][:, :3]
    true_users = truth["U"][[int(u[1:]) for u in d.users.levels]]
    basis = np.linalg.qr(true_users)[0]
    cosines = np.linalg.svd(basis.T @ estimate, compute_uv=False)
    assert cosines.min() > 0.9, cosines


def test_held_out_intervals_are_calibrated(fitted):
    fit, _, held, _ = fitted
    table = fit.predict(held, kind="response", seed=3)
    inside = ((held["rating"] >= table["q5"]) & (held["rating"] <= table["q95"])).mean()
    spread = 3.5 * np.sqrt(0.9 * 0.1 / len(held))
    assert abs(inside - 0.9) < spread, (inside, len(held))
    mean = fit.predict(held)["mean"]
    assert np.sqrt(np.mean((mean - held["mu"]) ** 2)) < 0.4  # the noise SD is 0.5
