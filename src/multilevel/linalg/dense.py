r"""The profiled deviance's three numbers from one dense Cholesky factor, for small models.

When ``[Z X y]`` has few columns (sleepstudy: 36 + 2 + 1) the whole PLS system

.. math:: M_\theta = T^\top A\, T + \begin{bmatrix} I_Q & 0 \\ 0 & 0 \end{bmatrix},
          \qquad A = [Z X y]^\top W [Z X y], \quad T = \operatorname{diag}(\Lambda_\theta, I)

is small enough to factor densely in one LAPACK call: the factor's diagonal holds
:math:`\log|L|^2` (its first ``Q`` entries), :math:`\log|R_X|^2` (the next ``p``) and
:math:`r^2` (the square of the last). Any term structure (nested, crossed, correlated,
multiple membership) is the same dense matrix.

:math:`T` is linear in :math:`\theta`, :math:`T = \sum_k v_k E_k` with
:math:`v = (\theta, 1)` and fixed 0/1 patterns :math:`E_k`, so :math:`M_\theta =
\sum_{k,l} v_k v_l\, E_k^\top A E_l` (+ the identity) is a quadratic polynomial in
:math:`\theta` with precomputed matrix coefficients: an evaluation is one matrix-vector
product and one ``dpotrf``, a handful of NumPy calls against the ~100 of the level-by-level
elimination of :mod:`multilevel.linalg.profiled`, whose per-call overhead dominates at this
size.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
from scipy.linalg import lapack

__all__ = ["DenseDeviance", "worthwhile"]

# Columns of [Z X y] up to which the dense factor is cheaper than the level-by-level
# elimination (measured per evaluation, docs/decisions.md "REML/ML"): that costs 60-110 us
# for one grouping term, ~600 us with crossed or nested terms (its dense Schur complement),
# the dense factor 13 us at 23 columns, 100 us at 123, 190 us at 203; from ~230 columns on
# OpenBLAS starts threads, and an evaluation took 11 ms on this 2-core machine.
SMALL_COLUMNS = 100
SMALL_COUPLED = 200
COEFFICIENTS = 1 << 20  # entries of the precomputed polynomial, at most (8 MiB)


def worthwhile(columns: int, coupled: bool, n_theta: int) -> bool:
    """Whether to factor densely: ``columns`` of ``[Z X y]``; ``coupled``: the model has
    grouping terms the level-by-level elimination must couple (crossed or nested);
    ``n_theta`` covariance parameters."""
    small = columns <= SMALL_COLUMNS or (coupled and columns <= SMALL_COUPLED)
    return small and (n_theta + 1) ** 2 * columns**2 <= COEFFICIENTS


class DenseDeviance:
    r"""``theta -> (log|L|^2, log|R_X|^2, r^2)`` by one dense Cholesky factor.

    Parameters
    ----------
    gram : numpy.ndarray
        ``A = [Z X y]' W [Z X y]``, ``(Q + p + 1, Q + p + 1)``.
    Q : int
        Random-effect columns (the first ``Q`` of ``A``).
    rows, cols, source : numpy.ndarray
        :math:`\Lambda_\theta[rows, cols] = \theta[source]`; all other entries are 0
        (:meth:`multilevel.linalg.profiled.ThetaLayout.pattern`).

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import design
    >>> from multilevel.linalg.crossprod import cross_products
    >>> from multilevel.linalg.profiled import PLS, ThetaLayout
    >>> d = design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> cp = cross_products(d)
    >>> layout = ThetaLayout.of(d, cp.terms)
    >>> dense = DenseDeviance.of(cp, layout)
    >>> logdet_L, logdet_RX, r2 = dense([0.9667, 0.0152, 0.2309])
    >>> sol = PLS(cp, layout)([0.9667, 0.0152, 0.2309])
    >>> bool(np.isclose(logdet_L, sol.logdet_L) and np.isclose(r2, sol.r2))
    True
    """

    def __init__(self, gram, Q, rows, cols, source):
        gram = np.asarray(gram, dtype=float)
        self.Q, n = int(Q), gram.shape[0]
        source = np.asarray(source, dtype=np.intp)
        m = int(source.max()) + 1 if source.size else 0
        # T's nonzeros (row, column, which v); the identity on [X y] is v_m = 1. Each column of
        # T holds one entry per v, so E_k' A E_l is A's submatrix on E_k's and E_l's rows,
        # placed at their columns: P[k, l, c_a, c_b] = A[r_a, r_b]
        xy = np.arange(self.Q, n)
        r = np.concatenate([np.asarray(rows, dtype=np.intp), xy])
        c = np.concatenate([np.asarray(cols, dtype=np.intp), xy])
        k = np.concatenate([source, np.full(xy.size, m)])
        P = np.zeros((m + 1, m + 1, n, n))
        P[k[:, None], k, c[:, None], c] = gram[r[:, None], r]
        P[m, m, range(self.Q), range(self.Q)] += 1.0
        self.coefficients = P.reshape((m + 1) ** 2, n * n)
        self._v = np.ones(m + 1)  # (theta, 1)
        self._vv = np.empty((m + 1, m + 1))
        self._flat = np.empty(n * n)
        self._M = self._flat.reshape(n, n).T  # symmetric, so read in LAPACK's order

    @classmethod
    def of(cls, cp, layout) -> DenseDeviance:
        """From the cross products and the :math:`\\theta` layout of a model."""
        Q, p = cp.Q, cp.p
        gram = np.empty((Q + p + 1, Q + p + 1))
        gram[:Q, :Q] = cp.ZtZ.toarray()
        for k, blocks in cp.diag.items():  # the block-diagonal terms' (levels, q, q) blocks
            gram[cp.diagonal_cells(k)] += blocks
        gram[:Q, Q : Q + p] = cp.ZtX
        gram[:Q, Q + p] = cp.Zty
        gram[Q:, :Q] = gram[:Q, Q:].T
        gram[Q:, Q:] = cp.XyXy()
        rows, cols, source = layout.pattern(cp.terms)
        return cls(gram, Q, rows, cols, source)

    def factor(self, theta):
        """The lower Cholesky factor of :math:`M_\\theta` (a buffer reused by the next call),
        or None where it fails (``[X y]`` not of full rank after the group effects)."""
        v, vv = self._v, self._vv
        v[:-1] = theta
        np.multiply(v[:, None], v, out=vv)
        np.dot(vv.reshape(-1), self.coefficients, out=self._flat)
        factor, info = lapack.dpotrf(self._M, lower=1, clean=0, overwrite_a=1)
        return factor if info == 0 else None

    def __call__(self, theta):
        """``(log|L|^2, log|R_X|^2, r^2)`` at ``theta``, or None where the factor fails, for
        the caller's general path to handle."""
        factor = self.factor(theta)
        return None if factor is None else self._numbers(factor)

    def _numbers(self, factor):
        diagonal = factor.diagonal()
        running = np.log(diagonal[:-1]).cumsum()
        logdet_L = 2.0 * running.item(self.Q - 1) if self.Q else 0.0
        return logdet_L, 2.0 * running.item(-1) - logdet_L, diagonal.item(-1) ** 2

    def solve(self, theta):
        """Also the solution: ``(log|L|^2, log|R_X|^2, r^2, u, beta, R_X)`` (``R_X`` the
        lower factor of the Schur complement on ``X``), or None where the factor fails.

        With :math:`M = LL^\\top` split after its first ``Q + p`` rows, the last row of
        ``L`` is :math:`(l^\\top, r)` and :math:`[u; \\beta] = L_{11}^{-\\top} l`."""
        L = self.factor(theta)
        if L is None:
            return None
        Q = self.Q
        solution = sla.solve_triangular(L[:-1, :-1], L[-1, :-1], lower=True, trans="T")
        return (*self._numbers(L), solution[:Q], solution[Q:], L[Q:-1, Q:-1].copy())
