"""Bad input to ``multilevel.fit``: every user mistake is a ``MultilevelError`` subclass whose
message names the offender (column, row, value, level, factor, family, link, prior target),
raised before any sampling starts."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml

N = 12
# a short run, in case a test's input is (wrongly) accepted: it then fails fast, not slowly
QUICK = dict(chains=1, draws=10, warmup=10, seed=0, progress=False)


@pytest.fixture
def data() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "y": rng.normal(size=N),
            "x": rng.normal(size=N),
            "g": np.repeat(["a", "b", "c"], 4),
            "h": np.tile(["a", "b", "c"], 4),
            "k": rng.poisson(3, size=N),
            "n": np.full(N, 8),
            "s": np.tile([0, 1], N // 2),
            "p": rng.uniform(0.1, 0.9, size=N),
            "w1": 1.0,
            "w2": 0.5,
        }
    )


def _fit(formula, data, **kwargs):
    return ml.fit(formula, data, **QUICK, **kwargs)


def _words(*parts: str) -> str:
    """A regex matching the parts in order, anything between them."""
    return ".*".join(re.escape(p) for p in parts)


# ---------------------------------------------------------------------------------------------
# missing columns
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "formula, family, column",
    [
        ("y ~ x + z + (1 | g)", "gaussian", "z"),  # predictor
        ("yy ~ x + (1 | g)", "gaussian", "yy"),  # response
        ("y ~ x + (1 | grp)", "gaussian", "grp"),  # grouping factor
        ("y ~ x + (1 | g/sub)", "gaussian", "sub"),  # nested grouping factor
        ("y ~ x + (1 | mm(g, hh))", "gaussian", "hh"),  # membership column
        ("y ~ x + (1 | mm(g, h, weights = cbind(w1, w3)))", "gaussian", "w3"),  # mm weight
        ("k | trials(nn) ~ x + (1 | g)", "binomial", "nn"),  # trials
        ("y ~ x + (0 + u | g)", "gaussian", "u"),  # varying slope
    ],
)
def test_missing_column_is_named(data, formula, family, column):
    with pytest.raises(ml.DataError, match=_words(f"column '{column}'", "not found")) as err:
        _fit(formula, data, family=family)
    assert "available columns: y, x, g" in str(err.value)


def test_missing_column_of_a_dict_of_columns():
    with pytest.raises(ml.DataError, match=_words("column 'x'", "not found", "y, g")):
        _fit("y ~ x + (1 | g)", {"y": [0.1, 0.4, -0.2, 1.0], "g": ["a", "a", "b", "b"]})


# ---------------------------------------------------------------------------------------------
# missing and infinite values
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "formula, family, column, row",
    [
        ("y ~ x + (1 | g)", "gaussian", "x", 3),
        ("y ~ x + (1 | g)", "gaussian", "y", 5),
        ("k | trials(n) ~ x + (1 | g)", "binomial", "n", 2),
        ("y ~ x + (1 | mm(g, h, weights = cbind(w1, w2)))", "gaussian", "w2", 9),
    ],
)
def test_nan_in_a_used_column_names_column_and_row(data, formula, family, column, row):
    data[column] = data[column].astype(float)
    data.loc[row, column] = np.nan
    with pytest.raises(ml.DataError, match=_words(f"'{column}'", "missing", f"row {row}")):
        _fit(formula, data, family=family, na_action="error")


def test_missing_group_label_names_column_and_row(data):
    data["g"] = data["g"].astype(object)
    data.loc[6, "g"] = None
    with pytest.raises(ml.DataError, match=_words("'g'", "missing", "row 6")):
        _fit("y ~ x + (1 | g)", data, na_action="error")


def test_infinite_value_names_column_and_row(data):
    data.loc[4, "x"] = np.inf
    with pytest.raises(ml.DataError, match=_words("'x'", "infinite", "row 4")):
        _fit("y ~ x + (1 | g)", data)


def test_several_bad_rows_are_listed(data):
    data.loc[[1, 7], "x"] = np.nan
    with pytest.raises(ml.DataError, match=_words("'x'", "rows 1", "7")):
        _fit("y ~ x + (1 | g)", data, na_action="error")


def test_nan_in_an_unused_column_is_not_an_error(data):
    data.loc[2, "p"] = np.nan
    data.loc[3, "w1"] = np.nan
    table = ml.default_priors("y ~ x + (1 | g)", data)  # the whole fit path short of sampling
    assert "sd_g__Intercept" in table.index


# ---------------------------------------------------------------------------------------------
# responses outside the family's support
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [2, 0.5, -1])
def test_bernoulli_response_must_be_0_or_1(data, value):
    data["s"] = data["s"].astype(float)
    data.loc[7, "s"] = value
    with pytest.raises(
        ml.DataError, match=_words("'s'", "bernoulli", "0 or 1", f"row 7 has {value:g}")
    ):
        _fit("s ~ x + (1 | g)", data, family="bernoulli")


def test_bernoulli_response_of_labels_is_rejected(data):
    data["s"] = np.where(data["s"] == 1, "yes", "no")
    with pytest.raises(ml.DataError, match=_words("response", "s", "numeric", "'")):
        _fit("s ~ x + (1 | g)", data, family="bernoulli")


@pytest.mark.parametrize("family", ["poisson", "negbinomial"])
@pytest.mark.parametrize("value", [-1, -3, 2.5])
def test_counts_must_be_non_negative_integers(data, family, value):
    data["k"] = data["k"].astype(float)
    data.loc[8, "k"] = value
    with pytest.raises(
        ml.DataError, match=_words("'k'", family, "non-negative integer", f"row 8 has {value:g}")
    ):
        _fit("k ~ x + (1 | g)", data, family=family)


def test_successes_above_trials_name_row_value_and_trials(data):
    data["k"] = 3
    data.loc[9, "k"] = 11  # of 8 trials
    with pytest.raises(
        ml.DataError, match=_words("'k'", "binomial", "number of trials", "row 9 has 11 (of 8")
    ):
        _fit("k | trials(n) ~ x + (1 | g)", data, family="binomial")


def test_negative_successes_and_non_positive_trials(data):
    data["k"] = 3
    data.loc[1, "k"] = -1
    with pytest.raises(ml.DataError, match=_words("'k'", "binomial", "row 1 has -1")):
        _fit("k | trials(n) ~ x + (1 | g)", data, family="binomial")
    data["k"] = 0
    data.loc[2, "n"] = 0
    with pytest.raises(ml.DataError, match=_words("trials", "positive integer", "row 2 has 0")):
        _fit("k | trials(n) ~ x + (1 | g)", data, family="binomial")


def test_binomial_without_trials_says_how_to_write_them(data):
    with pytest.raises(ml.DataError, match=re.escape("k | trials(n) ~")):
        _fit("k ~ x + (1 | g)", data, family="binomial")


@pytest.mark.parametrize(
    "family, value, rule",
    [
        ("beta", 1.0, "strictly between 0 and 1"),
        ("beta", 0.0, "strictly between 0 and 1"),
        ("gamma", 0.0, "positive"),
        ("lognormal", -0.5, "positive"),
    ],
)
def test_continuous_responses_outside_the_support(data, family, value, rule):
    data.loc[5, "p"] = value
    with pytest.raises(ml.DataError, match=_words("'p'", family, rule, f"row 5 has {value:g}")):
        _fit("p ~ x + (1 | g)", data, family=family)


# ---------------------------------------------------------------------------------------------
# grouping factors with a single level
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "formula, column, factor",
    [
        ("y ~ x + (1 | g)", "g", "g"),
        ("y ~ x + (1 | g) + (1 | h)", "h", "h"),  # the second of two crossed factors
        ("y ~ x + (1 | a/g)", "a", "a"),  # the outer factor of a nesting
        ("y ~ x + (1 + x | g)", "g", "g"),
    ],
)
def test_grouping_factor_with_one_level_is_named(data, formula, column, factor):
    data[column] = "only"
    with pytest.raises(
        ml.DataError, match=_words(f"grouping factor {factor} ", "single level", "'only'")
    ):
        _fit(formula, data)


def test_membership_with_one_level_is_named(data):
    data["g"] = data["h"] = "only"
    with pytest.raises(ml.DataError, match=_words("mm(g,h)", "single level", "'only'")):
        _fit("y ~ x + (1 | mm(g, h))", data)


# ---------------------------------------------------------------------------------------------
# families, links, priors, formulas
# ---------------------------------------------------------------------------------------------

FAMILY_LIST = "gaussian, student_t, bernoulli, binomial, poisson, negbinomial, gamma"


@pytest.mark.parametrize(
    "family, named, hint",
    [
        ("gausian", "'gausian'", "did you mean 'gaussian'"),
        ("zero_inflated_poisson", "'zero_inflated_poisson'", FAMILY_LIST),
        ("weibull(link = 'log')", "'weibull'", FAMILY_LIST),
    ],
)
def test_unknown_family_is_named_with_the_valid_ones(data, family, named, hint):
    with pytest.raises(ml.EngineError, match=_words("unknown family", named, hint)):
        _fit("y ~ x + (1 | g)", data, family=family)


@pytest.mark.parametrize(
    "family, link, valid",
    [
        ("bernoulli(link = 'logt')", "'logt'", "logit, probit, cauchit, cloglog"),
        ("poisson(logit)", "'logit'", "log, identity, sqrt"),
        (("gamma", "softplus"), "'softplus'", "log, identity, inverse"),
    ],
)
def test_unknown_link_is_named_with_the_valid_ones(data, family, link, valid):
    name = family[0] if isinstance(family, tuple) else family.split("(")[0]
    with pytest.raises(ml.EngineError, match=_words(f"{name} family", link, valid)):
        _fit("k ~ x + (1 | g)", data.assign(k=data["k"] + 1), family=family)


def test_family_that_is_not_a_name(data):
    with pytest.raises(ml.EngineError, match=_words("family", "3")):
        _fit("y ~ x + (1 | g)", data, family=3)


def test_unknown_prior_target_lists_the_valid_ones(data):
    with pytest.raises(ml.PriorError, match=_words("'b_z'", "did you mean 'b_x'", "sd_g")):
        _fit("y ~ x + (1 | g)", data, priors={"b_z": "normal(0, 1)"})


@pytest.mark.parametrize(
    "prior, named",
    [("nrmal(0, 1)", "'nrmal'"), ("normal(0, -1)", "must be positive"), ("normal(0, a)", "'a'")],
)
def test_invalid_prior_names_the_target_and_the_problem(data, prior, named):
    with pytest.raises(ml.PriorError, match=_words("sigma", named)):
        _fit("y ~ x + (1 | g)", data, priors={"sigma": prior})


def test_formula_syntax_error_points_at_the_column(data):
    with pytest.raises(ml.FormulaSyntaxError) as err:
        _fit("y ~ x + (1 | g", data)
    text = str(err.value)
    assert "y ~ x + (1 | g" in text and "^" in text


@pytest.mark.parametrize(
    "formula, named",
    [
        ("y ~ foo(x) + (1 | g)", "foo()"),
        ("y ~ x + (1 | )", "(1 | )"),
        ("y x + (1 | g)", "'~'"),
    ],
)
def test_formula_errors_name_the_term(data, formula, named):
    with pytest.raises(ml.FormulaError, match=re.escape(named)):
        _fit(formula, data)


# ---------------------------------------------------------------------------------------------
# new levels under new_groups="error"
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "formula, newdata, factor, level",
    [
        ("y ~ x + (1 | g)", {"x": [0.0, 1.0], "g": ["a", "zz"]}, "g", "'zz'"),
        (
            "y ~ x + (1 | mm(g, h))",
            {"x": [0.0, 1.0], "g": ["a", "b"], "h": ["c", "qq"]},
            "mm(g,h)",
            "'qq'",
        ),
        # both labels were seen, but not together: a new level of g:h
        (
            "y ~ x + (1 | g/h)",
            {"x": [0.0, 1.0], "g": ["a", "a"], "h": ["a", "zz"]},
            "g:h",
            "'a:zz'",
        ),
    ],
)
def test_new_level_under_new_groups_error_is_named(data, formula, newdata, factor, level):
    if "g/h" in formula:  # make g:h a strict nesting so that a:zz is new but a:a is not
        data["h"] = np.tile(["a", "b"], N // 2)
    info = ml.design(formula, data).info
    with pytest.raises(
        ml.DataError, match=_words(f"grouping factor {factor} ", level, "row 1", "new_groups=")
    ):
        info.transform(pd.DataFrame(newdata), new_groups="error")


def test_new_groups_error_is_the_default(data):
    info = ml.design("y ~ x + (1 | g)", data).info
    with pytest.raises(ml.DataError, match="'zz'"):
        info.transform(pd.DataFrame({"x": [0.0], "g": ["zz"]}))


# ---------------------------------------------------------------------------------------------
# row labels
# ---------------------------------------------------------------------------------------------


def test_rows_are_named_by_the_frame_index_in_data_errors(data):
    data.index = [f"r{i}" for i in range(N)]
    data.loc["r3", "x"] = np.nan
    with pytest.raises(ml.DataError, match=_words("'x'", "row r3")):
        _fit("y ~ x + (1 | g)", data, na_action="error")


def test_rows_are_named_by_the_frame_index_in_response_errors(data):
    data.index = [f"r{i}" for i in range(N)]
    data["s"] = data["s"].astype(float)
    data.loc["r7", "s"] = 2.0
    with pytest.raises(ml.DataError, match=_words("'s'", "row r7 has 2")):
        _fit("s ~ x + (1 | g)", data, family="bernoulli")


# ---------------------------------------------------------------------------------------------
# predictions from a fitted model
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {"y": rng.normal(size=N), "x": rng.normal(size=N), "g": np.repeat(["a", "b", "c"], 4)}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.ConvergenceWarning)
        return ml.fit(
            "y ~ x + (1 | g)", frame, chains=1, draws=20, warmup=20, seed=0, progress=False
        )


@pytest.mark.parametrize("kind", ["mean", "linear", "response"])
def test_predict_new_level_under_new_groups_error_is_named(fitted, kind):
    newdata = pd.DataFrame({"x": [0.0, 1.0, 2.0], "g": ["a", "zz", "b"]})
    with pytest.raises(ml.DataError, match=_words("grouping factor g ", "'zz'", "row 1")):
        fitted.predict(newdata, kind=kind, new_groups="error", seed=0)
    with pytest.raises(ml.DataError, match="'zz'"):
        fitted.predict(newdata, kind=kind, seed=0)  # "error" is the default


def test_predict_bad_newdata_names_the_column(fitted):
    with pytest.raises(ml.DataError, match=_words("column 'x'", "not found")):
        fitted.predict(pd.DataFrame({"g": ["a"]}))
    # a missing value is not an error: the row's prediction is NaN, with a warning
    with pytest.warns(ml.DataWarning, match=_words("row 1", "missing", "NaN")):
        table = fitted.predict(pd.DataFrame({"x": [0.0, np.nan], "g": ["a", "b"]}))
    assert np.isfinite(table.iloc[0]).all() and table.iloc[1].isna().all()
