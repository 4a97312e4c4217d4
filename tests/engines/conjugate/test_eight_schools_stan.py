"""Eight schools: the exact posterior against posteriordb's Stan reference draws.

Agreement rule (tests/reference/README.md): |mean - ref| <= 0.1 ref sd + 3 ref MCSE and the
posterior SD within 10%. The exact answer has no Monte Carlo error of its own.
"""

import numpy as np
import pytest

import multilevel as ml
from multilevel.engines.conjugate import quadrature

PRIORS = {"mu": "normal(0, 5)", "tau": "cauchy(0, 5)"}


@pytest.fixture(scope="module")
def fit():
    data = ml.datasets.load("eight_schools")
    return ml.fit_conjugate(
        data, likelihood="normal", group="school", y="y", se="sigma", priors=PRIORS
    )


def _agree(mean, sd, ref):
    assert abs(mean - ref["mean"]) <= 0.1 * ref["sd"] + 3 * ref["mcse_mean"], (mean, ref)
    assert abs(sd / ref["sd"] - 1) <= 0.10, (sd, ref)


@pytest.mark.parametrize("name", ["mu", "tau"])
def test_hyperparameters_match_stan(fit, stan_reference, name):
    ref = stan_reference("eight_schools")[name]
    row = fit.hyper().loc[name]
    _agree(row["mean"], row["sd"], ref)
    # quantiles too: within 3 MCSE of Stan's quantile estimates plus 0.05 sd
    for q, col in (("q05", "q5"), ("q95", "q95")):
        tol = 0.05 * ref["sd"] + 3 * ref[f"mcse_{q}"]
        assert abs(row[col] - ref[q]) <= tol, (name, col, row[col], ref[q])


def test_every_school_matches_stan(fit, stan_reference):
    refs = stan_reference("eight_schools")
    groups = fit.groups()
    for j, school in enumerate(groups.index, start=1):
        _agree(groups.loc[school, "mean"], groups.loc[school, "sd"], refs[f"theta[{j}]"])


def test_grid_is_converged(fit):
    # halving the quadrature step must not move the answer: refit with a finer start
    post = fit.hyper_posterior
    assert post.kind == "bayes" and post.weights.sum() == pytest.approx(1.0)
    edge = post.weights[post.edge_points()].max() / post.weights.max()
    assert edge <= 1.01 * np.exp(-quadrature.EDGE_DROP)
    old = quadrature.START_STEP
    try:
        quadrature.START_STEP = post.cell / 2
        finer = ml.fit_conjugate(
            ml.datasets.load("eight_schools"),
            likelihood="normal",
            group="school",
            y="y",
            se="sigma",
            priors=PRIORS,
        )
    finally:
        quadrature.START_STEP = old
    np.testing.assert_allclose(finer.hyper()["mean"], fit.hyper()["mean"], rtol=1e-3)
    np.testing.assert_allclose(finer.groups()["sd"], fit.groups()["sd"], rtol=1e-3)
