"""The nested-Laplace engine (``method="inla"``): what it returns, reproducibility, the
results layer on its fits, its warnings, refusals and ``method="auto"``'s choice of it."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.engines import select_engine
from multilevel.errors import ConvergenceWarning, EngineError

CBPP = "incidence | trials(size) ~ period + (1 | herd)"
SMALL = dict(method="inla", chains=2, draws=300, progress=False)


@pytest.fixture(scope="module")
def cbpp_fit():
    return ml.fit(CBPP, ml.datasets.load("cbpp"), family="binomial", seed=5, **SMALL)


def _simulated(n_groups: int, per: int, family: str = "bernoulli", seed: int = 1):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per)
    x = rng.normal(size=g.size)
    eta = -0.2 + 0.5 * x + rng.normal(0, 0.7, n_groups)[g] + rng.normal(0, 0.3, n_groups)[g] * x
    if family == "bernoulli":
        y = (rng.uniform(size=g.size) < 1 / (1 + np.exp(-eta))).astype(int)
    else:
        y = rng.negative_binomial(3.0, 3.0 / (3.0 + np.exp(eta + 1.0)))
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{k}" for k in g]})


def test_posterior_has_every_name_and_shape(cbpp_fit):
    post = cbpp_fit.posterior
    assert post.engine == "inla"
    expected = {"b_Intercept", "b_period2", "b_period3", "b_period4", "sd_herd__Intercept"}
    assert expected | {"r_block0"} == set(post.draws)
    assert all(post.draws[n].shape == (2, 300) for n in expected)
    assert post.draws["r_block0"].shape == (2, 300, 15, 1)
    assert post.log_likelihood.shape == (2, 300, 56)
    assert post.settings["strategy"] == "grid" and post.settings["points"] > 5
    assert post.settings["seed"] == 5 and post.settings["independent_draws"]
    assert "nested Laplace: 1 variance parameter(s) on a grid of" in post.reason
    assert np.all(post.draws["sd_herd__Intercept"] > 0)


def test_same_seed_same_draws_other_seed_other_draws(cbpp_fit):
    data = ml.datasets.load("cbpp")
    again = ml.fit(CBPP, data, family="binomial", seed=5, **SMALL)
    other = ml.fit(CBPP, data, family="binomial", seed=6, **SMALL)
    for name, values in cbpp_fit.posterior.draws.items():
        np.testing.assert_array_equal(values, again.posterior.draws[name])
    assert not np.array_equal(
        cbpp_fit.posterior.draws["b_Intercept"], other.posterior.draws["b_Intercept"]
    )


def test_results_layer_reads_the_fit(cbpp_fit):
    summary = cbpp_fit.summary()
    assert "sd_herd__Intercept" in summary.index
    assert summary.loc["b_Intercept", "r_hat"] < 1.05
    assert cbpp_fit.coef("herd").shape == (15, 1)
    mean = cbpp_fit.predict(kind="mean")
    assert len(mean) == 56
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a few influential herds
        loo = cbpp_fit.loo()
    elpd = loo["elpd"] if hasattr(loo, "elpd") else loo["elpd_loo"]  # ArviZ 1.x / 0.x
    assert np.isfinite(float(elpd)) and loo["n_data_points"] == 56
    assert cbpp_fit.diagnostics() == []  # independent draws: no R-hat alarms


def test_gaussian_conditional_draws_have_the_systems_covariance():
    """The back-substitution draws of (u, beta) have covariance H^{-1}: the sample covariance
    of beta's draws matches the inverse Schur complement PIRLS reports."""
    from multilevel.engines.laplace import _Problem
    from multilevel.linalg.pirls import find_mode

    spec = ml.build_spec(
        ml.design(CBPP, ml.datasets.load("cbpp"), family="binomial"), "binomial", with_priors=False
    )
    problem = _Problem(spec, 1)
    theta = np.array([0.6])
    effects = problem.rd.at(theta)
    mode = find_mode(effects, problem.X, problem.offset, problem.glm, problem.u, problem.beta,
                     free_beta=True)  # fmt: skip
    rng = np.random.default_rng(0)
    S = 40_000
    _, db = mode.system.draw(rng.standard_normal((problem.rd.Q, S)), rng.standard_normal((4, S)))
    covariance = np.cov(db)
    np.testing.assert_allclose(covariance, mode.beta_covariance, atol=0.03 * covariance.max())


def test_few_binary_rows_per_level_warn_and_say_so():
    data = _simulated(40, 3)
    with pytest.warns(ConvergenceWarning, match="rows per level of g"):
        fit = ml.fit("y ~ x + (1 | g)", data, family="bernoulli", seed=1, **SMALL)
    assert "method='nuts'" in fit.posterior.reason
    assert fit.posterior.settings["approximation_notes"]


def test_many_variance_parameters_use_the_central_composite_design():
    data = _simulated(30, 10, family="negbinomial", seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = ml.fit("y ~ x + (1 + x | g)", data, family="negbinomial", seed=1, **SMALL)
    post = fit.posterior
    assert post.settings["strategy"] == "ccd"
    assert post.settings["points"] == 1 + 2 * 4 + 2**4
    assert {"shape", "cor_g__Intercept__x", "sd_g__x"} <= set(post.draws)
    assert np.unique(post.draws["shape"]).size > 100  # continuous, not the design points
    assert 0.5 < float(np.median(post.draws["shape"])) < 20


@pytest.mark.parametrize("family", ["gaussian", "student"])
def test_unsupported_family_is_refused_naming_nuts(family):
    data = _simulated(10, 5).assign(y=lambda d: d["x"] + 1.0)
    with pytest.raises(EngineError, match="method='nuts'"):
        ml.fit("y ~ x + (1 | g)", data, family=family, **SMALL)


def test_auto_takes_nuts_for_small_and_inla_for_large_glmms():
    small = ml.build_spec(ml.design("y ~ x + (1 | g)", _simulated(50, 10)), "bernoulli")
    engine, reason = select_engine(small, "auto")
    assert engine.name == "nuts"
    assert reason.startswith("auto: 500 rows: NUTS takes at most about a minute; bernoulli")
    large = ml.build_spec(ml.design("y ~ x + (1 + x | g)", _simulated(1000, 20)), "bernoulli")
    engine, reason = select_engine(large, "auto")
    assert engine.name == "inla"
    assert reason == (
        "auto: nested Laplace, 20,000 rows: NUTS would take minutes; nested Laplace (INLA) "
        "with the bernoulli family; method='nuts' for MCMC"
    )
    # binary responses with few rows per level: the approximation is known to be poor there
    few = ml.build_spec(ml.design("y ~ x + (1 + x | g)", _simulated(2000, 10)), "bernoulli")
    engine, reason = select_engine(few, "auto")
    assert engine.name == "nuts"
    assert reason.startswith(
        "auto: binary responses with 10.0 rows per level of g on average: the nested Laplace "
        "would underestimate the SDs, so NUTS, which takes minutes at 20,000 rows "
        "(method='inla' for the fast approximation); bernoulli family"
    )
    counts = ml.build_spec(
        ml.design("y ~ x + (1 + x | g)", _simulated(2000, 10, family="negbinomial")), "poisson"
    )
    assert select_engine(counts, "auto")[0].name == "inla"  # counts: no such bias
    gaussian = ml.build_spec(
        ml.design("y ~ x + (1 | g)", _simulated(2000, 10).assign(y=lambda d: d["x"])), "gaussian"
    )
    assert select_engine(gaussian, "auto")[0].name == "gaussian"


def test_draws_too_large_for_memory_are_refused_before_any_work(monkeypatch):
    from multilevel.engines import inla

    room = 2 * 8 * 15 * 2 * 3  # twice 8 bytes x 15 herds x 2 chains x 3 draws
    monkeypatch.setattr(inla, "available_memory", lambda: room)
    with pytest.raises(EngineError, match=r"draws=3 with chains=2 fits\), or use method='laplace'"):
        ml.fit(CBPP, ml.datasets.load("cbpp"), family="binomial", seed=1, **SMALL)
    monkeypatch.setattr(inla, "available_memory", lambda: None)  # unknown: no refusal
    inla._check_memory(
        ml.build_spec(ml.design(CBPP, ml.datasets.load("cbpp"), family="binomial"), "binomial"),
        inla.SamplerSettings(chains=2, draws=300),
    )
