"""The shortcuts taken for many groups stay within their stated error.

- intervals from the moment-matched conjugate family when hyperparameter uncertainty adds
  < 1% of a group's variance, versus the exact mixture quantiles;
- group mixtures over a coarsened grid, versus the full grid.
"""

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.engines.conjugate.mixture import mixture_quantiles
from multilevel.results import conjugate as results


@pytest.fixture(scope="module")
def fit():
    rng = np.random.default_rng(11)
    n = np.maximum(1, np.round(rng.lognormal(np.log(20), 1.2, 4000))).astype(int)
    data = pd.DataFrame({"g": np.arange(4000), "s": rng.binomial(n, rng.beta(2, 30, 4000)), "n": n})
    return ml.fit_conjugate(data, likelihood="binomial", group="g", successes="s", trials="n")


def test_moment_matched_intervals_match_exact_mixture_quantiles(fit):
    table = fit.groups()
    post = fit.hyper_posterior.pruned()
    rows = np.arange(0, 4000, 40)
    dist = fit.chain.posterior_dist(post.points, fit.spec.stats.take(rows))
    exact = mixture_quantiles(dist, post.weights[:, None], (0.05, 0.5, 0.95))
    sd = table["sd"].to_numpy()[rows]
    for q, col in zip(exact, ("q5", "q50", "q95"), strict=True):
        assert np.max(np.abs(table[col].to_numpy()[rows] - q) / sd) < 5e-3


def test_coarsened_grid_matches_full_grid(fit, monkeypatch):
    monkeypatch.setattr(results, "COARSEN_ABOVE", 0)
    distinct, _ = results._compress(fit.spec.stats)
    used = fit._mixture_points(fit.hyper_posterior, distinct)
    assert len(used.weights) < len(fit.hyper_posterior.pruned().weights)
    coarse = fit.groups()
    monkeypatch.setattr(results, "COARSEN_ABOVE", np.inf)
    full = fit.groups()
    for col in ("mean", "sd", "q5", "q95"):
        assert np.max(np.abs(coarse[col] - full[col]) / full["sd"]) < 5e-3
