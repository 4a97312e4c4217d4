"""Counts, means and sums of squared deviations that merge exactly across partitions (Chan,
Golub & LeVeque 1979), for SDs that agree with ``numpy.std`` to rounding."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Moments"]


@dataclass(frozen=True, eq=False)
class Moments:
    """``n`` values (per column) with mean ``mean`` and sum of squared deviations ``m2``.

    Examples
    --------
    >>> a, b = Moments.of(np.array([1.0, 2.0])), Moments.of(np.array([3.0, 4.0, 5.0]))
    >>> float((a + b).sd()), float(np.std([1.0, 2, 3, 4, 5], ddof=1))
    (1.5811388300841898, 1.5811388300841898)
    """

    n: np.ndarray
    mean: np.ndarray
    m2: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray) -> Moments:
        """The moments of ``values`` (``(rows,)`` or ``(rows, columns)``)."""
        values = np.asarray(values, dtype=float)
        n = np.full(values.shape[1:], values.shape[0], dtype=float)
        if values.shape[0] == 0:
            return cls(n, np.zeros(values.shape[1:]), np.zeros(values.shape[1:]))
        mean = values.mean(axis=0)
        return cls(n, mean, ((values - mean) ** 2).sum(axis=0))

    def __add__(self, other: Moments) -> Moments:
        n = self.n + other.n
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(n > 0, other.n / np.where(n > 0, n, 1.0), 0.0)
        delta = other.mean - self.mean
        mean = self.mean + delta * share
        m2 = self.m2 + other.m2 + delta**2 * self.n * share
        return Moments(n, mean, m2)

    def sd(self) -> np.ndarray:
        """The SD with ``ddof=1`` (nan for fewer than two values)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.n > 1, np.sqrt(self.m2 / np.maximum(self.n - 1, 1)), np.nan)
