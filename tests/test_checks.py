"""Data checks (:mod:`multilevel.checks`): what ``multilevel check`` lists under "Data
problems" (through the command line: ``tests/cli/test_cli_check.py``)."""

from __future__ import annotations

import doctest

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
    problems = data_problems(_spec("y ~ x + c", data))
    assert problems == ["population-level column c is constant: it cannot be estimated"]


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
