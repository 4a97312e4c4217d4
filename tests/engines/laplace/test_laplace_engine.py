"""``method="laplace"``: glmer's estimates recover simulated truth, survive rescaling of a
predictor, estimate a negative binomial's shape, and refuse what they cannot fit with a
message that says what to use instead."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special

import multilevel as ml
from multilevel.errors import EngineError


def _bernoulli(groups=150, per=30, seed=11, sd=0.8, beta=(-0.4, 0.9)):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), per)
    x = rng.normal(size=g.size)
    eta = beta[0] + beta[1] * x + rng.normal(0, sd, groups)[g]
    return pd.DataFrame(
        {"y": rng.binomial(1, special.expit(eta)), "x": x, "g": [f"g{i}" for i in g]}
    )


def _fit(formula, data, family, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.DataWarning)
        return ml.fit(formula, data, family=family, method="laplace", **kwargs)


def test_recovers_simulated_coefficients_within_their_standard_errors():
    fit = _fit("y ~ x + (1 | g)", _bernoulli(), "bernoulli")
    table = fit.summary()
    for name, truth in (("b_Intercept", -0.4), ("b_x", 0.9)):
        estimate, se = table.loc[name, "estimate"], table.loc[name, "std_error"]
        assert 0 < se < 0.2
        assert abs(estimate - truth) < 4 * se, (name, estimate, se)
    assert 0.6 < table.loc["sd_g__Intercept", "estimate"] < 1.0
    assert fit.estimate.converged
    assert fit.method == "laplace"
    assert fit.loglik() < 0


def test_rescaling_a_predictor_rescales_its_coefficient():
    data = _bernoulli(groups=60, per=20)
    base = _fit("y ~ x + (1 | g)", data, "bernoulli")
    scaled = _fit("y ~ x + (1 | g)", data.assign(x=data["x"] * 1000.0), "bernoulli")
    a, b = base.summary(), scaled.summary()
    assert b.loc["b_x", "estimate"] * 1000 == pytest.approx(a.loc["b_x", "estimate"], rel=1e-5)
    assert b.loc["b_x", "std_error"] * 1000 == pytest.approx(a.loc["b_x", "std_error"], rel=1e-3)
    assert scaled.loglik() == pytest.approx(base.loglik(), abs=1e-6)


def test_negative_binomial_shape(tmp_path):
    rng = np.random.default_rng(5)
    groups, per, shape = 80, 25, 3.0
    g = np.repeat(np.arange(groups), per)
    x = rng.normal(size=g.size)
    mu = np.exp(1.0 + 0.5 * x + rng.normal(0, 0.4, groups)[g])
    y = rng.poisson(rng.gamma(shape, mu / shape))
    data = pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})
    fit = _fit("y ~ x + (1 | g)", data, "negbinomial")
    table = fit.summary()
    assert 2.0 < table.loc["shape", "estimate"] < 4.5
    assert abs(table.loc["b_x", "estimate"] - 0.5) < 4 * table.loc["b_x", "std_error"]
    back = ml.load(fit.save(tmp_path / "nb.mlfit"))  # the shape and the modes survive saving
    pd.testing.assert_frame_equal(back.summary(), table)
    pd.testing.assert_series_equal(back.predict(), fit.predict())
    poisson = _fit("y ~ x + (1 | g)", data, "poisson")
    assert fit.loglik() > poisson.loglik() + 50  # the overdispersion is real


def test_adaptive_quadrature_moves_towards_the_integral():
    data = _bernoulli(groups=40, per=4, seed=2, sd=1.5)  # few rows per level: Laplace is off
    with pytest.warns(ml.ConvergenceWarning, match="underestimates"):
        laplace = _fit("y ~ x + (1 | g)", data, "bernoulli")
    agq = _fit("y ~ x + (1 | g)", data, "bernoulli", nagq=15)
    agq25 = _fit("y ~ x + (1 | g)", data, "bernoulli", nagq=25)
    assert agq.loglik() == pytest.approx(agq25.loglik(), abs=1e-6)  # converged in the nodes
    assert abs(agq.loglik() - laplace.loglik()) > 1e-3
    assert "Gauss-Hermite, 15 nodes" in agq.estimate.reason


@pytest.mark.parametrize(
    "family, kwargs, words",
    [
        ("gaussian", {}, "method='reml'"),
        ("gamma", {}, "method='nuts'"),
        ("bernoulli", {"nagq": 0}, "nagq must be an integer"),
        ("bernoulli", {"nagq": 5, "formula": "y ~ x + (1 + x | g)"}, "single scalar grouping"),
    ],
)
def test_refusals_say_what_to_do(family, kwargs, words):
    data = _bernoulli(groups=20, per=5).assign(z=lambda d: d["x"].abs() + 0.1)
    formula = kwargs.pop("formula", "z ~ x + (1 | g)" if family == "gamma" else "y ~ x + (1 | g)")
    with pytest.raises(EngineError, match=words.replace("(", r"\(").replace(")", r"\)")):
        _fit(formula, data, family, **kwargs)


def test_nagq_belongs_to_laplace():
    with pytest.raises(EngineError, match="nagq=3 is an option of method='laplace'"):
        ml.fit("y ~ x + (1 | g)", _bernoulli(groups=10, per=5), family="bernoulli",
               method="nuts", nagq=3)  # fmt: skip


def test_few_binary_rows_per_level_are_flagged_with_what_to_use_instead():
    """Laplace underestimates the SD of binary models with few rows per level: the fit warns
    and its diagnostics say so, naming nagq and NUTS; quadrature does not warn."""
    data = _bernoulli(groups=40, per=3, seed=4, sd=1.5)
    with pytest.warns(ml.ConvergenceWarning, match="3.0 rows per level of g"):
        fit = _fit("y ~ x + (1 | g)", data, "bernoulli")
    (note,) = fit.diagnostics()
    assert "sd_g__Intercept" in note and "nagq=25" in note and "method='nuts'" in note
    with warnings.catch_warnings():
        warnings.simplefilter("error", ml.ConvergenceWarning)
        agq = _fit("y ~ x + (1 | g)", data, "bernoulli", nagq=25)
    assert agq.diagnostics() == []
    assert _fit("y ~ x + (1 | g)", _bernoulli(groups=20, per=25), "bernoulli").diagnostics() == []
    with pytest.warns(ml.ConvergenceWarning, match="10.0 rows per level of g"):
        _fit("y ~ x + (1 | g)", _bernoulli(groups=20, per=10), "bernoulli")
