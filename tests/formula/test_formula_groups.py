"""Group terms: blocks, || splitting, nesting, interactions, multiple membership."""

import pytest

from multilevel.formula import GroupTerm, Membership, Term, parse

I = Term()  # noqa: E741 - the intercept
X = Term(("x",))
Z = Term(("z",))


def groups(formula):
    return parse(formula).groups


def test_random_intercept():
    (block,) = groups("y ~ x + (1 | g)")
    assert block == GroupTerm(terms=(I,), group=("g",), correlated=True)
    assert block.name == "g"
    assert block.coefficients == ("Intercept",)
    assert block.source == "(1 | g)"
    assert block.membership is None
    assert block.intercept


def test_correlated_slope_is_one_block():
    (block,) = groups("y ~ x + (1 + x | g)")
    assert block.terms == (I, X)
    assert block.correlated


def test_implicit_intercept():
    assert groups("y ~ (x | g)") == groups("y ~ (1 + x | g)")
    assert groups("y ~ (x | g)")[0].terms == (I, X)


def test_intercept_always_first():
    assert groups("y ~ (x + 1 | g)")[0].terms == (I, X)


def test_no_intercept_forms():
    for text in ["y ~ (0 + x | g)", "y ~ (x - 1 | g)", "y ~ (-1 + x | g)", "y ~ (x + 0 | g)"]:
        (block,) = groups(text)
        assert block.terms == (X,), text
        assert not block.intercept


def test_group_lhs_follows_term_algebra():
    (block,) = groups("y ~ (x * z | g)")
    assert block.coefficients == ("Intercept", "x", "z", "x:z")
    (block,) = groups("y ~ (log(x) | g)")
    assert block.coefficients == ("Intercept", "log(x)")


def test_double_bar_splits_into_one_block_per_coefficient():
    blocks = groups("y ~ x + (1 + x || g)")
    assert blocks == (
        GroupTerm(terms=(I,), group=("g",), correlated=False),
        GroupTerm(terms=(X,), group=("g",), correlated=False),
    )
    assert {b.source for b in blocks} == {"(1 + x || g)"}


def test_double_bar_without_intercept_and_single_coefficient():
    assert groups("y ~ (0 + x + z || g)") == (
        GroupTerm(terms=(X,), group=("g",), correlated=False),
        GroupTerm(terms=(Z,), group=("g",), correlated=False),
    )
    assert groups("y ~ (1 || g)") == (GroupTerm(terms=(I,), group=("g",), correlated=False),)


def test_interaction_grouping_factor():
    (block,) = groups("y ~ (1 | g1:g2)")
    assert block.group == ("g1", "g2")
    assert block.name == "g1:g2"


def test_nesting_two_deep():
    blocks = groups("y ~ (1 | a/b)")
    assert [b.group for b in blocks] == [("a",), ("a", "b")]
    assert [b.name for b in blocks] == ["a", "a:b"]
    assert blocks == groups("y ~ (1 | a) + (1 | a:b)")
    assert {b.source for b in blocks} == {"(1 | a/b)"}


def test_nesting_three_deep():
    assert [b.name for b in groups("y ~ (1 | a/b/c)")] == ["a", "a:b", "a:b:c"]


def test_nesting_four_deep_and_right_nested():
    assert [b.name for b in groups("y ~ (1 | a/b/c/d)")] == ["a", "a:b", "a:b:c", "a:b:c:d"]
    assert [b.name for b in groups("y ~ (1 | a/(b/c))")] == ["a", "a:b", "a:b:c"]


def test_nesting_with_interaction_inside():
    assert [b.name for b in groups("y ~ (1 | a:b/c)")] == ["a:b", "a:b:c"]


def test_nesting_with_slopes_and_double_bar():
    blocks = groups("y ~ (1 + x | a/b)")
    assert [(b.name, b.coefficients) for b in blocks] == [
        ("a", ("Intercept", "x")),
        ("a:b", ("Intercept", "x")),
    ]
    blocks = groups("y ~ (1 + x || a/b)")
    assert [(b.name, b.coefficients, b.correlated) for b in blocks] == [
        ("a", ("Intercept",), False),
        ("a", ("x",), False),
        ("a:b", ("Intercept",), False),
        ("a:b", ("x",), False),
    ]


def test_crossed_factors_are_separate_blocks():
    blocks = groups("y ~ (1 | g1) + (1 | g2)")
    assert [b.name for b in blocks] == ["g1", "g2"]


def test_blocks_in_written_order_with_population_terms_between():
    f = parse("y ~ (1 | g) + x + (0 + x | h) + z")
    assert [t.name for t in f.terms] == ["x", "z"]
    assert [b.name for b in f.groups] == ["g", "h"]


def test_same_grouping_disjoint_coefficients_allowed():
    blocks = groups("y ~ (1 | g) + (0 + x | g)")
    assert [b.coefficients for b in blocks] == [("Intercept",), ("x",)]


def test_multiple_membership_with_weights():
    (block,) = groups("y ~ (1 | mm(g1, g2, weights = cbind(w1, w2)))")
    assert block.membership == Membership(columns=("g1", "g2"), weights=("w1", "w2"), scale=False)
    assert block.group == ("g1", "g2")
    assert block.name == "mm(g1,g2)"
    assert block.terms == (I,)


def test_multiple_membership_defaults_no_weights_no_scaling():
    (block,) = groups("y ~ (1 | mm(g1, g2, g3))")
    assert block.membership == Membership(columns=("g1", "g2", "g3"))
    assert block.membership.weights is None
    assert block.membership.scale is False


@pytest.mark.parametrize(
    ("text", "scale"),
    [("TRUE", True), ("FALSE", False), ("True", True), ("False", False), ("T", True)],
)
def test_multiple_membership_scale_argument(text, scale):
    (block,) = groups(f"y ~ (1 | mm(g1, g2, weights = cbind(w1, w2), scale = {text}))")
    assert block.membership.scale is scale


def test_multiple_membership_with_slope_and_double_bar():
    blocks = groups("y ~ (1 + x || mm(g1, g2))")
    assert [(b.coefficients, b.correlated) for b in blocks] == [
        (("Intercept",), False),
        (("x",), False),
    ]
    assert all(b.membership == Membership(("g1", "g2")) for b in blocks)


def test_membership_distinct_from_interaction():
    (mm,) = groups("y ~ (1 | mm(g1, g2))")
    (inter,) = groups("y ~ (1 | g1:g2)")
    assert mm.group == inter.group
    assert mm != inter


def test_group_term_str():
    assert str(groups("y ~ (1 + x | g)")[0]) == "(1 + x | g)"
    assert str(groups("y ~ (0 + x | a:b)")[0]) == "(0 + x | a:b)"
    assert [str(b) for b in groups("y ~ (x || g)")] == ["(1 || g)", "(0 + x || g)"]
    assert (
        str(groups("y ~ (1 | mm(a, b, weights = cbind(u, v)))")[0])
        == "(1 | mm(a, b, weights = cbind(u, v), scale = FALSE))"
    )


def test_backtick_grouping_factor():
    (block,) = groups("y ~ (1 | `my group`)")
    assert block.group == ("my group",)
    assert str(block) == "(1 | `my group`)"


def test_group_term_in_parentheses_inside_sum():
    assert groups("y ~ x + ((1 | g) + (1 | h))") == groups("y ~ x + (1 | g) + (1 | h)")


def test_grouping_in_extra_parentheses():
    assert groups("y ~ (1 | (g))") == groups("y ~ (1 | g)")


def test_population_term_may_share_name_with_grouping_factor():
    f = parse("y ~ g + (1 | g)")
    assert [t.name for t in f.terms] == ["g"]


def test_removing_every_slope_leaves_the_implicit_intercept():
    assert groups("y ~ (x - x | g)") == groups("y ~ (1 | g)")
