"""Bad input gets a clear error of the library's own class naming the column and rows."""

import numpy as np
import pandas as pd
import pytest

import multilevel as ml


def _binomial(**changes):
    data = pd.DataFrame({"g": list("aabbc"), "s": [1, 2, 0, 3, 4], "n": [5, 5, 4, 6, 9]})
    for col, (row, value) in changes.items():
        data[col] = data[col].astype(float) if isinstance(value, float) else data[col]
        data.loc[row, col] = value
    return data


def _fit_binomial(data, **kw):
    return ml.fit_conjugate(data, likelihood="binomial", group="g", successes="s", trials="n", **kw)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"s": (2, -1)}, r"'s' \(successes\) has negative counts in row 2"),
        ({"s": (4, 10)}, r"successes 's' exceed trials 'n' in row 4"),
        ({"s": (1, np.nan)}, r"column 's' has missing values \(NaN\) in row 1"),
        ({"n": (3, np.inf)}, r"column 'n' has infinite values in row 3"),
        ({"s": (0, 1.5)}, r"column 's' must hold whole numbers in row 0"),
        ({"n": (0, 0)}, r"'n' \(trials\) must be at least 1 in row 0"),
    ],
)
def test_binomial_bad_values(changes, match):
    with pytest.raises(ml.DataError, match=match):
        _fit_binomial(_binomial(**changes))


def test_missing_and_misspelled_columns():
    data = _binomial()
    with pytest.raises(ml.DataError, match=r"group column 'grp' not found.*available columns"):
        ml.fit_conjugate(data, likelihood="binomial", group="grp", successes="s", trials="n")
    with pytest.raises(ml.DataError, match=r"'nn' \(did you mean 'n'\?\) not found"):
        ml.fit_conjugate(data, likelihood="binomial", group="g", successes="s", trials="nn")
    with pytest.raises(ml.DataError, match="needs the column argument"):
        ml.fit_conjugate(data, likelihood="binomial", group="g", successes="s")
    with pytest.raises(ml.DataError, match="unknown: counts="):
        ml.fit_conjugate(
            data, likelihood="binomial", group="g", successes="s", trials="n", counts="s"
        )


def test_single_group_and_missing_labels():
    data = _binomial().assign(g="a")
    with pytest.raises(ml.DataError, match="single level .*at least 2 groups"):
        _fit_binomial(data)
    data = _binomial()
    data.loc[2, "g"] = None
    with pytest.raises(ml.DataError, match="grouping column 'g' has missing labels in row 2"):
        _fit_binomial(data)


def test_poisson_and_normal_and_gamma_support():
    data = pd.DataFrame({"g": list("abc"), "y": [1, -2, 3], "e": [1.0, 0.0, -1.0]})
    with pytest.raises(ml.DataError, match=r"'y' \(counts\) has negative counts in row 1"):
        ml.fit_conjugate(data, likelihood="poisson", group="g", counts="y")
    with pytest.raises(ml.DataError, match=r"exposure 'e' must be positive in rows 1, 2"):
        ml.fit_conjugate(
            data.assign(y=1), likelihood="poisson", group="g", counts="y", exposure="e"
        )
    with pytest.raises(ml.DataError, match=r"known standard error 'e' must be positive"):
        ml.fit_conjugate(data, likelihood="normal", group="g", y="y", se="e")
    with pytest.raises(ml.DataError, match=r"'y' must be positive for a gamma likelihood"):
        ml.fit_conjugate(data, likelihood="gamma", group="g", y="y", shape=2.0)
    with pytest.raises(ml.DataError, match="also need their SD"):
        ml.fit_conjugate(data.assign(n=3), likelihood="normal", group="g", y="y", n="n")


def test_text_where_a_number_is_needed():
    data = _binomial().astype({"s": object})
    data.loc[1, "s"] = "two"
    with pytest.raises(
        ml.DataError, match=r"column 's' must be numeric but holds text such as 'two'"
    ):
        _fit_binomial(data)


def test_bad_treatments_and_priors():
    data = _binomial()
    with pytest.raises(ml.DataError, match="'full' is not a treatment"):
        _fit_binomial(data, hyper="full")
    with pytest.raises(ml.DataError, match="missing beta"):
        _fit_binomial(data, hyper={"alpha": 1.0})
    with pytest.raises(ml.DataError, match="must be positive"):
        _fit_binomial(data, hyper={"alpha": -1.0, "beta": 1.0})
    with pytest.raises(ml.PriorError, match="unknown prior target 'tau'.*alpha, beta"):
        _fit_binomial(data, priors={"tau": "normal(0, 1)"})
    with pytest.raises(ml.PriorError, match="unknown prior distribution 'normol'"):
        _fit_binomial(data, priors={"alpha": "normol(0, 1)"})
    with pytest.raises(ml.PriorError, match="sigma must be positive"):
        _fit_binomial(data, priors={"alpha": "normal(0, -1)"})
    with pytest.raises(ml.DataError, match="unknown likelihood 'bernoulli'"):
        ml.fit_conjugate(data, likelihood="bernoulli", group="g", y="s")


def test_empty_data_and_wrong_type():
    with pytest.raises(ml.DataError, match="no rows"):
        _fit_binomial(_binomial().iloc[:0])
    with pytest.raises(ml.DataError, match="data must be a data frame"):
        _fit_binomial([1, 2, 3])


def test_errors_are_value_errors_and_nothing_is_dropped():
    assert issubclass(ml.DataError, ValueError) and issubclass(ml.DataError, ml.MultilevelError)
    fit = _fit_binomial(_binomial())
    assert fit.spec.n_rows == 5 and fit.groups()["n"].sum() == 29


def test_arrow_and_dict_input():
    pa = pytest.importorskip("pyarrow")
    data = _binomial()
    a = _fit_binomial(pa.Table.from_pandas(data, preserve_index=False)).groups()
    b = _fit_binomial(data.to_dict(orient="list")).groups()
    pd.testing.assert_frame_equal(a, b)


def test_group_order_follows_lme4():
    data = pd.DataFrame({"g": ["10", "2", "1", "2"], "s": [1, 2, 0, 1], "n": [3, 4, 5, 2]})
    assert list(_fit_binomial(data, hyper={"alpha": 1.0, "beta": 1.0}).groups().index) == [
        "1",
        "2",
        "10",
    ]
