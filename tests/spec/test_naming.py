"""Parameter names: brms spelling, parse as the exact inverse, cleaning and bad names."""

import doctest

import pytest

from multilevel import naming
from multilevel.errors import FormulaError, PriorError
from multilevel.naming import ParameterName, parse


def test_docstring_examples():
    assert doctest.testmod(naming, optionflags=doctest.ELLIPSIS).failed == 0


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (naming.population("Intercept"), "b_Intercept"),
        (naming.population("Days"), "b_Days"),
        (naming.population("x:z"), "b_x:z"),
        (naming.population("Intercept", dpar="mu"), "b_Intercept"),
        (naming.population("Intercept", dpar="sigma"), "b_sigma_Intercept"),
        (naming.population("Days", "sigma"), "b_sigma_Days"),
        (naming.sd("Subject", "Intercept"), "sd_Subject__Intercept"),
        (naming.sd("Subject", "Days"), "sd_Subject__Days"),
        (naming.sd("Subject", "Intercept", dpar="sigma"), "sd_Subject__sigma_Intercept"),
        (naming.sd("a:b", "Intercept"), "sd_a:b__Intercept"),
        (naming.cor("Subject", "Intercept", "Days"), "cor_Subject__Intercept__Days"),
        (
            naming.cor("g", "Intercept", "Intercept", dpar2="sigma"),
            "cor_g__Intercept__sigma_Intercept",
        ),
        (naming.group_effect("Subject", 308, "Intercept"), "r_Subject[308,Intercept]"),
        (naming.group_effect("Subject", "308", "Days"), "r_Subject[308,Days]"),
        (
            naming.group_effect("Subject", 308, "Intercept", dpar="sigma"),
            "r_Subject__sigma[308,Intercept]",
        ),
        (naming.group_effect("a:b", "1_2", "Intercept"), "r_a:b[1_2,Intercept]"),
        (naming.family_parameter("sigma"), "sigma"),
        (naming.family_parameter("shape"), "shape"),
        (naming.population("log(x)"), "b_logx"),
        (naming.population("I(x^2)"), "b_IxE2"),
        (naming.population("poly(x, 2)1"), "b_polyx21"),
    ],
)
def test_brms_spelling(built, expected):
    assert built == expected


NAMES = [
    "b_Intercept",
    "b_Days",
    "b_x:z",
    "b_sigma_Intercept",
    "b_sigma_x",
    "b_sigma",  # a predictor called sigma
    "sd_Subject__Intercept",
    "sd_Subject__sigma_Days",
    "sd_a:b__Intercept",
    "cor_Subject__Intercept__Days",
    "cor_g__Intercept__sigma_Intercept",
    "r_Subject[308,Intercept]",
    "r_Subject__sigma[308,Intercept]",
    "r_county[ST. LOUIS, MO,floor]",  # a level with a comma and spaces
    "r_g[a[1],x]",  # a level with brackets
    "r_g[,Intercept]",  # an empty level
    "sigma",
    "nu",
    "phi",
    "shape",
]


@pytest.mark.parametrize("name", NAMES)
def test_parse_round_trips(name):
    parsed = parse(name)
    assert str(parsed) == name
    assert parse(parsed.name) == parsed


def test_parse_fields():
    assert parse("b_sigma_x") == ParameterName("b", coef="x", dpar="sigma")
    assert parse("b_x") == ParameterName("b", coef="x")
    assert parse("sd_Subject__sigma_Days") == ParameterName(
        "sd", coef="Days", group="Subject", dpar="sigma"
    )
    assert parse("cor_g__Intercept__sigma_x") == ParameterName(
        "cor", coef="Intercept", group="g", coef2="x", dpar2="sigma"
    )
    assert parse("r_county[ST. LOUIS, MO,floor]") == ParameterName(
        "r", coef="floor", group="county", level="ST. LOUIS, MO"
    )
    assert parse("r_Subject__sigma[308,Intercept]") == ParameterName(
        "r", coef="Intercept", group="Subject", level="308", dpar="sigma"
    )
    assert parse("shape") == ParameterName("family", dpar="shape")
    # a coefficient may start with an underscore: the first '__' still ends the group
    assert parse("sd_g___x") == ParameterName("sd", coef="_x", group="g")


def test_dpars_option_disambiguates_prefixes():
    # brms reads b_sigma_x as the x coefficient of sigma; a model without distributional
    # formulas whose predictor is called sigma_x says so with dpars=()
    assert parse("b_sigma_x", dpars=()) == ParameterName("b", coef="sigma_x")
    assert parse("b_zi_x", dpars=("zi",)) == ParameterName("b", coef="x", dpar="zi")
    assert parse("b_zi_x") == ParameterName("b", coef="zi_x")


def test_prior_and_group_classes():
    cases = {
        "b_Intercept": ("Intercept", None),
        "b_Days": ("b", None),
        "b_sigma_Intercept": ("Intercept_sigma", None),
        "b_sigma_x": ("b_sigma", None),
        "sd_county__floor": ("sd", "sd_county"),
        "sd_county__sigma_Intercept": ("sd_sigma", "sd_county__sigma"),
        "cor_county__Intercept__floor": ("cor", "cor_county"),
        "sigma": ("sigma", None),
        "r_county[1,Intercept]": (None, None),
    }
    for name, (cls, group_cls) in cases.items():
        parsed = parse(name)
        assert (parsed.prior_class, parsed.group_class) == (cls, group_cls), name


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("foo", "'foo' is not a parameter name"),
        ("b_", "not a parameter name"),
        ("sd_Subject", "not a parameter name"),
        ("sd_Subject__", "not a parameter name"),
        ("cor_g__a", "not a parameter name"),
        ("cor_g__a__b__c", "not a parameter name"),
        ("r_g[1]", "not a parameter name"),
        ("r_g", "not a parameter name"),
        ("mu", "not a parameter name"),
        ("b_log(x)", "did you mean 'b_logx'"),
        ("b_x__z", "not a parameter name"),
        ("sd_g__x_", "not a parameter name"),
    ],
)
def test_parse_rejects(name, match):
    with pytest.raises(PriorError, match=match):
        parse(name)


def test_clean_follows_brms_rename():
    assert naming.clean("a b(c)[d],\"e'f?") == "abcdef"
    assert naming.clean("x+y-z*w/v^2=1") == "xPyMzMUwDvE2EQ1"
    assert naming.clean(naming.clean("I(x^2)")) == naming.clean("I(x^2)")
    assert naming.clean_all(["Intercept", "log(x)", "x:z"]) == ["Intercept", "logx", "x:z"]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: naming.clean_all(["x y", "xy"]), "'x y' and 'xy' both become 'xy'"),
        (lambda: naming.population("a__b"), "double underscore"),
        (lambda: naming.sd("g_", "x"), "ends with '_'"),
        (lambda: naming.sd("g", "()"), "empty"),
    ],
)
def test_bad_names(call, match):
    with pytest.raises(FormulaError, match=match):
        call()


def test_bad_dpar_and_mu():
    with pytest.raises(ValueError, match="mu"):
        naming.family_parameter("mu")
    with pytest.raises(ValueError, match="invalid distributional parameter"):
        naming.population("x", dpar="sig ma")
