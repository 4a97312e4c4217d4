"""Dates and categories (issue 17, items 3 and 8): a date column is never turned into
dummies or numbers silently; ``factor(x)`` and R's ``relevel(x, ref = "b")`` make categories."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.design import design
from multilevel.errors import DataError, FormulaError


@pytest.fixture
def data() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    return pd.DataFrame(
        {
            "y": rng.normal(size=12),
            "when": pd.date_range("2024-03-01", periods=12, freq="D"),
            "cat": np.tile(["a", "b", "c"], 4),
            "g": np.repeat(["p", "q", "r", "s"], 3),
        }
    )


@pytest.mark.parametrize("formula", ["y ~ when", "y ~ x:when", "when ~ 1", "y ~ log(when)"])
def test_a_date_column_is_refused_with_what_to_do(data, formula):
    data["x"] = 1.0
    with pytest.raises(DataError) as err:
        design(formula, data)
    message = str(err.value)
    assert "column 'when' holds dates (datetime64" in message
    assert "convert the column explicitly" in message and "factor(when)" in message


def test_dates_as_text_are_refused_as_a_predictor(data):
    data["when"] = data["when"].astype(str)
    with pytest.raises(
        DataError, match=r"'when' holds dates written as text \(such as '2024-03-01'\)"
    ):
        design("y ~ when", data)


def test_timestamps_as_text_are_refused(data):
    data["when"] = data["when"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    with pytest.raises(DataError, match="dates written as text"):
        design("y ~ when + (1 | g)", data)


def test_text_that_is_not_a_date_stays_a_category(data):
    data["when"] = ["2024-03-01", "soon"] * 6
    assert design("y ~ when", data).X_names == ("Intercept", "whensoon")


def test_dates_asked_for_explicitly_are_used(data):
    d = design("y ~ factor(when)", data.iloc[:3])
    assert d.X_names == ("Intercept", "factor(when)2024-03-02", "factor(when)2024-03-03")
    d = design("y ~ 1 + (1 | when)", data)  # a grouping factor of dates: one level per date
    assert len(d.blocks[0].levels) == 12
    as_days = data.assign(day=(data["when"] - data["when"].min()).dt.days)
    assert design("y ~ day", as_days).X_names == ("Intercept", "day")


# -- relevel ------------------------------------------------------------------------------


def test_relevel_sets_the_reference_level(data):
    d = design('y ~ relevel(cat, ref = "b")', data)
    assert d.X_names == ("Intercept", 'relevel(cat, ref = "b")a', 'relevel(cat, ref = "b")c')
    np.testing.assert_array_equal(d.X[:, 1], data["cat"] == "a")
    np.testing.assert_array_equal(d.X[:, 2], data["cat"] == "c")
    # the same model as C(cat, Treatment("b")), and as R's relevel
    same = design('y ~ C(cat, Treatment("b"))', data)
    np.testing.assert_array_equal(d.X, same.X)
    positional = design("y ~ relevel(cat, 'b')", data)
    np.testing.assert_array_equal(positional.X, d.X)
    new = d.info.transform({"cat": ["b", "c"]})
    np.testing.assert_array_equal(new.X, [[1, 0, 0], [1, 0, 1]])


def test_relevel_of_integer_codes(data):
    data["code"] = np.tile([1, 2, 3], 4)
    d = design("y ~ relevel(code, ref = 3)", data)
    assert d.X_names == ("Intercept", "relevel(code, ref = 3)1", "relevel(code, ref = 3)2")


@pytest.mark.parametrize(
    "formula, error, words",
    [
        ("y ~ relevel(cat)", FormulaError,
         'relevel() needs the reference level: relevel(x, ref = "b")'),
        ("y ~ relevel(cat, ref = 'z')", DataError,
         "reference level 'z' of relevel(cat, ref = 'z') is not one of its levels: a, b, c"),
        ("y ~ relevel(cat, base = 'b')", FormulaError, "relevel() has no argument 'base'"),
        ("y ~ relevel(cat, ref = other)", FormulaError, "must be a label such as"),
    ],
)  # fmt: skip
def test_relevel_mistakes(data, formula, error, words):
    data["other"] = 1.0
    with pytest.raises(error) as err:
        design(formula, data)
    assert words in str(err.value)


def test_factor_of_integer_codes_gives_one_coefficient_per_level():
    cbpp = ml.datasets.load("cbpp").assign(period=lambda d: d["period"].astype(int))
    d = design("incidence | trials(size) ~ factor(period) + (1 | herd)", cbpp)
    assert d.X_names == ("Intercept", "factor(period)2", "factor(period)3", "factor(period)4")
    bundled = design("incidence | trials(size) ~ period + (1 | herd)", ml.datasets.load("cbpp"))
    np.testing.assert_array_equal(d.X, bundled.X)  # the bundled data hold the periods as text
