"""The factor term factors(user, item, k = ..., item_group = ...) in the formula language."""

from __future__ import annotations

import pytest

from multilevel.errors import FormulaError
from multilevel.formula import parse
from multilevel.formula.terms import FactorTerm


def test_a_factor_term_is_read_with_its_arguments_and_round_trips():
    f = parse("rating ~ 1 + genre + (1 | user) + factors(user, item, k = 4, item_group = artist)")
    assert f.factors == (FactorTerm("user", "item", 4, None, "artist"),)
    assert [t.name for t in f.terms] == ["genre"]
    assert f.variables() == {"rating", "genre", "user", "item", "artist"}
    assert parse(str(f)) == f
    assert parse("y ~ factors(u, i)").factors[0].k == 10  # the default


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("y ~ factors(u, i, k = 0)", "at least 1"),
        ("y ~ factors(u, i, k = 2.5)", "whole number"),
        ("y ~ factors(u)", "two grouping columns"),
        ("y ~ factors(u, u)", "two different columns"),
        ("y ~ factors(u, log(i))", "column name"),
        ("y ~ factors(u, i, size = 3)", "unknown argument 'size'"),
        ("y ~ factors(u, i, item_group = i)", "another column"),
        ("y ~ factors(u, i) + factors(u, j)", "at most one factors()"),
        ("y ~ x * factors(u, i)", "cannot be used with"),
        ("y ~ (factors(u, i) | g)", "population-level terms"),
        ("y ~ 1 - factors(u, i)", "cannot be removed"),
    ],
)
def test_bad_factor_terms_are_refused_with_the_reason(formula, message):
    with pytest.raises(FormulaError, match=message):
        parse(formula)


def test_a_distributional_formula_cannot_have_factors():
    with pytest.raises(FormulaError, match="main formula"):
        parse("y ~ x", dpars={"sigma": "sigma ~ factors(u, i)"})
