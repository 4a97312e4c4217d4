r"""The penalized least squares (PLS) solution and profiled log-likelihood of a Gaussian
multilevel model as a function of the relative covariance parameters :math:`\theta`
(Bates, Mächler, Bolker & Walker 2015, *Fitting linear mixed-effects models using lme4*).

With :math:`b = \Lambda_\theta u`, :math:`u \sim N(0, \sigma^2 I)`, the system

.. math:: \begin{bmatrix} \Lambda^\top Z^\top W Z \Lambda + I & \Lambda^\top Z^\top W X \\
          X^\top W Z \Lambda & X^\top W X \end{bmatrix}
          \begin{bmatrix} u \\ \beta \end{bmatrix} =
          \begin{bmatrix} \Lambda^\top Z^\top W y \\ X^\top W y \end{bmatrix}

is solved from the cross products only. The largest block-diagonal term (one level per row)
is eliminated first, level by level (``q x q`` Cholesky factors held entry by entry,
:mod:`multilevel.linalg.blocks`, a cache-sized chunk of levels at a time); the Schur
complement on the remaining terms, bordered by ``[X y]``, is factored densely in place by one
LAPACK call (or by a sparse LU when large), and the factor's last rows, the Cholesky factor of
the Schur complement on ``[X y]``, give :math:`\log|R_X|^2` and the penalized residual sum of
squares :math:`r^2`. Then (lme4's definitions)

.. math:: -2\ell_{ML} = \log|L|^2 + n\,(1 + \log(2\pi r^2 / n)), \qquad
          -2\ell_{REML} = \log|L|^2 + \log|R_X|^2 + (n-p)(1 + \log(2\pi r^2/(n-p))).

With known standard errors (``y | se(s)``) there is no :math:`\sigma` to profile:
:math:`\Lambda` is the absolute Cholesky factor and
:math:`-2\ell_{ML} = \log|L|^2 + r^2 + n\log 2\pi - \sum\log w`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.linalg import lapack

from multilevel.linalg import blocks, dense
from multilevel.linalg.crossprod import CrossProducts

__all__ = ["ThetaLayout", "PLSSolution", "PLS", "gram_matrix", "solve_pls", "objective"]

_LEVEL_CHUNK = 1 << 15  # levels of the eliminated term factored at once (cache-sized arrays)
_DENSE_LIMIT = 4000  # rest-of-Z columns above which the Schur complement is sparse


@dataclass(frozen=True)
class ThetaLayout:
    """Where each block's relative Cholesky factor sits in :math:`\\theta`.

    ``blocks[j] = (design block, term, first column within the term, q, correlated, start
    in theta)``, in the order of the terms;
    a correlated block has ``q (q + 1) / 2`` entries (lower triangle, column-major, as
    lme4), an uncorrelated one ``q`` (its diagonal).
    """

    blocks: tuple[tuple[int, int, int, int, bool, int], ...]
    size: int

    @classmethod
    def of(cls, design, terms) -> ThetaLayout:
        out, start = [], 0
        for k, term in enumerate(terms):
            col = 0
            for i in term.blocks:
                block = design.blocks[i]
                correlated = block.correlated and block.q > 1
                out.append((i, k, col, block.q, correlated, start))
                start += block.q * (block.q + 1) // 2 if correlated else block.q
                col += block.q
        return cls(tuple(out), start)

    def initial(self) -> np.ndarray:
        """lme4's start: identity factors."""
        theta = np.zeros(self.size)
        for _, _, _, q, correlated, start in self.blocks:
            theta[start : start + self.size_of(q, correlated)] = _tri_identity(q, correlated)
        return theta

    @staticmethod
    def size_of(q: int, correlated: bool) -> int:
        return q * (q + 1) // 2 if correlated else q

    def lower_bounds(self) -> np.ndarray:
        """0 on diagonal entries, -inf elsewhere."""
        low = np.full(self.size, -np.inf)
        for _, _, _, q, correlated, start in self.blocks:
            low[start : start + self.size_of(q, correlated)] = np.where(
                _tri_identity(q, correlated) == 1.0, 0.0, -np.inf
            )
        return low

    def factors(self, theta: np.ndarray, terms) -> list[np.ndarray]:
        """Per term, its ``(q, q)`` lower-triangular :math:`\\Lambda` block."""
        out = [np.zeros((t.q, t.q)) for t in terms]
        for i, k, col, q, _, _ in self.blocks:
            out[k][col : col + q, col : col + q] = self.block_factor(theta, i)
        return out

    def pattern(self, terms) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where :math:`\\theta` sits in the whole ``(Q, Q)`` :math:`\\Lambda`:
        ``Lambda[rows, cols] = theta[source]``, every other entry 0."""
        rows, cols, source = [], [], []
        for _, k, col, q, correlated, start in self.blocks:
            term = terms[k]
            if correlated:
                r, c = lower_column_major(q)
            else:
                r = c = np.arange(q)
            base = term.offset + np.arange(term.levels)[:, None] * term.q + col
            rows.append((base + r).reshape(-1))
            cols.append((base + c).reshape(-1))
            source.append(np.tile(start + np.arange(len(r)), term.levels))
        if not rows:
            return (np.zeros(0, int),) * 3
        return tuple(np.concatenate(a) for a in (rows, cols, source))

    def block_modes(self, b: np.ndarray, terms, block: int) -> np.ndarray:
        """The ``(levels, q)`` conditional modes of design block ``block`` from the modes
        ``b`` of all random-effect columns."""
        for i, k, col, q, _, _ in self.blocks:
            if i == block:
                term = terms[k]
                values = b[term.offset : term.offset + term.size].reshape(term.levels, term.q)
                return values[:, col : col + q].copy()
        raise KeyError(block)

    def block_factor(self, theta: np.ndarray, block: int) -> np.ndarray:
        """The ``(q, q)`` lower-triangular factor of design block ``block``."""
        for i, _, _, q, correlated, start in self.blocks:
            if i != block:
                continue
            values = np.asarray(theta[start : start + self.size_of(q, correlated)], float)
            if not correlated:
                return np.diag(values)
            factor = np.zeros((q, q))
            factor[lower_column_major(q)] = values
            return factor
        raise KeyError(block)


@functools.cache
def lower_column_major(q: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of a ``q x q`` lower triangle in column-major order."""
    rows, cols = np.tril_indices(q)
    order = np.lexsort((rows, cols))
    return rows[order], cols[order]


def _tri_identity(q: int, correlated: bool) -> np.ndarray:
    if not correlated:
        return np.ones(q)
    rows, cols = lower_column_major(q)
    return (rows == cols).astype(float)


@dataclass(frozen=True)
class PLSSolution:
    """The PLS solution at one :math:`\\theta`.

    Attributes
    ----------
    logdet_L : float
        :math:`\\log|\\Lambda^\\top Z^\\top W Z \\Lambda + I|`.
    logdet_RX : float
        :math:`\\log|R_X|^2`, the log-determinant of the Schur complement on ``X``.
    r2 : float
        Penalized weighted residual sum of squares.
    beta : numpy.ndarray
        :math:`\\hat\\beta`.
    u : numpy.ndarray
        Spherical random effects :math:`\\hat u` (all ``Q`` columns).
    b : numpy.ndarray
        Conditional modes :math:`\\Lambda \\hat u`.
    RX_inv : numpy.ndarray
        :math:`(R_X R_X^\\top)^{-1}` (times :math:`\\sigma^2`: ``vcov(beta)``).
    """

    logdet_L: float
    logdet_RX: float
    r2: float
    beta: np.ndarray
    u: np.ndarray
    b: np.ndarray
    RX_inv: np.ndarray


def _chunks(levels: int) -> list[slice]:
    """Consecutive slices of ``_LEVEL_CHUNK`` levels."""
    return [slice(a, min(a + _LEVEL_CHUNK, levels)) for a in range(0, levels, _LEVEL_CHUNK)]


def _joined(parts):
    """Per-chunk arrays of one entry joined over all levels (``None``: above the diagonal)."""
    parts = list(parts)
    if parts[0] is None or len(parts) == 1:
        return parts[0]
    return np.concatenate(parts)


def _lambda_times(factors, terms, u: np.ndarray) -> np.ndarray:
    r""":math:`\Lambda u` over all random-effect columns, term by term (each level's ``q``
    entries of ``u`` times the term's factor)."""
    b = np.empty_like(u)
    for t, f in zip(terms, factors, strict=True):
        cols = slice(t.offset, t.offset + t.size)
        b[cols] = (u[cols].reshape(t.levels, t.q) @ f.T).reshape(-1)
    return b


def _block_diagonal(blocks: np.ndarray) -> sp.bsr_matrix:
    """A sparse matrix with the ``(levels, q, q)`` blocks on its diagonal."""
    levels = blocks.shape[0]
    return sp.bsr_matrix(
        (blocks, np.arange(levels), np.arange(levels + 1)),
        shape=(levels * blocks.shape[1], levels * blocks.shape[2]),
    )


def gram_matrix(cp: CrossProducts, skip: int | None = None) -> sp.csr_matrix:
    """``Z'WZ`` over all columns, leaving out the diagonal blocks of term ``skip``."""
    parts = [cp.ZtZ]
    Q = cp.Q
    for k in range(len(cp.terms)):
        if k == skip or k not in cp.diag:
            continue
        rows, cols = cp.diagonal_cells(k)
        parts.append(
            sp.csr_matrix((cp.diag[k].ravel(), (rows.ravel(), cols.ravel())), shape=(Q, Q))
        )
    out = parts[0]
    for part in parts[1:]:
        out = out + part
    return out.tocsr()


class PLS:
    """The PLS system of a model, set up once; calling it at ``theta`` factors it.

    ``dense_factor``: factor the whole system densely (:mod:`multilevel.linalg.dense`), or
    eliminate level by level; None chooses by size.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import design
    >>> from multilevel.linalg.crossprod import cross_products
    >>> d = design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> cp = cross_products(d)
    >>> pls = PLS(cp, ThetaLayout.of(d, cp.terms))
    >>> sol = pls([0.9667, 0.0152, 0.2309])
    >>> round(objective(sol, cp.n, cp.p, reml=True, known_sigma=False, log_weights=0.0), 2)
    1743.63
    """

    def __init__(self, cp: CrossProducts, layout: ThetaLayout, *, dense_factor=None):
        self.cp, self.layout = cp, layout
        terms = cp.terms
        p = cp.p
        candidates = [k for k, t in enumerate(terms) if t.diagonal_only]
        self.first = max(candidates, key=lambda k: terms[k].size) if candidates else None
        self.XyXy = cp.XyXy()
        if self.first is not None:
            t1 = terms[self.first]
            self.cols1 = np.arange(t1.offset, t1.offset + t1.size)
            # entry by entry (multilevel.linalg.blocks): contiguous per-level arrays
            self.G1 = blocks.entries(blocks.levels_last(cp.diag[self.first]))
            self.ZtXy1_rows = []  # row a of every level's [Z'X Z'y] block, (levels, p + 1)
            for a in range(t1.q):
                row = np.empty((t1.levels, p + 1))
                row[:, :p] = cp.ZtX[t1.offset + a : t1.offset + t1.size : t1.q]
                row[:, p] = cp.Zty[t1.offset + a : t1.offset + t1.size : t1.q]
                self.ZtXy1_rows.append(row)
        else:
            self.cols1 = np.arange(0)
        self.rest_terms = [k for k in range(len(terms)) if k != self.first]
        self.rest = (
            np.concatenate(
                [
                    np.arange(terms[k].offset, terms[k].offset + terms[k].size)
                    for k in self.rest_terms
                ]
            )
            if self.rest_terms
            else np.arange(0)
        )
        self.coupling = None
        if dense_factor is None:  # one dense factor where that is cheaper (small models)
            dense_factor = dense.worthwhile(
                cp.Q + p + 1, coupled=len(self.rest) > 0, n_theta=layout.size
            )
        self.dense = dense.DenseDeviance.of(cp, layout) if dense_factor else None
        #: columns of the largest dense matrix factored per evaluation
        self.dense_columns = cp.Q + p + 1 if self.dense is not None else len(self.rest) + p + 1
        self.polynomial = None  # the dense factor needs none (and falls back to entries)
        if self.first is not None and self.dense is None:
            self.polynomial = LevelPolynomial.of(
                layout, self.first, terms[self.first], cp.diag[self.first], self.ZtXy1_rows
            )
        if len(self.rest):
            G = gram_matrix(cp, self.first)
            self.G_rr = G[self.rest][:, self.rest].tocsr()
            self.G_1r = G[self.cols1][:, self.rest].tocsr() if self.first is not None else None
            self.ZtXy_r = np.column_stack([cp.ZtX[self.rest], cp.Zty[self.rest]])
            if self.G_1r is not None and len(self.rest) <= _DENSE_LIMIT:
                self.coupling = Coupling.of(self.G_1r, terms[self.first].q, len(self.rest))
                self.lam_r_diagonal = not any(
                    correlated
                    for _, k, _, _, correlated, _ in layout.blocks
                    if k in self.rest_terms
                )
                if self.coupling is not None:
                    self.G_rr_dense = self.G_rr.toarray()
        r = len(self.rest)
        if r and r <= _DENSE_LIMIT:
            # the rest terms' Schur complement bordered by [X y], factored in place: its
            # lower triangle in a Fortran-ordered buffer, where ``flat[i * N + j]`` is
            # entry (j, i)
            N = r + p + 1
            self._bordered = np.zeros((N, N), order="F")
            self._flat = self._bordered.T.reshape(-1)  # a view
            self._diagonal = slice(0, r * (N + 1), N + 1)  # the rest terms' diagonal in flat
            if self.coupling is not None and self.lam_r_diagonal:
                # Lambda_r = diag(theta[source]), so M_rr = Lambda_r K Lambda_r + I is K's
                # nonzeros (G_rr's and the coupling's cells) times a product of two thetas
                G = sp.triu(self.G_rr).tocoo()
                self.coupling = self.coupling.including(G.row * r + G.col, r)
                cells = self.coupling.cells
                self._G_cells = self.G_rr_dense.reshape(-1)[cells]
                del self.G_rr_dense  # not needed on this path
                i, j = np.divmod(cells, r)
                self._cells = i * N + j  # (j, i) in flat: the lower triangle
                rows, cols, source = layout.pattern(terms)
                where = np.full(cp.Q, -1)
                where[rows[rows == cols]] = source[rows == cols]
                source = where[self.rest]  # the theta entry of each rest column
                self._rest_source = source
                self._cell_pairs = source[i] * layout.size + source[j]

    def _lambda_rest(self, factors) -> sp.csr_matrix:
        terms = self.cp.terms
        mats = []
        for k in self.rest_terms:
            t = terms[k]
            if t.q == 1:
                mats.append(sp.identity(t.levels, format="csr") * float(factors[k][0, 0]))
            else:
                mats.append(sp.kron(sp.identity(t.levels, format="csr"), sp.csr_matrix(factors[k])))
        return sp.block_diag(mats, format="csr")

    def __call__(self, theta, *, solution: bool = True) -> PLSSolution:
        """Factor at ``theta``; with ``solution=False`` only the determinants and ``r2``
        (what the optimizer needs), else also ``beta``, ``u``, ``b`` and ``RX_inv``."""
        cp, terms = self.cp, self.cp.terms
        theta = np.asarray(theta, dtype=float)
        if self.dense is not None:
            out = self._by_dense_factor(theta, solution)
            if out is not None:  # else the factor failed: the elimination below decides
                return out
        factors = self.layout.factors(theta, terms)
        p, Q = cp.p, cp.Q
        S_xy = self.XyXy.copy()
        logdet_L = 0.0
        first, rest = self.first, self.rest
        if first is not None:
            t1 = terms[first]
            lam1 = factors[first]
            lam = blocks.lower_entries(lam1)
            keep = solution or len(rest) > 0  # the factors are needed again below
            parts = []
            for chunk in _chunks(t1.levels):  # a chunk of levels at a time: cache-sized
                if self.polynomial is not None:  # one chunk: every level's A and V at once
                    A, V = self.polynomial(theta)
                else:
                    G = [[g[chunk] for g in row] for row in self.G1]
                    A = blocks.congruence(lam, G)
                    V = blocks.transpose_times(lam, [r[chunk] for r in self.ZtXy1_rows])
                L = blocks.cholesky(A, np)  # entries, (chunk,)
                logdet_L += float(blocks.log_det(L, np))
                W = blocks.lower_solve(L, V)
                for w in W:  # row i of every level's block, (chunk, p + 1)
                    S_xy -= w.T @ w
                if keep:
                    parts.append((chunk, L, W))
            if len(rest):  # the coupling with the other terms needs all levels at once
                L1 = [
                    [_joined(P[1][i][j] for P in parts) for j in range(t1.q)] for i in range(t1.q)
                ]
                W1 = [_joined(P[2][i] for P in parts) for i in range(t1.q)]
        Chat = None
        coupled = None
        r = len(rest)
        bordered = r and r <= _DENSE_LIMIT
        if bordered:
            B, flat = self._bordered, self._flat
        if r and self.coupling is not None:
            # the eliminated term's coupling, precomputed (Coupling):
            # Chat'Chat = Lambda_r' G_1r' D G_1r Lambda_r, D_l = Lambda_1 A_l^{-1} Lambda_1'
            left = _left_factor(L1, lam)  # L1^{-1} Lambda_1'
            D = np.einsum("lki,lkj->lij", left, left)
            rows1, q1 = self.ZtXy1_rows, len(self.ZtXy1_rows)
            DZ = np.stack(  # D_l ZtXy1_l for every level, (levels * q, p + 1)
                [sum(D[:, a, b, None] * rows1[b] for b in range(q1)) for a in range(q1)], axis=1
            ).reshape(-1, p + 1)
            K_xy = self.ZtXy_r - self.G_1r.T @ DZ
            if self.lam_r_diagonal:  # M_rr = S K S + I, S = diag(scale): in the buffer
                values = self._G_cells - self.coupling.S @ D.reshape(-1)
                values *= np.multiply.outer(theta, theta).reshape(-1)[self._cell_pairs]
                B.fill(0.0)
                flat[self._cells] = values  # the lower triangle
                scale = theta[self._rest_source]
                M_r_xy = scale[:, None] * K_xy
                lam_r = sp.diags(scale, format="csr") if solution else None
            else:
                lam_r = self._lambda_rest(factors)
                K = self.coupling.subtract_from(self.G_rr_dense, D)
                B[:r, :r] = np.asarray(lam_r.T @ (lam_r.T @ K.T).T)
                M_r_xy = np.asarray(lam_r.T @ K_xy)
            coupled = (lam_r, left)
        elif r:
            lam_r = self._lambda_rest(factors)
            M_rr = (lam_r.T @ self.G_rr @ lam_r).toarray()
            M_r_xy = lam_r.T @ self.ZtXy_r
            if first is not None and self.G_1r.nnz:
                left = _block_diagonal(_left_factor(L1, lam))
                Chat = (left.tocsr() @ self.G_1r @ lam_r).tocsr()
                M_rr -= (Chat.T @ Chat).toarray()
                M_r_xy = M_r_xy - Chat.T @ np.stack(W1, axis=1).reshape(-1, p + 1)
            M_r_xy = np.asarray(M_r_xy)
            if bordered:
                B[:r, :r] = M_rr
            else:  # pragma: no cover - very large crossed factors
                M_rr[np.diag_indices_from(M_rr)] += 1.0
                lu = spla.splu(sp.csc_matrix(M_rr))
                logdet_L += float(np.sum(np.log(np.abs(lu.U.diagonal()))))
                sol_r = lu.solve(M_r_xy)
                S_xy = S_xy - M_r_xy.T @ sol_r
        if bordered:
            # one Cholesky factor of [[M_rr, M_r_xy], [M_r_xy', S_xy]] (lower triangles):
            # L_rr, then L_rr^{-1} M_r_xy and the factor of [X y]'s Schur complement
            flat[self._diagonal] += 1.0
            B[r:, :r] = M_r_xy.T
            B[r:, r:] = S_xy
            whole, info = lapack.dpotrf(B, lower=1, clean=0, overwrite_a=1)
            if 0 < info <= r:
                raise np.linalg.LinAlgError("the random-effects system is not positive definite")
            logdet_L += 2.0 * float(np.log(whole.diagonal()[:r]).sum())
            factor, info = whole[r:, r:], max(info - r, 0)
            s_yy = S_xy[p, p] - float(whole[-1, :r] @ whole[-1, :r]) if info else None
        else:
            # the Cholesky factor of [X y]'s Schur complement: R_X, then z' and r
            factor, info = lapack.dpotrf(S_xy, lower=1, clean=1)
            s_yy = S_xy[p, p]
        if 0 < info <= p:
            raise np.linalg.LinAlgError("the population-level design is not of full rank")
        R, z = np.tril(factor[:p, :p]), factor[p, :p]
        logdet_RX = 2.0 * float(np.log(np.diagonal(R)).sum())
        r2 = float(factor[p, p]) ** 2 if info == 0 else max(float(s_yy - z @ z), 0.0)
        if not solution:
            return PLSSolution(logdet_L, logdet_RX, r2, None, None, None, None)

        beta = sla.solve_triangular(R.T, z, lower=False) if p else np.zeros(0)
        u = np.zeros(Q)
        if bordered:
            # u_r = M_rr^{-1} (m_ry - m_rX beta) = L_rr^{-T} (l_y - l_X beta), with the rows
            # [l_X; l_y] = L_rr^{-1} [m_rX m_ry] of the factor below L_rr
            below = whole[r:, :r]
            u[rest] = sla.solve_triangular(
                whole[:r, :r], below[p] - beta @ below[:p], lower=True, trans="T"
            )
        elif len(rest):  # pragma: no cover - very large crossed factors
            # sol_r = M_rr^{-1} [m_rX, m_ry]; u_r = M_rr^{-1} (m_ry - m_rX beta)
            u[rest] = sol_r[:, p] - sol_r[:, :p] @ beta
        if first is not None:
            # L1' u1 = W1_y - W1_X beta - Chat u_r
            coupling = None  # Chat u_r, (levels, q)
            if Chat is not None:
                coupling = (Chat @ u[rest]).reshape(t1.levels, t1.q)
            elif coupled is not None:
                lam_r, left = coupled
                g = (self.G_1r @ (lam_r @ u[rest])).reshape(t1.levels, t1.q)
                coupling = np.einsum("lij,lj->li", left, g)
            u1 = u[t1.offset : t1.offset + t1.size].reshape(t1.levels, t1.q)  # a view
            for chunk, L, W in parts:
                v = [w[:, p] - w[:, :p] @ beta for w in W]
                if coupling is not None:
                    v = [vi - coupling[chunk, i] for i, vi in enumerate(v)]
                u1[chunk] = np.stack(blocks.upper_solve(L, v), axis=1)
        b = _lambda_times(factors, terms, u)
        RX_inv = np.linalg.inv(R @ R.T) if p else np.zeros((0, 0))
        return PLSSolution(logdet_L, logdet_RX, r2, beta, u, b, RX_inv)

    def _by_dense_factor(self, theta, solution: bool) -> PLSSolution | None:
        """:meth:`__call__` by the one dense factor; None where it fails."""
        if not solution:
            numbers = self.dense(theta)
            return None if numbers is None else PLSSolution(*numbers, None, None, None, None)
        solved = self.dense.solve(theta)
        if solved is None:
            return None
        logdet_L, logdet_RX, r2, u, beta, R = solved
        terms = self.cp.terms
        b = _lambda_times(self.layout.factors(theta, terms), terms, u)
        RX_inv = sla.cho_solve((R, True), np.eye(len(beta)), check_finite=False)
        return PLSSolution(logdet_L, logdet_RX, r2, beta, u, b, RX_inv)


class LevelPolynomial:
    r"""The eliminated term's per-level blocks as polynomials in :math:`\theta`, precomputed.

    The term's factor is linear in its few entries of :math:`\theta`: with :math:`v =
    (\theta_{term}, 1)`, :math:`\Lambda_1 = \sum_k v_k E_k` for fixed 0/1 patterns
    :math:`E_k`. So every level's :math:`A_l = \Lambda_1^\top G_l \Lambda_1 + I` is quadratic
    and :math:`V_l = \Lambda_1^\top [Z^\top X\; Z^\top y]_l` linear in :math:`v`, with
    coefficients fixed by the data: an evaluation is two matrix-vector products instead of
    the ~20 elementwise operations of :func:`blocks.congruence` and
    :func:`blocks.transpose_times`. Used when the coefficients take at most ``limit`` values
    (1 MiB: ~1800 levels of ``(x | g)``, where the per-call overhead matters; the
    coefficients take 8 times the memory of the blocks themselves).
    """

    def __init__(self, index, A, V, q, levels):
        self.index, self.A, self.V, self.q, self.levels = index, A, V, q, levels
        self._v = np.ones(len(index) + 1)
        self._lower = [(i, j) for i in range(q) for j in range(i + 1)]

    @classmethod
    def of(cls, layout, first, term, diag, rows, limit: int = 1 << 17):
        """From the layout, the eliminated term's ``(levels, q, q)`` blocks of ``Z'Z`` and its
        rows of ``[Z'X Z'y]``; None where the coefficients would be too many."""
        q, levels, width = term.q, term.levels, rows[0].shape[1]
        entries = [
            (col + r, col + c, start + m)
            for _, k, col, qb, correlated, start in layout.blocks
            if k == first
            for m, (r, c) in enumerate(
                zip(*lower_column_major(qb), strict=True)
                if correlated
                else ((a, a) for a in range(qb))
            )
        ]
        K = len(entries)
        lower = q * (q + 1) // 2
        if (K + 1) ** 2 * lower * levels + (K + 1) * q * levels * width > limit:
            return None
        if levels > _LEVEL_CHUNK:
            return None
        # E_k has one 1, at (r_k, c_k), so (E_k' G E_h)[c_k, c_h] = G[r_k, r_h] and
        # (E_k' R)[c_k] = R[r_k]; v_K = 1 carries the identity (the factor has no constant)
        r, c = (np.array([e[i] for e in entries], dtype=np.intp) for i in (0, 1))
        k = np.arange(K)
        A = np.zeros((K + 1, K + 1, q, q, levels))
        A[k[:, None], k, c[:, None], c] = np.transpose(diag, (1, 2, 0))[r[:, None], r]
        A[K, K, range(q), range(q)] = 1.0
        rows_, cols_ = np.tril_indices(q)
        A = A[:, :, rows_, cols_].reshape((K + 1) ** 2, lower * levels)
        V = np.zeros((K + 1, q, levels, width))
        V[k, c] = np.stack(rows)[r]
        V = V.reshape(K + 1, -1)
        index = np.array([m for _, _, m in entries], dtype=np.intp)
        return cls(index, np.ascontiguousarray(A), np.ascontiguousarray(V), q, levels)

    def __call__(self, theta):
        """Every level's ``A`` (lower entries, nested lists) and ``V`` (a list of ``q``
        ``(levels, p + 1)`` arrays) at ``theta``."""
        v = self._v
        v[:-1] = np.asarray(theta).take(self.index)
        a = (np.multiply.outer(v, v).reshape(-1) @ self.A).reshape(-1, self.levels)
        A = [[None] * self.q for _ in range(self.q)]
        for n, (i, j) in enumerate(self._lower):
            A[i][j] = a[n]
        V = (v @ self.V).reshape(self.q, self.levels, -1)
        return A, list(V)


@dataclass(frozen=True)
class Coupling:
    r"""The rest terms' Gram matrix correction through the eliminated term, precomputed.

    Eliminating a block-diagonal term with per-level blocks :math:`D_l` subtracts
    :math:`\sum_l G_{1r,l}^\top D_l G_{1r,l}` from the rest terms' Gram matrix. Its pattern
    is fixed, so it is stored as a sparse map ``S`` from the entries of all ``D_l`` to the
    distinct entries ``cells`` of the upper triangle it touches (``mirror``: the same
    entries below the diagonal): each evaluation is one sparse matrix-vector product.
    """

    S: sp.csr_matrix
    cells: np.ndarray
    mirror: np.ndarray
    below: np.ndarray

    @classmethod
    def of(
        cls,
        G_1r: sp.csr_matrix,
        q1: int,
        rest: int,
        limit: int = 30_000_000,
        chunk: int = 1 << 18,
    ):
        """From the ``(levels * q1, rest)`` coupling block; None when its pairs of entries
        in the same level number over ``limit``. The pairs are formed ``chunk`` at a time
        (InstEval: 2.5 M pairs, whose temporaries peaked at 156 MiB formed at once)."""
        coo = G_1r.tocoo()
        level = coo.row // q1
        order = np.argsort(level, kind="stable")
        level, within, col, val = level[order], coo.row[order] % q1, coo.col[order], coo.data[order]
        levels = G_1r.shape[0] // q1
        counts = np.bincount(level, minlength=levels)
        per_entry = counts[level]
        if int(per_entry.sum()) > limit:
            return None
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        ends = np.cumsum(per_entry)  # pairs formed by the entries before and including each
        parts, a = [], 0
        while a < len(level):  # entries [a, b): about `chunk` pairs
            b = max(int(np.searchsorted(ends, ends[a] - per_entry[a] + chunk, "right")), a + 1)
            n = per_entry[a:b]
            first = np.repeat(np.arange(a, b), n)
            second = starts[level[first]] + (np.arange(len(first)) - np.repeat(np.cumsum(n) - n, n))
            upper = col[first] <= col[second]  # the symmetric lower half is mirrored
            first, second = first[upper], second[upper]
            index = np.int32 if rest * rest < 2**31 and levels * q1 * q1 < 2**31 else np.int64
            parts.append(
                (
                    (col[first] * rest + col[second]).astype(index),
                    (level[first] * q1 * q1 + within[first] * q1 + within[second]).astype(index),
                    val[first] * val[second],
                )
            )
            a = b
        flat, entry, value = (np.concatenate(x) for x in zip(*parts, strict=True))
        del parts
        used = np.zeros(rest * rest, dtype=bool)  # the cells touched, by a table (no sort)
        used[flat] = True
        cells = np.flatnonzero(used)
        row = (np.cumsum(used, dtype=flat.dtype) - 1)[flat]
        del used, flat
        S = sp.csr_matrix((value, (row, entry)), shape=(len(cells), levels * q1 * q1))
        i, j = np.divmod(cells, rest)
        below = i != j
        return cls(S, cells, j[below] * rest + i[below], below)

    def including(self, cells: np.ndarray, rest: int) -> Coupling:
        """The same map onto the union of its cells and ``cells`` (flat indices ``i * rest
        + j``, ``i <= j``), which it leaves at zero."""
        used = np.zeros(rest * rest, dtype=bool)  # by a table, as in `of`
        used[self.cells] = True
        used[cells] = True
        union = np.flatnonzero(used).astype(self.cells.dtype)
        counts = np.zeros(len(union), dtype=self.S.indptr.dtype)  # S's rows, spread out
        counts[np.searchsorted(union, self.cells)] = np.diff(self.S.indptr)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(counts.dtype)
        S = sp.csr_matrix(
            (self.S.data, self.S.indices, indptr), shape=(len(union), self.S.shape[1])
        )
        i, j = np.divmod(union, rest)
        below = i != j
        return Coupling(S, union, j[below] * rest + i[below], below)

    def subtract_from(self, G: np.ndarray, D: np.ndarray) -> np.ndarray:
        """``G - sum_l G_1r,l' D_l G_1r,l`` for the per-level blocks ``D``."""
        values = self.S @ D.reshape(-1)
        K = G.copy()
        flat = K.reshape(-1)
        flat[self.cells] -= values
        flat[self.mirror] -= values[self.below]
        return K


def _left_factor(L1, lam) -> np.ndarray:
    """``L1[l]^{-1} lam'`` for every level, ``(levels, q, q)`` (``L1``, ``lam``: entries)."""
    q = len(lam)
    columns = [
        blocks.lower_solve(L1, [lam[j][a] if a <= j else 0.0 for a in range(q)]) for j in range(q)
    ]
    return np.stack([np.stack(column, axis=1) for column in columns], axis=2)


def solve_pls(cp: CrossProducts, layout: ThetaLayout, theta, *, solution: bool = True):
    """One-off :class:`PLS` solve at ``theta`` (set up a :class:`PLS` to solve repeatedly)."""
    return PLS(cp, layout)(theta, solution=solution)


def objective(
    sol: PLSSolution, n: int, p: int, *, reml: bool, known_sigma: bool, log_weights: float
):
    """-2 log-likelihood (ML) or -2 restricted log-likelihood (REML) as lme4 defines them."""
    if known_sigma:
        dev = sol.logdet_L + sol.r2 + n * _LOG_2PI - log_weights
        if reml:
            dev += sol.logdet_RX - p * _LOG_2PI
        return float(dev)
    dof = n - p if reml else n
    dev = sol.logdet_L + dof * (1.0 + _log(2.0 * math.pi * sol.r2 / dof)) - log_weights
    return float(dev + sol.logdet_RX if reml else dev)


_LOG_2PI = math.log(2.0 * math.pi)


def _log(x: float) -> float:
    """``math.log`` (a scalar is called for, and NumPy's costs a microsecond) with -inf at 0."""
    return math.log(x) if x > 0 else -math.inf
