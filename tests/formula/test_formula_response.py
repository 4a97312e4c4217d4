"""Response, addition terms, one-sided formulas and distributional formulas."""

import pytest

from multilevel.errors import FormulaError
from multilevel.formula import parse


def test_plain_response():
    f = parse("y ~ x")
    assert f.response == "y"
    assert f.additions == ()
    assert f.addition("trials") is None


def test_transformed_response_keeps_source_text():
    f = parse("log(y) ~ x")
    assert f.response == "log(y)"
    assert f.expressions["log(y)"].func == "log"
    assert "y" in f.variables()


def test_parenthesized_response():
    assert parse("(y) ~ x").response == "y"


def test_one_sided_formula():
    f = parse("~ x + (1 | g)")
    assert f.response is None
    assert [t.name for t in f.terms] == ["x"]


@pytest.mark.parametrize(
    ("text", "additions"),
    [
        ("y | trials(n) ~ x", (("trials", "n"),)),
        ("y | trials(10) ~ x", (("trials", "10"),)),
        ("y | se(s) ~ x", (("se", "s"),)),
        ("y | weights(w) ~ x", (("weights", "w"),)),
        ("y | se(s) + weights(w) ~ x", (("se", "s"), ("weights", "w"))),
        ("y | weights(w) + se(s) ~ x", (("weights", "w"), ("se", "s"))),
        ("y | weights(w / 2) ~ x", (("weights", "w / 2"),)),
        ("y | trials(`n trials`) ~ x", (("trials", "n trials"),)),
    ],
)
def test_addition_terms(text, additions):
    f = parse(text)
    assert f.response == "y"
    assert f.additions == additions


def test_addition_lookup_and_variables():
    f = parse("y | se(s) + weights(w) ~ x")
    assert f.addition("se") == "s"
    assert f.addition("weights") == "w"
    assert f.variables() == {"y", "s", "w", "x"}


def test_trials_column_may_be_a_predictor():
    f = parse("y | trials(n) ~ n")
    assert [t.name for t in f.terms] == ["n"]


def test_dpars_as_mapping():
    f = parse("y ~ x + (1 | g)", dpars={"sigma": "sigma ~ 1 + (1 | g)"})
    sigma = f.dpars["sigma"]
    assert sigma.parameter == "sigma"
    assert sigma.response is None
    assert sigma.intercept
    assert sigma.terms == ()
    assert [b.name for b in sigma.groups] == ["g"]
    assert dict(sigma.dpars) == {}


def test_dpars_as_list_of_formulas_with_parameter_on_the_left():
    a = parse("y ~ x", dpars=["sigma ~ z", "nu ~ 1"])
    b = parse("y ~ x", dpars={"sigma": "sigma ~ z", "nu": "nu ~ 1"})
    assert a == b
    assert list(a.dpars) == ["sigma", "nu"]


def test_dpars_as_single_string():
    assert parse("y ~ x", dpars="sigma ~ z") == parse("y ~ x", dpars={"sigma": "sigma ~ z"})


def test_dpar_formula_syntax():
    f = parse("y ~ x", dpars={"phi": "phi ~ 0 + z * w + offset(log(n)) + (1 + z || g)"})
    phi = f.dpars["phi"]
    assert not phi.intercept
    assert [t.name for t in phi.terms] == ["z", "w", "z:w"]
    assert phi.offsets == ("log(n)",)
    assert [b.coefficients for b in phi.groups] == [("Intercept",), ("z",)]


def test_variables_include_dpars_but_not_parameter_names():
    f = parse("y ~ x", dpars={"sigma": "sigma ~ z + (1 | h)"})
    assert f.variables() == {"y", "x", "z", "h"}


def test_empty_dpars_is_no_dpars():
    assert parse("y ~ x", dpars={}) == parse("y ~ x")
    assert parse("y ~ x", dpars=None) == parse("y ~ x")


def test_dpar_equality_matters():
    assert parse("y ~ x", dpars={"sigma": "sigma ~ z"}) != parse("y ~ x")


def test_dpars_bad_key():
    with pytest.raises(FormulaError, match="identifiers"):
        parse("y ~ x", dpars={"my sigma": "sigma ~ 1"})


def test_non_string_formula_is_a_type_error():
    with pytest.raises(TypeError, match="must be a string"):
        parse(42)
    with pytest.raises(TypeError, match="must be a string"):
        parse("y ~ x", dpars={"sigma": 1})
