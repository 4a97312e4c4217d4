"""Every mistake in the data is a clear error that names the offender."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from multilevel.design import design
from multilevel.errors import DataError, DataWarning, FormulaError


@pytest.fixture
def data():
    return pd.DataFrame(
        {
            "y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "z": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
            "cat": list("abcabc"),
            "g": list("ppqqrr"),
            "one": ["k"] * 6,
            "n": [3, 3, 3, 3, 3, 3],
            "const": [1.0] * 6,
        }
    )


CASES = [
    ("y ~ xx + (1 | gg)", DataError, r"'gg' \(did you mean 'g'\?\), 'xx' \(did you mean 'x'\?\)"),
    ("y ~ log(z)", DataError, r"log\(z\).*needs positive values, but z is 0 in row 0"),
    ("y ~ sqrt(z - 2)", DataError, r"sqrt\(\) of z - 2.*is -2, -1 in rows 0, 1"),
    ("y ~ log1p(z - 2)", DataError, r"log1p\(z - 2\).*greater than -1.*rows 0, 1"),
    ("y ~ foo(x)", FormulaError, r"unknown function foo\(\) in the term foo\(x\)"),
    ("y ~ x + (1 | one)", DataError, r"grouping factor one has a single level \('k'\)"),
    ("y ~ one", DataError, r"categorical predictor one has a single level"),
    ("y ~ I(x / z)", DataError, r"the term I\(x / z\) is not finite .* in row 0"),
    ("cat ~ x", DataError, r"response cat must be numeric.*'a'"),
    ("y | trials(x) ~ z", None, None),
    ("y ~ C(cat, Sum)", FormulaError, r"only treatment \(dummy\) contrasts.*Sum"),
    ("y ~ C(cat, Treatment('q'))", DataError, r"reference level 'q'.*a, b, c"),
    ("y ~ scale(const)", DataError, r"scale\(const\).*SD of const, which is 0"),
    ("y ~ poly(x, 6)", DataError, r"poly\(x, 6\) needs more than 6 distinct values of x"),
    ("y ~ I(cat + 1)", DataError, r"cat is categorical .* in the term I\(cat \+ 1\)"),
    ("y ~ poly(x, 2):z + I(poly(x, 2) + 1)", FormulaError, r"poly\(x, 2\) has several columns"),
    ("y ~ I(2)", FormulaError, r"the term I\(2\) is a constant"),
    ("y ~ C(cat, levels = ['a', 'b'])", DataError, r"C\(cat.*'c'.*not among the levels"),
    ("y ~ scale(x, middle = TRUE)", FormulaError, r"scale\(\) has no argument 'middle'"),
]


@pytest.mark.parametrize(("formula", "error", "pattern"), [c for c in CASES if c[1]])
def test_error_names_the_offender(data, formula, error, pattern):
    with pytest.raises(error, match=pattern):
        design(formula, data)


def test_unknown_function_error_has_a_caret(data):
    with pytest.raises(FormulaError) as err:
        design("y ~ x + foo(x)", data)
    assert "  y ~ x + foo(x)\n          ^^^^^^" in str(err.value)


@pytest.mark.parametrize("column", ["x", "y", "g", "cat"])
def test_missing_values_in_a_used_column_list_the_rows(data, column):
    bad = data.copy()
    bad[column] = bad[column].astype(object)
    bad.loc[[1, 4], column] = None
    if column in ("x", "y"):
        bad[column] = bad[column].astype(float)
    with pytest.raises(DataError, match=rf"'{column}' has missing .* rows 1, 4"):
        design("y ~ x + cat + (1 | g)", bad, na_action="error")
    # by default the rows are left out, and a warning counts them (lme4, brms)
    with pytest.warns(DataWarning, match=rf"2 of 6 rows .* '{column}' has missing .* rows 1, 4"):
        d = design("y ~ x + cat + (1 | g)", bad)
    assert d.n == 4 and d.info.n_train == 4


def test_unused_columns_are_not_checked(data):
    data.loc[2, "z"] = np.nan
    assert design("y ~ x", data).n == 6  # nothing dropped, nothing complained about


def test_infinite_values(data):
    data.loc[3, "x"] = np.inf
    with pytest.raises(DataError, match=r"column 'x' has infinite values in row 3"):
        design("y ~ x", data)


def test_row_labels_are_the_frame_index(data):
    data.index = [10, 11, 12, 13, 14, 15]
    with pytest.raises(DataError, match=r"in row 10"):
        design("y ~ log(z)", data)


@pytest.mark.parametrize(
    ("formula", "pattern"),
    [
        (
            "y | trials(x) ~ z",
            r"trials\(x\) must be non-negative whole numbers, but x is 1.5 in row 0",
        ),
        ("y | se(z) ~ x", r"se\(z\) must be positive, but z is 0 in row 0"),
        ("y | weights(w) ~ x", r"weights\(w\) must be non-negative, but w is -1 in row 2"),
    ],
)
def test_bad_addition_values(data, formula, pattern):
    data = data.assign(x=[1.5, 2, 3, 4, 5, 6], w=[1.0, 1.0, -1.0, 1.0, 1.0, 1.0])
    with pytest.raises(DataError, match=pattern):
        design(formula, data)


def test_addition_terms_must_fit_the_family(data):
    with pytest.raises(FormulaError, match=r"trials\(\) is not used by the gaussian family"):
        design("y | trials(n) ~ x", data, family="gaussian")
    with pytest.raises(FormulaError, match=r"se\(\) is not used by the poisson family"):
        design("y | se(x) ~ z", data, family="poisson")
    with pytest.raises(TypeError, match="family must be a name"):
        design("y ~ x", data, family=3)


def test_multiple_membership_weight_errors(data):
    data = data.assign(h=list("qrpprq"), w1=[1.0, 0, 1, 1, 1, 1], w2=[1.0, 0, 1, 1, -2, 1])
    with pytest.raises(
        DataError, match=r"weights \(w1, w2\) of mm\(g,h\) must not be negative.*row 4"
    ):
        design("y ~ (1 | mm(g, h, weights = cbind(w1, w2)))", data)
    data.loc[4, "w2"] = 1.0
    with pytest.raises(DataError, match=r"weights of mm\(g,h\) sum to 0 in row 1"):
        design("y ~ (1 | mm(g, h, weights = cbind(w1, w2), scale = TRUE))", data)


def test_text_in_a_numeric_role(data):
    data = data.assign(s=["1", "2", "x", "4", "5", "6"])
    with pytest.raises(DataError, match=re.escape("se(s) must be numeric")):
        design("y | se(s) ~ x", data)


def test_not_a_formula(data):
    with pytest.raises(TypeError, match="formula must be formula text"):
        design(3, data)
    with pytest.raises(DataError, match="no rows"):
        design("y ~ x", data.iloc[:0])


@pytest.mark.parametrize(
    "family", ["normal", "Normal", "gaussian(link = 'log')", "student", "t", "poisson('identity')"]
)
def test_addition_terms_are_checked_for_aliases_and_link_calls(family):
    data = pd.DataFrame({"y": [1.0, 2, 3, 4], "n": [5, 5, 5, 5], "g": list("aabb")})
    with pytest.raises(FormulaError, match=r"trials\(\) is not used by the"):
        design("y | trials(n) ~ 1 + (1 | g)", data, family=family)


def test_a_family_alias_is_stored_by_its_name():
    data = pd.DataFrame({"y": [1.0, 2, 3, 4], "g": list("aabb")})
    assert design("y ~ 1 + (1 | g)", data, family="Normal").info.family == "gaussian"
