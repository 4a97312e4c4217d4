"""Population-level terms and the term-algebra rewrite rules."""

import pytest

from multilevel.formula import Formula, Term, parse


def names(formula: str) -> list[str]:
    return [t.name for t in parse(formula).terms]


def test_single_variable():
    f = parse("y ~ x")
    assert f == Formula(
        text="ignored", response="y", additions=(), intercept=True, terms=(Term(("x",)),)
    )
    assert f.offsets == () and f.groups == () and dict(f.dpars) == {}
    assert f.parameter == "mu"


def test_term_names():
    assert Term().name == "Intercept"
    assert Term(("x",)).name == "x"
    assert Term(("x", "log(z)")).name == "x:log(z)"
    assert Term(("a", "b")).order == 2
    assert str(Term()) == "1"


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("y ~ a:b", ["a:b"]),
        ("y ~ a*b", ["a", "b", "a:b"]),
        ("y ~ a*b*c", ["a", "b", "c", "a:b", "a:c", "b:c", "a:b:c"]),
        ("y ~ (a + b + c)^2", ["a", "b", "c", "a:b", "a:c", "b:c"]),
        ("y ~ (a + b + c)**2", ["a", "b", "c", "a:b", "a:c", "b:c"]),
        ("y ~ (a + b + c)^3", ["a", "b", "c", "a:b", "a:c", "b:c", "a:b:c"]),
        ("y ~ (a + b)^1", ["a", "b"]),
        ("y ~ (a + b):c", ["a:c", "b:c"]),
        ("y ~ a/b", ["a", "a:b"]),
        ("y ~ a/b/c", ["a", "a:b", "a:b:c"]),
        ("y ~ (a + b)/c", ["a", "b", "a:b:c"]),
        ("y ~ a %in% b", ["a:b"]),
        ("y ~ a*b - a:b", ["a", "b"]),
        ("y ~ a*b - a", ["b", "a:b"]),
        ("y ~ x + x", ["x"]),
        ("y ~ a:b + b:a", ["a:b"]),
        ("y ~ a:a", ["a"]),
        ("y ~ x - x", []),
    ],
)
def test_rewrite_rules(formula, expected):
    assert names(formula) == expected


def test_lower_order_terms_come_first_stable_within_order():
    assert names("y ~ a:b + c + d:e:f + g") == ["c", "g", "a:b", "d:e:f"]


def test_interaction_factors_keep_the_order_first_written():
    assert names("y ~ b:a + a") == ["a", "b:a"]
    assert names("y ~ a + b:a") == ["a", "b:a"]
    assert names("y ~ b:a + a:b") == ["b:a"]


def test_transforms_keep_exact_source_text():
    f = parse("y ~ log(x) + exp(x) + sqrt(x) + scale(x) + center(x) + poly(x, 2)")
    assert [t.name for t in f.terms] == [
        "log(x)",
        "exp(x)",
        "sqrt(x)",
        "scale(x)",
        "center(x)",
        "poly(x, 2)",
    ]
    f = parse("y ~ I(x^2) + I(x**2) + C(cat) + C(cat, Treatment('b'))")
    assert [t.name for t in f.terms] == ["I(x^2)", "I(x**2)", "C(cat)", "C(cat, Treatment('b'))"]
    assert names("y ~ I( x ^ 2 )") == ["I( x ^ 2 )"]


def test_transform_interaction():
    assert names("y ~ x:log(z)") == ["x:log(z)"]
    assert names("y ~ x * log(z)") == ["x", "log(z)", "x:log(z)"]


def test_expressions_map_factors_to_their_syntax_trees():
    f = parse("y ~ log(x) + `my var` + z")
    assert f.expressions["log(x)"].func == "log"
    assert f.expressions["my var"].name == "my var"
    assert f.expressions["my var"].quoted
    assert f.expressions["z"].name == "z"


def test_backtick_names_are_stored_without_backticks():
    f = parse("`my y` ~ `my var` + `x-1`:z")
    assert f.response == "my y"
    assert [t.factors for t in f.terms] == [("my var",), ("x-1", "z")]


@pytest.mark.parametrize(
    ("formula", "intercept", "terms"),
    [
        ("y ~ x", True, ["x"]),
        ("y ~ 1", True, []),
        ("y ~ 0", False, []),
        ("y ~ 1 + x", True, ["x"]),
        ("y ~ 0 + x", False, ["x"]),
        ("y ~ x + 0", False, ["x"]),
        ("y ~ x - 1", False, ["x"]),
        ("y ~ -1 + x", False, ["x"]),
        ("y ~ 0 + x + 1", True, ["x"]),
        ("y ~ x - 1 + 1", True, ["x"]),
        ("y ~ 0 + x - 0", True, ["x"]),
        ("y ~ +x", True, ["x"]),
        ("y ~ (0 + x)", False, ["x"]),
        ("y ~ (a + b + c)^2 - 1", False, ["a", "b", "c", "a:b", "a:c", "b:c"]),
    ],
)
def test_intercept_rules(formula, intercept, terms):
    f = parse(formula)
    assert f.intercept is intercept
    assert [t.name for t in f.terms] == terms


def test_offset_is_not_a_term():
    f = parse("y ~ x + offset(log(n))")
    assert names("y ~ x + offset(log(n))") == ["x"]
    assert f.offsets == ("log(n)",)
    assert f.expressions["log(n)"].func == "log"


def test_several_offsets_in_order():
    assert parse("y ~ offset(a) + x + offset(log(b))").offsets == ("a", "log(b)")


def test_terms_are_hashable_and_formula_is_hashable():
    assert len({Term(("a",)), Term(("a",))}) == 1
    assert hash(parse("y ~ x")) == hash(parse("y~x"))


def test_equality_ignores_text_and_whitespace():
    assert parse("y~a*b") == parse("y ~ a + b + a:b")
    assert parse("y ~ a + b") != parse("y ~ b + a")


def test_formula_is_frozen():
    f = parse("y ~ x")
    with pytest.raises(AttributeError):
        f.intercept = False
