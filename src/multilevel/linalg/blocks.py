r"""Linear algebra of many small matrices held entry by entry.

A batch of ``q x q`` matrices, one per level of a grouping factor, is held as nested lists
of arrays: ``A[i][j]`` holds entry ``(i, j)`` of every level, an array of shape ``(levels,
...)``. Written this way a Cholesky factorisation or a triangular solve is a short,
unrolled sequence of elementwise operations that XLA fuses into one pass over the levels
(5x faster than its batched factorisation of ``(levels, q, q)`` arrays for ``q <= 2``, and
the gradient 3x; see docs/decisions.md). Only arithmetic operators and ``xp.sqrt`` are used,
so the same code runs on NumPy and JAX arrays. The number of operations grows as
:math:`q^3`: meant for the handful of coefficients of one grouping term.

Lower-triangular factors are nested lists whose entries above the diagonal are ``None``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "levels_last",
    "entries",
    "lower_entries",
    "congruence",
    "transpose_times",
    "times",
    "cholesky",
    "log_det",
    "lower_solve",
    "upper_solve",
]


def levels_last(batch):
    """A batch ``(levels, a, b)`` as a contiguous ``(a, b, levels)`` array: each entry's values
    over the levels contiguous, the layout :func:`entries` reads.

    Examples
    --------
    >>> levels_last(np.zeros((5, 2, 3))).shape
    (2, 3, 5)
    """
    return np.ascontiguousarray(np.transpose(batch, (1, 2, 0)))


def entries(A) -> list:
    """``A[i][j]`` of an array whose two leading axes index the entries.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.arange(8.0).reshape(2, 2, 2)  # entries first, two levels
    >>> entries(A)[1][0]
    array([4., 5.])
    """
    return [[A[i, j] for j in range(A.shape[1])] for i in range(A.shape[0])]


def lower_entries(M) -> list:
    """The lower triangle of one small matrix ``M`` (scalars), ``None`` above the diagonal."""
    q = M.shape[0]
    return [[M[i, j] if j <= i else None for j in range(q)] for i in range(q)]


def congruence(lam, G) -> list:
    r"""Lower triangle of :math:`\Lambda^\top G \Lambda + I` for every level.

    ``lam`` is one lower-triangular matrix (``lower_entries``); ``G`` the symmetric per-level
    blocks (full nested lists).
    """
    q = len(lam)
    # H = G lam: H[a][j] = sum_{b >= j} G[a][b] lam[b][j]
    H = [[_sum(G[a][b] * lam[b][j] for b in range(j, q)) for j in range(q)] for a in range(q)]
    out = [[None] * q for _ in range(q)]
    for i in range(q):
        for j in range(i + 1):
            value = _sum(lam[a][i] * H[a][j] for a in range(i, q))
            out[i][j] = value + 1.0 if i == j else value
    return out


def transpose_times(lam, v) -> list:
    r""":math:`\Lambda^\top v` per level: ``lam`` lower-triangular scalars, ``v`` a list."""
    q = len(lam)
    return [_sum(lam[a][i] * v[a] for a in range(i, q)) for i in range(q)]


def times(lam, v) -> list:
    r""":math:`\Lambda v` per level: ``lam`` lower-triangular scalars, ``v`` a list."""
    return [_sum(lam[i][a] * v[a] for a in range(i + 1)) for i in range(len(lam))]


def cholesky(A, xp) -> list:
    """Lower Cholesky factor of every level's symmetric positive definite block (``A``'s
    lower triangle is read).

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[4.0, 2.0], [2.0, 5.0]])
    >>> L = cholesky(entries(A[:, :, None]), np)
    >>> [float(L[0][0][0]), float(L[1][0][0]), float(L[1][1][0])]
    [2.0, 1.0, 2.0]
    """
    q = len(A)
    L = [[None] * q for _ in range(q)]
    for j in range(q):
        d = A[j][j] - _sum(L[j][k] * L[j][k] for k in range(j))
        L[j][j] = xp.sqrt(d)
        for i in range(j + 1, q):
            L[i][j] = (A[i][j] - _sum(L[i][k] * L[j][k] for k in range(j))) / L[j][j]
    return L


def log_det(L, xp):
    """``log |L L'|`` summed over the levels (one logarithm of each level's product of the
    diagonal: the diagonal of a factor of ``Λ'GΛ + I`` is at least 1, and the product of a
    handful of entries stays far from overflow)."""
    product = L[0][0]
    for i in range(1, len(L)):
        product = product * L[i][i]
    return 2.0 * xp.log(product).sum()


def lower_solve(L, b) -> list:
    """``L^{-1} b`` per level; ``b[i]`` may carry trailing axes (several right-hand sides)."""
    q = len(L)
    x = [None] * q
    for i in range(q):
        x[i] = (b[i] - _sum(_expand(L[i][k], b[i]) * x[k] for k in range(i))) / _expand(
            L[i][i], b[i]
        )
    return x


def upper_solve(L, b) -> list:
    """``L'^{-1} b`` per level (``L`` lower triangular)."""
    q = len(L)
    x = [None] * q
    for i in reversed(range(q)):
        x[i] = (b[i] - _sum(_expand(L[k][i], b[i]) * x[k] for k in range(i + 1, q))) / _expand(
            L[i][i], b[i]
        )
    return x


def _sum(terms):
    """Sum of an iterable of arrays (0.0 when empty)."""
    total = None
    for term in terms:
        total = term if total is None else total + term
    return 0.0 if total is None else total


def _expand(level_values, like):
    """Per-level values with trailing axes to broadcast against ``like``."""
    extra = getattr(like, "ndim", 0) - getattr(level_values, "ndim", 0)
    return level_values.reshape(level_values.shape + (1,) * extra) if extra > 0 else level_values
