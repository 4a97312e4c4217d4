"""lme4's binomial response ``cbind(successes, failures) ~ ...`` (issue 17, item 8): read as
brms's ``successes | trials(successes + failures) ~ ...``, with the binomial family."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import multilevel as ml
from multilevel.errors import FormulaError
from multilevel.formula import parse


def test_cbind_is_successes_with_trials():
    f = parse("cbind(incidence, size - incidence) ~ period + (1 | herd)")
    assert f.response == "incidence"
    assert f.additions == (("trials", "incidence + (size - incidence)"),)
    assert f.binomial_pair == "cbind(incidence, size - incidence)"
    assert sorted(f.variables()) == ["herd", "incidence", "period", "size"]
    # the brms spelling parses to the same model, and the text round-trips
    assert f == parse("incidence | trials(incidence + (size - incidence)) ~ period + (1 | herd)")
    assert parse(str(f)) == f and parse(str(f)).binomial_pair is None


@pytest.mark.parametrize(
    "text, trials",
    [
        ("cbind(s, f) ~ x", "s + f"),
        ("cbind(`my s`, f) ~ x", "`my s` + f"),
        ("cbind(s, n - s) | weights(w) ~ x", "s + (n - s)"),
        ("cbind(round(s), f) ~ x", "round(s) + f"),
    ],
)
def test_cbind_forms(text, trials):
    f = parse(text)
    assert f.addition("trials") == trials and f.binomial_pair.startswith("cbind(")


def test_cbind_design_equals_trials_design():
    cbpp = ml.datasets.load("cbpp")
    a = ml.design("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
                  family="binomial")  # fmt: skip
    b = ml.design("incidence | trials(size) ~ period + (1 | herd)", cbpp, family="binomial")
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.trials, b.trials)
    np.testing.assert_array_equal(a.X, b.X)
    assert a.X_names == b.X_names
    # the formula comes back from a pickle with its cbind() reading
    info = pickle.loads(pickle.dumps(a.info))
    assert info.formula.binomial_pair == "cbind(incidence, size - incidence)"


@pytest.mark.filterwarnings("ignore::multilevel.errors.ConvergenceWarning")
def test_cbind_fit_equals_trials_fit():
    cbpp = ml.datasets.load("cbpp")
    settings = dict(family="binomial", chains=2, draws=200, warmup=200, seed=3, progress=False)
    a = ml.fit("cbind(incidence, size - incidence) ~ 1 + (1 | herd)", cbpp, **settings)
    b = ml.fit("incidence | trials(size) ~ 1 + (1 | herd)", cbpp, **settings)
    for name in ("b_Intercept", "sd_herd__Intercept"):
        np.testing.assert_array_equal(a.posterior.draws[name], b.posterior.draws[name])


@pytest.mark.parametrize("family", ["gaussian", "poisson", "bernoulli"])
def test_cbind_needs_the_binomial_family(family):
    cbpp = ml.datasets.load("cbpp")
    with pytest.raises(FormulaError) as err:
        ml.design("cbind(incidence, size - incidence) ~ 1 + (1 | herd)", cbpp, family=family)
    assert str(err.value) == (
        "cbind(incidence, size - incidence) is lme4's binomial response (successes, failures): "
        f"fit it with family='binomial' (--family binomial on the command line), not the "
        f"{family} family"
    )


def test_negative_failures_are_named():
    cbpp = ml.datasets.load("cbpp")
    with pytest.raises(ml.DataError, match=r"successes \+ failures of cbind\(incidence, "):
        ml.build_spec(
            ml.design("cbind(incidence, incidence - size) ~ 1", cbpp, family="binomial"),
            "binomial",
        )
