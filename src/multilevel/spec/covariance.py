"""The order of a group block's correlations, in one place: ``(0, 1), (0, 2), ..., (1, 2),
...`` (the upper triangle row by row, as brms names them), and the conversions between a
correlation matrix and the block's correlations in that order.

Examples
--------
>>> import numpy as np
>>> correlation_pairs(3)
[(0, 1), (0, 2), (1, 2)]
>>> omega = correlation_matrix(np.array([0.5, -0.2, 0.1]), 3)
>>> correlations(omega).tolist()
[0.5, -0.2, 0.1]
"""

from __future__ import annotations

import numpy as np

__all__ = ["correlation_matrix", "correlation_pairs", "correlations"]


def correlation_pairs(q: int) -> list[tuple[int, int]]:
    """The ``(row, column)`` of each correlation of a ``q``-coefficient block, in order."""
    return [(a, b) for a in range(q) for b in range(a + 1, q)]


def correlations(matrix: np.ndarray) -> np.ndarray:
    """``(..., q(q-1)/2)`` correlations, in :func:`correlation_pairs` order, of ``(..., q, q)``
    correlation matrices."""
    matrix = np.asarray(matrix)
    rows, cols = np.triu_indices(matrix.shape[-1], k=1)  # row by row: the same order
    return matrix[..., rows, cols]


def correlation_matrix(values: np.ndarray, q: int) -> np.ndarray:
    """``(..., q, q)`` correlation matrices from ``(..., q(q-1)/2)`` correlations."""
    values = np.asarray(values, dtype=float)
    out = np.broadcast_to(np.eye(q), values.shape[:-1] + (q, q)).copy()
    rows, cols = np.triu_indices(q, k=1)
    out[..., rows, cols] = values
    out[..., cols, rows] = values
    return out
