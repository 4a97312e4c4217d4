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

__all__ = ["Segments", "PaddedRows", "segment_gram", "gaussian_draws", "row_products"]

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


@dataclass(frozen=True, eq=False)
class PaddedRows:
    """Each level's rows in zero-padded blocks: the layout :func:`segment_gram` multiplies.

    Levels are bucketed by their number of rows rounded up to a power of two; a bucket's
    levels hold a ``(levels, B)`` block of their rows' positions on the other side and in
    the data, padded with ``n_other`` and ``n_rows`` (which point to a zero), at most
    :data:`CHUNK_ROWS` positions per block. Built once per fit: the positions never change.

    Parameters
    ----------
    n_levels, n_rows, n_other : int
        Levels of this side, rows, levels of the other side.
    blocks : tuple of (levels, other, rows)
        int64 ``(s,)`` levels and int32 ``(s, B)`` positions.
    """

    n_levels: int
    n_rows: int
    n_other: int
    blocks: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]

    @classmethod
    def of(cls, index: np.ndarray, n_levels: int, other_index: np.ndarray, n_other: int):
        """The layout of rows at levels ``index`` whose other side is ``other_index``.

        Examples
        --------
        >>> layout = PaddedRows.of(np.array([1, 0, 1]), 2, np.array([5, 6, 7]), 8)
        >>> [(lv.tolist(), o.tolist(), r.tolist()) for lv, o, r in layout.blocks]
        [([0], [[6]], [[1]]), ([1], [[5, 7]], [[0, 2]])]
        """
        segments = Segments.of(index, n_levels)
        n = segments.order.size
        counts = np.diff(np.r_[segments.starts, n])
        sizes = 1 << np.ceil(np.log2(np.maximum(counts, 1))).astype(np.int64)
        blocks = []
        for size in np.unique(sizes):
            in_bucket = np.flatnonzero(sizes == size)
            step = max(1, CHUNK_ROWS // int(size))
            offsets = np.arange(size)
            for first in range(0, in_bucket.size, step):
                segs = in_bucket[first : first + step]
                valid = offsets[None, :] < counts[segs, None]
                positions = np.where(valid, segments.starts[segs, None] + offsets[None, :], 0)
                rows = segments.order[positions]
                blocks.append(
                    (
                        segments.levels[segs],
                        np.where(valid, other_index[rows], n_other).astype(np.int32),
                        np.where(valid, rows, n).astype(np.int32),
                    )
                )
        return cls(int(n_levels), int(n), int(n_other), tuple(blocks))


def segment_gram(
    layout: PaddedRows,
    other: np.ndarray,
    weight: np.ndarray | None,
    target: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per level ``sum tau g g'`` and ``sum tau t g`` over its rows, ``g`` the row's factors
    on the other side: batched matrix products over the blocks of ``layout``, so the cost is
    BLAS's whether a level has 3 rows or 30,000.

    Parameters
    ----------
    layout : PaddedRows
        The rows grouped by this side's level.
    other : numpy.ndarray
        float ``(other levels, k)``: the other side's factors.
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
    gram = np.zeros((layout.n_levels, k, k))
    linear = np.zeros((layout.n_levels, k))
    padded = np.vstack([other, np.zeros((1, k))])
    target = np.append(target, 0.0)
    weight = None if weight is None else np.append(weight, 0.0)
    for levels, other_at, rows in layout.blocks:
        g = padded[other_at]  # (s, B, k)
        gt = np.swapaxes(g, 1, 2)
        if weight is not None:
            gt = gt * weight[rows][:, None, :]
        gram[levels] = gt @ g
        linear[levels] = (gt @ target[rows][..., None])[..., 0]
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
