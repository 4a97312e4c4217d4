"""Fold-in places a new user from a few ratings as refitting with them does (when the items
are well known: fold-in leaves their factors as the fit had them), and recommend ranks items
by their posterior mean with the uncertainty of the ranking."""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pytest

import multilevel as ml
from _factor_data import FORMULA, simulate

SETTINGS = {"chains": 2, "draws": 600, "warmup": 300, "progress": False}
NEW = ["u0000", "u0001"]


@pytest.fixture(scope="module")
def data():
    # 200 ratings per item: the new users' 15 ratings barely move the items' factors, which
    # fold-in keeps as they were (with 55 per item that approximation showed, 1.7 Monte Carlo
    # SEs on average)
    frame, _ = simulate(n_users=400, n_items=40, n_artists=8, per_user=20, k=2, seed=7)
    new_rows = frame[frame["user"].isin(NEW)]
    ratings = new_rows.groupby("user").head(15)
    held = new_rows.drop(ratings.index)
    train = frame[~frame["user"].isin(NEW)]
    assert held["item"].isin(train["item"]).all() and ratings["item"].isin(train["item"]).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.fit(FORMULA.format(k=2), train, seed=1, **SETTINGS)
        refit = ml.fit(FORMULA.format(k=2), frame.drop(held.index), seed=2, **SETTINGS)
    return fit, refit, ratings, held


@pytest.mark.slow
def test_fold_in_equals_refitting_within_monte_carlo_error(data):
    fit, refit, ratings, held = data
    folded = fit.fold_in(ratings, seed=3)
    a = folded.predict(held, summary=False).reshape(2, -1, len(held))
    b = refit.predict(held, summary=False).reshape(2, -1, len(held))
    for j in range(len(held)):
        se = [x[:, :, j].std() / np.sqrt(float(az.ess(x[:, :, j]))) for x in (a, b)]
        assert abs(a[:, :, j].mean() - b[:, :, j].mean()) < 4.5 * np.hypot(*se), j
        # and the same uncertainty: the SDs within 25%
        assert 0.75 < a[:, :, j].std() / b[:, :, j].std() < 1.33, j
    population = fit.predict(held, new_groups="population")["mean"]
    error = np.abs(a.mean((0, 1)) - held["mu"]).mean()
    assert error < np.abs(population - held["mu"]).mean()  # the ratings told us something


@pytest.mark.slow
def test_fold_in_users_are_recommended_without_what_they_rated(data):
    fit, _, ratings, _ = data
    folded = fit.fold_in(ratings, seed=3)
    table = folded.recommend("u0000", n=5)
    rated = set(ratings.loc[ratings["user"] == "u0000", "item"])
    assert len(table) == 5 and not rated & set(table.index)
    assert table["mean"].is_monotonic_decreasing
    assert ((table["p_top"] >= 0) & (table["p_top"] <= 1)).all()
    everything = folded.recommend("u0000", n=1000, exclude_seen=False)
    assert len(everything) == fit.spec.design.factors.items.n_levels
    # the scores are the predictions of the model for that user and item
    row = ratings[ratings["user"] == "u0000"].iloc[[0]]
    predicted = folded.predict(row)["mean"].iloc[0]
    assert everything.loc[row["item"].iloc[0], "mean"] == pytest.approx(predicted, rel=1e-6)


def test_ranking_metrics_match_hand_computed_values():
    recommended = [["a", "b", "c", "d"], ["x", "y", "z", "w"], ["p"]]
    relevant = [{"b", "d", "e"}, {"w"}, set()]  # the third user has nothing held out
    # recall@2: user 1 finds b of min(2, 3); user 2 finds nothing in its top 2
    assert ml.recall_at_k(recommended, relevant, 2) == pytest.approx((1 / 2 + 0) / 2)
    # NDCG@4: user 1 gains at ranks 2 and 4, ideal 3 relevant at ranks 1-3; user 2 at rank 4
    dcg1 = 1 / np.log2(3) + 1 / np.log2(5)
    ideal1 = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    expected = (dcg1 / ideal1 + (1 / np.log2(5)) / 1) / 2
    assert ml.ndcg_at_k(recommended, relevant, 4) == pytest.approx(expected)
