"""Full Bayes against brute-force numerical integration of small cases.

The reference integrates BOTH the group parameters (numerically, not in closed form) and the
hyperparameters on dense fixed grids, so it checks the closed-form marginals, the adaptive
quadrature and the mixture summaries at once.
"""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import betaln, gammaln, log_expit, logsumexp

import multilevel as ml


def _hyper_grid(lo_hi, n=110):
    axes = [np.linspace(np.log(a), np.log(b), n) for a, b in lo_hi]
    za, zb = np.meshgrid(*axes, indexing="ij")
    return np.exp(za.ravel()), np.exp(zb.ravel())  # uniform in log space: Jacobian below


def _brute(log_prior, log_joint_group, param_grid, n_groups):
    """Posterior weights of hyper points and the group posterior means/SDs.

    log_joint_group(i) -> (H, P) log of p(x_i, param | hyper) on the param grid (including
    the param grid's quadrature weight).
    """
    logw = log_prior.copy()
    per_group = []
    for i in range(n_groups):
        lj = log_joint_group(i)
        lm = logsumexp(lj, axis=1)
        logw += lm
        per_group.append((lj, lm))
    w = np.exp(logw - logw.max())
    w /= w.sum()
    means, sds = [], []
    for lj, lm in per_group:
        cond = np.exp(lj - lm[:, None])  # p(param | x_i, hyper)
        grid = np.broadcast_to(param_grid, cond.shape)
        m1 = w @ np.sum(cond * grid, axis=1)
        m2 = w @ np.sum(cond * grid**2, axis=1)
        means.append(m1)
        sds.append(np.sqrt(m2 - m1**2))
    return w, np.array(means), np.array(sds)


def _summ(values, w):
    m = w @ values
    return m, np.sqrt(w @ (values - m) ** 2)


def test_beta_binomial_against_brute_force():
    data = pd.DataFrame({"g": list("abcd"), "s": [2, 7, 1, 12], "n": [15, 20, 9, 30]})
    priors = {"alpha": "lognormal(1, 1)", "beta": "lognormal(2, 1)"}
    fit = ml.fit_conjugate(
        data, likelihood="binomial", group="g", successes="s", trials="n", priors=priors
    )
    a, b = _hyper_grid([(0.01, 800), (0.05, 5000)])
    log_prior = (
        stats.lognorm(1, scale=np.e).logpdf(a)
        + np.log(a)
        + stats.lognorm(1, scale=np.e**2).logpdf(b)
        + np.log(b)
    )
    t = np.linspace(-40, 40, 1600)  # p = expit(t); dp = p (1 - p) dt
    log_p, log_q = log_expit(t), log_expit(-t)
    p = np.exp(log_p)
    log_dp = log_p + log_q + np.log(t[1] - t[0])
    norm = betaln(a, b)[:, None]

    def joint(i):
        s, n = data.s[i], data.n[i]
        prior_p = (a[:, None] - 1) * log_p + (b[:, None] - 1) * log_q - norm
        binom = gammaln(n + 1) - gammaln(s + 1) - gammaln(n - s + 1) + s * log_p + (n - s) * log_q
        return prior_p + (binom + log_dp)[None, :]

    w, means, sds = _brute(log_prior, joint, p, 4)
    hyper = fit.hyper()
    for name, values in (("alpha", a), ("beta", b)):
        m, sd = _summ(values, w)
        assert hyper.loc[name, "mean"] == pytest.approx(m, rel=2e-3)
        assert hyper.loc[name, "sd"] == pytest.approx(sd, rel=5e-3)
    groups = fit.groups()
    np.testing.assert_allclose(groups["mean"], means, rtol=1e-4)
    np.testing.assert_allclose(groups["sd"], sds, rtol=1e-3)


def test_normal_known_se_against_brute_force():
    data = pd.DataFrame(
        {"g": list("abcde"), "y": [12.0, -4.0, 3.0, 20.0, 7.0], "se": [8.0, 10.0, 6.0, 12.0, 9.0]}
    )
    fit = ml.fit_conjugate(
        data,
        likelihood="normal",
        group="g",
        y="y",
        se="se",
        priors={"mu": "normal(5, 10)", "tau": "normal(0, 10)"},
    )
    mu = np.linspace(-45, 55, 120)
    tau = np.exp(np.linspace(np.log(1e-3), np.log(150), 130))
    M, T = (x.ravel() for x in np.meshgrid(mu, tau, indexing="ij"))
    log_prior = stats.norm(5, 10).logpdf(M) + stats.norm(0, 10).logpdf(T) + np.log(T)
    # theta on a grid scaled to each hyper point's prior N(mu, tau): theta = mu + tau * t
    t = np.linspace(-9, 9, 1000)
    theta = M[:, None] + T[:, None] * t[None, :]
    log_prior_theta = stats.norm.logpdf(t) + np.log(t[1] - t[0])  # includes the Jacobian

    def joint(i):
        like = -0.5 * ((data.y[i] - theta) / data.se[i]) ** 2 - np.log(
            data.se[i] * np.sqrt(2 * np.pi)
        )
        return log_prior_theta[None, :] + like

    w, means, sds = _brute(log_prior, joint, theta, 5)
    for name, values in (("mu", M), ("tau", T)):
        m, sd = _summ(values, w)
        assert fit.hyper().loc[name, "mean"] == pytest.approx(m, rel=3e-3, abs=1e-3)
        assert fit.hyper().loc[name, "sd"] == pytest.approx(sd, rel=5e-3)
    np.testing.assert_allclose(fit.groups()["mean"], means, rtol=3e-3, atol=2e-3)
    np.testing.assert_allclose(fit.groups()["sd"], sds, rtol=3e-3)


def test_gamma_poisson_against_brute_force():
    data = pd.DataFrame({"g": list("abc"), "y": [3, 11, 0], "e": [2.0, 4.0, 1.5]})
    priors = {"alpha": "lognormal(0.5, 1)", "beta": "lognormal(0, 1)"}
    fit = ml.fit_conjugate(
        data, likelihood="poisson", group="g", counts="y", exposure="e", priors=priors
    )
    a, b = _hyper_grid([(0.005, 400), (0.002, 300)])
    log_prior = (
        stats.lognorm(1, scale=np.exp(0.5)).logpdf(a)
        + np.log(a)
        + stats.lognorm(1).logpdf(b)
        + np.log(b)
    )
    log_rate = np.linspace(-25, 6, 1500)
    rate = np.exp(log_rate)
    log_d = log_rate + np.log(log_rate[1] - log_rate[0])
    prior = (
        a[:, None] * np.log(b[:, None])
        - gammaln(a[:, None])
        + (a[:, None] - 1) * log_rate[None, :]
        - b[:, None] * rate[None, :]
    )

    def joint(i):
        y, e = data.y[i], data.e[i]
        like = y * np.log(rate * e) - rate * e - gammaln(y + 1)
        return prior + (like + log_d)[None, :]

    w, means, sds = _brute(log_prior, joint, rate, 3)
    for name, values in (("alpha", a), ("beta", b)):
        m, sd = _summ(values, w)
        assert fit.hyper().loc[name, "mean"] == pytest.approx(m, rel=3e-3)
        assert fit.hyper().loc[name, "sd"] == pytest.approx(sd, rel=1e-2)
    np.testing.assert_allclose(fit.groups()["mean"], means, rtol=1e-3)
    np.testing.assert_allclose(fit.groups()["sd"], sds, rtol=3e-3)
