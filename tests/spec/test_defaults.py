"""Default priors (brms's data-scaled numbers) and the prior lookup rule."""

import doctest
import math
import statistics

import numpy as np
import pytest
from scipy import stats

from multilevel import datasets, naming
from multilevel.errors import PriorError
from multilevel.spec import defaults
from multilevel.spec.defaults import default_priors, intercept_location_scale, resolve_priors
from multilevel.spec.priors import Prior, parse_prior


def test_docstring_examples():
    assert doctest.testmod(defaults, optionflags=doctest.ELLIPSIS).failed == 0


def _r_mad(values):
    """R's mad(): 1.4826 * median absolute deviation, computed without numpy."""
    med = statistics.median(values)
    return 1.4826 * statistics.median([abs(v - med) for v in values])


@pytest.fixture(scope="module")
def sleepstudy():
    return datasets.load("sleepstudy")


def _sleepstudy_priors(data):
    X = np.column_stack([np.ones(len(data)), data["Days"].to_numpy(float)])
    return default_priors(
        data["Reaction"].to_numpy(float),
        X,
        ["Intercept", "Days"],
        {"Subject": ["Intercept", "Days"]},
        "gaussian",
    )


def test_sleepstudy_defaults_are_brms_numbers(sleepstudy):
    y = [float(v) for v in sleepstudy["Reaction"]]
    days = [float(v) for v in sleepstudy["Days"]]
    location = round(statistics.median(y), 1)
    scale = max(2.5, round(_r_mad(y), 1))
    # brms::get_prior(Reaction ~ Days + (Days | Subject), sleepstudy) prints these
    assert (location, scale) == (288.7, 59.3)
    pri = _sleepstudy_priors(sleepstudy)
    assert pri["Intercept"] == Prior("student_t", (3.0, location, scale))
    assert pri["sd"] == Prior("student_t", (3.0, 0.0, scale))
    assert pri["sigma"] == Prior("student_t", (3.0, 0.0, scale))
    assert pri["cor"] == Prior("lkj", (1.0,))
    b_days = 2.5 * statistics.stdev(y) / statistics.stdev(days)
    assert pri["b_Days"].dist == "normal" and pri["b_Days"].params[0] == 0.0
    assert math.isclose(pri["b_Days"].params[1], b_days, rel_tol=1e-12)
    assert math.isclose(pri["b"].params[1], 2.5 * statistics.stdev(y), rel_tol=1e-12)
    assert "b_Intercept" not in pri
    assert set(pri) == {"Intercept", "b", "b_Days", "sd", "cor", "sigma"}


def test_sleepstudy_resolved_with_names_from_naming(sleepstudy):
    pri = _sleepstudy_priors(sleepstudy)
    names = [
        naming.population("Intercept"),
        naming.population("Days"),
        naming.sd("Subject", "Intercept"),
        naming.sd("Subject", "Days"),
        naming.cor("Subject", "Intercept", "Days"),
        naming.family_parameter("sigma"),
    ]
    out = resolve_priors({}, names, defaults=pri)
    assert list(out) == names
    assert out["b_Intercept"].to_stan() == "student_t(3, 288.7, 59.3)"
    assert out["b_Days"] == pri["b_Days"]
    assert out["sd_Subject__Intercept"].to_stan() == "student_t(3, 0, 59.3) T[0, ]"
    assert out["sd_Subject__Days"] == out["sd_Subject__Intercept"]
    assert out["sigma"].to_stan() == "student_t(3, 0, 59.3) T[0, ]"
    assert out["cor_Subject__Intercept__Days"] == Prior("lkj", (1.0,))
    # a half student-t: twice the density above zero
    x = np.array([1.0, 30.0, 200.0])
    np.testing.assert_allclose(
        out["sigma"].logpdf(x), np.log(2) + stats.t(3, 0, 59.3).logpdf(x), rtol=1e-12
    )


def test_log_link_replaces_zeros_by_a_tenth():
    y = [0, 0, 1, 2, 3, 0, 7, 15, 4]
    y_link = [math.log(v if v != 0 else 0.1) for v in y]
    location = round(statistics.median(y_link), 1)
    scale = max(2.5, round(_r_mad(y_link), 1))
    assert intercept_location_scale(y, "poisson") == (location, scale)
    pri = default_priors(y, family="negbinomial")
    assert pri["Intercept"] == Prior("student_t", (3.0, location, scale))
    assert pri["shape"] == Prior("gamma", (0.01, 0.01))
    assert "sigma" not in pri and "sd" not in pri


def test_wide_log_scale_data_raise_the_scale_above_2_5():
    y = [1e-3, 1e-2, 1.0, 1e2, 1e4, 1e6]
    y_link = [math.log(v) for v in y]
    scale = round(_r_mad(y_link), 1)
    assert scale > 2.5
    assert intercept_location_scale(y, "gamma") == (round(statistics.median(y_link), 1), scale)
    # lognormal: mu is the mean of log(y), so the default uses log(y) as well
    assert intercept_location_scale(y, "lognormal") == intercept_location_scale(y, "gamma")
    pri = default_priors(y, family="lognormal")
    assert pri["sigma"] == Prior("student_t", (3.0, 0.0, scale))
    assert math.isclose(pri["b"].params[1], 2.5 * statistics.stdev(y_link), rel_tol=1e-12)


@pytest.mark.parametrize(
    ("family", "y"),
    [
        ("bernoulli", [0, 1, 1, 0, 1]),
        ("binomial", [0, 3, 4, 1, 2]),
        ("beta", [0.1, 0.4, 0.9, 0.55]),
        ("bernoulli(probit)", [0, 1, 1, 0, 1]),
    ],
)
def test_logit_and_probit_families_use_0_and_2_5(family, y):
    assert intercept_location_scale(y, family) == (0.0, 2.5)
    X = np.column_stack([np.ones(5), [0.0, 1.0, 2.0, 3.0, 4.0]])[: len(y)]
    pri = default_priors(y, X, ["Intercept", "x"], {"g": ["Intercept"]}, family)
    assert pri["Intercept"] == Prior("student_t", (3.0, 0.0, 2.5))
    assert pri["sd"] == Prior("student_t", (3.0, 0.0, 2.5))
    assert "cor" not in pri  # one coefficient per group: no correlation
    # not on the response scale: b is 2.5 / sd(x), without sd(y)
    assert math.isclose(pri["b_x"].params[1], 2.5 / statistics.stdev(X[:, 1]), rel_tol=1e-12)
    assert pri["b"] == Prior("normal", (0.0, 2.5))


def test_small_spread_keeps_the_floor_and_family_parameters():
    y = [10.0, 10.1, 10.2, 9.9, 10.0]
    pri = default_priors(y, family="student_t")
    assert pri["Intercept"] == Prior("student_t", (3.0, 10.0, 2.5))
    assert pri["sigma"] == Prior("student_t", (3.0, 0.0, 2.5))
    assert pri["nu"] == Prior("gamma", (2.0, 0.1))
    assert default_priors([0.2, 0.5], family="beta")["phi"] == Prior("gamma", (0.01, 0.01))


def test_constant_column_and_dpar_classes():
    y = np.array([1.0, 2.0, 4.0, 3.0])
    X = np.column_stack([np.ones(4), np.full(4, 2.0), [1.0, 2.0, 3.0, 4.0]])
    pri = default_priors(y, X, ["Intercept", "c", "x"], {"g": ["Intercept"]}, dpars=("sigma",))
    sd_y = statistics.stdev([1.0, 2.0, 4.0, 3.0])
    assert math.isclose(pri["b_c"].params[1], 2.5 * sd_y)  # SD 0: unscaled
    assert pri["Intercept_sigma"] == Prior("student_t", (3.0, 0.0, 2.5))
    assert pri["b_sigma"] == Prior("normal", (0.0, 2.5))
    assert pri["sd_sigma"] == Prior("student_t", (3.0, 0.0, 2.5))
    with pytest.raises(ValueError, match="no parameter 'phi'"):
        default_priors(y, family="gaussian", dpars=("phi",))
    with pytest.raises(ValueError, match="column names"):
        default_priors(y, X, ["Intercept"])


# ---------------------------------------------------------------------------------------------
# lookup
# ---------------------------------------------------------------------------------------------

NAMES = [
    "b_Intercept",
    "b_floor",
    "b_uranium",
    "sd_county__Intercept",
    "sd_county__floor",
    "sd_state__Intercept",
    "cor_county__Intercept__floor",
    "sigma",
]
DEFAULTS = {
    "Intercept": "student_t(3, 1.3, 2.5)",
    "b": "normal(0, 10)",
    "b_floor": "normal(0, 3)",
    "sd": "student_t(3, 0, 2.5)",
    "cor": "lkj(1)",
    "sigma": "student_t(3, 0, 2.5)",
}


def test_exact_name_beats_group_class_beats_class():
    user = {
        "sd": "exponential(1)",
        "sd_county": "normal(0, 2)",
        "sd_county__floor": "normal(0, 0.5)",
        "b": "normal(0, 1)",
        "b_uranium": "normal(1, 1)",
    }
    out = resolve_priors(user, NAMES, defaults=DEFAULTS)
    assert out["sd_county__floor"] == parse_prior("normal(0, 0.5)").truncated(0)
    assert out["sd_county__Intercept"] == parse_prior("normal(0, 2)").truncated(0)
    assert out["sd_state__Intercept"] == parse_prior("exponential(1)").truncated(0)
    assert out["b_uranium"] == parse_prior("normal(1, 1)")
    # a user class beats a default exact name
    assert out["b_floor"] == parse_prior("normal(0, 1)")
    # untouched parameters fall back to the defaults, by class
    assert out["b_Intercept"] == parse_prior("student_t(3, 1.3, 2.5)")
    assert out["sigma"] == parse_prior("student_t(3, 0, 2.5)").truncated(0)
    assert out["cor_county__Intercept__floor"] == Prior("lkj", (1.0,))


def test_defaults_use_the_same_precedence():
    out = resolve_priors(None, NAMES, defaults=DEFAULTS)
    assert out["b_floor"] == parse_prior("normal(0, 3)")
    assert out["b_uranium"] == parse_prior("normal(0, 10)")


def test_correlations_take_lkj_by_group_or_class():
    out = resolve_priors({"cor_county": "lkj(2)"}, NAMES, defaults=DEFAULTS)
    assert out["cor_county__Intercept__floor"] == Prior("lkj", (2.0,))
    out = resolve_priors({"cor": Prior("lkj", (4.0,))}, NAMES, defaults=DEFAULTS)
    assert out["cor_county__Intercept__floor"] == Prior("lkj", (4.0,))
    with pytest.raises(PriorError, match=r"correlations take an lkj\(eta\) prior"):
        resolve_priors({"cor": "normal(0, 1)"}, NAMES, defaults=DEFAULTS)
    with pytest.raises(PriorError, match="lkj prior applies only to correlations"):
        resolve_priors({"b": "lkj(2)"}, NAMES, defaults=DEFAULTS)
    with pytest.raises(PriorError, match=r"whole correlation matrix of group 'county'.*cor_county"):
        resolve_priors({"cor_county__Intercept__floor": "lkj(2)"}, NAMES, defaults=DEFAULTS)


def test_positive_parameters_are_truncated():
    names = ["sd_g__Intercept", "sigma", "nu", "shape", "phi", "b_x"]
    user = {k: "normal(0, 3)" for k in names}
    out = resolve_priors(user, names)
    x = np.array([0.5, 1.5, 4.0])
    for name in ["sd_g__Intercept", "sigma", "shape", "phi"]:
        assert out[name].lower == 0.0
        np.testing.assert_allclose(out[name].logpdf(x), stats.halfnorm(scale=3).logpdf(x))
        assert out[name].logpdf(-0.1) == -np.inf
    # brms declares real<lower=1> nu
    assert out["nu"].lower == 1.0
    np.testing.assert_allclose(
        out["nu"].logpdf(x[1:]), stats.norm(0, 3).logpdf(x[1:]) - stats.norm(0, 3).logsf(1.0)
    )
    assert out["nu"].logpdf(0.5) == -np.inf
    assert out["b_x"].lower is None
    # a default nu gets the same bound; an explicit larger bound is kept
    assert resolve_priors({}, ["nu"], defaults={"nu": "gamma(2, 0.1)"})["nu"].lower == 1.0
    kept = Prior("normal", (0.0, 3.0)).truncated(2.0)
    assert resolve_priors({"sigma": kept}, ["sigma"])["sigma"] is kept
    assert resolve_priors({"b_x": "normal(0, 1)"}, ["b_x"], lower={"b_x": 0.0})["b_x"].lower == 0
    with pytest.raises(PriorError, match="'sd_g__Intercept'.*no mass above 0"):
        resolve_priors({"sd": "uniform(-3, -1)"}, ["sd_g__Intercept"])


def test_unknown_targets_list_valid_names():
    with pytest.raises(PriorError) as err:
        resolve_priors({"b_flor": "normal(0, 1)"}, NAMES, defaults=DEFAULTS)
    message = str(err.value)
    assert "unknown prior target 'b_flor' (did you mean 'b_floor'?)" in message
    for key in ["b", "Intercept", "sd", "cor", "sigma", "sd_county", "cor_county", *NAMES[:-2]]:
        assert key in message
    with pytest.raises(PriorError, match=r"'sd_countee' \(did you mean 'sd_county'\?\)"):
        resolve_priors({"sd_countee": "normal(0, 1)"}, NAMES, defaults=DEFAULTS)
    with pytest.raises(PriorError, match="unknown prior target 'nu'"):
        resolve_priors({"nu": "gamma(2, 0.1)"}, NAMES, defaults=DEFAULTS)
    # a model without group terms has no sd class
    with pytest.raises(PriorError, match="unknown prior target 'sd'"):
        resolve_priors({"sd": "normal(0, 1)"}, ["b_Intercept", "sigma"], defaults=DEFAULTS)


def test_bad_values_and_missing_priors():
    with pytest.raises(PriorError, match=r"the prior for 'b_floor': .*normol"):
        resolve_priors({"b_floor": "normol(0, 1)"}, NAMES, defaults=DEFAULTS)
    with pytest.raises(PriorError, match=r"no prior for 'b_floor'"):
        resolve_priors({}, ["b_floor"])
    with pytest.raises(ValueError, match="group-level deviation"):
        resolve_priors({}, ["r_county[1,Intercept]"])


def test_distributional_parameters_have_their_own_classes():
    names = [
        "b_Intercept",
        "b_x",
        "b_sigma_Intercept",
        "b_sigma_x",
        "sd_g__Intercept",
        "sd_g__sigma_Intercept",
    ]
    dflt = default_priors([1.0, 2.0, 4.0], groups={"g": ["Intercept"]}, dpars=("sigma",))
    out = resolve_priors(
        {"b_sigma": "normal(0, 1)", "sd_g__sigma": "normal(0, 0.5)"}, names, defaults=dflt
    )
    assert out["b_sigma_x"] == parse_prior("normal(0, 1)")
    assert out["b_sigma_Intercept"] == parse_prior("student_t(3, 0, 2.5)")
    assert out["sd_g__sigma_Intercept"] == parse_prior("normal(0, 0.5)").truncated(0)
    assert out["sd_g__Intercept"] == dflt["sd"].truncated(0)
    # the mean's classes do not reach the sigma formula
    out = resolve_priors({"b": "normal(0, 9)", "sd_g": "normal(0, 9)"}, names, defaults=dflt)
    assert out["b_x"] == parse_prior("normal(0, 9)")
    assert out["b_sigma_x"] == dflt["b_sigma"]
    assert out["sd_g__sigma_Intercept"] == dflt["sd_sigma"].truncated(0)
    with pytest.raises(PriorError, match="unknown prior target 'sigma'"):
        resolve_priors({"sigma": "normal(0, 1)"}, names, defaults=dflt)


def test_explicit_classes():
    # the caller knows b_sigma_x is the predictor 'sigma_x' of the mean
    classes = {"b_sigma_x": "b"}
    out = resolve_priors({"b": "normal(0, 2)"}, ["b_sigma_x"], classes)
    assert out["b_sigma_x"] == parse_prior("normal(0, 2)")
