"""Syntax trees and source spans."""

import pytest

from multilevel.errors import FormulaSyntaxError
from multilevel.formula.ast import (
    Bar,
    BinOp,
    Call,
    Keyword,
    ListExpr,
    Name,
    Number,
    Paren,
    Span,
    String,
    Subscript,
    UnaryOp,
    iter_nodes,
    variables,
)
from multilevel.formula.parser import parse_expression, parse_formula_ast


def test_every_node_source_is_the_text_under_its_span():
    text = "y | trials(n) ~ x * log(z + 1) + (1 + x || a/b) + offset(log(n)) - 1"
    tree = parse_formula_ast(text)
    for node in iter_nodes(tree):
        assert text[node.span.start : node.span.end] == node.source


def test_precedence_plus_below_times_below_colon():
    rhs = parse_formula_ast("y ~ a + b * c:d").rhs
    assert isinstance(rhs, BinOp) and rhs.op == "+"
    assert rhs.right.op == "*"
    assert rhs.right.right.op == ":"
    assert rhs.right.right.source == "c:d"


def test_bar_binds_looser_than_plus_inside_parentheses():
    paren = parse_formula_ast("y ~ (1 + x | g)").rhs
    assert isinstance(paren, Paren) and paren.span == Span(4, 15)
    assert isinstance(paren.body, Bar) and paren.body.op == "|"
    assert paren.body.lhs.source == "1 + x"
    assert paren.body.rhs.source == "g"


def test_double_bar():
    paren = parse_formula_ast("y ~ (x || g)").rhs
    assert paren.body.op == "||"


def test_response_with_additions_is_a_bar():
    lhs = parse_formula_ast("y | se(s) + weights(w) ~ x").lhs
    assert isinstance(lhs, Bar)
    assert lhs.lhs.source == "y"
    assert lhs.rhs.source == "se(s) + weights(w)"


def test_one_sided_formula_has_no_lhs():
    assert parse_formula_ast("~ x").lhs is None


def test_unary_minus_at_start():
    rhs = parse_formula_ast("y ~ -1 + x").rhs
    assert isinstance(rhs.left, UnaryOp) and rhs.left.source == "-1"


def test_power_with_double_star_is_normalised_to_caret():
    rhs = parse_formula_ast("y ~ (a + b)**2").rhs
    assert rhs.op == "^" and rhs.source == "(a + b)**2"


def test_call_arguments_use_the_expression_grammar():
    call = parse_formula_ast("y ~ C(cat, Treatment('b'), levels = ['a', 'b'])").rhs
    assert isinstance(call, Call) and call.func == "C"
    assert call.args[0] == Name(span=Span(6, 9), source="cat", name="cat")
    assert isinstance(call.args[1], Call) and isinstance(call.args[1].args[0], String)
    assert isinstance(call.keywords[0], Keyword) and call.keywords[0].name == "levels"
    assert isinstance(call.keyword("levels"), ListExpr)
    assert call.keyword("nope") is None


def test_call_source_text_is_exact():
    call = parse_formula_ast("y ~ I( x ^ 2 )").rhs
    assert call.source == "I( x ^ 2 )"
    assert call.args[0].op == "^"


@pytest.mark.parametrize(
    ("text", "op"),
    [
        ("x ** 2", "**"),
        ("a or b", "or"),
        ("a | b", "|"),
        ("a & b", "&"),
        ("a and b", "and"),
        ("a == 1", "=="),
        ("a >= 1", ">="),
        ("a // 2", "//"),
        ("a %% 2", "%%"),
        ("a % 2", "%"),
        ("a %in% b", "%in%"),
    ],
)
def test_expression_binary_operators(text, op):
    node = parse_expression(text)
    assert isinstance(node, BinOp) and node.op == op


def test_expression_precedence_python_like():
    node = parse_expression("-x ** 2 + 1 > 0 and not z")
    assert node.op == "and"
    assert node.left.op == ">"
    assert node.left.left.op == "+"
    minus = node.left.left.left
    assert isinstance(minus, UnaryOp) and minus.operand.op == "**"
    assert isinstance(node.right, UnaryOp) and node.right.op == "not"


def test_expression_subscript_list_paren_and_number():
    node = parse_expression("x[0] * (a + b)")
    assert isinstance(node.left, Subscript)
    assert isinstance(node.right, Paren) and node.right.body.op == "+"
    assert parse_expression("2.5").value == 2.5
    assert isinstance(parse_expression("[1, 2]"), ListExpr)
    assert isinstance(parse_expression("`my var`"), Name)


def test_parse_expression_rejects_trailing_tokens():
    with pytest.raises(FormulaSyntaxError):
        parse_expression("log(x) y")


def test_variables_of_expressions():
    assert variables(parse_expression("log(x)")) == ["x"]
    assert variables(parse_expression("poly(x, degree = 2)")) == ["x"]
    assert variables(parse_expression("C(cat, Treatment)")) == ["cat"]
    assert variables(parse_expression("C(cat, Treatment(reference = 'b'))")) == ["cat"]
    assert variables(parse_expression("I(a * b + a)")) == ["a", "b"]
    assert variables(parse_expression("scale(x, center = TRUE)")) == ["x"]
    assert variables(parse_expression("f(`TRUE`)")) == ["TRUE"]


def test_number_node():
    node = parse_formula_ast("y ~ 0").rhs
    assert isinstance(node, Number) and node.value == 0.0 and node.text == "0"
