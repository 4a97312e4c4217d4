"""Empirical Bayes against a general-purpose optimizer of the directly summed likelihood."""

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats
from scipy.special import betaln, gammaln

import multilevel as ml


def _maximise(negloglik, x0):
    res = optimize.minimize(
        negloglik, x0, method="Powell", options={"xtol": 1e-10, "ftol": 1e-13, "maxfev": 40000}
    )
    return res.x


def test_beta_binomial_eb_matches_optimizer():
    cbpp = ml.datasets.load("cbpp")
    fit = ml.fit_conjugate(
        cbpp, likelihood="binomial", group="herd", successes="incidence", trials="size", hyper="eb"
    )
    totals = cbpp.groupby("herd")[["incidence", "size"]].sum()

    def nll(x):  # parameterised directly in (alpha, beta), bounded away from 0
        a, b = np.abs(x) + 1e-9
        s, n = totals.incidence.to_numpy(), totals["size"].to_numpy()
        return -np.sum(betaln(a + s, b + n - s) - betaln(a, b))

    a, b = np.abs(_maximise(nll, [1.0, 10.0]))
    assert fit.hyper().loc["alpha", "mean"] == pytest.approx(a, rel=1e-4)
    assert fit.hyper().loc["beta", "mean"] == pytest.approx(b, rel=1e-4)
    # group posteriors are the conjugate Beta at the estimate
    groups = fit.groups()
    totals = totals.loc[groups.index]  # herd labels "1".."15" sort numerically
    np.testing.assert_allclose(
        groups["mean"], (a + totals.incidence) / (a + b + totals["size"]), rtol=1e-4
    )
    assert fit.treatment == "eb" and "empirical Bayes" in fit.reason


def test_normal_known_eb_matches_optimizer():
    rng = np.random.default_rng(7)
    se = rng.uniform(0.5, 2.0, 40)
    y = rng.normal(1.0 + rng.normal(0, 1.3, 40), se)
    data = pd.DataFrame({"g": np.arange(40), "y": y, "se": se})
    fit = ml.fit_conjugate(data, likelihood="normal", group="g", y="y", se="se", hyper="eb")

    def nll(x):
        mu, tau = x[0], abs(x[1])
        return -stats.norm.logpdf(y, mu, np.sqrt(tau**2 + se**2)).sum()

    mu, tau = _maximise(nll, [0.0, 1.0])
    assert fit.hyper().loc["mu", "mean"] == pytest.approx(mu, rel=1e-4)
    assert fit.hyper().loc["tau", "mean"] == pytest.approx(abs(tau), rel=1e-4)
    # standard error of mu: inverse observed information of (mu, tau) at the MLE, with the
    # second derivatives written out analytically
    tau = abs(tau)
    v = tau**2 + se**2
    r = y - mu
    d_mu_mu = np.sum(1 / v)
    d_mu_tau = np.sum(2 * tau * r / v**2)
    d_tau_tau = np.sum((v - 2 * tau**2) / v**2 - r**2 * (v - 4 * tau**2) / v**3)
    info = np.array([[d_mu_mu, d_mu_tau], [d_mu_tau, d_tau_tau]])
    se_mu, se_tau = np.sqrt(np.diag(np.linalg.inv(info)))
    assert fit.hyper().loc["mu", "sd"] == pytest.approx(se_mu, rel=1e-3)
    assert fit.hyper().loc["tau", "sd"] == pytest.approx(se_tau, rel=1e-3)


def test_gamma_poisson_eb_matches_optimizer():
    ins = ml.datasets.load("insurance")
    fit = ml.fit_conjugate(
        ins, likelihood="poisson", group="District", counts="Claims", exposure="Holders", hyper="eb"
    )
    tot = ins.groupby("District")[["Claims", "Holders"]].sum()

    def nll(x):
        a, b = np.abs(x) + 1e-12
        y, e = tot.Claims.to_numpy(), tot.Holders.to_numpy()
        return -np.sum(gammaln(a + y) - gammaln(a) + a * np.log(b) - (a + y) * np.log(b + e))

    est = fit.hyper()["mean"]
    a, b = np.abs(_maximise(nll, [est["alpha"] * 0.7, est["beta"] * 1.3]))
    assert est["alpha"] == pytest.approx(a, rel=1e-3)
    assert est["beta"] == pytest.approx(b, rel=1e-3)


def test_eb_boundary_is_reported():
    # groups agree more than sampling noise allows: the MLE of tau is 0
    data = pd.DataFrame({"g": list("abcd"), "y": [1.0, 1.1, 0.9, 1.0], "se": [1.0] * 4})
    with pytest.warns(ml.DataWarning, match="tau"):
        fit = ml.fit_conjugate(data, likelihood="normal", group="g", y="y", se="se", hyper="eb")
    assert fit.hyper().loc["tau", "mean"] < 1e-6
    np.testing.assert_allclose(fit.groups()["shrinkage"], 1.0, atol=1e-6)
