"""Recovery of simulated truth: hyperparameters and the coverage of group intervals.

Data are simulated from each chain with known hyperparameters; the posterior must cover the
truth, and the 90% intervals of the group parameters must cover about 90% of the true group
parameters (checked against the binomial spread of a coverage over G groups).
"""

import zlib

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import multilevel as ml

G = 300


def _simulate(chain, rng):
    if chain == "normal_known":
        truth = {"mu": 2.0, "tau": 1.5}
        theta = rng.normal(2.0, 1.5, G)
        se = rng.uniform(0.5, 3.0, G)
        data = pd.DataFrame({"g": np.arange(G), "y": rng.normal(theta, se), "se": se})
        return truth, theta, data, dict(likelihood="normal", y="y", se="se")
    if chain == "normal":
        truth = {"mu": -1.0, "tau": 0.8, "sigma": 2.0}
        theta = rng.normal(-1.0, 0.8, G)
        n = rng.integers(1, 12, G)
        g = np.repeat(np.arange(G), n)
        data = pd.DataFrame({"g": g, "y": rng.normal(theta[g], 2.0)})
        return truth, theta, data, dict(likelihood="normal", y="y")
    if chain == "binomial":
        truth = {"alpha": 3.0, "beta": 12.0}
        theta = rng.beta(3.0, 12.0, G)
        n = rng.integers(1, 60, G)
        data = pd.DataFrame({"g": np.arange(G), "s": rng.binomial(n, theta), "n": n})
        return truth, theta, data, dict(likelihood="binomial", successes="s", trials="n")
    if chain == "poisson":
        truth = {"alpha": 4.0, "beta": 2.0}
        theta = rng.gamma(4.0, 1 / 2.0, G)
        e = rng.uniform(0.2, 5.0, G)
        data = pd.DataFrame({"g": np.arange(G), "y": rng.poisson(theta * e), "e": e})
        return truth, theta, data, dict(likelihood="poisson", counts="y", exposure="e")
    truth = {"alpha": 6.0, "beta": 3.0}  # gamma: rates of gamma(shape 2.5) measurements
    theta = rng.gamma(6.0, 1 / 3.0, G)
    n = rng.integers(1, 8, G)
    g = np.repeat(np.arange(G), n)
    data = pd.DataFrame({"g": g, "y": rng.gamma(2.5, 1 / theta[g])})
    return truth, theta, data, dict(likelihood="gamma", y="y", shape=2.5)


@pytest.mark.parametrize("chain", ["normal_known", "normal", "binomial", "poisson", "gamma"])
@pytest.mark.parametrize("hyper", ["bayes", "eb"])
def test_recovers_simulated_truth(chain, hyper):
    rng = np.random.default_rng(zlib.crc32(f"{chain}-{hyper}".encode()))
    truth, theta, data, kwargs = _simulate(chain, rng)
    fit = ml.fit_conjugate(data, group="g", hyper=hyper, **kwargs)
    table = fit.hyper()
    for name, value in truth.items():
        row = table.loc[name]
        assert abs(row["mean"] - value) < 4.5 * row["sd"], (name, row.to_dict(), value)
    groups = fit.groups()
    covered = np.mean((groups["q5"] <= theta) & (theta <= groups["q95"]))
    spread = stats.binom(G, 0.9)
    lo, hi = spread.ppf(0.0005) / G, spread.ppf(0.9995) / G
    assert lo <= covered <= hi, covered
    # partial pooling beats no pooling on average (the point of the model)
    pooled = np.mean((groups["mean"] - theta) ** 2)
    own = np.mean((groups["estimate"] - theta) ** 2)
    assert pooled < own
