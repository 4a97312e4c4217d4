r"""Rows grouped by a level, and the per-level gaussian regressions of block Gibbs samplers.

A factor model's conditional for one user's factors given the items' is a small gaussian
regression on the items that user rated (Salakhutdinov & Mnih 2008):

.. math::

    P_i = \Lambda + \sum_{n \in i} \tau_n g_n g_n^\top, \qquad
    b_i = \Lambda m_i + \sum_{n \in i} \tau_n t_n g_n, \qquad
    u_i \sim N(P_i^{-1} b_i,\; P_i^{-1}),

independent across users. :class:`Segments` sorts the rows by level once; :func:`segment_gram`
accumulates the sums with batched matrix products (memory ``O(chunk k)``, never
``O(n k^2)``) and :func:`gaussian_draws` draws every level at once with batched Cholesky
factors. Pure numpy: no formula, no spec.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Segments", "segment_gram", "gaussian_draws", "segment_sums", "row_products"]

#: Rows (padding included) gathered at a time by :func:`segment_gram`.
CHUNK_ROWS = 1 << 17


@dataclass(frozen=True, eq=False)
class Segments:
    """The rows of each level, contiguous after sorting.

    Parameters
    ----------
    order : numpy.ndarray
        int64 ``(n,)``: row numbers sorted by level (stable).
    starts : numpy.ndarray
        int64 ``(segments,)``: where each non-empty level's rows start in ``order``.
    levels : numpy.ndarray
        int64 ``(segments,)``: the level of each segment.
    n_levels : int
        Number of levels (some may have no rows).

    Examples
    --------
    >>> s = Segments.of(np.array([1, 0, 1, 2]), 4)
    >>> s.order.tolist(), s.starts.tolist(), s.levels.tolist()
    ([1, 0, 2, 3], [0, 1, 3], [0, 1, 2])
    >>> segment_sums(s, np.array([1.0, 2.0, 3.0, 4.0])).tolist()
    [2.0, 4.0, 4.0, 0.0]
    """

    order: np.ndarray
    starts: np.ndarray
    levels: np.ndarray
    n_levels: int

    @classmethod
    def of(cls, index: np.ndarray, n_levels: int) -> Segments:
        """Group rows by ``index`` (int, ``0 <= index < n_levels``)."""
        order = np.argsort(index, kind="stable")
        sorted_index = index[order]
        starts = np.flatnonzero(np.r_[True, sorted_index[1:] != sorted_index[:-1]])
        return cls(order, starts, sorted_index[starts].astype(np.int64), int(n_levels))

    @property
    def counts(self) -> np.ndarray:
        """int64 ``(n_levels,)``: rows per level."""
        out = np.zeros(self.n_levels, dtype=np.int64)
        out[self.levels] = np.diff(np.r_[self.starts, self.order.size])
        return out


def segment_sums(segments: Segments, values: np.ndarray) -> np.ndarray:
    """Per-level sums of ``values`` (rows first), zeros for empty levels."""
    out = np.zeros((segments.n_levels,) + values.shape[1:], dtype=np.result_type(values, float))
    if segments.order.size:
        out[segments.levels] = np.add.reduceat(values[segments.order], segments.starts, axis=0)
    return out


def segment_gram(
    segments: Segments,
    other: np.ndarray,
    other_index: np.ndarray,
    weight: np.ndarray | None,
    target: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per level ``sum tau g g'`` and ``sum tau t g`` with ``g = other[other_index[row]]``.

    Levels are bucketed by their number of rows rounded up to a power of two; each bucket's
    rows are gathered into a zero-padded ``(levels, B, k)`` array (at most twice the rows,
    :data:`CHUNK_ROWS` at a time) and multiplied by batched matrix products, so the cost is
    BLAS's whether a level has 3 rows or 30,000.

    Parameters
    ----------
    segments : Segments
        The rows grouped by this side's level.
    other : numpy.ndarray
        float ``(other levels, k)``: the other side's factors.
    other_index : numpy.ndarray
        int ``(n,)``: each row's level on the other side.
    weight : numpy.ndarray or None
        float ``(n,)``: each row's precision ``tau``; None for 1 (multiply the results by a
        common precision).
    target : numpy.ndarray
        float ``(n,)``: each row's target ``t``.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``(n_levels, k, k)`` and ``(n_levels, k)``, zero for levels without rows.
    """
    k = other.shape[1]
    n = segments.order.size
    gram = np.zeros((segments.n_levels, k, k))
    linear = np.zeros((segments.n_levels, k))
    if not n:
        return gram, linear
    counts = np.diff(np.r_[segments.starts, n])
    sizes = 1 << np.ceil(np.log2(counts)).astype(np.int64)
    padded = np.vstack([other, np.zeros((1, k))])  # the zero row of padding
    sorted_other = other_index[segments.order]
    sorted_target = target[segments.order]
    sorted_weight = None if weight is None else weight[segments.order]
    for size in np.unique(sizes):
        in_bucket = np.flatnonzero(sizes == size)
        step = max(1, CHUNK_ROWS // int(size))
        offsets = np.arange(size)
        for first in range(0, in_bucket.size, step):
            segs = in_bucket[first : first + step]
            valid = offsets[None, :] < counts[segs, None]
            rows = np.where(valid, segments.starts[segs, None] + offsets[None, :], 0)
            g = padded[np.where(valid, sorted_other[rows], other.shape[0])]  # (s, B, k)
            gt = np.swapaxes(g, 1, 2)
            t = np.where(valid, sorted_target[rows], 0.0)
            if sorted_weight is not None:
                gt = gt * np.where(valid, sorted_weight[rows], 0.0)[:, None, :]
            levels = segments.levels[segs]
            gram[levels] = gt @ g
            linear[levels] = (gt @ t[..., None])[..., 0]
    return gram, linear


def gaussian_draws(
    precision: np.ndarray, linear: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """One draw per level of ``N(P^{-1} b, P^{-1})`` for ``(L, k, k)`` precisions ``P`` and
    ``(L, k)`` linear terms ``b``.

    Examples
    --------
    >>> P = np.array([[[4.0]], [[1.0]]]); b = np.array([[2.0], [3.0]])
    >>> x = np.stack([gaussian_draws(P, b, np.random.default_rng(s)) for s in range(4000)])
    >>> np.round(x.mean(0).ravel(), 1).tolist(), np.round(x.std(0).ravel(), 1).tolist()
    ([0.5, 3.0], [0.5, 1.0])
    """
    chol = np.linalg.cholesky(precision)
    z = rng.standard_normal(linear.shape)
    half = np.linalg.solve(chol, linear[..., None])[..., 0]  # L^{-1} b
    return np.linalg.solve(np.swapaxes(chol, -1, -2), (half + z)[..., None])[..., 0]


def row_products(
    left: np.ndarray, left_index: np.ndarray, right: np.ndarray, right_index: np.ndarray
) -> np.ndarray:
    """``(left[left_index] * right[right_index]).sum(1)`` in chunks of rows.

    Examples
    --------
    >>> row_products(np.eye(2), np.array([0, 1, 1]), np.ones((1, 2)), np.array([0, 0, 0]))
    array([1., 1., 1.])
    """
    n = left_index.size
    out = np.empty(n)
    for start in range(0, n, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, n)
        a = left[left_index[start:stop]]
        b = right[right_index[start:stop]]
        out[start:stop] = np.einsum("nk,nk->n", a, b)
    return out
