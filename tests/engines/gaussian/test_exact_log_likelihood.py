"""The exact engine's pointwise log-likelihood equals the normal density of each row given
each draw, computed here row by row from the draws (multiple membership with weights, a
correlated slope and a second grouping term)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

import multilevel as ml


def test_pointwise_log_likelihood_is_each_rows_normal_density():
    rng = np.random.default_rng(0)
    n = 120
    data = pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "x": rng.normal(size=n),
            "g1": rng.integers(0, 8, n).astype(str),
            "g2": rng.integers(0, 8, n).astype(str),
            "w1": rng.uniform(size=n),
            "w2": rng.uniform(size=n),
            "h": rng.integers(0, 5, n).astype(str),
        }
    )
    formula = "y ~ x + (1 + x | mm(g1, g2, weights = cbind(w1, w2))) + (1 | h)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.ConvergenceWarning)
        fit = ml.fit(formula, data, method="exact", chains=2, draws=30, warmup=100, seed=1,
                     progress=False)  # fmt: skip
    post, design = fit.posterior, fit.spec.design
    expected = np.empty((2, 30, n))
    for c in range(2):
        for s in range(30):
            beta = np.array([post.draws[name][c, s] for name in fit.spec.b_names])
            eta = np.asarray(design.X, float) @ beta
            for i, block in enumerate(design.blocks):
                r = post.draws[f"r_block{i}"][c, s]  # (levels, q)
                for row in range(n):
                    for k in range(block.index.shape[1]):
                        level = block.index[row, k]
                        eta[row] += block.weights[row, k] * (block.Z[row] @ r[level])
            expected[c, s] = stats.norm.logpdf(design.y, eta, post.draws["sigma"][c, s])
    np.testing.assert_allclose(post.log_likelihood, expected, rtol=1e-10, atol=1e-10)
