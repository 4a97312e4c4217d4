r"""Cross-product blocks of ``[Z X y]`` for a Gaussian multilevel model, in one pass.

Everything the exact Gaussian engine needs about the data is

.. math:: Z^\top W Z,\; Z^\top W X,\; Z^\top W y,\; X^\top W X,\; X^\top W y,\; y^\top W y

with :math:`W` the diagonal of precision weights (``1/se^2`` for ``y | se(s)``, else 1).
They are accumulated over chunks of rows, so the data need not be held twice.

Random-effect columns are grouped in *terms*: the blocks of one grouping factor with the same
level index (``(1 + x || g)`` gives two blocks, one term) are one term with ``q`` columns per
level, laid out level-major (column ``offset + level * q + coef``), as in lme4's ``Zt``.
A term whose rows touch one level each (not ``mm()``) has a block-diagonal ``Z'WZ``, kept as
a dense ``(levels, q, q)`` array; every other product is a sparse matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["RandomTerm", "CrossProducts", "cross_products", "random_terms"]

_CHUNK_ROWS = (1 << 13, 1 << 20)  # rows per chunk: about one per random-effect column, at most
# an eighth of the rows (a chunk's temporaries take ~150 bytes per row), within these bounds
# (every chunk adds level-sized sums, so tiny chunks of many levels are slow)


@dataclass(frozen=True, eq=False)
class RandomTerm:
    """The blocks of one grouping factor sharing a level index.

    Attributes
    ----------
    name : str
        The grouping factor.
    blocks : tuple of int
        Indices into ``design.blocks``, in order; their coefficients are concatenated.
    q : int
        Coefficients per level.
    levels : int
        Number of levels.
    offset : int
        First column of the term among all random-effect columns.
    diagonal_only : bool
        Whether each row touches one level (then ``Z'WZ`` of the term is block diagonal).
    """

    name: str
    blocks: tuple[int, ...]
    q: int
    levels: int
    offset: int
    diagonal_only: bool

    @property
    def size(self) -> int:
        """Number of columns: ``levels * q``."""
        return self.levels * self.q


def random_terms(blocks) -> tuple[RandomTerm, ...]:
    """Group design blocks into terms (same factor, same single-level index)."""
    groups: list[list[int]] = []
    for i, block in enumerate(blocks):
        for group in groups:
            first = blocks[group[0]]
            if (
                first.name == block.name
                and not first.multiple_membership
                and not block.multiple_membership
                and np.array_equal(first.index, block.index)
            ):
                group.append(i)
                break
        else:
            groups.append([i])
    terms, offset = [], 0
    for group in groups:
        first = blocks[group[0]]
        q = sum(blocks[i].q for i in group)
        terms.append(
            RandomTerm(
                name=first.name,
                blocks=tuple(group),
                q=q,
                levels=first.n_levels,
                offset=offset,
                diagonal_only=not first.multiple_membership,
            )
        )
        offset += q * first.n_levels
    return tuple(terms)


@dataclass(frozen=True, eq=False)
class CrossProducts:
    """Weighted cross products of ``[Z X y]`` (see the module docstring).

    Attributes
    ----------
    terms : tuple of RandomTerm
    diag : dict of int to numpy.ndarray
        For each block-diagonal term ``k``, its ``(levels, q, q)`` blocks of ``Z'WZ``.
    ZtZ : scipy.sparse.csr_matrix
        ``(Q, Q)``: all other entries of ``Z'WZ`` (between terms, and within ``mm()`` terms).
    ZtX : numpy.ndarray
        ``(Q, p)``.
    Zty : numpy.ndarray
        ``(Q,)``.
    XtX, Xty, yty
        ``(p, p)``, ``(p,)``, float.
    n : int
        Number of rows.
    log_weights : float
        ``sum(log w)`` (enters the log-likelihood).
    """

    terms: tuple[RandomTerm, ...]
    diag: dict
    ZtZ: sp.csr_matrix
    ZtX: np.ndarray
    Zty: np.ndarray
    XtX: np.ndarray
    Xty: np.ndarray
    yty: float
    n: int
    log_weights: float

    @property
    def Q(self) -> int:
        """Number of random-effect columns."""
        return sum(t.size for t in self.terms)

    @property
    def p(self) -> int:
        """Number of population-level columns."""
        return self.XtX.shape[0]

    def XyXy(self) -> np.ndarray:
        """``[X y]' W [X y]``, ``(p + 1, p + 1)``."""
        p = self.p
        out = np.empty((p + 1, p + 1))
        out[:p, :p], out[:p, p], out[p, :p], out[p, p] = self.XtX, self.Xty, self.Xty, self.yty
        return out

    def diagonal_cells(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Row and column (among all ``Q``) of every entry of term ``k``'s ``(levels, q, q)``
        diagonal blocks ``diag[k]``."""
        term = self.terms[k]
        cols = term.offset + np.arange(term.size).reshape(term.levels, term.q)
        return (
            np.broadcast_to(cols[:, :, None], (term.levels, term.q, term.q)),
            np.broadcast_to(cols[:, None, :], (term.levels, term.q, term.q)),
        )


def _term_rows(design, term: RandomTerm, rows: slice):
    """Columns, values (Z times membership weight) of a term for a chunk: ``(r, m*q)``."""
    blocks = [design.blocks[i] for i in term.blocks]
    first = blocks[0]
    index = np.asarray(first.index[rows], dtype=np.int64)  # (r, m)
    weights = np.asarray(first.weights[rows], dtype=float)  # (r, m)
    Z = np.concatenate([np.asarray(b.Z[rows], dtype=float) for b in blocks], axis=1)  # (r, q)
    cols, vals = effect_columns(index, weights, Z)
    return term.offset + cols, vals


def effect_columns(index, weights, Z):
    """Each row's random-effect columns (level-major, ``q`` per level) and their values
    (``Z`` times the membership weight), both ``(rows, members * q)``.

    Examples
    --------
    >>> Z = np.array([[1.0, 2.0], [1.0, 2.0]])
    >>> cols, vals = effect_columns(np.array([[1], [0]]), np.ones((2, 1)), Z)
    >>> cols.tolist(), vals.tolist()
    ([[2, 3], [0, 1]], [[1.0, 2.0], [1.0, 2.0]])
    """
    q = Z.shape[1]
    cols = index[:, :, None] * q + np.arange(q)[None, None, :]  # (r, m, q)
    vals = weights[:, :, None] * Z[:, None, :]
    r = index.shape[0]
    return cols.reshape(r, -1), vals.reshape(r, -1)


def cross_products(design, *, chunk_rows: int | None = None) -> CrossProducts:
    """Accumulate the cross products of a :class:`~multilevel.design.Design` in one pass.

    Rows with ``se()`` get precision weight ``1/se^2``; ``offset()`` is subtracted from
    ``y``. Memory: the products plus one chunk of rows.
    """
    terms = random_terms(design.blocks)
    n = design.n
    X = design.X
    p = X.shape[1]
    Q = sum(t.size for t in terms)
    diag = {k: np.zeros((t.levels, t.q, t.q)) for k, t in enumerate(terms) if t.diagonal_only}
    ZtX = np.zeros((Q, p))
    Zty = np.zeros(Q)
    XtX = np.zeros((p, p))
    Xty = np.zeros(p)
    yty = 0.0
    log_weights = 0.0
    ZtZ = sp.csr_matrix((Q, Q))
    if chunk_rows is None:
        chunk_rows = int(np.clip(min(Q, n // 8), *_CHUNK_ROWS))
    for start in range(0, n, chunk_rows):
        rows = slice(start, min(start + chunk_rows, n))
        y = np.asarray(design.y[rows], dtype=float) - np.asarray(design.offset[rows], dtype=float)
        Xc = np.asarray(X[rows], dtype=float)
        w = np.ones(len(y))
        if design.se is not None:
            w = 1.0 / np.asarray(design.se[rows], dtype=float) ** 2
            log_weights += float(np.sum(np.log(w)))
        XtX += Xc.T @ (w[:, None] * Xc)
        Xty += Xc.T @ (w * y)
        yty += float(np.sum(w * y * y))
        parts = [_term_rows(design, t, rows) for t in terms]
        off_rows, off_cols, off_vals = [], [], []
        for k, (cols_k, vals_k) in enumerate(parts):
            wv = w[:, None] * vals_k
            for j in range(cols_k.shape[1]):
                ZtX += _bincount_matrix(cols_k[:, j], wv[:, j, None] * Xc, Q)
                Zty += np.bincount(cols_k[:, j], weights=wv[:, j] * y, minlength=Q)
            term = terms[k]
            if term.diagonal_only:
                q = term.q
                level = (cols_k[:, 0] - term.offset) // q
                for a in range(q):
                    for b in range(q):
                        diag[k][:, a, b] += np.bincount(
                            level, weights=wv[:, a] * vals_k[:, b], minlength=term.levels
                        )
            for l_, (cols_l, vals_l) in enumerate(parts):
                if l_ == k and term.diagonal_only:
                    continue
                for a in range(cols_k.shape[1]):
                    for b in range(cols_l.shape[1]):
                        off_rows.append(cols_k[:, a])
                        off_cols.append(cols_l[:, b])
                        off_vals.append(wv[:, a] * vals_l[:, b])
        if off_rows:
            chunk = sp.coo_matrix(
                (np.concatenate(off_vals), (np.concatenate(off_rows), np.concatenate(off_cols))),
                shape=(Q, Q),
            ).tocsr()
            ZtZ = ZtZ + chunk
        # free this chunk's temporaries before the next chunk's are made
        del y, Xc, w, parts, off_rows, off_cols, off_vals
    ZtZ.sum_duplicates()
    ZtZ.eliminate_zeros()
    return CrossProducts(terms, diag, ZtZ.tocsr(), ZtX, Zty, XtX, Xty, yty, n, log_weights)


def _bincount_matrix(index: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """``out[i] = sum of values[rows with index i]`` for a 2-d ``values``."""
    if values.shape[1] == 0:  # no population-level columns (``y ~ 0 + (1 | g)``)
        return np.zeros((size, 0))
    return np.stack(
        [np.bincount(index, weights=values[:, j], minlength=size) for j in range(values.shape[1])],
        axis=1,
    ).reshape(size, values.shape[1])
