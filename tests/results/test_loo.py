"""``Fit.loo``: PSIS-LOO against exact leave-one-out predictive densities in closed form."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

import multilevel as ml
from _fitted import fake_fit, small_fit
from multilevel.posterior import Posterior
from multilevel.results.arviz_bridge import (
    effective_parameters,
    elpd,
    elpd_pointwise,
    is_arviz_1,
)
from multilevel.results.fit import Fit

N = 20


def _exact_posterior_fit(y: np.ndarray, seed: int = 11) -> Fit:
    """``y ~ 1`` (gaussian) with independent draws from the exact posterior under the
    Jeffreys prior p(mu, sigma^2) ~ 1 / sigma^2: sigma^2 ~ Inv-Gamma((n - 1) / 2, SS / 2),
    mu | sigma^2 ~ N(ybar, sigma^2 / n)."""
    rng = np.random.default_rng(seed)
    n = len(y)
    ss = np.sum((y - y.mean()) ** 2)
    sigma2 = ss / 2 / rng.gamma((n - 1) / 2, size=(4, 1000))
    mu = rng.normal(y.mean(), np.sqrt(sigma2 / n))
    log_lik = stats.norm.logpdf(y, mu[..., None], np.sqrt(sigma2)[..., None])
    spec = fake_fit("y ~ 1", pd.DataFrame({"y": y})).spec
    posterior = Posterior(
        draws={"b_Intercept": mu, "sigma": np.sqrt(sigma2)},
        sample_stats={"lp": np.zeros(mu.shape)},
        engine="exact",
        log_likelihood=log_lik,
    )
    return Fit(spec, posterior)


def _exact_loo(y: np.ndarray) -> np.ndarray:
    """log p(y_i | y_-i): Student t with m - 1 df, location ybar_-i, scale s_-i sqrt(1 + 1/m)."""
    out = []
    m = len(y) - 1
    for i in range(len(y)):
        rest = np.delete(y, i)
        scale = rest.std(ddof=1) * np.sqrt(1 + 1 / m)
        out.append(stats.t.logpdf(y[i], m - 1, rest.mean(), scale))
    return np.array(out)


def test_psis_loo_matches_the_exact_leave_one_out_density():
    y = np.random.default_rng(3).normal(1.0, 1.0, N)
    fit = _exact_posterior_fit(y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ml.ConvergenceWarning)
        result = fit.loo()
    exact = _exact_loo(y)
    np.testing.assert_allclose(elpd_pointwise(result), exact, atol=0.05)
    assert abs(elpd(result) - exact.sum()) < 0.15
    assert result["n_data_points"] == N and result["n_samples"] == 4000
    assert np.all(np.asarray(result["pareto_k"]) < result["good_k"])
    # p_loo = lppd - elpd_loo: 2 parameters
    assert 1.5 < effective_parameters(result) < 3.5
    summary_only = fit.loo(pointwise=False)
    assert summary_only["pareto_k"] is None if is_arviz_1() else "loo_i" not in summary_only
    assert elpd(summary_only) == elpd(result)


def test_an_influential_outlier_warns_and_is_still_nearer_exact_than_in_sample():
    y = np.random.default_rng(3).normal(1.0, 1.0, N)
    y[0] = 5.5
    fit = _exact_posterior_fit(y)
    with pytest.warns(ml.ConvergenceWarning, match=r"Pareto k above .* worst 0 \(k = "):
        result = fit.loo()
    exact = _exact_loo(y)
    in_sample = np.log(np.mean(np.exp(fit.posterior.log_likelihood[..., 0])))
    assert abs(in_sample - exact[0]) > 2
    assert abs(elpd_pointwise(result)[0] - exact[0]) < 0.5
    np.testing.assert_allclose(elpd_pointwise(result)[1:], exact[1:], atol=0.05)


def test_loo_without_log_likelihood_explains_what_to_do():
    fit = fake_fit("y ~ 1", pd.DataFrame({"y": np.arange(5.0)}))
    with pytest.raises(ml.DataError, match="no pointwise log-likelihood"):
        fit.loo()


def test_loo_of_a_nuts_fit_agrees_with_waic():
    fit = small_fit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit.loo()
    assert elpd_pointwise(result).shape == (fit.spec.design.n,)
    loglik = fit.posterior.log_likelihood.astype(float).reshape(-1, fit.spec.design.n)
    lppd = special.logsumexp(loglik, axis=0, b=1 / len(loglik)).sum()
    # WAIC (Watanabe 2010; Vehtari, Gelman & Gabry 2017, eq. 11-12)
    waic = lppd - loglik.var(axis=0, ddof=1).sum()
    assert elpd(result) < lppd
    assert abs(elpd(result) - waic) < 1.0
