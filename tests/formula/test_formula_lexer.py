"""Tokens and their columns."""

import pytest

from multilevel.errors import FormulaSyntaxError
from multilevel.formula.lexer import END, NAME, NUMBER, OP, QUOTED, STRING, tokenize


def kinds_values(text):
    return [(t.kind, t.value) for t in tokenize(text)]


def test_basic_formula_tokens_and_columns():
    tokens = tokenize("y ~ x + (1 | g)")
    assert [(t.value, t.start, t.end) for t in tokens] == [
        ("y", 0, 1),
        ("~", 2, 3),
        ("x", 4, 5),
        ("+", 6, 7),
        ("(", 8, 9),
        ("1", 9, 10),
        ("|", 11, 12),
        ("g", 13, 14),
        (")", 14, 15),
        ("", 15, 15),
    ]
    assert tokens[-1].kind == END


def test_longest_operator_wins():
    assert [t.value for t in tokenize("a || b ** c // d == e != f <= g >= h")][1:-1:2] == [
        "||",
        "**",
        "//",
        "==",
        "!=",
        "<=",
        ">=",
    ]


def test_percent_operators():
    assert kinds_values("a %in% b")[1] == (OP, "%in%")
    assert kinds_values("a %% b")[1] == (OP, "%%")
    assert kinds_values("a % b")[1] == (OP, "%")


@pytest.mark.parametrize("text", ["1", "2.5", ".5", "1e-3", "2.", "10E+2"])
def test_numbers(text):
    assert kinds_values(text)[0] == (NUMBER, text)


@pytest.mark.parametrize("text", ["x", "x.1", ".x", "my_var", "x2", "np.log", "é"])
def test_names(text):
    assert kinds_values(text)[0] == (NAME, text)


def test_backtick_name_value_and_span():
    token = tokenize("y ~ `my var`")[2]
    assert (token.kind, token.value, token.start, token.end) == (QUOTED, "my var", 4, 12)


def test_strings_single_and_double_with_escape():
    assert kinds_values("'b'")[0] == (STRING, "b")
    assert kinds_values('"a\\"b"')[0] == (STRING, 'a"b')


def test_end_token_sits_after_last_non_blank_character():
    assert tokenize("y ~ x +   ")[-1].start == 7


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("y ~ x $ z", "unexpected character '$'", 6),
        ("y ~ x @ z", "unexpected character '@'", 6),
        ("y ~ x; z", "unexpected character ';'", 5),
        ("y ~ `x", "unterminated backtick name", 4),
        ("y ~ ``", "empty backtick name", 4),
        ("y ~ f('b)", "unterminated string", 6),
        ("y ~ 2x", "unexpected character 'x' after the number 2", 5),
    ],
)
def test_lexer_errors_point_at_the_column(text, message, column):
    with pytest.raises(FormulaSyntaxError) as info:
        tokenize(text)
    lines = str(info.value).splitlines()
    assert lines[0] == message
    assert lines[1] == "  " + text
    assert lines[2] == "  " + " " * column + "^"
    assert info.value.column == column
