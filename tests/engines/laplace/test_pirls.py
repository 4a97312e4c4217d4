"""PIRLS and the Laplace / adaptive Gauss-Hermite deviances against what they approximate:
the mode is where the penalized log-likelihood's gradient vanishes, the blocked and the
sparse factorisations give the same numbers, and each level's integral by quadrature matches
the integral computed by scipy's adaptive quadrature."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special

import multilevel as ml
from multilevel.linalg import pirls
from multilevel.linalg.glm import GLMRows
from multilevel.linalg.pirls import RandomDesign, agq_deviance, find_mode, laplace_deviance
from multilevel.spec.families import get_family


def _data(n=300, levels=(12, 7), seed=3):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, levels[0], n)
    b = rng.integers(0, levels[1], n)
    x = rng.normal(size=n)
    eta = -0.3 + 0.8 * x + rng.normal(0, 0.9, levels[0])[a] + rng.normal(0, 0.5, levels[1])[b]
    return pd.DataFrame(
        {
            "y": rng.binomial(1, special.expit(eta)),
            "k": rng.poisson(np.exp(0.5 + 0.3 * x + rng.normal(0, 0.6, levels[0])[a])),
            "x": x,
            "a": [f"a{i}" for i in a],
            "b": [f"b{i}" for i in b],
        }
    )


class _Rows:
    """The design's per-row arrays in the order the random design keeps its rows."""

    def __init__(self, design, rd):
        self.X, self.offset = rd.rows(design.X), rd.rows(design.offset)
        self.level = rd.rows(design.blocks[0].index[:, 0])


def _setup(formula, family, data):
    design = ml.design(formula, data, family=family)
    rd = RandomDesign(design)
    glm = GLMRows.of(get_family(family), rd.rows(design.y), rd.rows(design.trials))
    return _Rows(design, rd), rd, glm


def _penalized(design, rd, glm, theta, beta, u):
    eta = design.offset + design.X @ beta + rd.at(theta).times(u)
    return glm.log_density(eta) - 0.5 * u @ u


def test_the_mode_is_where_the_penalized_likelihood_is_flat():
    design, rd, glm = _setup("y ~ x + (1 + x | a) + (1 | b)", "bernoulli", _data())
    theta = np.array([0.9, 0.2, 0.4, 0.6])
    beta = np.array([-0.2, 0.7])
    mode = find_mode(rd.at(theta), design.X, design.offset, glm, np.zeros(rd.Q), beta,
                     free_beta=False)  # fmt: skip
    h = 1e-5
    for j in range(rd.Q):
        e = np.zeros(rd.Q)
        e[j] = h
        slope = (
            _penalized(design, rd, glm, theta, beta, mode.u + e)
            - _penalized(design, rd, glm, theta, beta, mode.u - e)
        ) / (2 * h)
        assert abs(slope) < 1e-6, (j, slope)


def test_blocked_and_sparse_factorisations_agree(monkeypatch):
    """The first term eliminated level by level (rows sorted by its level) against the whole
    system as one sparse matrix, factored densely and by sparse LU (rows as in the data)."""
    formula, family = "y ~ x + (1 + x | a) + (1 | b)", "bernoulli"
    sorted_rows, rd, glm = _setup(formula, family, _data())
    theta = np.array([0.9, 0.2, 0.4, 0.6])
    assert rd.first is not None and rd.order is not None
    blocked = find_mode(rd.at(theta), sorted_rows.X, sorted_rows.offset, glm, np.zeros(rd.Q),
                        np.zeros(2), free_beta=True)  # fmt: skip
    design = ml.design(formula, _data(), family=family)
    whole = RandomDesign(design)
    whole.first, whole.order = None, None  # one sparse system, rows as in the data
    glm = GLMRows.of(get_family(family), design.y, design.trials)
    sparse = find_mode(whole.at(theta), design.X, design.offset, glm, np.zeros(rd.Q),
                       np.zeros(2), free_beta=True)  # fmt: skip
    monkeypatch.setattr(pirls, "DENSE_LIMIT", 5)  # and by sparse LU
    lu = find_mode(whole.at(theta), design.X, design.offset, glm, np.zeros(rd.Q), np.zeros(2),
                   free_beta=True)  # fmt: skip
    for other in (sparse, lu):
        np.testing.assert_allclose(blocked.u, other.u, atol=1e-9)
        np.testing.assert_allclose(blocked.beta, other.beta, atol=1e-9)
        np.testing.assert_allclose(blocked.beta_covariance, other.beta_covariance, rtol=1e-8)
        assert laplace_deviance(blocked) == pytest.approx(laplace_deviance(other), abs=1e-8)


@pytest.mark.parametrize("family, response", [("bernoulli", "y"), ("poisson", "k")])
def test_quadrature_matches_each_levels_integral(family, response):
    """-2 log of prod_l int p(y_l | u) phi(u) du, by scipy's quad level by level, against
    agq_deviance with 30 nodes; one node is the Laplace value."""
    data = _data(n=120, levels=(8, 2))
    design, rd, glm = _setup(f"{response} ~ x + (1 | a)", family, data)
    theta, beta = np.array([0.8]), np.array([0.1, 0.4])
    effects = rd.at(theta)
    mode = find_mode(effects, design.X, design.offset, glm, np.zeros(rd.Q), beta,
                     free_beta=False)  # fmt: skip
    level = design.level
    fixed = design.offset + design.X @ beta
    total = 0.0
    for lv in range(rd.Q):
        rows = level == lv
        part = GLMRows.of(glm.family, glm.y[rows], None if glm.trials is None else glm.trials[rows])

        def integrand(u, rows=rows, part=part):
            return np.exp(part.log_density(fixed[rows] + theta[0] * u) - 0.5 * u * u) / np.sqrt(
                2 * np.pi
            )

        value, _ = integrate.quad(integrand, -12, 12, epsabs=0, epsrel=1e-12, limit=200)
        total += -2 * np.log(value)
    assert agq_deviance(mode, effects, glm, level, 30) == pytest.approx(total, abs=1e-7)
    assert agq_deviance(mode, effects, glm, level, 1) == pytest.approx(
        laplace_deviance(mode), abs=1e-9
    )


def _dense_system(effects, X, w, precision):
    """``H`` over ``(u, beta)`` as one dense matrix, from ``Z Lambda`` applied to unit
    vectors."""
    Q = len(effects.transpose_times(np.zeros(X.shape[0])))
    ZL = np.column_stack([effects.times(e) for e in np.eye(Q)])
    A = np.hstack([ZL, X])
    H = A.T @ (w[:, None] * A)
    H[:Q, :Q] += np.eye(Q)
    H[Q:, Q:] += precision
    return H


@pytest.mark.parametrize("sparse", [False, True])
def test_draws_have_the_inverse_of_the_whole_system_as_covariance(sparse):
    """``draw`` maps noise to ``x`` with ``Cov x = H^-1`` (nested Laplace), ``full_logdet`` is
    ``log|H|``, for the blocked system (a crossed term beside the eliminated one) and for the
    one sparse matrix; linear in the noise, so identity noise gives the factor exactly."""
    formula, family = "y ~ x + (1 + x | a) + (1 | b)", "bernoulli"
    rows, rd, glm = _setup(formula, family, _data(n=200))
    X = rows.X
    if sparse:
        design = ml.design(formula, _data(n=200), family=family)
        rd = RandomDesign(design)
        rd.first, rd.order = None, None
        X = np.asarray(design.X, dtype=float)
    assert (rd.first is None) == sparse
    theta = np.array([0.9, 0.2, 0.4, 0.6])
    rng = np.random.default_rng(0)
    w = rng.uniform(0.05, 0.25, X.shape[0])
    precision = np.array([[0.3, 0.1], [0.1, 0.2]])
    effects = rd.at(theta)
    system = effects.system(w, X, precision)
    Q, p = rd.Q, X.shape[1]
    du, db = system.draw(np.eye(Q + p)[:Q], np.eye(Q + p)[Q:])
    D = np.vstack([du, db])
    H = _dense_system(effects, X, w, precision)
    np.testing.assert_allclose(D @ D.T, np.linalg.inv(H), rtol=1e-9, atol=1e-12)
    assert system.full_logdet == pytest.approx(np.linalg.slogdet(H)[1], abs=1e-9)
