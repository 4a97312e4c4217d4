"""Round trips through the canonical text, and variables() for missing-column checks."""

import pytest

from multilevel.formula import parse

FORMULAS = [
    "y ~ x",
    "y ~ 1",
    "y ~ 0",
    "y ~ 0 + x",
    "~ x + z",
    "log(y) ~ x",
    "y ~ a*b*c",
    "y ~ (a + b + c)^2 - 1",
    "y ~ a/b + c %in% d",
    "y ~ b:a + a",
    "y ~ log(x) + I(x^2) + I(x**2) + poly(x, 2) + C(cat, Treatment('b'))",
    "y ~ `my var` + `x-1`:z + (1 | `my group`)",
    "y | trials(n) ~ x + offset(log(n))",
    "y | se(s) + weights(w) ~ x",
    "y ~ x + (1 + x | g)",
    "y ~ x + (1 + x || g)",
    "y ~ (x || g) + (0 + z | g)",
    "y ~ (0 + x | g)",
    "y ~ (1 | g1:g2)",
    "y ~ (1 | a/b/c)",
    "y ~ (1 + x || a/b)",
    "y ~ (1 | g1) + (1 | g2)",
    "y ~ (1 | mm(g1, g2))",
    "y ~ (1 + x | mm(g1, g2, weights = cbind(w1, w2), scale = TRUE))",
    "y ~ x*z - 1 + offset(a) + offset(b) + (z || h)",
    "`n succ` | trials(`n trials`) ~ `x 1` + offset(`log n`)",
    "y | weights(w / 2) ~ x",
]


@pytest.mark.parametrize("text", FORMULAS)
def test_round_trip_through_canonical_text(text):
    f = parse(text)
    again = parse(str(f))
    assert again == f
    assert str(again) == str(f)


@pytest.mark.parametrize("text", FORMULAS)
def test_round_trip_keeps_variables(text):
    f = parse(text)
    assert parse(str(f)).variables() == f.variables()


def test_canonical_text_examples():
    assert str(parse("y~a*b+(x||g)")) == "y ~ 1 + a + b + a:b + (1 || g) + (0 + x || g)"
    assert str(parse("y | trials(n) ~ 0 + x")) == "y | trials(n) ~ 0 + x"
    assert str(parse("~x")) == "~ 1 + x"
    f = parse("y ~ x", dpars={"sigma": "sigma~z"})
    assert str(f.dpars["sigma"]) == "sigma ~ 1 + z"


def test_round_trip_with_dpars():
    f = parse("y ~ x", dpars={"sigma": "sigma ~ z + (1 | g)"})
    again = parse(str(f), dpars=[str(d) for d in f.dpars.values()])
    assert again == f


@pytest.mark.parametrize(
    ("text", "columns"),
    [
        ("y ~ x", {"y", "x"}),
        ("~ x", {"x"}),
        ("log(y) ~ log(x) + exp(z)", {"y", "x", "z"}),
        ("y ~ poly(x, 2) + scale(u) + center(v)", {"y", "x", "u", "v"}),
        ("y ~ I(a * b^2) + C(cat, Treatment('b'))", {"y", "a", "b", "cat"}),
        ("y ~ C(cat, Sum)", {"y", "cat"}),
        ("y ~ scale(x, center = TRUE)", {"y", "x"}),
        ("y | trials(n) ~ x + offset(log(m))", {"y", "n", "x", "m"}),
        ("y | se(s) + weights(w) ~ 1", {"y", "s", "w"}),
        ("y ~ (1 + x | g)", {"y", "x", "g"}),
        ("y ~ (1 + log(x) || a/b/c)", {"y", "x", "a", "b", "c"}),
        ("y ~ (1 | g1:g2)", {"y", "g1", "g2"}),
        ("y ~ (1 | mm(g1, g2, weights = cbind(w1, w2)))", {"y", "g1", "g2", "w1", "w2"}),
        ("`a b` ~ `c d` + (1 | `e f`)", {"a b", "c d", "e f"}),
        ("y ~ 0", {"y"}),
    ],
)
def test_variables(text, columns):
    assert parse(text).variables() == columns


def test_variables_for_missing_column_check():
    data_columns = {"y", "x", "g"}
    missing = parse("y ~ x + z + (1 | g) + (1 | h)").variables() - data_columns
    assert sorted(missing) == ["h", "z"]


def test_formula_without_expressions_still_reports_variables():
    from dataclasses import replace
    from types import MappingProxyType

    f = parse("log(y) ~ x + (1 | `my g`)")
    bare = replace(f, expressions=MappingProxyType({}))
    assert bare.variables() == {"y", "x", "my g"}
