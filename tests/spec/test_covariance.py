"""The order of a block's correlations is brms's (upper triangle, row by row), the same for
the names, the engines' draws and the predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from multilevel.design import design
from multilevel.spec.covariance import correlation_matrix, correlation_pairs, correlations
from multilevel.spec.model import build_spec


def test_pairs_names_and_matrices_agree():
    assert correlation_pairs(4) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    data = pd.DataFrame(
        {"y": [1.0, 2, 3, 4], "x": [0.0, 1, 0, 1], "z": [1.0, 0, 2, 1], "g": list("aabb")}
    )
    spec = build_spec(design("y ~ x + z + (x + z | g)", data), "gaussian")
    assert spec.cor_names[0] == ("cor_g__Intercept__x", "cor_g__Intercept__z", "cor_g__x__z")
    values = np.random.default_rng(0).uniform(-0.3, 0.3, size=(5, 7, 6))
    omega = correlation_matrix(values, 4)
    assert omega.shape == (5, 7, 4, 4)
    np.testing.assert_array_equal(omega, np.swapaxes(omega, -1, -2))
    np.testing.assert_array_equal(np.diagonal(omega, axis1=-2, axis2=-1), 1.0)
    for k, (a, b) in enumerate(correlation_pairs(4)):
        np.testing.assert_array_equal(omega[..., a, b], values[..., k])
    np.testing.assert_array_equal(correlations(omega), values)
