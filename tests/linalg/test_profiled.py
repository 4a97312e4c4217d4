"""The profiled (REML/ML) deviance from cross products equals the Gaussian log-likelihood
computed densely, ``N(y; X beta, sigma^2 (I + Z Lambda Lambda' Z'))``, for every block
structure: one factor, correlated and uncorrelated slopes, crossed, nested, multiple
membership, offsets and known standard errors; both by the level-by-level elimination and by
one dense factor (:mod:`multilevel.linalg.dense`, used for small models)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from multilevel.design import design
from multilevel.linalg.crossprod import cross_products
from multilevel.linalg.profiled import PLS, LevelPolynomial, ThetaLayout, objective


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "y": rng.normal(size=n) + np.repeat(rng.normal(size=6), n // 6),
            "x": rng.normal(size=n),
            "g": np.repeat(list("abcdef"), n // 6),
            "h": rng.choice(list("pqrs"), size=n),
            "g2": rng.choice(list("abcdef"), size=n),
            "w1": rng.uniform(0.2, 1, size=n),
            "w2": rng.uniform(0.2, 1, size=n),
            "o": rng.normal(size=n) * 0.1,
            "s": rng.uniform(0.5, 2, size=n),
        }
    )


def _dense_Z(d, layout, theta):
    """Dense Z Lambda, built from one-hot matrices (independent of the cross products)."""
    cols = []
    for i, block in enumerate(d.blocks):
        factor = layout.block_factor(theta, i)
        for level in range(block.n_levels):
            member = np.sum(block.weights * (block.index == level), axis=1)  # (n,)
            cols.append(member[:, None] * block.Z @ factor)
    return np.concatenate(cols, axis=1)


def _dense_deviance(d, layout, theta, reml):
    """-2 log-likelihood profiled over beta (and sigma), by dense algebra."""
    y = d.y - d.offset
    X = d.X
    n, p = X.shape
    ZL = _dense_Z(d, layout, theta)
    if d.se is not None:
        V = ZL @ ZL.T + np.diag(d.se**2)
        Vi = np.linalg.inv(V)
        beta = np.linalg.solve(X.T @ Vi @ X, X.T @ Vi @ y)
        dev = -2 * stats.multivariate_normal(X @ beta, V).logpdf(y)
        if reml:
            dev += np.linalg.slogdet(X.T @ Vi @ X)[1] - p * np.log(2 * np.pi)
        return dev
    V0 = ZL @ ZL.T + np.eye(n)  # covariance / sigma^2
    Vi = np.linalg.inv(V0)
    beta = np.linalg.solve(X.T @ Vi @ X, X.T @ Vi @ y)
    resid = y - X @ beta
    q = resid @ Vi @ resid
    dof = n - p if reml else n
    sigma2 = q / dof
    dev = -2 * stats.multivariate_normal(X @ beta, sigma2 * V0).logpdf(y)
    if reml:
        dev += np.linalg.slogdet(X.T @ Vi @ X / sigma2)[1] - p * np.log(2 * np.pi)
    return dev


FORMULAS = [
    "y ~ 0 + (1 | g)",
    "y ~ x + (1 | g)",
    "y ~ x + (1 + x | g)",
    "y ~ x + (1 + x || g)",
    "y ~ x + (1 | g) + (1 | h)",
    "y ~ 1 + (1 + x | g) + (1 | h)",
    "y ~ 1 + (1 + x || g) + (1 + x | h)",
    "y ~ 1 + (1 + x | g) + (1 + x || h)",
    "y ~ x + (1 | g/h)",
    "y ~ x + offset(o) + (1 | mm(g, g2))",
    "y ~ x + (1 | mm(g, g2, weights = cbind(w1, w2))) + (1 | h)",
    "y | se(s) ~ x + (1 | g)",
    "y | se(s) ~ x + (1 + x | g) + (1 | h)",
]


PATHS = ["dense", "by-level", "by-level-entries"]


def _pls(cp, layout, path, monkeypatch):
    """The PLS by one of its three paths: one dense factor, elimination level by level with
    the per-level blocks from their precomputed polynomial, or from the factor entry by entry
    (what models with very many levels use)."""
    if path == "by-level-entries":
        monkeypatch.setattr(LevelPolynomial, "of", classmethod(lambda cls, *a, **k: None))
    pls = PLS(cp, layout, dense_factor=path == "dense")
    assert (pls.dense is not None) == (path == "dense")
    if path != "dense" and pls.first is not None:
        assert (pls.polynomial is None) == (path == "by-level-entries")
    return pls


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("path", PATHS)
def test_profiled_deviance_equals_dense_likelihood(formula, reml, path, monkeypatch):
    d = design(formula, _data())
    cp = cross_products(d, chunk_rows=17)  # several chunks
    layout = ThetaLayout.of(d, cp.terms)
    rng = np.random.default_rng(1)
    theta = layout.initial() * rng.uniform(0.3, 1.5, size=layout.size) + (
        layout.initial() == 0
    ) * rng.normal(scale=0.3, size=layout.size)
    pls = _pls(cp, layout, path, monkeypatch)
    expected = _dense_deviance(d, layout, theta, reml)
    for sol in (pls(theta), pls(theta, solution=False)):
        ours = objective(
            sol, cp.n, cp.p, reml=reml, known_sigma=d.se is not None, log_weights=cp.log_weights
        )
        assert ours == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("path", PATHS)
def test_conditional_modes_and_coefficients_solve_the_normal_equations(path, monkeypatch):
    d = design("y ~ x + (1 + x | g) + (1 | h)", _data())
    cp = cross_products(d)
    layout = ThetaLayout.of(d, cp.terms)
    theta = layout.initial() * 0.7
    sol = _pls(cp, layout, path, monkeypatch)(theta)
    ZL = _dense_Z(d, layout, theta)
    X, y = d.X, d.y
    A = np.block([[ZL.T @ ZL + np.eye(ZL.shape[1]), ZL.T @ X], [X.T @ ZL, X.T @ X]])
    solution = np.linalg.solve(A, np.concatenate([ZL.T @ y, X.T @ y]))
    np.testing.assert_allclose(sol.beta, solution[-X.shape[1] :], rtol=1e-9, atol=1e-12)
    # b = Lambda u, in the term layout: compare the fitted values instead
    np.testing.assert_allclose(
        ZL @ solution[: ZL.shape[1]], ZL @ sol_u_dense(sol, d, layout), rtol=1e-8
    )


def sol_u_dense(sol, d, layout):
    """Our u reordered to the block-by-block layout of _dense_Z."""
    cp = cross_products(d)
    out = []
    for i, block in enumerate(d.blocks):
        for term in cp.terms:
            if i in term.blocks:
                col = sum(d.blocks[j].q for j in term.blocks[: term.blocks.index(i)])
                u = sol.u[term.offset : term.offset + term.size].reshape(term.levels, term.q)
                out.append(u[:, col : col + block.q].reshape(-1))
    return np.concatenate(out)


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("path", PATHS[1:])
def test_dense_factor_gives_the_elimination_s_whole_solution(formula, path, monkeypatch):
    d = design(formula, _data())
    cp = cross_products(d)
    layout = ThetaLayout.of(d, cp.terms)
    theta = layout.initial() * 0.6 + (layout.initial() == 0) * 0.2
    dense = PLS(cp, layout, dense_factor=True)(theta)
    by_level = _pls(cp, layout, path, monkeypatch)(theta)
    for name in ("logdet_L", "logdet_RX", "r2", "beta", "u", "b", "RX_inv"):
        np.testing.assert_allclose(
            getattr(dense, name), getattr(by_level, name), rtol=1e-9, atol=1e-11, err_msg=name
        )


def test_dense_factor_hands_a_failed_factor_back(monkeypatch):
    """Where the dense factor fails (None), PLS answers by the level-by-level elimination."""
    from multilevel.linalg.dense import DenseDeviance

    failing = DenseDeviance(np.diag([1.0, 1.0, -1.0]), 1, [0], [0], [0])  # not definite
    assert failing([0.5]) is None and failing.solve([0.5]) is None

    d = design("y ~ x + (1 + x | g)", _data())
    cp = cross_products(d)
    layout = ThetaLayout.of(d, cp.terms)
    theta = layout.initial() * 0.8
    expected = PLS(cp, layout, dense_factor=False)(theta)
    pls = PLS(cp, layout, dense_factor=True)
    monkeypatch.setattr(pls.dense, "factor", lambda theta: None)
    for sol in (pls(theta), pls(theta, solution=False)):
        assert sol.logdet_L == pytest.approx(expected.logdet_L, rel=1e-12)
        assert sol.r2 == pytest.approx(expected.r2, rel=1e-12)


def test_level_polynomial_is_left_out_above_its_size_limit():
    d = design("y ~ x + (1 + x | g)", _data())
    cp = cross_products(d)
    layout = ThetaLayout.of(d, cp.terms)
    pls = PLS(cp, layout, dense_factor=False)
    term = cp.terms[pls.first]
    args = (layout, pls.first, term, cp.diag[pls.first], pls.ZtXy1_rows)
    assert LevelPolynomial.of(*args) is not None
    assert LevelPolynomial.of(*args, limit=10) is None
