"""Bad input to a factor model gets a clear error naming the column, level or term."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import multilevel as ml
from _factor_data import simulate
from multilevel.design import design
from multilevel.errors import DataError, DataWarning, EngineError, FormulaError

FIT = {"chains": 1, "draws": 20, "warmup": 20, "seed": 1, "progress": False}


@pytest.fixture(scope="module")
def ratings():
    return simulate(n_users=30, n_items=20, n_artists=4, per_user=8, k=2)[0]


def test_the_design_indexes_users_items_and_each_items_artist(ratings):
    d = design("rating ~ 1 + factors(user, item, k = 2, item_group = artist)", ratings)
    users, items = d.factors.users, d.factors.items
    assert list(users.levels[users.index]) == list(ratings["user"])
    assert list(items.levels[items.index]) == list(ratings["item"])
    artist_of_item = dict(zip(ratings["item"], ratings["artist"], strict=True))
    assert [items.group_levels[g] for g in items.level_groups()] == [
        artist_of_item[i] for i in items.levels
    ]


def test_an_item_with_two_artists_is_named(ratings):
    bad = ratings.copy()
    row = bad.index[bad["item"] == bad["item"].iloc[0]][-1]
    bad.loc[row, "artist"] = "a999"
    with pytest.raises(DataError, match=rf"item '{bad['item'].iloc[0]}' has rows with artist"):
        design("rating ~ factors(user, item, item_group = artist)", bad)


def test_a_missing_column_is_named(ratings):
    with pytest.raises(DataError, match="artist"):
        design("rating ~ factors(user, item, item_group = artist)", ratings.drop(columns="artist"))


def test_a_missing_user_id_is_counted_or_refused(ratings):
    bad = ratings.copy()
    bad.loc[bad.index[3], "user"] = None
    with pytest.warns(DataWarning, match="1 of .* rows are left out .*user"):
        d = design("rating ~ factors(user, item, k = 2)", bad)
    assert d.n == len(bad) - 1
    with pytest.raises(DataError, match="user"):
        design("rating ~ factors(user, item, k = 2)", bad, na_action="error")


def test_k_below_one_is_refused(ratings):
    with pytest.raises(FormulaError, match="at least 1"):
        ml.fit("rating ~ factors(user, item, k = 0)", ratings, **FIT)


def test_a_rating_outside_the_family_support_is_refused(ratings):
    with pytest.raises(DataError, match="rating"):
        ml.fit("rating ~ factors(user, item, k = 2)", ratings, family="poisson", **FIT)


def test_families_and_terms_the_sampler_does_not_fit_name_the_reason(ratings):
    counts = ratings.assign(count=np.arange(len(ratings)) % 4)
    with pytest.raises(EngineError, match="poisson.*not implemented yet"):
        ml.fit("count ~ factors(user, item, k = 2)", counts, family="poisson", **FIT)
    slopes = ratings.assign(x=np.linspace(0, 1, len(ratings)))
    with pytest.raises(EngineError, match=r"\(1 \+ x \| user\) has 2 coefficients"):
        ml.fit("rating ~ x + (1 + x | user) + factors(user, item, k = 2)", slopes, **FIT)
    with pytest.raises(EngineError, match="nuts engine does not fit factors"):
        ml.fit("rating ~ factors(user, item, k = 2)", ratings, method="nuts", **FIT)


def test_a_new_user_is_named_unless_a_policy_is_given(ratings):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.fit("rating ~ 1 + (1 | user) + factors(user, item, k = 2)", ratings, **FIT)
    new = ratings.iloc[:2].assign(user=["nobody", ratings["user"].iloc[1]])
    with pytest.raises(DataError, match="grouping factor user has level 'nobody'"):
        fit.predict(new)
    assert np.isfinite(fit.predict(new, new_groups="sample", seed=1)["mean"]).all()
    with pytest.raises(DataError, match="fold_in"):
        fit.recommend("nobody")
    with pytest.raises(DataError, match="were in the training data"):
        fit.fold_in(ratings.iloc[:3])


def test_a_fit_after_fits_of_other_shapes_gives_the_same_draws(ratings):
    formula = "rating ~ 1 + (1 | user) + factors(user, item, k = 2)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = ml.fit(formula, ratings, **FIT)
        ml.fit(
            "rating ~ 1 + (1 | item) + factors(user, item, k = 3, item_group = artist)",
            ratings.iloc[:150],
            **FIT,
        )
        again = ml.fit(formula, ratings, **FIT)
    for key, values in first.posterior.draws.items():
        np.testing.assert_array_equal(values, again.posterior.draws[key], err_msg=key)
