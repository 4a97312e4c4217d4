"""Every error: the right class, a message naming the problem, the caret at the right column."""

import pytest

from multilevel.errors import FormulaError, FormulaSyntaxError, MultilevelError
from multilevel.formula import parse

SYNTAX = FormulaSyntaxError
SEMANTIC = FormulaError

# (formula, error class, text in the first line, caret line without the 2-space indent)
CASES = [
    # syntax
    ("y ~ x + (1 | g", SYNTAX, "unclosed parenthesis", "        ^"),
    ("y ~ log(x", SYNTAX, "unclosed parenthesis", "       ^"),
    ("y ~ (a + (b | g)", SYNTAX, "unclosed parenthesis", "    ^"),
    ("y ~ x +", SYNTAX, "unexpected end of formula", "       ^"),
    ("y ~ x +   ", SYNTAX, "unexpected end of formula", "       ^"),
    ("y ~", SYNTAX, "unexpected end of formula", "   ^"),
    ("y ~ x $ z", SYNTAX, "unexpected character '$'", "      ^"),
    ("y ~ x)", SYNTAX, "unmatched ')'", "     ^"),
    ("y ~ x ~ z", SYNTAX, "only one '~'", "      ^"),
    ("y ~ x | g", SYNTAX, "a group term needs parentheses", "      ^"),
    ("y ~ x > 2", SYNTAX, "wrap arithmetic and comparisons in I(...)", "      ^"),
    ("y ~ x z", SYNTAX, "missing '+'", "      ^"),
    ("y ~ (1 | g) (1 | h)", SYNTAX, "missing '+'", "            ^"),
    ('y ~ "x"', SYNTAX, "strings are only allowed inside function calls", "    ^"),
    ("y ~ `x", SYNTAX, "unterminated backtick name", "    ^"),
    ("y ~ f(a = )", SYNTAX, "unexpected ')'", "          ^"),
    ("y ~ f(x, [1, 2)", SYNTAX, "expected ']'", "              ^"),
    ("y || se(s) ~ x", SYNTAX, "'||' is only valid in a group term", "  ^"),
    ("y x ~ z", SYNTAX, "unexpected name 'x'", "  ^"),
    ("y ~ x +\n (1 | g", SYNTAX, "unclosed parenthesis", "         ^"),
    # missing pieces
    ("y x", SEMANTIC, "no '~'", "^^^"),
    ("", SEMANTIC, "the formula is empty", "^"),
    ("y ~ (1 | )", SEMANTIC, "(1 | ) has no grouping factor", "    ^^^^^^"),
    ("y ~ ( | g)", SEMANTIC, "no varying coefficients", "      ^"),
    ("y ~ (0 | g)", SEMANTIC, "(0 | g) has no varying coefficients", "    ^^^^^^^"),
    # group terms
    ("y ~ (x | x)", SEMANTIC, "x appears on both sides of '|' in (x | x)", "    ^^^^^^^"),
    ("y ~ (1 + log(g) || g)", SEMANTIC, "g appears on both sides of '||'", "    ^^^^^^^^^^^^^^^^^"),
    (
        "y ~ (1 + w1 | mm(g1, g2, weights = cbind(w1, w2)))",
        SEMANTIC,
        "w1 appears on both",
        "    " + "^" * 46,
    ),
    ("y ~ (1 | ID | g)", SEMANTIC, "correlation-ID syntax (1 | ID | g)", "    ^^^^^^^^^^^^"),
    ("y ~ (1 | a + b)", SEMANTIC, "(1 | a) + (1 | b)", "         ^^^^^"),
    ("y ~ (1 | a * b)", SEMANTIC, "(1 | a) + (1 | b) + (1 | a:b)", "         ^^^^^"),
    ("y ~ (1 | log(g))", SEMANTIC, "log(g) must be a column", "         ^^^^^^"),
    ("y ~ (1 | 1)", SEMANTIC, "not the number 1", "         ^"),
    ("y ~ (1 | g1:(g2/g3))", SEMANTIC, "cannot be used inside ':'", "         ^^^^^^^^^^"),
    ("y ~ ((1 | g) | h)", SEMANTIC, "cannot be nested", "     ^^^^^^^"),
    ("y ~ (1 | g) + (1 | g)", SEMANTIC, "Intercept by g appears in two", "              ^^^^^^^"),
    ("y ~ (1 | a/b) + (1 | a)", SEMANTIC, "two group terms", "                ^^^^^^^"),
    ("y ~ (1 | g) + (1 + x | g)", SEMANTIC, "two group terms", "              ^^^^^^^^^^^"),
    ("y ~ (x | g) + (x || g)", SEMANTIC, "two group terms", "              ^^^^^^^^"),
    (
        "y ~ (1 | gr(g, by = h))",
        SEMANTIC,
        "gr() (a grouping term in brms)",
        "         ^^^^^^^^^^^^^",
    ),
    ("y ~ (1 | .)", SEMANTIC, "'.' is not a grouping factor", "         ^"),
    # multiple membership
    ("y ~ (1 | mm(g1))", SEMANTIC, "at least two grouping columns", "         ^^^^^^"),
    ("y ~ (1 | mm(g1, g1))", SEMANTIC, "repeats a grouping column", "         ^^^^^^^^^^"),
    ("y ~ (1 | mm(g1, log(g2)))", SEMANTIC, "mm() takes column names", "                ^^^^^^^"),
    (
        "y ~ (1 | mm(g1, g2, weights = cbind(w1)))",
        SEMANTIC,
        "2 grouping columns but cbind(w1) has 1 weight column",
        "                              ^^^^^^^^^",
    ),
    (
        "y ~ (1 | mm(g1, g2, weights = w))",
        SEMANTIC,
        "weights must be written cbind(w1, w2, ...)",
        "                              ^",
    ),
    (
        "y ~ (1 | mm(a, b, scale = 2))",
        SEMANTIC,
        "scale must be TRUE or FALSE",
        "                          ^",
    ),
    (
        "y ~ (1 | mm(a, b, foo = 1))",
        SEMANTIC,
        "unknown argument 'foo' of mm()",
        "                  ^^^^^^^",
    ),
    ("y ~ (1 | mm(a, b):c)", SEMANTIC, "cannot be combined with ':' or '/'", "         ^^^^^^^^"),
    ("y ~ mm(a, b)", SEMANTIC, "only valid as a grouping factor", "    ^^^^^^^^"),
    # population terms
    ("y ~ x^2", SEMANTIC, "x^2 is just x", "    ^^^"),
    ("y ~ log(x)**2", SEMANTIC, "I(log(x)^2)", "    ^^^^^^^^^"),
    ("y ~ (a + b)^x", SEMANTIC, "must be a whole number", "            ^"),
    ("y ~ (a + b)^0", SEMANTIC, "must be a whole number", "            ^"),
    ("y ~ x + 2", SEMANTIC, "the number 2 is not a term", "        ^"),
    ("y ~ 1:x", SEMANTIC, "the intercept (1) cannot be used with ':'", "    ^^^"),
    ("y ~ (0 + a)*b", SEMANTIC, "cannot be used with '*'", "    ^^^^^^^^^"),
    ("y ~ x:(1 | g)", SEMANTIC, "group term (1 | g) cannot be used with ':'", "    ^^^^^^^^^"),
    ("y ~ x - (1 | g)", SEMANTIC, "cannot be removed with '-'", "    ^^^^^^^^^^^"),
    ("y ~ -(1 | g)", SEMANTIC, "cannot be removed with '-'", "    ^^^^^^^^"),
    ("y ~ offset(n):x", SEMANTIC, "offset(n) cannot be used with ':'", "    ^^^^^^^^^^^"),
    ("y ~ x - offset(n)", SEMANTIC, "an offset cannot be removed", "    ^^^^^^^^^^^^^"),
    ("y ~ offset(a, b)", SEMANTIC, "offset() takes exactly one argument", "    ^^^^^^^^^^^^"),
    (
        "y ~ (1 + offset(n) | g)",
        SEMANTIC,
        "only valid among population-level",
        "         ^^^^^^^^^",
    ),
    ("y ~ .", SEMANTIC, "'.' (all other columns) is not supported", "    ^"),
    (
        "y ~ 0 + Intercept + x",
        SEMANTIC,
        "'Intercept' variable is not supported",
        "        ^^^^^^^^^",
    ),
    ("y ~ s(x)", SEMANTIC, "s() (a spline smooth in brms) is not supported", "    ^^^^"),
    ("y ~ mo(x)", SEMANTIC, "monotonic", "    ^^^^^"),
    ("y ~ x + ar(time = t)", SEMANTIC, "autocorrelation", "        ^^^^^^^^^^^^"),
    (
        "y ~ trials(n)",
        SEMANTIC,
        "write it on the left of '~', e.g. y | trials(n) ~",
        "    ^^^^^^^^^",
    ),
    ("y ~ cbind(a, b)", SEMANTIC, "only valid as mm(..., weights", "    ^^^^^^^^^^^"),
    (
        "y ~ `log(x)` + log(x)",
        SEMANTIC,
        "the column `log(x)` and the expression",
        "               ^^^^^^",
    ),
    # response and additions
    (
        "y | foo(n) ~ x",
        SEMANTIC,
        "valid addition terms are: trials(), se(), weights()",
        "    ^^^^^^",
    ),
    ("y | cens(c) ~ x", SEMANTIC, "unknown addition term cens(c)", "    ^^^^^^^"),
    ("y | n ~ x", SEMANTIC, "addition terms after '|' are calls", "    ^"),
    (
        "y | weights(w) + weights(v) ~ x",
        SEMANTIC,
        "weights() is given twice",
        "                 ^^^^^^^^^^",
    ),
    (
        "y | se(s, sigma = TRUE) ~ x",
        SEMANTIC,
        "se() takes exactly one argument",
        "    ^^^^^^^^^^^^^^^^^^^",
    ),
    ("y | trials() ~ x", SEMANTIC, "trials() takes exactly one argument", "    ^^^^^^^^"),
    ("cbind(s) ~ x", SEMANTIC, "two columns, successes and failures", "^^^^^^^^"),
    ("cbind(s, f) | trials(n) ~ x", SEMANTIC, "gives the number of trials", "^^^^^^^^^^^"),
    ("mvbind(a, b) ~ x", SEMANTIC, "multivariate response", "^^^^^^^^^^^^"),
    ("y + z ~ x", SEMANTIC, "the response y + z must be one column", "^^^^^"),
    ("2 ~ x", SEMANTIC, "the response 2 must be one column", "^"),
    (". ~ x", SEMANTIC, "'.' is not a response", "^"),
    ("offset(y) ~ x", SEMANTIC, "only valid among population-level terms", "^^^^^^^^^"),
    ("y ~ y + x", SEMANTIC, "y appears on both sides of '~'", "    ^"),
    ("log(y) ~ x + I(y > 0)", SEMANTIC, "y appears on both sides of '~'", "               ^"),
    ("y ~ x + (1 | y)", SEMANTIC, "y appears on both sides of '~'", "             ^"),
]


def split_message(exc):
    lines = str(exc).splitlines()
    return lines[0], lines[-2], lines[-1]


@pytest.mark.parametrize(("text", "cls", "message", "caret"), CASES)
def test_error_class_message_and_caret(text, cls, message, caret):
    with pytest.raises(MultilevelError) as info:
        parse(text)
    assert type(info.value) is cls, str(info.value)
    first, formula_line, caret_line = split_message(info.value)
    assert message in first
    assert formula_line == "  " + text.replace("\n", " ")
    assert caret_line == "  " + caret


def test_errors_are_value_errors_and_carry_the_column():
    with pytest.raises(ValueError) as info:
        parse("y ~ x + (1 | g")
    assert info.value.column == 8
    assert info.value.formula == "y ~ x + (1 | g"


def test_full_message_of_the_unclosed_parenthesis():
    with pytest.raises(FormulaSyntaxError) as info:
        parse("y ~ x + (1 | g")
    assert str(info.value) == "unclosed parenthesis\n  y ~ x + (1 | g\n          ^"


def test_missing_tilde_message_shows_what_to_write():
    with pytest.raises(FormulaError, match="write 'response ~ predictors'"):
        parse("y + x")


# Errors in distributional formulas: the message says which formula, the caret is in it.
DPAR_CASES = [
    ({"sigma": "~ 1 + x"}, SEMANTIC, "parameter on the left of '~', e.g. 'sigma ~ 1 + x'", "^"),
    (["~ x"], SEMANTIC, "needs its parameter on the left", "^"),
    ({"sigma": "phi ~ x"}, SEMANTIC, "given for 'sigma' has 'phi' on the left", "^^^"),
    ({"sigma": "log(sigma) ~ x"}, SEMANTIC, "must be a parameter name", "^^^^^^^^^^"),
    ({"sigma": "sigma | se(s) ~ x"}, SEMANTIC, "must be a parameter name", "^^^^^^^^^^^^^"),
    ({"sigma": "sigma ~ x +"}, SYNTAX, "unexpected end of formula", "           ^"),
    ({"sigma": "sigma ~ (1 | g"}, SYNTAX, "unclosed parenthesis", "        ^"),
    ({"sigma": "sigma ~ (x | x)"}, SEMANTIC, "x appears on both sides", "        ^^^^^^^"),
    ({"sigma": "sigma x"}, SEMANTIC, "no '~'", "^^^^^^^"),
]


@pytest.mark.parametrize(("dpars", "cls", "message", "caret"), DPAR_CASES)
def test_dpar_errors(dpars, cls, message, caret):
    with pytest.raises(MultilevelError) as info:
        parse("y ~ x", dpars=dpars)
    assert type(info.value) is cls, str(info.value)
    first, formula_line, caret_line = split_message(info.value)
    assert first.startswith("in the formula for sigma: ") or first.startswith(
        "in a distributional formula: "
    )
    assert message in first
    text = dpars["sigma"] if isinstance(dpars, dict) else dpars[0]
    assert formula_line == "  " + text
    assert caret_line == "  " + caret


def test_dpar_named_mu_is_rejected():
    with pytest.raises(FormulaError, match="already predicts mu"):
        parse("y ~ x", dpars={"mu": "mu ~ z"})
    with pytest.raises(FormulaError, match="already predicts mu"):
        parse("y ~ x", dpars=["mu ~ z"])


def test_dpar_given_twice_is_rejected():
    with pytest.raises(FormulaError, match="two formulas are given for the parameter sigma"):
        parse("y ~ x", dpars=["sigma ~ z", "sigma ~ w"])
