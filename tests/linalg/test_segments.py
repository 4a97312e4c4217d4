"""Per-level sums and gaussian regressions of the Gibbs samplers (multilevel.linalg.segments)."""

from __future__ import annotations

import numpy as np
import pytest

from multilevel.linalg import segments as seg
from multilevel.linalg.segments import PaddedRows, gaussian_draws, row_products, segment_gram


@pytest.mark.parametrize("weighted", [False, True])
def test_segment_gram_equals_the_sum_of_outer_products_row_by_row(weighted, monkeypatch):
    monkeypatch.setattr(seg, "CHUNK_ROWS", 64)  # several chunks per bucket
    rng = np.random.default_rng(0)
    n, levels, k = 3000, 60, 4
    index = rng.integers(0, levels, n)
    index[index == 7] = 8  # an empty level
    index[:400] = 3  # a large one
    other_index = rng.integers(0, 30, n)
    other = rng.normal(size=(30, k))
    target = rng.normal(size=n)
    weight = rng.random(n) if weighted else None
    layout = PaddedRows.of(index, levels, other_index, 30)
    gram, linear = segment_gram(layout, other, weight, target)
    w = np.ones(n) if weight is None else weight
    g = other[other_index]
    expected_gram = np.zeros((levels, k, k))
    np.add.at(expected_gram, index, w[:, None, None] * g[:, :, None] * g[:, None, :])
    expected_linear = np.zeros((levels, k))
    np.add.at(expected_linear, index, (w * target)[:, None] * g)
    np.testing.assert_allclose(gram, expected_gram, atol=1e-10)
    np.testing.assert_allclose(linear, expected_linear, atol=1e-10)
    assert not gram[7].any()


def test_gaussian_draws_have_the_conditional_mean_and_covariance():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(3, 3))
    precision = a @ a.T + 3 * np.eye(3)
    linear = rng.normal(size=3)
    draws = gaussian_draws(
        np.broadcast_to(precision, (40000, 3, 3)), np.broadcast_to(linear, (40000, 3)), rng
    )
    covariance = np.linalg.inv(precision)
    se = np.sqrt(np.diag(covariance) / 40000)
    assert np.all(np.abs(draws.mean(0) - covariance @ linear) < 4.5 * se)
    np.testing.assert_allclose(np.cov(draws.T), covariance, atol=0.03 * covariance.max())


def test_row_products_are_dot_products_of_the_indexed_rows():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
    ia, ib = rng.integers(0, 5, 50), rng.integers(0, 4, 50)
    np.testing.assert_allclose(row_products(a, ia, b, ib), (a[ia] * b[ib]).sum(1))
