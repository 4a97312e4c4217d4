"""Missing values in the data (issue 17, item 4): rows with a missing value in a column the
model uses are left out and counted (``na_action="omit"``, as lme4's and brms's ``na.omit``)
or refused (``na_action="error"``); the usual spellings of a missing value in a text column of
numbers are missing values; new data with missing values give NaN predictions."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.design import design
from multilevel.errors import DataError, DataWarning
from multilevel.frame import missing_values, numbers_from_text
from multilevel.missing import NA_STRINGS


@pytest.fixture
def data() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "y": rng.normal(size=12),
            "x": rng.normal(size=12),
            "g": np.repeat(["a", "b", "c"], 4),
            "cat": np.tile(["u", "v"], 6),
            "unused": np.nan,
        }
    )


def _quiet_design(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return design(*args, **kwargs)


def test_rows_with_missing_values_are_left_out_and_counted(data):
    data.loc[[2, 9], "x"] = np.nan
    data.loc[5, "y"] = np.nan
    data["g"] = data["g"].astype(object)
    data.loc[9, "g"] = None  # the same row twice: counted once
    with pytest.warns(DataWarning) as record:
        d = design("y ~ x + (1 | g)", data)
    (message,) = [str(w.message) for w in record]
    assert message == (
        "3 of 12 rows are left out because columns 'y', 'x' and 'g' have missing values "
        "(NA): 'y' in row 5, 'x' in rows 2, 9 and 'g' in row 9; the model is fitted to the "
        "other 9 rows (as lme4 and brms do; na_action='error' refuses them instead)"
    )
    assert d.n == d.info.n_train == 9 and d.info.notes == (message,)
    keep = [0, 1, 3, 4, 6, 7, 8, 10, 11]
    np.testing.assert_array_equal(d.y, data["y"].to_numpy()[keep])
    np.testing.assert_array_equal(d.X[:, 1], data["x"].to_numpy()[keep])
    # the same as the complete rows given directly (lme4's na.omit)
    complete = design("y ~ x + (1 | g)", data.iloc[keep])
    np.testing.assert_array_equal(d.X, complete.X)
    np.testing.assert_array_equal(d.blocks[0].index, complete.blocks[0].index)


def test_na_action_error_names_columns_and_rows(data):
    data.loc[[1, 4], "x"] = np.nan
    with pytest.raises(DataError) as err:
        design("y ~ x + (1 | g)", data, na_action="error")
    assert str(err.value) == (
        "column 'x' has missing values (NA) in rows 1, 4, and na_action='error' refuses them: "
        "drop or impute those rows, or use na_action='omit' (--na-action omit on the command "
        "line; the default, as in lme4 and brms) to leave them out"
    )


def test_unused_columns_and_complete_data_change_nothing(data):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning at all
        d = design("y ~ x + cat + (1 | g)", data)
    assert d.n == 12 and d.info.notes == ()


def test_a_column_with_only_missing_values_is_an_error(data):
    with pytest.raises(DataError, match="column 'unused' has only missing values"):
        design("y ~ unused", data)


def test_no_row_left(data):
    data.loc[::2, "x"] = np.nan
    data.loc[1::2, "y"] = np.nan
    with pytest.raises(DataError, match="every row has a missing value .* no row is left"):
        design("y ~ x", data)


def test_invalid_na_action(data):
    with pytest.raises(ValueError, match="na_action must be one of 'omit', 'error', not 'drop'"):
        design("y ~ x", data, na_action="drop")


@pytest.mark.parametrize("spelling", ["NA", "n/a", "N/A", ".", "", "NaN", "null", "NULL"])
def test_spellings_of_missing_in_a_text_column_of_numbers(data, spelling):
    text = data["x"].map(repr).astype(object)
    text[3] = spelling
    data["x"] = text
    with pytest.warns(DataWarning, match="1 of 12 rows .* column 'x' has missing values"):
        d = design("y ~ x + (1 | g)", data)
    expected = np.delete(data["x"].to_numpy(), 3).astype(float)
    np.testing.assert_array_equal(d.X[:, 1], expected)
    assert d.X_names == ("Intercept", "x")  # numbers, not 11 categories


def test_numbers_from_text_leaves_labels_alone():
    assert numbers_from_text(pd.Series(["308", "309"])) is None  # numeric labels stay labels
    assert numbers_from_text(pd.Series(["a", "NA"])) is None
    assert numbers_from_text(pd.Series([1.0, 2.0])) is None
    assert numbers_from_text(pd.Series([True, "NA"], dtype=object)) is None
    assert numbers_from_text(pd.Series(["1", "n/a"], dtype="string")).tolist()[0] == 1.0
    assert {"NA", "n/a", "N/A", ".", "", "NaN", "null"} <= set(NA_STRINGS)


def test_a_response_of_numbers_and_a_word_says_where(data):
    y = data["y"].map(repr).astype(object)
    y[6] = "?"
    data["y"] = y
    with pytest.raises(DataError) as err:
        design("y ~ x", data)
    assert "holds labels such as '?' in row 6; if that marks a missing value, write NA" in str(
        err.value
    )


def test_missing_values_lists_columns_in_order(data):
    data.loc[0, "cat"] = None
    data.loc[[0, 3], "y"] = np.nan
    found = missing_values(data, ["y", "x", "cat"])
    assert list(found.columns) == ["y", "cat"]
    assert found.rows.nonzero()[0].tolist() == [0, 3]


# -- new data -----------------------------------------------------------------------------


def test_missing_rows_of_new_data_ignore_the_response(data):
    d = _quiet_design("y ~ x + (1 | g)", data)
    new = pd.DataFrame({"x": [0.1, np.nan, 0.3, 0.4], "g": ["a", "b", None, "c"]})
    new["y"] = np.nan  # the response is not needed: its missing values do not count
    assert d.info.missing_rows(new).tolist() == [False, True, True, False]
    design_, missing = d.info.transform_complete(new)
    assert missing.tolist() == [False, True, True, False]
    np.testing.assert_array_equal(design_.X[:, 1], [0.1, 0.4])
    assert design_.y is None  # the response is not read


def test_transform_still_refuses_missing_values(data):
    d = _quiet_design("y ~ x + (1 | g)", data)
    with pytest.raises(DataError, match="'x' has missing values"):
        d.info.transform({"x": [np.nan, 1.0], "g": ["a", "b"]})


def test_transform_complete_of_no_complete_row(data):
    d = _quiet_design("y ~ x + (1 | g)", data)
    new, missing = d.info.transform_complete({"x": [np.nan], "g": ["a"]})
    assert new is None and missing.tolist() == [True]


def test_point_estimates_predict_nan_for_incomplete_new_rows(data):
    fit = ml.fit("y ~ x + (1 | g)", data, method="reml")
    new = pd.DataFrame({"x": [0.5, np.nan, "."], "g": ["a", "b", "c"]}, index=[10, 11, 12])
    with pytest.warns(DataWarning, match=r"rows 11, 12 of the new data have missing values"):
        predicted = fit.predict(new)
    assert np.isfinite(predicted.iloc[0]) and predicted.iloc[1:].isna().all()
    np.testing.assert_allclose(
        predicted.iloc[0], fit.predict(new.iloc[:1].astype({"x": float})).iloc[0]
    )
