"""Small helpers shared by the chains: histograms and method-of-moments starts."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["grouped_sums", "between_variance", "robust_scale", "row_chunks"]

CHUNK_ELEMENTS = 4_000_000  # rows x columns of a temporary array


def row_chunks(n_rows: int, n_columns: int):
    """Slices of rows such that each (rows, n_columns) temporary stays small."""
    size = max(1, CHUNK_ELEMENTS // max(n_columns, 1))
    for start in range(0, n_rows, size):
        yield slice(start, min(start + size, n_rows))


def grouped_sums(key: np.ndarray, *values: np.ndarray):
    """Unique values of ``key`` with their counts and the sums of ``values`` per key.

    Linear in the number of groups: counts of small non-negative integers are tallied
    directly, anything else is hashed (pandas.factorize).
    """
    key = np.asarray(key)
    codes = key.astype(np.int64)
    if len(key) and key.min() >= 0 and key.max() <= 4 * len(key) + 1024 and np.all(codes == key):
        counts = np.bincount(codes)
        present = np.flatnonzero(counts)
        sums = [np.bincount(codes, weights=v, minlength=len(counts))[present] for v in values]
        return present.astype(float), counts[present].astype(float), sums
    codes, uniques = pd.factorize(key, sort=False)
    counts = np.bincount(codes, minlength=len(uniques)).astype(float)
    sums = [np.bincount(codes, weights=v, minlength=len(uniques)) for v in values]
    return np.asarray(uniques), counts, sums


def between_variance(estimates, weights, within_variance):
    """Method-of-moments between-group variance of noisy group estimates (>= a floor)."""
    w = weights / weights.sum()
    mean = float(np.sum(w * estimates))
    total = float(np.sum(w * (estimates - mean) ** 2))
    between = total - float(np.sum(w * within_variance))
    floor = 0.05 * total if total > 0 else 1e-6 * max(mean**2, 1.0)
    return mean, max(between, floor, 1e-12)


def robust_scale(values: np.ndarray) -> float:
    """A robust scale of ``values``: normal-consistent MAD, else SD, else 1."""
    values = np.asarray(values, dtype=float)
    mad = 1.4826 * float(np.median(np.abs(values - np.median(values))))
    if mad > 0:
        return mad
    sd = float(np.std(values))
    return sd if sd > 0 else 1.0
