"""design(formula, data): the arrays of the population part, group blocks and additions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from multilevel import datasets
from multilevel.design import Design, design
from multilevel.errors import DataWarning
from multilevel.formula import parse


@pytest.fixture(scope="module")
def radon():
    return datasets.load("radon")


@pytest.fixture
def toy():
    return pd.DataFrame(
        {
            "y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "cat": list("abcabc"),
            "dog": list("uuvvuv"),
            "g": list("ppqqrr"),
            "h": list("qrpprq"),
        }
    )


def test_radon_intercept_and_slope(radon):
    d = design("log_radon ~ 1 + floor + log_uppm + (1 + floor | county)", radon)
    assert isinstance(d, Design)
    assert d.X_names == ("Intercept", "floor", "log_uppm")
    assert d.X_terms == ("Intercept", "floor", "log_uppm")
    assert d.intercept and d.n == 919
    np.testing.assert_array_equal(d.X[:, 0], 1.0)
    np.testing.assert_array_equal(d.X[:, 1], radon["floor"])
    np.testing.assert_array_equal(d.X[:, 2], radon["log_uppm"])
    np.testing.assert_array_equal(d.y, radon["log_radon"])
    assert d.response == "log_radon"
    np.testing.assert_array_equal(d.offset, 0.0)
    assert d.trials is None and d.se is None and d.weights is None
    assert dict(d.dpars) == {}

    (block,) = d.blocks
    assert block.name == "county" and block.columns == ("county",)
    assert block.coef_names == ("Intercept", "floor") and block.correlated
    assert block.n_levels == 85 and block.q == 2 and not block.multiple_membership
    assert list(block.levels) == sorted(radon["county"].unique())
    assert block.index.shape == (919, 1) and block.index.dtype == np.int32
    np.testing.assert_array_equal(block.levels[block.index[:, 0]], radon["county"])
    np.testing.assert_array_equal(block.weights, 1.0)
    np.testing.assert_array_equal(block.Z, np.column_stack([np.ones(919), radon["floor"]]))
    assert block.source == "(1 + floor | county)"
    assert len(block.new_levels) == 0 and block.known.all()


def test_arrays_are_read_only(radon):
    d = design("log_radon ~ floor + (1 | county)", radon)
    for array in (d.X, d.y, d.offset, d.blocks[0].index, d.blocks[0].Z, d.blocks[0].weights):
        assert not array.flags.writeable
    with pytest.raises(ValueError):
        d.X[0, 0] = 2.0


def test_sleepstudy_levels_in_numeric_order():
    data = datasets.load("sleepstudy")
    d = design("Reaction ~ Days + (Days | Subject)", data)
    (block,) = d.blocks
    assert block.coef_names == ("Intercept", "Days")
    assert block.levels.tolist() == sorted(data["Subject"].unique())
    assert block.levels[0] == 308 and block.levels[-1] == 372
    assert pd.api.types.is_integer_dtype(block.levels.dtype)
    np.testing.assert_array_equal(block.levels[block.index[:, 0]], data["Subject"])


def test_numeric_text_labels_sort_numerically():
    data = datasets.load("cbpp")  # herd is text "1".."15"
    d = design("incidence | trials(size) ~ period + (1 | herd)", data, family="binomial")
    assert d.blocks[0].levels.tolist() == [str(k) for k in range(1, 16)]
    assert d.X_names == ("Intercept", "period2", "period3", "period4")
    np.testing.assert_array_equal(d.trials, data["size"])


def test_nested_blocks_pastes():
    data = datasets.load("pastes")
    d = design("strength ~ 1 + (1 | batch/cask)", data)
    assert [b.name for b in d.blocks] == ["batch", "batch:cask"]
    assert [b.n_levels for b in d.blocks] == [10, 30]
    inner = d.blocks[1]
    assert inner.columns == ("batch", "cask")
    assert inner.levels[:4].tolist() == ["A:a", "A:b", "A:c", "B:a"]
    np.testing.assert_array_equal(
        inner.levels[inner.index[:, 0]], data["batch"] + ":" + data["cask"]
    )
    table = d.group_structure()
    assert table.loc["batch:cask", "nested_in"] == "batch"
    assert table.loc["batch:cask", "structure"] == "nested"
    assert table.loc["batch", "structure"] == "outer"
    assert table.loc["batch", "levels"] == 10 and table.loc["batch:cask", "max_rows"] == 2


def test_three_level_nesting_levels():
    data = pd.DataFrame(
        {
            "y": np.arange(8.0),
            "a": list("AAAABBBB"),
            "b": list("xxyyxxyy"),
            "c": list("12121212"),
        }
    )
    d = design("y ~ (1 | a/b/c)", data)
    assert [b.name for b in d.blocks] == ["a", "a:b", "a:b:c"]
    assert [b.n_levels for b in d.blocks] == [2, 4, 8]
    assert d.blocks[2].levels[:2].tolist() == ["A:x:1", "A:x:2"]
    table = d.group_structure()
    assert table.loc["a:b:c", "nested_in"] == "a, a:b"


def test_crossed_penicillin():
    data = datasets.load("penicillin")
    d = design("diameter ~ 1 + (1 | plate) + (1 | sample)", data)
    assert [(b.name, b.n_levels) for b in d.blocks] == [("plate", 24), ("sample", 6)]
    table = d.group_structure()
    assert table.loc["plate", "crossed_with"] == "sample"
    assert table.loc["sample", "structure"] == "crossed"
    assert table.loc["plate", "nested_in"] == ""


def test_multiple_membership_sums_effects(toy):
    d = design("y ~ x + (1 | mm(g, h))", toy)
    (block,) = d.blocks
    assert block.name == "mm(g,h)" and block.columns == ("g", "h")
    assert block.multiple_membership
    assert block.levels.tolist() == ["p", "q", "r"]
    assert block.index.shape == (6, 2) and block.weights.shape == (6, 2)
    np.testing.assert_array_equal(block.levels[block.index[:, 0]], toy["g"])
    np.testing.assert_array_equal(block.levels[block.index[:, 1]], toy["h"])
    np.testing.assert_array_equal(block.weights, 1.0)  # default: the SUM of the effects
    r = np.array([10.0, 20.0, 30.0])
    effect = (block.weights * r[block.index]).sum(axis=1) * block.Z[:, 0]
    np.testing.assert_array_equal(effect, [30.0, 40.0, 30.0, 30.0, 60.0, 50.0])
    assert d.group_structure().loc["mm(g,h)", "structure"] == "multiple membership"


def test_multiple_membership_weights_and_scale(toy):
    data = toy.assign(w1=[1.0, 2.0, 1.0, 0.0, 3.0, 1.0], w2=[1.0, 0.0, 3.0, 2.0, 1.0, 1.0])
    d = design("y ~ (1 | mm(g, h, weights = cbind(w1, w2)))", data)
    np.testing.assert_array_equal(d.blocks[0].weights, data[["w1", "w2"]].to_numpy())
    d = design("y ~ (1 | mm(g, h, weights = cbind(w1, w2), scale = TRUE))", data)
    expected = data[["w1", "w2"]].to_numpy()
    expected = expected / expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(d.blocks[0].weights, expected)
    np.testing.assert_allclose(d.blocks[0].weights.sum(axis=1), 1.0)


def test_multiple_membership_union_of_levels():
    data = pd.DataFrame({"y": [1.0, 2.0, 3.0], "g1": [1, 2, 2], "g2": [3, 1, 10]})
    block = design("y ~ (1 | mm(g1, g2))", data).blocks[0]
    assert block.levels.tolist() == [1, 2, 3, 10]
    np.testing.assert_array_equal(block.index, [[0, 2], [1, 0], [1, 3]])


def test_addition_terms(toy):
    data = toy.assign(n=[3, 4, 5, 6, 7, 8], s=[0.5, 1, 1, 2, 2, 3], w=[1, 1, 2, 2, 0, 1])
    d = design("y | trials(n) ~ x", data)
    np.testing.assert_array_equal(d.trials, data["n"])
    assert d.trials.dtype == float and d.se is None and d.weights is None
    d = design("y | se(s) ~ x", data, family="gaussian")
    np.testing.assert_array_equal(d.se, data["s"])
    d = design("y | weights(w) ~ x", data)
    np.testing.assert_array_equal(d.weights, data["w"])
    d = design("y | se(s) + weights(w) ~ x", data)
    assert d.se is not None and d.weights is not None


def test_bool_response_and_one_sided(toy):
    d = design("flag ~ x", toy.assign(flag=[True, False] * 3))
    np.testing.assert_array_equal(d.y, [1.0, 0.0] * 3)
    d = design("~ x + (1 | g)", toy)
    assert d.y is None and d.response is None
    assert d.X_names == ("Intercept", "x")


def test_transformed_response(toy):
    d = design("log(y) ~ x", toy)
    np.testing.assert_allclose(d.y, np.log(toy["y"]))
    assert d.response == "log(y)"


def test_no_population_terms(toy):
    d = design("y ~ 0 + (1 | g)", toy)
    assert d.X.shape == (6, 0) and d.X_names == () and not d.intercept


def test_offset(toy):
    d = design("y ~ x + offset(log(x)) + offset(x)", toy)
    np.testing.assert_allclose(d.offset, np.log(toy["x"]) + toy["x"])
    assert d.X_names == ("Intercept", "x")


# -- categorical coding -------------------------------------------------------------------


def test_treatment_coding_with_intercept(toy):
    d = design("y ~ cat", toy)
    assert d.X_names == ("Intercept", "catb", "catc")
    assert d.X_terms == ("Intercept", "cat", "cat")
    np.testing.assert_array_equal(d.X[:, 1], toy["cat"] == "b")
    np.testing.assert_array_equal(d.X[:, 2], toy["cat"] == "c")


def test_full_dummy_coding_without_intercept(toy):
    d = design("y ~ 0 + cat + dog", toy)
    # R: the first factor gets all its levels, later ones contrasts
    assert d.X_names == ("cata", "catb", "catc", "dogv")
    np.testing.assert_array_equal(d.X[:, :3].sum(axis=1), 1.0)
    assert design("y ~ cat - 1", toy).X_names == ("cata", "catb", "catc")


def test_reference_level_and_explicit_levels(toy):
    d = design("y ~ C(cat, Treatment('b'))", toy)
    assert d.X_names == ("Intercept", "C(cat, Treatment('b'))a", "C(cat, Treatment('b'))c")
    np.testing.assert_array_equal(d.X[:, 1], toy["cat"] == "a")
    d = design("y ~ C(cat, levels = ['c', 'a', 'b'])", toy)
    assert d.X_names[1:] == (
        "C(cat, levels = ['c', 'a', 'b'])a",
        "C(cat, levels = ['c', 'a', 'b'])b",
    )


def test_pandas_categorical_order_and_bool(toy):
    data = toy.assign(
        cat=pd.Categorical(toy["cat"], categories=["c", "b", "a", "unused"]),
        flag=[True, False, True, True, False, False],
    )
    assert design("y ~ cat", data).X_names == ("Intercept", "catb", "cata")
    d = design("y ~ flag", data)
    assert d.X_names == ("Intercept", "flagTrue")
    np.testing.assert_array_equal(d.X[:, 1], data["flag"])


def test_numeric_column_as_factor(toy):
    data = toy.assign(k=[4, 6, 8, 4, 6, 8])
    d = design("y ~ factor(k)", data)
    assert d.X_names == ("Intercept", "factor(k)6", "factor(k)8")
    assert design("y ~ k", data).X_names == ("Intercept", "k")


def test_interactions_with_categorical(toy):
    d = design("y ~ x + x:cat", toy)
    assert d.X_names == ("Intercept", "x", "x:catb", "x:catc")
    np.testing.assert_array_equal(d.X[:, 2], toy["x"] * (toy["cat"] == "b"))
    # without the main effect x, cat is dummy coded inside the interaction (R)
    assert design("y ~ x:cat", toy).X_names == ("Intercept", "x:cata", "x:catb", "x:catc")
    d = design("y ~ x * cat", toy)
    assert d.X_names == ("Intercept", "x", "catb", "catc", "x:catb", "x:catc")
    assert d.X_terms[-1] == "x:cat"


def test_interaction_of_two_factors_first_varies_fastest(toy):
    # the toy data lack the cell (b, v) and have c only with v: two columns are aliased and
    # dropped (lme4's rank check, tests/design/test_rank.py); the coding keeps all six
    with pytest.warns(DataWarning, match="catb:dogv .* and catc:dogv .* are linear"):
        d = design("y ~ cat * dog", toy)
    coded = tuple(name for plan in d.info.parts[0].population for name in plan.names)
    assert coded == ("Intercept", "catb", "catc", "dogv", "catb:dogv", "catc:dogv")
    assert d.info.parts[0].dropped == ("catb:dogv", "catc:dogv")
    assert d.X_names == coded[:4]
    with pytest.warns(DataWarning, match="dogv:catb .* and dogu:catc"):
        d = design("y ~ dog + dog:cat", toy)  # cat nested in dog: dummies dog, contrasts cat
    coded = tuple(name for plan in d.info.parts[0].population for name in plan.names)
    assert coded == ("Intercept", "dogv", "dogu:catb", "dogv:catb", "dogu:catc", "dogv:catc")
    assert d.X_names == ("Intercept", "dogv", "dogu:catb", "dogv:catc")
    expected = (toy["dog"] == "v") & (toy["cat"] == "c")
    np.testing.assert_array_equal(d.X[:, 3], expected)


def test_transforms_and_names(toy):
    # two designs: scale(x) and center(x) are both linear in x, so one would be dropped
    d = design("y ~ log(x) + scale(x) + I(x**2) + I(x > 2)", toy)
    assert d.X_names == ("Intercept", "log(x)", "scale(x)", "I(x**2)", "I(x > 2)True")
    x = toy["x"].to_numpy()
    np.testing.assert_allclose(d.X[:, 1], np.log(x))
    np.testing.assert_allclose(d.X[:, 2], (x - x.mean()) / x.std(ddof=1))
    np.testing.assert_allclose(d.X[:, 3], x**2)
    np.testing.assert_array_equal(d.X[:, 4], x > 2)
    d = design("y ~ center(x) + sqrt(x)", toy)
    assert d.X_names == ("Intercept", "center(x)", "sqrt(x)")
    np.testing.assert_allclose(d.X[:, 1], x - x.mean())
    np.testing.assert_allclose(d.X[:, 2], np.sqrt(x))
    assert design("y ~ I(x^2) + log(x, 2)", toy).X[1, 1:].tolist() == [4.0, 1.0]


def test_poly_matches_r(toy):
    d = design("y ~ poly(x, 2)", toy)
    assert d.X_names == ("Intercept", "poly(x, 2)1", "poly(x, 2)2")
    # R: poly(1:6, 2)
    linear = [-0.5976143, -0.3585686, -0.1195229, 0.1195229, 0.3585686, 0.5976143]
    quadratic = [0.5455447, -0.1091089, -0.4364358, -0.4364358, -0.1091089, 0.5455447]
    np.testing.assert_allclose(d.X[:, 1], linear, atol=1e-7)
    np.testing.assert_allclose(d.X[:, 2], quadratic, atol=1e-7)
    raw = design("y ~ poly(x, 2, raw = TRUE)", toy)
    np.testing.assert_array_equal(raw.X[:, 2], toy["x"] ** 2)


def test_group_block_coding(toy):
    d = design("y ~ (1 + cat | g)", toy)
    assert d.blocks[0].coef_names == ("Intercept", "catb", "catc")
    d = design("y ~ (0 + cat | g)", toy)
    assert d.blocks[0].coef_names == ("cata", "catb", "catc")
    # || splits the term into blocks but codes it as a whole (brms): contrasts for cat
    d = design("y ~ (1 + cat || g)", toy)
    assert [(b.coef_names, b.correlated) for b in d.blocks] == [
        (("Intercept",), False),
        (("catb", "catc"), False),
    ]
    assert d.blocks[0].levels is d.blocks[1].levels
    d = design("y ~ x + (1 + log(x) | g)", toy)
    np.testing.assert_allclose(d.blocks[0].Z[:, 1], np.log(toy["x"]))


def test_distributional_formula(toy):
    formula = parse("y ~ x + (1 | g)", dpars={"sigma": "sigma ~ 1 + cat + (1 | h)"})
    d = design(formula, toy)
    sigma = d.dpars["sigma"]
    assert sigma.parameter == "sigma" and sigma.intercept
    assert sigma.X_names == ("Intercept", "catb", "catc")
    assert sigma.X.shape == (6, 3)
    np.testing.assert_array_equal(sigma.offset, 0.0)
    (block,) = sigma.blocks
    assert block.name == "h" and block.levels.tolist() == ["p", "q", "r"]
    assert set(d.group_structure().index) == {"g", "h"}


def test_dict_input_and_index_labels():
    data = {"y": [1.0, 2.0, 3.0, 4.0], "g": ["a", "b", "a", "b"]}
    d = design("y ~ 1 + (1 | g)", data)
    assert d.blocks[0].levels.tolist() == ["a", "b"]


def test_insteval_is_fast():
    import time

    data = datasets.load("insteval")
    start = time.perf_counter()
    d = design("y ~ service + (1 | s) + (1 | d) + (1 | dept)", data)
    assert time.perf_counter() - start < 2.0
    assert [b.n_levels for b in d.blocks] == [2972, 1128, 14]
    assert all(b.index.nbytes == 4 * len(data) for b in d.blocks)  # no one-hot matrices
    table = d.group_structure()
    assert table.loc["d", "nested_in"] == "dept"
    assert table.loc["s", "structure"] == "crossed"
