"""The data that SBC simulates follow the model: closed-form prior-predictive moments, the
brms convention of the default intercept prior, LKJ marginals, valid responses, seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from multilevel.calibration import simulate
from multilevel.calibration._lkj import lkj_cholesky
from multilevel.calibration._seeds import simulation_seeds
from multilevel.calibration._simulate import MAX_ATTEMPTS, draw_truth, simulate_once
from multilevel.errors import EngineError
from multilevel.fit import _spec

#: Each z-score below is checked against 5: with the ~100 scores of this file, a correct
#: simulator fails with probability about 100 * 6e-7 (normal tails; the KS checks use p > 1e-4).
Z = 5.0


def _grouped(rows=5, levels=8, seed=0):
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({"g": np.repeat(np.arange(levels), rows)})
    data["x"] = rng.uniform(-2, 2, len(data))
    data["y"] = rng.normal(size=len(data))
    return data


def _z(sample, expected):
    """z-score of the mean of ``sample`` against ``expected``."""
    sample = np.asarray(sample, dtype=float)
    return (sample.mean(axis=0) - expected) / (sample.std(axis=0, ddof=1) / np.sqrt(len(sample)))


def test_gaussian_prior_predictive_moments_match_the_closed_form():
    # y_i = b0 + b1 x_i + r_g[i] + e_i with b0 ~ N(1, 0.5), b1 ~ N(0, 0.3), the SD of r
    # half-normal(0.8) and sigma half-normal(0.6): E y_i = 1, and since E sd^2 = 0.8^2 for a
    # half-normal, Var y_i = 0.5^2 + 0.3^2 x_i^2 + 0.8^2 + 0.6^2,
    # Cov(y_i, y_j) = 0.5^2 + 0.3^2 x_i x_j (+ 0.8^2 in the same group).
    data = _grouped()
    priors = {
        "Intercept": "normal(1, 0.5)",
        "b": "normal(0, 0.3)",
        "sd": "normal(0, 0.8)",
        "sigma": "normal(0, 0.6)",
    }
    sims = simulate("y ~ 1 + x + (1 | g)", data, priors=priors, n_sims=3000, seed=2)
    y = np.stack([s.y for s in sims])
    x = data["x"].to_numpy()
    assert np.max(np.abs(_z(y, 1.0))) < Z
    centred = y - 1.0
    variance = 0.25 + 0.09 * x**2 + 0.64 + 0.36
    assert np.max(np.abs(_z(centred**2, variance))) < Z
    same, other = (0, 1), (0, 5)  # rows 0 and 1 share group 0; row 5 is in group 1
    for (i, j), extra in ((same, 0.64), (other, 0.0)):
        covariance = 0.25 + 0.09 * x[i] * x[j] + extra
        assert abs(_z(centred[:, i] * centred[:, j], covariance)) < Z
    truth = pd.DataFrame([s.truth for s in sims])
    assert stats.kstest(truth["b_Intercept"], stats.norm(1, 0.5).cdf).pvalue > 1e-4
    assert stats.kstest(truth["sd_g__Intercept"], stats.halfnorm(0, 0.8).cdf).pvalue > 1e-4
    # the group effects are N(0, sd^2) given their sd
    z = truth["r_g[3,Intercept]"] / truth["sd_g__Intercept"]
    assert stats.kstest(z, stats.norm.cdf).pvalue > 1e-4


def test_the_default_intercept_prior_is_on_the_intercept_of_centred_predictors():
    # brms: the data-scaled default Intercept prior is on b_Intercept + mean(x) b_x
    data = _grouped(rows=6, levels=10)
    data["x"] += 20.0  # far from 0: the two intercepts differ a lot
    spec = _spec("y ~ 1 + x + (1 | g)", data, "gaussian", None)
    assert spec.centred_intercept_prior
    prior = spec.priors["b_Intercept"]
    nu, loc, scale = prior.params
    sims = simulate("y ~ 1 + x + (1 | g)", data, n_sims=2000, seed=4)
    truth = pd.DataFrame([s.truth for s in sims])
    centred = truth["b_Intercept"] + data["x"].mean() * truth["b_x"]
    assert stats.kstest(centred, stats.t(nu, loc, scale).cdf).pvalue > 1e-4
    assert stats.kstest(truth["b_Intercept"], stats.t(nu, loc, scale).cdf).pvalue < 1e-6


@pytest.mark.parametrize("eta", [0.5, 1.0, 4.0])
def test_lkj_correlation_in_two_dimensions_is_a_scaled_beta(eta):
    rng = np.random.default_rng(int(eta * 10))
    r = np.array([lkj_cholesky(2, eta, rng)[1, 0] for _ in range(4000)])
    assert stats.kstest((r + 1) / 2, stats.beta(eta, eta).cdf).pvalue > 1e-4


def test_lkj_marginals_in_four_dimensions():
    # every correlation of LKJ(eta) in dimension d is 2 Beta(b, b) - 1, b = eta - 1 + d / 2
    rng = np.random.default_rng(7)
    d, eta = 4, 2.0
    omegas = np.array([(lambda L: L @ L.T)(lkj_cholesky(d, eta, rng)) for _ in range(3000)])
    assert np.allclose(np.diagonal(omegas, axis1=1, axis2=2), 1.0)
    b = eta - 1 + d / 2
    for i, j in ((0, 1), (0, 3), (2, 3)):
        assert stats.kstest((omegas[:, i, j] + 1) / 2, stats.beta(b, b).cdf).pvalue > 1e-4


def test_a_correlated_block_draws_its_correlation_from_its_lkj_prior():
    data = _grouped(rows=4, levels=6)
    sims = simulate("y ~ 1 + x + (1 + x | g)", data, priors={"cor": "lkj(3)"}, n_sims=1500, seed=5)
    cor = np.array([s.truth["cor_g__Intercept__x"] for s in sims])
    assert stats.kstest((cor + 1) / 2, stats.beta(3, 3).cdf).pvalue > 1e-4
    # and the block's effects have that correlation: corr(r_1 / sd_1, r_2 / sd_2) = cor
    truth = pd.DataFrame([s.truth for s in sims])
    u = truth["r_g[0,Intercept]"] / truth["sd_g__Intercept"]
    v = truth["r_g[0,x]"] / truth["sd_g__x"]
    assert abs(_z(u * v - cor, 0.0)) < Z  # E[uv | cor] = cor


def test_binomial_and_count_responses_are_valid_and_use_the_trials():
    data = _grouped()
    data["n"] = np.arange(len(data)) % 7 + 1
    data["k"] = 0
    sims = simulate("k | trials(n) ~ 1 + (1 | g)", data, family="binomial", n_sims=1000, seed=1)
    for s in sims:
        assert np.all((s.y >= 0) & (s.y <= data["n"]) & (s.y == np.round(s.y)))
        assert np.ptp(s.y) > 0
    # E[k_i / n_i] over the prior is the same for every row: compare rows of 1 and 7 trials
    share = np.stack([s.y / data["n"].to_numpy() for s in sims])
    assert abs(share[:, 0].mean() - share[:, 6].mean()) < 0.1


def test_invalid_responses_are_redrawn_and_counted():
    # logit 4: P(y = 1) = 0.982 per row, so 40 rows are all ones about half the time
    data = _grouped()
    data["b"] = np.arange(len(data)) % 2
    priors = {"Intercept": "normal(4, 0.01)", "sd": "normal(0, 0.01)"}
    sims = simulate("b ~ 1 + (1 | g)", data, family="bernoulli", priors=priors, n_sims=40, seed=3)
    redraws = np.array([s.redraws for s in sims])
    assert all(np.ptp(s.y) > 0 for s in sims)
    assert 10 < redraws.sum() < 120  # about 40 expected (geometric, mean 0.93 per simulation)


def test_priors_that_never_give_valid_data_are_an_error():
    data = _grouped()
    data["b"] = np.arange(len(data)) % 2
    priors = {"Intercept": "normal(40, 0.01)", "sd": "normal(0, 0.01)"}
    with pytest.raises(EngineError, match=f"{MAX_ATTEMPTS} draws from the priors"):
        simulate("b ~ 1 + (1 | g)", data, family="bernoulli", priors=priors, seed=1)


def test_known_se_is_the_residual_sd_and_a_sigma_formula_is_simulated():
    data = _grouped()
    data["s"] = np.where(np.arange(len(data)) < 20, 0.01, 3.0)
    spec = _spec("y | se(s) ~ 1 + (1 | g)", data, "gaussian", {"sd": "normal(0, 0.01)"})
    truth, y, _ = simulate_once(spec, np.random.default_rng(0))
    residual = y - truth.eta
    assert np.all(np.abs(residual[:20]) < 0.06) and np.std(residual[20:]) > 1.0
    # sigma ~ 1 + x: log sigma_i = b_sigma_Intercept + b_sigma_x x_i
    spec = _spec("y ~ 1 + (1 | g)", data, "gaussian", None, dpars={"sigma": "sigma ~ 1 + x"})
    truth = draw_truth(spec, np.random.default_rng(1))
    v = truth.values
    expected = np.exp(v["b_sigma_Intercept"] + v["b_sigma_x"] * data["x"].to_numpy())
    assert np.allclose(truth.aux["sigma"], expected)


def test_the_same_seed_gives_the_same_data_and_simulations_do_not_depend_on_their_number():
    data = _grouped()
    a = simulate("y ~ 1 + x + (1 | g)", data, n_sims=3, seed=9)
    b = simulate("y ~ 1 + x + (1 | g)", data, n_sims=5, seed=9)
    c = simulate("y ~ 1 + x + (1 | g)", data, n_sims=3, seed=10)
    for s, t in zip(a, b[:3], strict=True):
        assert np.array_equal(s.y, t.y) and s.truth.equals(t.truth)
    assert not np.array_equal(a[0].y, c[0].y)
    assert a[0].data["y"].to_numpy().tolist() == a[0].y.tolist()
    entropy, seeds = simulation_seeds(None, 2)
    assert isinstance(entropy, int) and len({fit for _, fit in seeds}) == 2


def test_a_transformed_response_gives_no_data_frame():
    data = _grouped()
    data["y"] = np.exp(data["y"])
    (sim,) = simulate("log(y) ~ 1 + (1 | g)", data, seed=1)
    assert sim.data is None and sim.y.shape == (40,)


def test_simulate_rejects_bad_arguments():
    data = _grouped()
    with pytest.raises(EngineError, match="n_sims"):
        simulate("y ~ 1 + (1 | g)", data, n_sims=0)
    with pytest.raises(EngineError, match="seed"):
        simulate("y ~ 1 + (1 | g)", data, seed=-1)
