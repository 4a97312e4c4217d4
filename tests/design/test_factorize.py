"""Grouping labels become integer codes and sorted levels: the direct table for integers over
a short span gives exactly what pandas' hash table gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from multilevel.design._labels import factorize_sorted


def _by_pandas(values: pd.Series):
    codes, uniques = pd.factorize(values, sort=True)
    return codes, pd.Index(uniques)


@pytest.mark.parametrize("dtype", ["int64", "int32", "int8", "uint16"])
@pytest.mark.parametrize("low", [0, 5, -7])
def test_integers_over_a_short_span_match_pandas(dtype, low):
    rng = np.random.default_rng(3)
    raw = rng.integers(0, 60, size=500) + low
    if np.dtype(dtype).kind == "u":
        raw = raw - raw.min()
    values = pd.Series(raw.astype(dtype))
    codes, levels = factorize_sorted(values)
    expected_codes, expected_levels = _by_pandas(values)
    np.testing.assert_array_equal(codes, expected_codes)
    pd.testing.assert_index_equal(levels, expected_levels)
    assert levels.dtype == values.dtype


def test_sparse_integer_labels_and_a_single_label():
    for raw in ([10**9, 3, 10**9, -4], [7, 7, 7]):
        values = pd.Series(raw)
        codes, levels = factorize_sorted(values)
        expected_codes, expected_levels = _by_pandas(values)
        np.testing.assert_array_equal(codes, expected_codes)
        pd.testing.assert_index_equal(levels, expected_levels)
