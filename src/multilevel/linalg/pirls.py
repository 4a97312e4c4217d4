r"""Penalized iteratively reweighted least squares (PIRLS) and the Laplace approximation of
a generalized linear mixed model's likelihood, as lme4's ``glmer`` defines them (Bates,
Mächler, Bolker & Walker 2015, section 5; Bates, *lme4: Mixed-effects modeling with R*).

With group effects :math:`b = \Lambda_\theta u`, :math:`u \sim N(0, I)`, and linear
predictor :math:`\eta = o + X\beta + Z\Lambda_\theta u`, PIRLS finds the mode :math:`\tilde u`
of :math:`\log p(y \mid \eta) - \tfrac12 u^\top u` by Fisher scoring with step halving
(with :math:`\beta` fixed, or jointly with :math:`\beta`: lme4's ``nAGQ = 0``), and

.. math:: -2\ell_{Laplace}(\theta, \beta) = -2\log p(y \mid \tilde\eta) + \tilde u^\top\tilde u
          + \log|L|^2, \qquad L L^\top = \Lambda^\top Z^\top W Z \Lambda + I,

with :math:`W` the Fisher weights at the mode (:mod:`multilevel.linalg.glm`). For one scalar
grouping factor, :func:`agq_deviance` replaces the Laplace approximation of each level's
integral by adaptive Gauss–Hermite quadrature (``nAGQ > 1``).

The system is factored densely when it has at most :data:`DENSE_LIMIT` columns, else by a
sparse LU (SuperLU with a fill-reducing order, no pivoting: the matrix is positive
definite).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.special import logsumexp

from multilevel.errors import EngineError
from multilevel.linalg import blocks
from multilevel.linalg.crossprod import effect_columns, random_terms
from multilevel.linalg.profiled import ThetaLayout

__all__ = [
    "DENSE_LIMIT",
    "Mode",
    "RandomDesign",
    "agq_deviance",
    "find_mode",
    "lambda_matrix",
    "laplace_deviance",
]

#: Random-effect columns up to which the PIRLS system is factored densely.
DENSE_LIMIT = 2000


def lambda_matrix(pattern, theta, Q: int) -> sp.csr_matrix:
    r""":math:`\Lambda_\theta`, ``(Q, Q)``, from where :math:`\theta` sits in it
    (:meth:`ThetaLayout.pattern <multilevel.linalg.profiled.ThetaLayout.pattern>`)."""
    rows, cols, source = pattern
    return sp.csr_matrix((np.asarray(theta, dtype=float)[source], (rows, cols)), shape=(Q, Q))


class RandomDesign:
    r"""The random-effects design :math:`Z` (columns level-major within each term, as
    :func:`~multilevel.linalg.crossprod.random_terms` lays them out) and :math:`Z\Lambda_\theta`
    (:meth:`at`).

    The largest term whose rows touch one level each (not ``mm()``) is held row by row, with
    its ``q`` values per row and each row's level: its part of the PIRLS system is block
    diagonal, factored level by level (:mod:`multilevel.linalg.blocks`). The other terms
    ("rest") are a sparse matrix; their part, bordered by :math:`X`, is factored densely
    after the first term is eliminated, when they have at most :data:`DENSE_LIMIT` columns.
    Otherwise the whole system is one sparse matrix.

    With a first term, the rows are kept sorted by its level (:attr:`order`; the engine puts
    its per-row arrays in this order with :meth:`rows`): a sum over each level's rows is then
    one pass over contiguous segments and a level's value is spread to its rows by
    ``np.repeat``, several times faster than scattered sums and gathers at 10^6 rows.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import design
    >>> d = design("incidence | trials(size) ~ period + (1 | herd)", ml.datasets.load("cbpp"),
    ...            family="binomial")
    >>> rd = RandomDesign(d)
    >>> rd.Z.shape, rd.layout.size, rd.first
    ((56, 15), 1, 0)
    """

    def __init__(self, design):
        self.terms = terms = random_terms(design.blocks)
        self.layout = ThetaLayout.of(design, terms)
        n = design.n
        self.n = n
        self.Q = Q = sum(t.size for t in terms)
        rows, cols, vals, values = [], [], [], []
        for term in terms:
            blocks = [design.blocks[i] for i in term.blocks]
            first = blocks[0]
            Zt = np.concatenate([np.asarray(b.Z, dtype=float) for b in blocks], axis=1)
            index = np.asarray(first.index, dtype=np.int64)
            c, v = effect_columns(index, np.asarray(first.weights, float), Zt)
            rows.append(np.repeat(np.arange(n), c.shape[1]))
            cols.append(term.offset + c.reshape(-1))
            vals.append(v.reshape(-1))
            values.append((index[:, 0], Zt))
        if rows:
            self.Z = sp.csr_matrix(
                (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, Q)
            )
        else:
            self.Z = sp.csr_matrix((n, 0))
        self._pattern = self.layout.pattern(terms)
        diagonal = [k for k, t in enumerate(terms) if t.diagonal_only]
        self.first = max(diagonal, key=lambda k: terms[k].size) if diagonal else None
        rest = [k for k in range(len(terms)) if k != self.first]
        self.rest = (
            np.concatenate(
                [np.arange(terms[k].offset, terms[k].offset + terms[k].size) for k in rest]
            )
            if rest
            else np.zeros(0, dtype=np.int64)
        )
        if self.first is not None and (
            len(self.rest) > DENSE_LIMIT or terms[self.first].size * len(self.rest) > 5e7
        ):  # too many other columns for a dense border (or coupling block): one sparse system
            self.first = None
        self.order = None
        self.X = None
        if self.first is not None:
            t1 = terms[self.first]
            self.cols1 = np.arange(t1.offset, t1.offset + t1.size)
            level, Z1 = values[self.first]
            self.order = np.argsort(level, kind="stable")
            self.level = level[self.order]
            self.Z1 = np.ascontiguousarray(Z1[self.order].T)  # (q, n), rows sorted
            self.basis = self.Z1  # the columns weighted_gram sums (share_columns adds X's)
            self.basis_ones = [bool(np.all(c == 1.0)) for c in self.Z1]
            self.counts = np.bincount(self.level, minlength=t1.levels)
            self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
            self.levels = t1.levels
            self.Zrest = self.Z[self.order][:, self.rest].tocsr()
            # sums over each level's rows of a sparse matrix (the coupling with the rest)
            self.P = sp.csr_matrix((np.ones(n), (self.level, np.arange(n))), shape=(t1.levels, n))

    def rows(self, values):
        """Per-row ``values`` in the order the design keeps its rows (see the class)."""
        if values is None or self.order is None:
            return values
        return np.asarray(values)[self.order]

    def level_sum(self, values) -> np.ndarray:
        """The sum over each level's rows of the first term (along the last axis)."""
        out = np.add.reduceat(values, self.starts, axis=-1)
        empty = self.counts == 0
        if empty.any():  # reduceat gives the next row's value for an empty segment
            out[..., empty] = 0.0
        return out

    def share_columns(self, X) -> None:
        """Remember the population design ``X`` (rows in :attr:`order`) and which of its
        columns repeat the first term's: each PIRLS step then sums ``w c_i c_j`` by level once
        for each pair of distinct columns (``(1 + x | g)`` with ``~ 1 + x``: three sums
        instead of thirteen) and has ``X' W X`` as the sum of those over the levels."""
        columns = [self.Z1[a] for a in range(self.Z1.shape[0])]
        x_index = []
        for j in range(X.shape[1]):
            column = np.ascontiguousarray(X[:, j])
            match = next((i for i, c in enumerate(columns) if np.array_equal(c, column)), None)
            if match is None:
                columns.append(column)
                match = len(columns) - 1
            x_index.append(match)
        self.X = X
        self.basis = np.stack(columns)  # (k, n)
        self.basis_ones = [bool(np.all(c == 1.0)) for c in columns]
        self.x_index = np.array(x_index, dtype=np.intp)

    def weighted_gram(self, w, k: int) -> np.ndarray:
        """``G[l, i, j]``: the sum over level ``l``'s rows of ``w c_i c_j`` for the first
        ``k`` columns of the basis (:meth:`share_columns`), ``(levels, k, k)``."""
        G = np.empty((self.levels, k, k))
        for i in range(k):
            wi = w if self.basis_ones[i] else w * self.basis[i]
            for j in range(i + 1):
                G[:, i, j] = G[:, j, i] = self.level_sum(
                    wi if self.basis_ones[j] else wi * self.basis[j]
                )
        return G

    def spread(self, values) -> np.ndarray:
        """Each level's value on each of its rows."""
        return np.repeat(values, self.counts)

    def lam(self, theta) -> sp.csr_matrix:
        r""":math:`\Lambda_\theta`, ``(Q, Q)``."""
        return lambda_matrix(self._pattern, theta, self.Q)

    def at(self, theta):
        r""":math:`Z \Lambda_\theta` with what PIRLS does with it."""
        if self.first is None:
            return _SparseEffects(self, (self.Z @ self.lam(theta)).tocsr())
        return _BlockedEffects(self, theta)


class _SparseEffects:
    r""":math:`Z\Lambda` as one sparse matrix; the system factored by :class:`_System`."""

    def __init__(self, rd: RandomDesign, ZL):
        self.ZL = ZL

    def times(self, u):
        return self.ZL @ u

    def transpose_times(self, v):
        return self.ZL.T @ v

    def system(self, w, X, precision=None):
        return _System(self.ZL, X, w, precision)

    def row_values(self):
        r"""Each row's one entry of :math:`Z\Lambda` (one scalar term)."""
        return np.asarray(self.ZL.sum(axis=1)).ravel()


class _BlockedEffects:
    r""":math:`Z\Lambda` as the first term's ``(n, q)`` row values and the rest's sparse
    matrix; the system factored by :class:`_BlockedSystem`."""

    def __init__(self, rd: RandomDesign, theta):
        self.rd = rd
        factors = rd.layout.factors(theta, rd.terms)
        self.lam1 = factors[rd.first]
        self.V1 = self.lam1.T @ rd.Z1  # (q, n): row i's Lambda_1' z_i, rows sorted
        self.q = self.V1.shape[0]
        self.levels = rd.levels
        lam = rd.lam(theta)
        self.ZLr = (rd.Zrest @ lam[rd.rest][:, rd.rest]).tocsr() if len(rd.rest) else None

    def times(self, u):
        rd = self.rd
        u1 = u[rd.cols1].reshape(self.levels, self.q)
        out = self.V1[0] * rd.spread(u1[:, 0])
        for a in range(1, self.q):
            out += self.V1[a] * rd.spread(u1[:, a])
        if self.ZLr is not None:
            out = out + self.ZLr @ u[rd.rest]
        return out

    def transpose_times(self, v):
        rd = self.rd
        out = np.empty(rd.Q)
        out[rd.cols1] = rd.level_sum(self.V1 * v).T.reshape(-1)
        if self.ZLr is not None:
            out[rd.rest] = self.ZLr.T @ v
        return out

    def system(self, w, X, precision=None):
        return _BlockedSystem(self, w, X, precision)

    def row_values(self):
        return self.V1[0]


class _BlockedSystem:
    """The PIRLS system with the first term eliminated level by level: per-level ``q x q``
    factors of ``A11`` (entries, :mod:`multilevel.linalg.blocks`), then one dense factor of
    the rest's columns and ``X`` after elimination. ``precision`` (``p x p``) is added to the
    ``X' W X`` block: the curvature of a prior on ``beta`` (nested Laplace)."""

    def __init__(self, effects: _BlockedEffects, w, X, precision=None):
        rd, V1, q = effects.rd, effects.V1, effects.q
        ZLr = effects.ZLr
        shared = X is not None and X is rd.X  # X's sums come with the first term's
        if X is None or shared:
            k = q if X is None else len(rd.basis)
            G = rd.weighted_gram(w, k)
            lam = effects.lam1
            G_zz = [[np.ascontiguousarray(G[:, a, b]) for b in range(q)] for a in range(q)]
            A = blocks.congruence(blocks.lower_entries(lam), G_zz)  # Lambda' G Lambda + I
        else:
            wV = w * V1  # (q, n)
            A = [[None] * q for _ in range(q)]
            for a in range(q):
                for b in range(a + 1):
                    A[a][b] = rd.level_sum(wV[a] * V1[b])
                A[a][a] = A[a][a] + 1.0
        self.A11_diagonal = A[0][0]
        self.L = L = blocks.cholesky(A, np)
        self.logdet = float(blocks.log_det(L, np))
        r = 0 if ZLr is None else ZLr.shape[1]
        p = 0 if X is None else X.shape[1]
        self.r, self.p, self.q, self.rd = r, p, q, rd
        width = r + p
        self.W = None
        self.M = None
        self.full_logdet = self.logdet
        if not width:
            return
        if shared:  # B1 = Lambda_1' (sums of w z x'), per level: (q, levels, p)
            G_zx = G[:, :q][:, :, rd.x_index]
            B1 = [sum(lam[b, a] * G_zx[:, b] for b in range(a, q)) for a in range(q)]
        elif p:
            B1 = np.stack([rd.level_sum(wV[a] * X.T).T for a in range(q)])
        if r:
            wV1 = w * V1
        K = []  # per coefficient a: the first term's rows of [A1r B1], (levels, r + p)
        for a in range(q):
            if not r:
                K.append(B1[a])
                continue
            # each level meets few levels of the other terms: sparse, as its solve below
            coupling = rd.P @ ZLr.multiply(wV1[a][:, None])
            K.append(sp.hstack([coupling, sp.csr_matrix(B1[a])]).tocsr() if p else coupling)
        # L11^-1 K, per a (levels, r + p)
        self.W = W = _sparse_lower_solve(L, K) if r else blocks.lower_solve(L, K)
        M = np.zeros((width, width))
        if r:
            wZ = ZLr.multiply(w[:, None]).tocsr()
            M[:r, :r] = (ZLr.T @ wZ).toarray() + np.eye(r)
            if p:
                M[:r, r:] = np.asarray(wZ.T @ X)
                M[r:, :r] = M[:r, r:].T
        if p:
            if shared:
                M[r:, r:] = G[:, rd.x_index][:, :, rd.x_index].sum(axis=0)
            else:
                M[r:, r:] = X.T @ (w[:, None] * X)
            if precision is not None:
                M[r:, r:] += precision
        for a in range(q):
            product = W[a].T @ W[a]
            M -= product.toarray() if sp.issparse(product) else product
        self.M = _cholesky(M)
        diagonal = np.log(np.diagonal(self.M))
        self.full_logdet = self.logdet + 2.0 * float(diagonal.sum())
        self.logdet += 2.0 * float(diagonal[:r].sum())

    @property
    def diagonal(self):
        """The first term's diagonal of ``A`` (one scalar term: every level's)."""
        return self.A11_diagonal

    def solve(self, rhs_u, rhs_b):
        rd, q, r, p = self.rd, self.q, self.r, self.p
        levels = len(self.A11_diagonal)
        c1 = rhs_u[rd.cols1].reshape(levels, q)
        z = blocks.lower_solve(self.L, [c1[:, a] for a in range(q)])
        du = np.empty(rd.Q)
        db = np.zeros(0)
        if self.W is not None:
            rhs = np.concatenate([rhs_u[rd.rest], rhs_b[:p]])
            for a in range(q):
                rhs = rhs - self.W[a].T @ z[a]
            x = sla.cho_solve((self.M, True), rhs, check_finite=False)
            z = [z[a] - self.W[a] @ x for a in range(q)]
            du[rd.rest] = x[:r]
            db = x[r:]
        du[rd.cols1] = np.stack(blocks.upper_solve(self.L, z), axis=1).reshape(-1)
        return du, db

    def draw(self, noise_u, noise_b):
        """``H^{-1/2}``-scaled noise: with ``H = R R'`` the whole system over ``(u, beta)``
        (``R = [[L, 0], [W', M]]``), ``x = R'^{-1} e`` for standard normal ``e``, so that
        ``x ~ N(0, H^{-1})``. ``noise_u`` is ``(Q, S)``, ``noise_b`` ``(p, S)``; returns
        ``(Q, S)`` and ``(p, S)``."""
        rd, q, r, p = self.rd, self.q, self.r, self.p
        levels = len(self.A11_diagonal)
        S = noise_u.shape[1]
        e1 = noise_u[rd.cols1].reshape(levels, q, S)
        v = [e1[:, a, :] for a in range(q)]
        du = np.empty((rd.Q, S))
        db = np.zeros((0, S))
        if self.W is not None:
            e2 = np.concatenate([noise_u[rd.rest], noise_b[:p]])
            x2 = sla.solve_triangular(self.M, e2, lower=True, trans="T", check_finite=False)
            v = [v[a] - np.asarray(self.W[a] @ x2) for a in range(q)]
            du[rd.rest] = x2[:r]
            db = x2[r:]
        du[rd.cols1] = np.stack(blocks.upper_solve(self.L, v), axis=1).reshape(levels * q, S)
        return du, db

    def beta_covariance(self) -> np.ndarray:
        """The covariance of ``beta`` given ``theta``: the inverse of its Schur complement."""
        R = self.M[self.r :, self.r :]
        inverse = sla.solve_triangular(R, np.eye(self.p), lower=True, check_finite=False)
        return inverse.T @ inverse


class _System:
    """The PIRLS system at weights ``w`` as one sparse matrix: ``A = ZL' W ZL + I`` and, with
    ``X``, its border ``B = ZL' W X``, ``C = X' W X``; ``A`` factored densely (at most
    :data:`DENSE_LIMIT` columns) or by sparse LU, then ``S = C - B' A^-1 B`` densely
    (``C`` plus ``precision``, a prior's curvature on ``beta``, when given)."""

    def __init__(self, ZL, X, w, precision=None):
        WZ = ZL.multiply(w[:, None]).tocsr()
        Q = ZL.shape[1]
        A = (ZL.T @ WZ).tocsc() + sp.identity(Q, format="csc")
        if Q <= DENSE_LIMIT:
            dense = A.toarray()
            self._chol = sla.cho_factor(dense, lower=True, check_finite=False)
            self.logdet = 2.0 * float(np.log(np.diagonal(self._chol[0])).sum())
            self._lu = None
        else:
            self._lu = spla.splu(
                A, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                options={"SymmetricMode": True},
            )  # fmt: skip
            self.logdet = float(np.log(np.abs(self._lu.U.diagonal())).sum())
        self.diagonal = A.diagonal()
        self.p = 0 if X is None else X.shape[1]
        if self.p:
            self.B = np.asarray(WZ.T @ X)
            self._AinvB = self._solve_A(self.B)
            S = X.T @ (w[:, None] * X) - self.B.T @ self._AinvB
            if precision is not None:
                S = S + precision
            self._S = (_cholesky(S), True)
        self.full_logdet = self.logdet
        if self.p:
            self.full_logdet += 2.0 * float(np.log(np.diagonal(self._S[0])).sum())

    def _solve_A(self, rhs):
        if self._lu is None:
            return sla.cho_solve(self._chol, rhs, check_finite=False)
        return self._lu.solve(np.asarray(rhs, dtype=float))

    def solve(self, rhs_u, rhs_b):
        a = self._solve_A(rhs_u)
        if not self.p:
            return a, np.zeros(0)
        db = sla.cho_solve(self._S, rhs_b - self.B.T @ a, check_finite=False)
        return a - self._AinvB @ db, db

    def beta_covariance(self) -> np.ndarray:
        return sla.cho_solve(self._S, np.eye(self.p), check_finite=False)

    def draw(self, noise_u, noise_b):
        """Draws of ``N(0, H^{-1})`` from standard normal noise (see
        :meth:`_BlockedSystem.draw`); only for a densely factored ``A``.

        Raises
        ------
        EngineError
            ``A`` was factored by sparse LU.
        """
        if self._lu is not None:
            raise EngineError(
                f"drawing the group effects needs a Cholesky factor, and this model's "
                f"{len(self.diagonal)} group-effect columns in crossed terms are factored by "
                f"sparse LU (dense up to {DENSE_LIMIT}); use method='nuts'"
            )
        L = self._chol[0]
        S = noise_u.shape[1]
        db = np.zeros((0, S))
        rhs = noise_u
        if self.p:
            db = sla.solve_triangular(
                self._S[0], noise_b, lower=True, trans="T", check_finite=False
            )
            LB = sla.solve_triangular(L, self.B, lower=True, check_finite=False)
            rhs = noise_u - LB @ db
        du = sla.solve_triangular(L, rhs, lower=True, trans="T", check_finite=False)
        return du, db


def _sparse_lower_solve(L, K) -> list:
    """``L^-1 K`` per level for sparse ``(levels, k)`` right-hand sides ``K[a]`` (``L``: the
    per-level lower factors, entry by entry, as :func:`multilevel.linalg.blocks.lower_solve`)."""
    W = []
    for a in range(len(L)):
        acc = K[a]
        for b in range(a):
            acc = acc - sp.diags(L[a][b]) @ W[b]
        W.append((sp.diags(1.0 / L[a][a]) @ acc).tocsr())
    return W


def _cholesky(M) -> np.ndarray:
    """The lower Cholesky factor of the dense part of a PIRLS system, or an EngineError."""
    try:
        return sla.cholesky(M, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        raise EngineError(
            "the PIRLS system is not positive definite: is the population-level design of "
            "full rank?"
        ) from None


@dataclass(frozen=True)
class Mode:
    """The PIRLS mode at one :math:`(\\theta, \\beta)`.

    Attributes
    ----------
    u, beta, eta : numpy.ndarray
        The spherical group effects, the population coefficients (PIRLS's when they were
        free, else the given ones) and the linear predictor at the mode.
    log_density : float
        :math:`\\log p(y \\mid \\tilde\\eta)`, every constant included.
    logdet : float
        :math:`\\log|L|^2`.
    diagonal : numpy.ndarray
        The diagonal of :math:`\\Lambda^\\top Z^\\top W Z \\Lambda + I` (for quadrature).
    beta_covariance : numpy.ndarray or None
        With free :math:`\\beta`: its covariance given :math:`\\theta`.
    iterations : int
    full_logdet : float
        The log determinant of the whole system over :math:`(u, \\beta)` (with free
        :math:`\\beta`; with a prior on it, its curvature included).
    log_prior : float
        The prior's log density at :math:`\\beta` (0 without one).
    system : object
        The factored system at the mode (:meth:`draw` maps noise to draws).
    """

    u: np.ndarray
    beta: np.ndarray
    eta: np.ndarray
    log_density: float
    logdet: float
    diagonal: np.ndarray
    beta_covariance: np.ndarray | None
    iterations: int
    full_logdet: float = float("nan")
    log_prior: float = 0.0
    system: object = field(default=None, repr=False, compare=False)


def find_mode(
    effects,
    X,
    offset,
    glm,
    u0,
    beta,
    *,
    free_beta: bool,
    beta_prior=None,
    tol: float = 1e-28,
    step_tol: float = 1e-12,
    max_iterations: int = 100,
) -> Mode:
    """PIRLS from ``(u0, beta)``: Fisher scoring steps on the penalized log-likelihood with
    step halving, until the next step would move no coordinate by more than ``step_tol``
    (or its predicted gain falls below ``tol`` relative to the objective, or a step no longer
    changes anything). The deviance is not flat in ``u`` at the mode (its ``log|L|²`` part
    moves with the weights), so its error is proportional to the distance from the mode:
    the steps, not the gain, must be tiny for the finite differences of the deviance over
    the parameters (the standard errors) to be accurate.

    ``beta_prior`` (with ``free_beta``): a function of ``beta`` giving a prior's log density,
    its gradient and a positive semi-definite curvature (``p x p``), added to the objective,
    its score and the system (the nested Laplace's posterior mode of ``(u, beta)``).

    Raises
    ------
    EngineError
        No step halving improves the objective from a point that is not a mode.
    """
    u = np.array(u0, dtype=float)
    beta = np.array(beta, dtype=float)
    Xf = X if free_beta else None
    prior = beta_prior if free_beta and X.shape[1] else None

    def linear(u_, b_):
        return offset + X @ b_ + effects.times(u_)

    def at_beta(b_):
        return prior(b_) if prior is not None else (0.0, None, None)

    eta = linear(u, beta)
    log_density = glm.log_density(eta)
    log_prior, prior_grad, prior_precision = at_beta(beta)
    objective = log_density + log_prior - 0.5 * float(u @ u)
    scale = max(1.0, abs(objective))
    iteration = 0
    system = None  # the factor at the weights of the current point, when it is up to date
    while iteration < max_iterations:
        iteration += 1
        score, w = glm.score_and_weight(eta)
        system = effects.system(w, Xf, prior_precision)
        rhs_u = effects.transpose_times(score) - u
        rhs_b = X.T @ score if free_beta else np.zeros(0)
        if prior_grad is not None:
            rhs_b = rhs_b + prior_grad
        du, db = system.solve(rhs_u, rhs_b)
        gain = float(du @ rhs_u + db @ rhs_b)  # predicted increase of the objective, times 2
        if not np.isfinite(gain):
            raise EngineError("PIRLS diverged: the linear predictor is not finite")
        step_size = float(np.max(np.abs(du), initial=0.0))
        if free_beta:
            step_size = max(step_size, float(np.max(np.abs(db), initial=0.0)))
        if step_size <= step_tol or gain <= tol * scale:
            break  # at the mode: `system` holds its weights
        step = 1.0
        while True:
            u_new = u + step * du
            b_new = beta + step * db if free_beta else beta
            eta_new = linear(u_new, b_new)
            density_new = glm.log_density(eta_new)
            prior_new = at_beta(b_new)
            value = density_new + prior_new[0] - 0.5 * float(u_new @ u_new)
            if value >= objective - 1e-13 * scale:
                break
            step *= 0.5
            if step < 1e-10:
                raise EngineError(
                    "PIRLS could not improve the penalized likelihood (step halving failed)"
                )
        moved = step * float(np.max(np.abs(np.concatenate([du, db])), initial=0.0))
        u, beta, eta, objective, log_density = u_new, b_new, eta_new, value, density_new
        log_prior, prior_grad, prior_precision = prior_new
        system = None  # the point moved
        if moved < 1e-13:
            break
    if system is None:  # the factor at the mode's own weights
        _, w = glm.score_and_weight(eta)
        system = effects.system(w, Xf, prior_precision)
    covariance = system.beta_covariance() if free_beta and X.shape[1] else None
    return Mode(
        u=u,
        beta=beta,
        eta=eta,
        log_density=log_density,
        logdet=system.logdet,
        diagonal=system.diagonal,
        beta_covariance=covariance,
        iterations=iteration,
        full_logdet=system.full_logdet,
        log_prior=float(log_prior),
        system=system,
    )


def laplace_deviance(mode: Mode) -> float:
    """:math:`-2\\ell_{Laplace}` at a PIRLS mode (module docstring)."""
    return -2.0 * mode.log_density + float(mode.u @ mode.u) + mode.logdet


def agq_deviance(mode: Mode, effects, glm, level: np.ndarray, nodes: int) -> float:
    """:math:`-2\\ell` by adaptive Gauss–Hermite quadrature with ``nodes`` points per level of
    one scalar grouping factor (``level``: each row's level), centred at the PIRLS mode with
    the scale of its curvature, as lme4's ``nAGQ``; ``nodes = 1`` gives the Laplace value.

    Each level's integral :math:`\\int p(y_l \\mid u)\\,\\phi(u)\\,du` is
    :math:`\\sqrt2\\, s_l \\sum_k w_k e^{x_k^2} p(y_l \\mid \\tilde u_l + \\sqrt2 s_l x_k)
    \\phi(\\tilde u_l + \\sqrt2 s_l x_k)` with :math:`s_l^{-2}` the level's diagonal entry of
    :math:`\\Lambda^\\top Z^\\top W Z\\Lambda + I`.
    """
    x, wts = np.polynomial.hermite.hermgauss(nodes)
    levels = mode.u.size
    s = 1.0 / np.sqrt(mode.diagonal)
    values = effects.row_values()  # each row's one entry of Z Lambda
    terms = np.empty((nodes, levels))
    for k in range(nodes):
        shift = np.sqrt(2.0) * s * x[k]
        eta = mode.eta + values * shift[level]
        loglik = np.bincount(level, weights=glm.log_density_rows(eta), minlength=levels)
        u = mode.u + shift
        terms[k] = np.log(wts[k]) + x[k] ** 2 + loglik - 0.5 * u * u
    log_integral = logsumexp(terms, axis=0) + np.log(np.sqrt(2.0) * s) - 0.5 * np.log(2 * np.pi)
    return -2.0 * float(log_integral.sum())
