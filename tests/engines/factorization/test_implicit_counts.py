"""Implicit counts, ``0 + factors(user, item, k, implicit = TRUE)`` with a poisson identity
link: hierarchical Poisson factorization through the formula interface."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.errors import DataError, EngineError

FORMULA = "count ~ 0 + factors(user, item, k = 3, implicit = TRUE)"
FAMILY = "poisson(link='identity')"
FIT = {"chains": 2, "draws": 200, "seed": 1, "progress": False}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(4)
    theta = rng.gamma(0.3, 0.7, (200, 3))
    beta = rng.gamma(0.3, 0.7, (150, 3))
    counts = rng.poisson(theta @ beta.T)
    user, item = np.nonzero(counts)
    frame = pd.DataFrame(
        {
            "user": [f"u{u}" for u in user],
            "item": [f"i{i}" for i in item],
            "count": counts[user, item],
        }
    )
    held = frame.sample(frac=0.2, random_state=2)
    train = frame.drop(held.index)
    return train, held, theta @ beta.T


def test_the_rates_and_held_out_items_are_found(data):
    train, held, rate = data
    fit = ml.fit(FORMULA, train, family=FAMILY, **FIT)
    assert "hierarchical Poisson factorization" in fit.posterior.reason
    assert "variational" in fit.posterior.reason and fit.posterior.settings["converged"]
    users, items = fit.spec.design.factors.users, fit.spec.design.factors.items
    pairs = pd.DataFrame(
        {
            "user": np.repeat(users.levels, items.n_levels),
            "item": np.tile(items.levels, users.n_levels),
        }
    )
    fitted = fit.predict(pairs)["mean"].to_numpy().reshape(users.n_levels, items.n_levels)
    true = rate[[int(u[1:]) for u in users.levels]][:, [int(i[1:]) for i in items.levels]]
    assert np.corrcoef(fitted.ravel(), true.ravel())[0, 1] > 0.9
    # the held-out items of a user rank high among the items it has not interacted with
    recommended, relevant = [], []
    for user, rows in held.groupby("user"):
        if user in set(train["user"]):
            recommended.append(list(fit.recommend(user, n=20).index))
            relevant.append(set(rows["item"]))
    chance = 20 / items.n_levels
    assert ml.recall_at_k(recommended, relevant, 20) > 2 * chance


@pytest.mark.parametrize(
    ("formula", "family", "message"),
    [
        (FORMULA, "poisson", "poisson\\(link = 'identity'\\)"),
        ("count ~ 1 + factors(user, item, k = 3, implicit = TRUE)", FAMILY, "0 \\+ factors"),
        ("count ~ 0 + factors(user, item, k = 3, implicit = TRUE)", "gaussian", "poisson"),
    ],
)
def test_models_that_are_not_poisson_factorization_are_refused(data, formula, family, message):
    with pytest.raises(EngineError, match=message):
        ml.fit(formula, data[0], family=family, **FIT)


def test_new_users_and_fold_in_say_they_are_not_implemented(data):
    train, _, _ = data
    fit = ml.fit(FORMULA, train, family=FAMILY, **FIT)
    new = pd.DataFrame({"user": ["stranger"], "item": [train["item"].iloc[0]], "count": [1]})
    with pytest.raises(DataError, match="not implemented"):
        fit.predict(new, new_groups="sample")
    with pytest.raises(EngineError, match="not implemented"):
        fit.fold_in(new)
