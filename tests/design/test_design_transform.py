"""DesignInfo.transform(newdata): every encoding of the training data re-used on new data."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from multilevel import datasets
from multilevel.design import design
from multilevel.errors import DataError
from multilevel.formula import parse


@pytest.fixture
def train():
    return pd.DataFrame(
        {
            "y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "x": [1.0, 2.0, 4.0, 8.0, 16.0, 32.0],
            "cat": list("abcabc"),
            "g": list("ppqqrr"),
            "h": list("qrpprq"),
        }
    )


def test_transform_of_training_data_reproduces_the_design():
    radon = datasets.load("radon")
    formula = "log_radon ~ floor * log_uppm + scale(log_uppm) + (1 + floor | county)"
    d = design(formula, radon)
    again = d.info.transform(radon)
    np.testing.assert_array_equal(again.X, d.X)
    np.testing.assert_array_equal(again.y, d.y)
    np.testing.assert_array_equal(again.blocks[0].index, d.blocks[0].index)
    np.testing.assert_array_equal(again.blocks[0].Z, d.blocks[0].Z)
    assert again.X_names == d.X_names and again.info is d.info


def test_scale_and_center_use_training_statistics(train):
    d = design("y ~ scale(x) + log(x)", train)
    mean, sd = train["x"].mean(), train["x"].std(ddof=1)
    new = d.info.transform(pd.DataFrame({"x": [3.0, 100.0]}))
    np.testing.assert_allclose(new.X[:, 1], (np.array([3.0, 100.0]) - mean) / sd)
    np.testing.assert_allclose(new.X[:, 2], np.log([3.0, 100.0]))
    # center(x) alone (beside scale(x) it would be aliased, and dropped)
    centered = design("y ~ center(x)", train).info.transform(pd.DataFrame({"x": [3.0, 100.0]}))
    np.testing.assert_allclose(centered.X[:, 1], np.array([3.0, 100.0]) - mean)
    # one row: the statistics of the new data would be undefined
    one = d.info.transform({"x": [11.0]})
    np.testing.assert_allclose(one.X[0, 1], (11.0 - mean) / sd)


def test_scale_inside_other_expressions(train):
    d = design("y ~ I(scale(x)^2)", train)
    mean, sd = train["x"].mean(), train["x"].std(ddof=1)
    new = d.info.transform({"x": [5.0]})
    np.testing.assert_allclose(new.X[0, 1], ((5.0 - mean) / sd) ** 2)


def test_poly_reuses_training_coefficients(train):
    d = design("y ~ poly(x, 3)", train)
    subset = d.info.transform(train.iloc[[4, 1]])
    np.testing.assert_allclose(subset.X, d.X[[4, 1]], atol=1e-12)
    grid = d.info.transform({"x": np.linspace(0, 40, 7)})
    # the training recurrence is a cubic in x: fit it from the training columns and compare
    for k in range(1, 4):
        coefficients = np.polyfit(train["x"], d.X[:, k], 3)
        np.testing.assert_allclose(
            grid.X[:, k], np.polyval(coefficients, np.linspace(0, 40, 7)), atol=1e-8
        )


def test_categorical_levels_reused(train):
    d = design("y ~ x * cat", train)
    new = d.info.transform(pd.DataFrame({"x": [1.0, 2.0], "cat": ["c", "c"]}))
    assert new.X_names == d.X_names
    np.testing.assert_array_equal(new.X, [[1, 1, 0, 1, 0, 1], [1, 2, 0, 1, 0, 2]])


def test_new_category_level_is_always_an_error(train):
    d = design("y ~ cat + (1 | g)", train)
    for policy in ("error", "population", "sample"):
        with pytest.raises(DataError, match=r"categorical predictor cat has level 'z' in row 1"):
            d.info.transform(pd.DataFrame({"cat": ["a", "z"], "g": ["p", "p"]}), new_groups=policy)


def test_new_group_levels_error_names_factor_and_levels(train):
    d = design("y ~ x + (1 | g)", train)
    new = pd.DataFrame({"x": [1.0, 2.0, 3.0], "g": ["p", "zz", "yy"]})
    with pytest.raises(DataError) as err:
        d.info.transform(new)
    message = str(err.value)
    for part in ("grouping factor g", "'zz'", "'yy'", "rows 1, 2", "population", "sample"):
        assert part in message


def test_new_group_levels_population_and_sample(train):
    d = design("y ~ x + (1 | g)", train)
    new = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "g": ["zz", "q", "yy", "zz"]})
    population = d.info.transform(new, new_groups="population").blocks[0]
    sample = d.info.transform(new, new_groups="sample").blocks[0]
    for block in (population, sample):
        assert block.levels.tolist() == ["p", "q", "r"]
        assert block.new_levels.tolist() == ["zz", "yy"]
        np.testing.assert_array_equal(block.index[:, 0], [3, 1, 4, 3])
        np.testing.assert_array_equal(block.known[:, 0], [False, True, False, False])
    np.testing.assert_array_equal(population.weights[:, 0], [0.0, 1.0, 0.0, 0.0])
    np.testing.assert_array_equal(sample.weights[:, 0], 1.0)


def test_each_grouping_factor_handled_independently(train):
    d = design("y ~ (1 | g) + (1 | h)", train)
    new = d.info.transform({"g": ["p", "new"], "h": ["r", "q"]}, new_groups="sample")
    assert new.blocks[0].new_levels.tolist() == ["new"]
    assert len(new.blocks[1].new_levels) == 0
    np.testing.assert_array_equal(new.blocks[1].index[:, 0], [2, 1])


def test_new_levels_of_nested_and_multiple_membership(train):
    d = design("y ~ (1 | g/h)", train)
    new = d.info.transform({"g": ["p", "p"], "h": ["q", "p"]}, new_groups="population")
    outer, inner = new.blocks
    assert outer.known.all()
    np.testing.assert_array_equal(inner.known[:, 0], [True, False])
    assert inner.new_levels.tolist() == ["p:p"]

    d = design("y ~ (1 | mm(g, h))", train)
    new = d.info.transform({"g": ["p", "s"], "h": ["t", "q"]}, new_groups="sample").blocks[0]
    np.testing.assert_array_equal(new.index, [[0, 4], [3, 1]])
    assert new.new_levels.tolist() == ["s", "t"]
    with pytest.raises(DataError, match=r"mm\(g,h\) has levels 's', 't'"):
        d.info.transform({"g": ["p", "s"], "h": ["t", "q"]})


def test_labels_of_another_type_match():
    data = datasets.load("sleepstudy")
    d = design("Reaction ~ Days + (Days | Subject)", data)
    new = d.info.transform({"Days": [1, 2], "Subject": ["309", 372]})
    np.testing.assert_array_equal(new.blocks[0].index[:, 0], [1, 17])


def test_response_and_additions_are_optional(train):
    data = train.assign(n=[5, 5, 5, 6, 6, 6])
    d = design("y | trials(n) ~ x + (1 | g)", data)
    new = d.info.transform({"x": [1.0], "g": ["p"]})
    assert new.y is None and new.trials is None and new.response == "y"
    new = d.info.transform({"x": [1.0], "g": ["p"], "y": [2.0], "n": [7]})
    assert new.y.tolist() == [2.0] and new.trials.tolist() == [7.0]


def test_missing_predictor_column_in_new_data(train):
    d = design("y ~ x + cat", train)
    with pytest.raises(DataError, match=r"'cat' \(did you mean 'cats'\?\) not found"):
        d.info.transform({"x": [1.0], "cats": ["a"]})


def test_transformed_new_data_validated(train):
    d = design("y ~ log(x)", train)
    with pytest.raises(DataError, match=r"log\(x\).*positive.*x is -1 in row 1"):
        d.info.transform({"x": [1.0, -1.0]})
    with pytest.raises(DataError, match=r"column 'x' has missing values \(NaN\) in row 0"):
        d.info.transform({"x": [np.nan, 1.0]})


def test_distributional_formula_transform(train):
    formula = parse("y ~ x", dpars={"sigma": "sigma ~ cat + (1 | g)"})
    d = design(formula, train)
    new = d.info.transform({"x": [1.0], "cat": ["b"], "g": ["q"]})
    np.testing.assert_array_equal(new.dpars["sigma"].X, [[1.0, 1.0, 0.0]])
    np.testing.assert_array_equal(new.dpars["sigma"].blocks[0].index, [[1]])


def test_bad_policy(train):
    d = design("y ~ x + (1 | g)", train)
    with pytest.raises(ValueError, match="new_groups must be one of 'error', 'population'"):
        d.info.transform(train, new_groups="drop")


def test_info_pickles(train):
    formula = parse("y ~ scale(x) + cat + (1 | g)", dpars={"sigma": "sigma ~ (1 | h)"})
    d = design(formula, train)
    info = pickle.loads(pickle.dumps(d.info))
    assert info.formula == d.info.formula
    assert info.levels("g").tolist() == ["p", "q", "r"]
    again = info.transform(train)
    np.testing.assert_array_equal(again.X, d.X)
    np.testing.assert_array_equal(
        again.dpars["sigma"].blocks[0].index, d.dpars["sigma"].blocks[0].index
    )
    with pytest.raises(KeyError, match="the grouping factors are g, h"):
        info.levels("county")


def test_design_pickles(train):
    formula = parse("y ~ x + (1 | g)", dpars={"sigma": "sigma ~ cat"})
    d = design(formula, train)
    again = pickle.loads(pickle.dumps(d))
    np.testing.assert_array_equal(again.X, d.X)
    assert again.dpars["sigma"].X_names == ("Intercept", "catb", "catc")
    assert again.blocks[0].levels.tolist() == ["p", "q", "r"]
    assert not again.X.flags.writeable and not again.blocks[0].index.flags.writeable
    assert not again.dpars["sigma"].X.flags.writeable
