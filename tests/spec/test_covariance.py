"""The order of a block's correlations is brms's (upper triangle, row by row), the same for
the names, the engines' draws and the predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from multilevel.design import design
from multilevel.formula import parse
from multilevel.spec.covariance import (
    CovarianceBlock,
    correlation_matrix,
    correlation_pairs,
    correlations,
)
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


def _spec(formula: str, **dpars):
    rng = np.random.default_rng(1)
    data = pd.DataFrame(
        {
            "y": rng.normal(size=12),
            "x": rng.normal(size=12),
            "z": rng.normal(size=12),
            "g": list("abc") * 4,
            "h": list("uv") * 6,
        }
    )
    return build_spec(design(parse(formula, dpars=dpars), data), "gaussian")


def test_blocks_of_a_spec_carry_names_keys_and_correlation():
    spec = _spec("y ~ x + (x | g) + (1 + z || h)", sigma="sigma ~ 1 + (1 | g)")
    mean, *split = spec.covariance  # "||" splits a term into one block per coefficient
    assert (mean.group, mean.coefficients, mean.correlated) == ("g", ("Intercept", "x"), True)
    assert mean.cor_names == ("cor_g__Intercept__x",)
    assert [b.key for b in spec.covariance] == ["r_block0", "r_block1", "r_block2"]
    assert [b.sd_names for b in split] == [("sd_h__Intercept",), ("sd_h__z",)]
    assert all(not b.correlated and b.cor_names == () for b in split)
    (sigma_block,) = spec.dpars["sigma"].covariance
    assert sigma_block.key == "r_sigma_block0" and sigma_block.dpar == "sigma"
    assert sigma_block.sd_names == ("sd_g__sigma_Intercept",)
    assert spec.all_covariance == (mean, *split, sigma_block)
    # the spec's name lists are the blocks' own
    assert spec.sd_names == tuple(b.sd_names for b in spec.covariance)
    assert [n for n in spec.parameter_names if n.startswith(("sd_", "cor_"))] == [
        *(n for b in spec.all_covariance for n in b.sd_names),
        *mean.cor_names,
    ]


def test_covariance_conversions_round_trip():
    block = _spec("y ~ x + z + (x + z | g)").covariance[0]
    rng = np.random.default_rng(2)
    sd = rng.uniform(0.5, 2.0, size=(6, 3))
    cor = rng.uniform(-0.3, 0.3, size=(6, 3))
    cov = block.covariance(sd, cor)
    named = block.named(cov)
    np.testing.assert_allclose(np.stack([named[n] for n in block.sd_names], -1), sd)
    np.testing.assert_allclose(np.stack([named[n] for n in block.cor_names], -1), cor)
    gathered_sd, gathered_cor = block.gather(named)
    np.testing.assert_allclose(gathered_sd, sd)
    np.testing.assert_allclose(gathered_cor, cor)
    A = block.scale_factor(sd, cor)
    np.testing.assert_allclose(A @ np.swapaxes(A, -1, -2), cov)
    L = np.linalg.cholesky(correlation_matrix(cor, 3))
    by_name = block.named_correlations(L)
    np.testing.assert_allclose(np.stack([by_name[n] for n in block.cor_names], -1), cor)


def test_uncorrelated_block_has_diagonal_covariance():
    block = CovarianceBlock.of(0, "g", ("Intercept", "x"), correlated=False)
    assert not block.correlated and block.cor_names == ()
    cov = block.covariance(np.array([2.0, 3.0]))
    np.testing.assert_array_equal(cov, np.diag([4.0, 9.0]))
    assert block.named(cov) == {"sd_g__Intercept": 2.0, "sd_g__x": 3.0}
    assert block.gather({"sd_g__Intercept": 1.0, "sd_g__x": 2.0})[1] is None
