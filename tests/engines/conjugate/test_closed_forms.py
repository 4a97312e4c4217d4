"""Fixed hyperparameters: every group posterior and predictive is a textbook closed form."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import multilevel as ml

RNG = np.random.default_rng(1)


def _check(table, dist):
    np.testing.assert_allclose(table["mean"], dist.mean(), rtol=1e-10)
    np.testing.assert_allclose(table["sd"], dist.std(), rtol=1e-10)
    np.testing.assert_allclose(table["q5"], dist.ppf(0.05), rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(table["q95"], dist.ppf(0.95), rtol=1e-7, atol=1e-12)


def test_binomial_fixed_is_beta_posterior():
    data = pd.DataFrame({"g": list("abcd"), "s": [0, 3, 10, 40], "n": [5, 10, 50, 41]})
    fit = ml.fit_conjugate(
        data,
        likelihood="binomial",
        group="g",
        successes="s",
        trials="n",
        hyper={"alpha": 2.0, "beta": 5.0},
    )
    table = fit.groups()
    _check(table, stats.beta(2 + data.s, 5 + data.n - data.s))
    np.testing.assert_allclose(table["shrinkage"], 7 / (7 + data.n))
    assert fit.treatment == "fixed" and "do not inform each other" in fit.reason
    # predictive of 10 new trials in each group is beta-binomial
    pred = fit.predict(trials=10)
    np.testing.assert_allclose(pred["mean"], 10 * (2 + data.s) / (7 + data.n), rtol=1e-10)
    bb = stats.betabinom(10, 2 + data.s, 5 + data.n - data.s)
    np.testing.assert_array_equal(pred["q95"], bb.ppf(0.95))
    new = fit.new_group(trials=20).loc["summary"]
    assert new["mean"] == pytest.approx(20 * 2 / 7)
    assert new["q95"] == stats.betabinom(20, 2, 5).ppf(0.95)


def test_fixed_hyperparameters_mean_no_pooling_between_groups():
    data = pd.DataFrame({"g": list("abc"), "s": [1, 2, 30], "n": [10, 10, 40]})
    one = ml.fit_conjugate(
        data,
        likelihood="binomial",
        group="g",
        successes="s",
        trials="n",
        hyper={"alpha": 1.0, "beta": 1.0},
    ).groups()
    changed = data.assign(s=[1, 2, 0])  # a different third group leaves the others untouched
    two = ml.fit_conjugate(
        changed,
        likelihood="binomial",
        group="g",
        successes="s",
        trials="n",
        hyper={"alpha": 1.0, "beta": 1.0},
    ).groups()
    pd.testing.assert_frame_equal(one.loc[["a", "b"]], two.loc[["a", "b"]])


def test_normal_known_se_fixed():
    y, se = np.array([28.0, 8, -3, 7]), np.array([15.0, 10, 16, 11])
    data = pd.DataFrame({"g": list("abcd"), "y": y, "se": se})
    fit = ml.fit_conjugate(
        data, likelihood="normal", group="g", y="y", se="se", hyper={"mu": 5.0, "tau": 4.0}
    )
    post_var = 1 / (1 / 16 + 1 / se**2)
    post_mean = post_var * (5 / 16 + y / se**2)
    _check(fit.groups(), stats.norm(post_mean, np.sqrt(post_var)))
    np.testing.assert_allclose(fit.groups()["shrinkage"], se**2 / (se**2 + 16))
    pred = fit.predict()  # a new observation with the group's own SE
    np.testing.assert_allclose(pred["sd"], np.sqrt(post_var + se**2))


def test_normal_known_se_long_form_uses_precision_weighting():
    data = pd.DataFrame({"g": ["a", "a", "b"], "y": [1.0, 3.0, 0.0], "se": [1.0, 2.0, 1.0]})
    fit = ml.fit_conjugate(
        data, likelihood="normal", group="g", y="y", se="se", hyper={"mu": 0.0, "tau": 1.0}
    )
    v = 1 / (1 + 1 / 4)
    ybar = (1 + 3 / 4) * v
    post_var = 1 / (1 + 1 / v)
    assert fit.groups().loc["a", "mean"] == pytest.approx(post_var * ybar / v)
    assert fit.groups().loc["a", "estimate"] == pytest.approx(ybar)


def test_normal_unknown_sigma_fixed():
    data = pd.DataFrame({"g": np.repeat(["a", "b", "c"], [1, 4, 20]), "y": RNG.normal(size=25)})
    fit = ml.fit_conjugate(
        data, likelihood="normal", group="g", y="y", hyper={"mu": 0.5, "tau": 2.0, "sigma": 1.5}
    )
    grouped = data.groupby("g")["y"].agg(["mean", "count"])
    v = 1.5**2 / grouped["count"]
    post_var = 1 / (1 / 4 + 1 / v)
    _check(fit.groups(), stats.norm(post_var * (0.5 / 4 + grouped["mean"] / v), np.sqrt(post_var)))
    np.testing.assert_allclose(fit.predict()["sd"], np.sqrt(post_var + 1.5**2))


def test_poisson_fixed_is_gamma_posterior():
    data = pd.DataFrame({"g": list("abc"), "y": [0, 5, 50], "e": [0.5, 2.0, 10.0]})
    fit = ml.fit_conjugate(
        data,
        likelihood="poisson",
        group="g",
        counts="y",
        exposure="e",
        hyper={"alpha": 3.0, "beta": 2.0},
    )
    _check(fit.groups(), stats.gamma(3 + data.y, scale=1 / (2 + data.e)))
    np.testing.assert_allclose(fit.groups()["shrinkage"], 2 / (2 + data.e))
    pred = fit.predict(exposure=2.0)
    nb = stats.nbinom(3 + data.y, (2 + data.e) / (2 + data.e + 2.0))
    np.testing.assert_allclose(pred["mean"], nb.mean())
    np.testing.assert_array_equal(pred["q95"], nb.ppf(0.95))


def test_gamma_fixed_is_gamma_posterior():
    y = RNG.gamma(3.0, 1 / 2.0, size=12)
    data = pd.DataFrame({"g": np.repeat(list("abc"), [1, 3, 8]), "y": y})
    fit = ml.fit_conjugate(
        data, likelihood="gamma", group="g", y="y", shape=3.0, hyper={"alpha": 4.0, "beta": 2.0}
    )
    sums = data.groupby("g")["y"].agg(["sum", "count"])
    _check(fit.groups(), stats.gamma(4 + 3 * sums["count"], scale=1 / (2 + sums["sum"])))
    # a new measurement: y | rate ~ Gamma(3, rate), rate ~ posterior -> scaled beta-prime
    pred = fit.predict()
    bp = stats.betaprime(3, 4 + 3 * sums["count"], scale=2 + sums["sum"])
    np.testing.assert_allclose(pred["mean"], bp.mean(), rtol=1e-10)
    np.testing.assert_allclose(pred["q95"], bp.ppf(0.95), rtol=1e-7)


def test_long_form_equals_sufficient_statistics():
    rows = pd.DataFrame({"g": np.repeat(list("abcdefgh"), [3, 5, 7, 2, 4, 6, 3, 5])})
    rows["y"] = RNG.normal(size=len(rows)) + rows["g"].map(
        dict(zip("abcdefgh", RNG.normal(size=8), strict=True))
    )
    summary = rows.groupby("g")["y"].agg(["mean", "std", "count"]).reset_index()
    long = ml.fit_conjugate(
        rows,
        likelihood="normal",
        group="g",
        y="y",
        priors={"mu": "normal(0, 2)", "tau": "normal(0, 1)", "sigma": "normal(0, 1)"},
    )
    short = ml.fit_conjugate(
        summary,
        likelihood="normal",
        group="g",
        y="mean",
        n="count",
        sd="std",
        priors={"mu": "normal(0, 2)", "tau": "normal(0, 1)", "sigma": "normal(0, 1)"},
    )
    pd.testing.assert_frame_equal(long.hyper(), short.hyper(), rtol=1e-8)
    pd.testing.assert_frame_equal(long.groups(), short.groups(), rtol=1e-8)

    bern = pd.DataFrame({"g": np.repeat(list("ab"), [10, 6]), "s": RNG.integers(0, 2, 16)})
    bern["n"] = 1
    agg = bern.groupby("g")[["s", "n"]].sum().reset_index()
    kwargs = dict(
        likelihood="binomial",
        group="g",
        successes="s",
        trials="n",
        priors={"alpha": "gamma(2, 0.5)", "beta": "gamma(2, 0.5)"},
    )
    pd.testing.assert_frame_equal(
        ml.fit_conjugate(bern, **kwargs).groups(),
        ml.fit_conjugate(agg, **kwargs).groups(),
        rtol=1e-10,
    )


@pytest.mark.parametrize(
    ("dist", "reference", "x"),
    [
        ("Normal(1.0, 2.0)", stats.norm(1.0, 2.0), [-1.0, 0.5, 3.0]),
        ("Beta(2.5, 4.0)", stats.beta(2.5, 4.0), [0.1, 0.4, 0.9]),
        ("Gamma(3.0, 2.0)", stats.gamma(3.0, scale=0.5), [0.2, 1.0, 4.0]),
    ],
)
def test_light_distributions_match_scipy(dist, reference, x):
    from multilevel.engines.conjugate import _dists

    light = eval(dist, vars(_dists))
    x = np.array(x)
    for method in ("logpdf", "pdf", "cdf"):
        np.testing.assert_allclose(getattr(light, method)(x), getattr(reference, method)(x))
    np.testing.assert_allclose(light.ppf([0.05, 0.5]), reference.ppf([0.05, 0.5]))
    np.testing.assert_allclose([light.mean(), light.var()], [reference.mean(), reference.var()])


@pytest.mark.parametrize("likelihood", ["normal", "gamma"])
def test_loo_and_update_for_measurement_chains(likelihood):
    """elpd from the grid equals the ratio of evidences of two fits (normal and gamma)."""
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(12), rng.integers(2, 6, 12))
    rate = rng.gamma(5.0, 1.0, 12)
    y = rng.gamma(2.0, 1 / rate[g]) if likelihood == "gamma" else rng.normal(rate[g], 1.0)
    data = pd.DataFrame({"g": g, "y": y})
    kw = {"shape": 2.0} if likelihood == "gamma" else {}
    priors = (
        {"alpha": "lognormal(1.5, 1)", "beta": "lognormal(0, 1)"}
        if likelihood == "gamma"
        else {"mu": "normal(5, 5)", "tau": "normal(0, 3)", "sigma": "normal(0, 3)"}
    )
    fit = ml.fit_conjugate(data, likelihood=likelihood, group="g", y="y", priors=priors, **kw)
    without = ml.fit_conjugate(
        data[data.g != 3], likelihood=likelihood, group="g", y="y", priors=priors, **kw
    )
    expected = fit.hyper_posterior.log_evidence - without.hyper_posterior.log_evidence
    loo = fit.loo()
    assert loo.loc[3, "elpd"] == pytest.approx(expected, abs=3e-3)
    assert not loo.isna().any().any()  # infinite predictive variances are inf, not NaN
    updated = without.update_new_group(data[data.g == 3])
    assert updated.loc[3, "mean"] == pytest.approx(fit.groups().loc[3, "mean"], rel=2e-3)
    assert updated.loc[3, "sd"] == pytest.approx(fit.groups().loc[3, "sd"], rel=5e-3)


def test_gamma_poisson_marginal_is_stable_near_complete_pooling():
    """As alpha, beta -> infinity with alpha / beta = m, the marginal tends to Poisson(m E)."""
    from multilevel.engines.conjugate.poisson import GammaPoissonChain
    from multilevel.spec.conjugate import GroupStats

    rng = np.random.default_rng(2)
    e = rng.lognormal(0, 1, 200_000)
    y = rng.poisson(1.5 * e).astype(float)
    chain = GammaPoissonChain(GroupStats({"counts": y, "exposure": e}))
    alpha = 2e11
    total = chain.log_marginal_total(np.array([[alpha / 1.5, alpha]]))[0]
    expected = stats.poisson.logpmf(y, 1.5 * e).sum()
    assert total == pytest.approx(expected, rel=1e-9)
