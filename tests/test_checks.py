"""Data checks (:mod:`multilevel.checks`): what ``multilevel check`` lists under "Data
problems" (through the command line: ``tests/cli/test_cli_check.py``)."""

from __future__ import annotations

import doctest
import sys

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel import checks
from multilevel.checks import FEW_LEVELS, data_problems


def _spec(formula, data, family="gaussian"):
    return ml.build_spec(ml.design(formula, data, family=family), family)


def _data(n=60, groups=10, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "x": rng.normal(size=n),
            "g": [f"g{i % groups}" for i in range(n)],
        }
    )


def test_nothing_to_report():
    assert data_problems(_spec("y ~ x + (1 | g)", _data())) == []
    assert data_problems(_spec("y ~ x", _data())) == []


@pytest.mark.parametrize("groups", [2, FEW_LEVELS - 1, FEW_LEVELS])
def test_few_levels(groups):
    problems = data_problems(_spec("y ~ 1 + (1 | g)", _data(groups=groups)))
    few = [p for p in problems if p.startswith("grouping factor g has only")]
    if groups < FEW_LEVELS:
        assert few == [
            f"grouping factor g has only {groups} levels: its standard deviation is poorly "
            "determined by the data and leans on its prior"
        ]
    else:
        assert few == []


def test_levels_with_a_single_row_are_counted_once():
    data = _data(n=40, groups=10)
    data = pd.concat([data, pd.DataFrame({"y": [0.1, 0.2], "x": [0.0, 1.0], "g": ["a", "b"]})])
    data["h"] = data["g"]
    problems = data_problems(_spec("y ~ 1 + (1 | g) + (1 | h)", data))
    single = [p for p in problems if "have a single row" in p]
    assert single == [
        "2 of 12 levels of g have a single row: their effects are mostly set by the other "
        "levels (that is fine, and what partial pooling is for)"
    ]  # the first group term only


def test_multiple_membership_levels_are_not_counted():
    data = _data(n=40, groups=10).assign(g2=lambda d: d["g"].iloc[::-1].to_numpy())
    data.loc[0, ["g", "g2"]] = ["lonely", "g1"]
    problems = data_problems(_spec("y ~ 1 + (1 | mm(g, g2))", data))
    assert not any("single row" in p for p in problems)


def test_constant_column():
    data = _data().assign(c=2.0)
    with pytest.warns(ml.DataWarning, match="column c .* is constant"):
        spec = _spec("y ~ x + c", data)
    # with an intercept it is aliased: dropped as lme4 does, and the design's note says so
    assert spec.design.X_names == ("Intercept", "x")
    assert data_problems(spec) == [
        "population-level column c (= 2 * Intercept) is constant, which makes the "
        "model matrix rank deficient: it cannot be estimated and is dropped, as lme4 does "
        "('dropping 1 column / coefficient'); remove it from the formula to fit without this "
        "message"
    ]
    # without one it stays, and check says it cannot be estimated
    assert data_problems(_spec("y ~ 0 + x + c", data)) == [
        "population-level column c is constant: it cannot be estimated"
    ]


@pytest.mark.parametrize(
    "values, family, expected",
    [
        ([0, 1], "gaussian", "takes only the values 0 and 1: consider --family bernoulli"),
        ([0, 1], "student_t", "takes only the values 0 and 1: consider --family bernoulli"),
        ([0, 1, 2, 5], "gaussian", "holds non-negative whole numbers: if they are counts"),
        ([0, 1, 2, 5], "poisson", None),
        ([0, 1], "bernoulli", None),
        ([-1, 0, 1, 2], "gaussian", None),
        ([0.5, 1, 2, 5], "gaussian", None),
    ],
)
def test_response_hints(values, family, expected):
    data = _data()
    data["y"] = np.resize(np.asarray(values, dtype=float), len(data))
    problems = data_problems(_spec("y ~ x", data, family))
    if expected is None:
        assert problems == []
    else:
        assert len(problems) == 1 and f"the response y {expected}" in problems[0]


def test_a_given_structure_is_used():
    spec = _spec("y ~ 1 + (1 | g)", _data(groups=10))
    structure = spec.design.group_structure()
    assert data_problems(spec, structure=structure) == data_problems(spec) == []
    structure.loc["g", "levels"] = 3
    assert data_problems(spec, structure=structure)[0].startswith(
        "grouping factor g has only 3 levels"
    )


def test_doctests():
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    assert doctest.testmod(checks, optionflags=flags).failed == 0


# -- issue 17: integer codes, degenerate responses, identifiability, the fit's warnings ------


def _quiet_spec(formula, data, family="gaussian"):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.DataWarning)
        return _spec(formula, data, family)


@pytest.mark.parametrize(
    "codes, flagged",
    [
        ([1, 2, 3, 4], True),  # cbpp's period read from a CSV
        ([2, 4, 6, 8, 10, 12], True),
        ([0, 1, 2], True),
        ([0, 1], False),  # a 0/1 column is the same model as a two-level factor
        (list(range(7)), False),  # more than FEW_CODES values: a number (sleepstudy's Days)
        ([0.5, 1, 2], False),  # not whole numbers
    ],
)
def test_integer_codes_used_as_numbers(codes, flagged):
    data = _data().assign(period=lambda d: np.resize(codes, len(d)))
    warnings_ = checks.data_warnings(_spec("y ~ period + (1 | g)", data))
    shown = ", ".join(f"{c:g}" for c in sorted(set(codes)))
    expected = (
        f"period is used as a number (one slope), but it holds only {len(set(codes))} distinct "
        f"whole numbers ({shown}): if they are codes of categories, write factor(period) in the "
        "formula (as in R) for one coefficient per category"
    )
    assert warnings_ == ([expected] if flagged else [])
    assert checks.FEW_CODES == 6


def test_integer_codes_written_as_factors_or_transformed_are_not_flagged():
    data = _data().assign(period=lambda d: np.resize([1, 2, 3, 4], len(d)))
    for formula in ("y ~ factor(period)", "y ~ scale(period)", "y ~ I(period - 1)"):
        assert checks.data_warnings(_spec(formula, data)) == []
    spec = _spec("y ~ x", data.assign(y=np.resize([1.0, 2.0, 3.0], len(data))), "gaussian")
    assert checks.data_warnings(spec) == []  # a response of codes is not a predictor


def test_integer_codes_in_a_distributional_formula():
    data = _data().assign(period=lambda d: np.resize([1, 2, 3], len(d)))
    d = ml.design(ml.parse("y ~ 1", dpars={"sigma": "sigma ~ period"}), data)
    (message,) = checks.data_warnings(ml.build_spec(d))
    assert message.startswith("period in the formula for sigma is used as a number")


@pytest.mark.parametrize(
    "family, values, words",
    [
        ("bernoulli", [0.0], "0 in every row: the data cannot estimate the intercept (on the "
                             "link scale it runs off towards minus infinity"),
        ("bernoulli", [1.0], "1 in every row: the data cannot estimate the intercept (on the "
                             "link scale it runs off towards plus infinity"),
        ("poisson", [0.0], "0 in every row: the data cannot estimate the intercept"),
        ("gaussian", [2.5], "2.5 in every row: there is no variation for the model to explain"),
        ("bernoulli", [0.0, 1.0], None),
        ("poisson", [3.0], None),  # a constant count is data, not a degenerate fit
    ],
)  # fmt: skip
def test_a_response_with_one_value(family, values, words):
    data = _data().assign(y=lambda d: np.resize(values, len(d)))
    found = [m for m in checks.data_warnings(_spec("y ~ x + (1 | g)", data, family))]
    if words is None:
        assert found == []
    else:
        assert len(found) == 1 and found[0].startswith(f"the response y is {words}")
        assert found[0].endswith("check the data (a filter that kept one outcome?)") or (
            "check the data" in found[0]
        )


def test_a_binomial_response_without_successes_or_failures():
    data = _data().assign(n=4, k=0)
    (message,) = checks.data_warnings(_spec("k | trials(n) ~ x", data, "binomial"))
    assert message.startswith("the response k is 0 in every row (no successes)")
    (message,) = checks.data_warnings(_spec("k | trials(n) ~ x", data.assign(k=4), "binomial"))
    assert message.startswith("the response k is equal to trials() in every row (no failures)")


def _one_row_per_level(n=30):
    return _data(n=n).assign(id=np.arange(n))


def test_one_row_per_level_is_not_identifiable_in_a_gaussian_model():
    spec = _spec("y ~ x + (1 | id)", _one_row_per_level())
    reason = checks.identifiability(spec)
    assert reason == (
        "the grouping factor id has 30 levels for 30 rows (one row per level): in a gaussian "
        "model its group effects cannot be told apart from the residual noise "
        "(sd_id__Intercept and sigma are not identifiable), and lme4 refuses it too ('number "
        "of levels of each grouping factor must be < number of observations'); remove "
        "(1 | id), or use data with several rows per level of id (that is what partial "
        "pooling needs)"
    )
    with pytest.raises(ml.DataError) as err:
        checks.require_identifiable(spec)
    assert str(err.value) == reason
    problems = data_problems(spec)
    assert problems[0] == f"the model cannot be fitted: {reason}"
    assert not any("partial pooling is for" in p for p in problems)
    # lognormal is a gaussian model of log(y): the same
    positive = _one_row_per_level().assign(y=lambda d: np.exp(d["y"]))
    assert checks.identifiability(_spec("y ~ x + (1 | id)", positive, "lognormal"))


def test_as_many_group_effects_as_rows_in_a_gaussian_model():
    data = _data(n=40).assign(id=np.arange(40) // 2)
    reason = checks.identifiability(_spec("y ~ x + (1 + x | id)", data))
    assert reason.startswith(
        "the group term (1 + x | id) has 40 group effects (2 per level x 20 levels) for 40 rows"
    )
    assert reason.endswith("simplify the term, e.g. (1 | id)")
    assert checks.identifiability(_spec("y ~ x + (1 | id)", data)) is None


def test_known_standard_errors_make_one_row_per_level_identifiable():
    schools = ml.datasets.load("eight_schools")
    spec = _spec("y | se(sigma) ~ 1 + (1 | school)", schools)
    assert checks.identifiability(spec) is None
    assert any("partial pooling is for" in p for p in data_problems(spec))


def test_one_row_per_level_outside_the_gaussian_family_is_a_note():
    data = _one_row_per_level().assign(k=lambda d: np.arange(len(d)) % 5)
    spec = _spec("k ~ x + (1 | id)", data, "poisson")
    assert checks.identifiability(spec) is None
    assert any(p.startswith("every level of id has a single row") for p in data_problems(spec))
    spec = _spec("k ~ x + (1 + x | id)", data, "poisson")
    (message,) = checks.data_warnings(spec)
    assert message.startswith(
        "the group term (1 + x | id) has 60 group effects (2 per level x 30 levels) for 30 rows"
    )


def test_data_warnings_include_the_design_notes():
    data = _data().assign(x2=lambda d: 2 * d["x"])
    data.loc[3, "y"] = np.nan
    spec = _quiet_spec("y ~ x + x2 + (1 | g)", data)
    assert len(spec.design.info.notes) == 2
    assert checks.data_warnings(spec) == list(spec.design.info.notes)
    assert checks.data_warnings(spec, notes=False) == []
    assert data_problems(spec)[-2:] == list(spec.design.info.notes)


class _Stop(Exception):
    """Raised instead of choosing an engine: the fit stops before sampling."""


def _stop(spec, method):
    raise _Stop


def test_fit_warns_and_refuses_before_sampling(monkeypatch):
    monkeypatch.setattr(sys.modules["multilevel.fit"], "select_engine", _stop)
    data = _data().assign(period=lambda d: np.resize([1, 2, 3, 4], len(d)), z=0)
    with pytest.warns(ml.DataWarning, match="write factor\\(period\\)"), pytest.raises(_Stop):
        ml.fit("y ~ period + (1 | g)", data)
    with pytest.warns(ml.DataWarning, match="the response z is 0 in every row"):
        with pytest.raises(_Stop):
            ml.fit("z ~ 1 + (1 | g)", data, family="bernoulli")
    with pytest.raises(ml.DataError, match="grouping factor id has 30 levels for 30 rows"):
        ml.fit("y ~ x + (1 | id)", _one_row_per_level())
    with pytest.raises(ml.DataError, match="grouping factor id has 30 levels"):
        ml.fit("y ~ x + (1 | id)", _one_row_per_level(), method="reml")  # lme4 refuses too


def test_the_design_notes_are_warned_once_by_fit(monkeypatch):
    import warnings

    monkeypatch.setattr(sys.modules["multilevel.fit"], "select_engine", _stop)
    data = _data()
    data.loc[2, "x"] = np.nan
    with warnings.catch_warnings(record=True) as caught, pytest.raises(_Stop):
        warnings.simplefilter("always")
        ml.fit("y ~ x + (1 | g)", data)
    messages = [str(w.message) for w in caught if issubclass(w.category, ml.DataWarning)]
    assert len(messages) == 1 and messages[0].startswith("1 of 60 rows are left out")
