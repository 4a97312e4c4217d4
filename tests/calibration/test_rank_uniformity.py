"""The uniformity tests of SBC ranks hold their level, find what they should, and the
bands cover as stated."""

from __future__ import annotations

import numpy as np
import pytest

from multilevel.calibration import _uniformity as U
from multilevel.calibration._ranks import ranks, run_thin, suggested_thin

N, L = 100, 199
REPS = 600


@pytest.mark.parametrize("test", [U.ecdf_pvalue, U.chisq_pvalue])
def test_p_values_of_uniform_ranks_are_uniform(test):
    rng = np.random.default_rng(1)
    p = np.array([test(rng.integers(0, L + 1, size=N), L) for _ in range(REPS)])
    # P(p < a) = a for a valid test (chi-square: approximately); the binomial SD of the
    # share at a = 0.05 is 0.009 for 600 replicates: allow 4 of them
    for a in (0.05, 0.2, 0.5):
        assert abs(np.mean(p < a) - a) < 4 * np.sqrt(a * (1 - a) / REPS) + 0.01


def test_the_simultaneous_ecdf_band_covers_uniform_ranks_95_percent_of_the_time():
    rng = np.random.default_rng(2)
    p, lower, upper = U.ecdf_band(N, L, 0.95)
    inside = [
        np.all((F >= lower) & (F <= upper))
        for F in (U.ecdf(rng.integers(0, L + 1, size=N), L)[1] for _ in range(REPS))
    ]
    assert abs(np.mean(inside) - 0.95) < 4 * np.sqrt(0.95 * 0.05 / REPS)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda r: np.minimum(r + 60, L), "high end: the posterior underestimates"),
        (lambda r: np.maximum(r - 60, 0), "low end: the posterior overestimates"),
        (lambda r: np.where(r < L / 2, r // 4, L - (L - r) // 4), "both ends"),
        (lambda r: L // 2 + (r - L // 2) // 3, "middle: the posterior is too wide"),
    ],
)
def test_departures_are_found_and_described(make, words):
    r = make(np.random.default_rng(3).integers(0, L + 1, size=N))
    assert U.ecdf_pvalue(r, L) < 1e-3 and U.chisq_pvalue(r, L) < 1e-3
    assert words in U.describe(r, L)


def test_ranks_count_the_kept_draws_below_the_truth():
    draws = np.arange(20.0).reshape(2, 10, 1)
    assert ranks(draws < 5.5, 1) == (np.array([6]), 20)
    assert ranks(draws < 5.5, 3) == (np.array([2]), 8)  # kept 0 3 6 9 10 13 16 19
    assert suggested_thin(np.array([250.0, 900.0]), 1000) == 4
    assert suggested_thin(np.array([np.nan]), 1000) == 1
    assert suggested_thin(np.array([1200.0]), 1000) == 1
    assert run_thin([1, 1, 3, 4]) == 2
